#!/usr/bin/env bash
# The GPU checks, in one call on a lent GPU machine (the workplace's `device` tool), where
# nothing can be installed from a registry: the project's Python deps that the machine's image
# lacks travel as wheels in .gpu/whl, the packaged model in .gpu/site (its weights stored in
# float16 to fit the transfer limit; the CUDA tests compare against the CPU on those same
# weights). Prepare .gpu with `bench/device_bundle.sh` here first. Writes logs under $OUT.
set -uo pipefail
out=${OUT:-/tmp/device-out}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH="$PWD/.gpu/site:/tmp/site:$PWD" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export PYTHONUNBUFFERED=1
{
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
    python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
    nproc
} 2>&1 | tee "$out/machine.txt"
# The CUDA tests (skipped on CPU-only hosts) and the encoder's parity tests, on this GPU.
python3 -m pytest -q -p no:cacheprovider tests/unit/encoders/test_cuda.py \
    tests/unit/encoders/test_parity.py tests/unit/encoders/test_tokens.py 2>&1 | tee "$out/tests.txt"
# The encoder benchmark's GPU section (the CPU section is this project's 2-core CI machine's).
python3 bench/encoder.py --skip-cpu "$@" 2> "$out/encoder.err" | tee "$out/encoder.json"
tail -n 20 "$out/encoder.err"
