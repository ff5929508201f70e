"""Encoder benchmark: our encoder against a raw transformers forward, side by side in one run.

CPU (always): texts/s of ``TransformerEncoder`` vs AutoModel + tokenizer + mean pooling in
fixed batches (no sorting, no dedupe) on the same unique texts and batch size, rounds
interleaved, best round each → ``cpu_ratio_vs_raw`` (goal >= 0.95) on a realistic mix of
queries, titles and descriptions, and ``cpu_uniform_ratio_vs_raw`` on texts of similar length
(where length sorting cannot help: our overhead alone).

GPU (when CUDA is available): a bf16 matmul peak measured in the same run; the model's FLOPs
per text counted from its config; forward-only texts/s at seq 32 and 128, fp16 and bf16,
batch 256-4096 → roofline fraction; CPU tokenizer texts/s → whether tokenization bounds the
pipeline (ours, and the Hugging Face call it replaced); end to end with the tokenizer prefetch
thread on and off.

The last line printed is one JSON object with every figure. ``--quick`` for a short run;
``--gpu-smoke-on-cpu`` runs the GPU section on CPU with tiny sizes (checks the code path only).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers reads it

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

from encoders.transformer import (
    TransformerEncoder,
    load_parts,
    load_transformer_encoder,
    packaged_model_dir,
)
from encoders.transformer.tokens import Tokenizer

_WORD_TEXT = (
    "red blue green black white running trail road shoe shoes jacket rain waterproof light "
    "heavy warm winter summer kids men women size small large cotton wool leather steel "
    "kitchen pan skillet knife set home garden tool drill battery charger cable phone case "
    "screen laptop stand desk chair ergonomic office lamp bulb smart speaker music headphone "
    "wireless noise cancelling travel bag backpack bottle water coffee tea organic snack gift "
    "toy puzzle game book novel history science guide camera lens tripod bike helmet yoga mat "
    "the a for with and of in on to best cheap new sale fast durable comfortable premium"
)
WORDS = tuple(_WORD_TEXT.split())

Stats = dict[str, float | int | bool | str]


def log(message: str) -> None:
    """Progress to stderr: stdout ends with the JSON line only."""
    print(message, file=sys.stderr, flush=True)


def make_texts(n: int, seed: int, words: tuple[int, int] | None = None) -> list[str]:
    """Unique product-like texts: queries, titles and descriptions (or a fixed word range)."""
    rng = random.Random(seed)
    out: list[str] = []
    for i in range(n):
        if words is not None:
            k = rng.randint(*words)
        else:
            k = rng.choice([rng.randint(2, 6), rng.randint(6, 16), rng.randint(30, 180)])
        out.append(f"{i} " + " ".join(rng.choice(WORDS) for _ in range(k)))
    return out


def timed(fn: Callable[[], object], sync: Callable[[], None]) -> float:
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def no_sync() -> None:
    return None


class RawEncoder:
    """The baseline: tokenizer(padding=True) + AutoModel + mean pooling, fixed batches."""

    def __init__(self, device: torch.device, dtype: torch.dtype, max_length: int) -> None:
        path = str(packaged_model_dir())
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True, dtype=dtype)
        self.model = torch.nn.Module.to(model, device=device)
        self.model.train(False)
        self.device = device
        self.max_length = max_length

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        parts: list[np.ndarray] = []
        for i in range(0, len(texts), batch_size):
            enc = self.tokenizer(
                list(texts[i : i + batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                vectors = torch.nn.functional.normalize(pooled.float(), dim=-1)
            parts.append(vectors.cpu().numpy())
        return np.concatenate(parts)


def compare(
    ours: TransformerEncoder, raw: RawEncoder, texts: list[str], batch: int, rounds: int
) -> tuple[float, float, float]:
    """Best-round texts/s of ours and raw (rounds interleaved), and their minimum cosine."""
    ours.encode(texts[:batch])
    raw.encode(texts[:batch], batch)
    ours_s, raw_s = [], []
    for r in range(rounds):
        ours_s.append(timed(lambda: ours.encode(texts), no_sync))
        raw_s.append(timed(lambda: raw.encode(texts, batch), no_sync))
        log(f"cpu round {r}: ours {ours_s[-1]:.2f}s raw {raw_s[-1]:.2f}s ({len(texts)} texts)")
    cosine = float((ours.encode(texts) * raw.encode(texts, batch)).sum(axis=1).min())
    return len(texts) / min(ours_s), len(texts) / min(raw_s), cosine


def bench_cpu(quick: bool, batch: int) -> Stats:
    rounds = 2 if quick else 3
    ours = load_transformer_encoder(
        device="cpu", max_batch_size=batch, token_budget=batch * 256, prefetch=False
    )
    raw = RawEncoder(torch.device("cpu"), torch.float32, ours.max_seq_length)
    mixed = make_texts(384 if quick else 2048, seed=1)
    ours_tps, raw_tps, cosine = compare(ours, raw, mixed, batch, rounds)
    # Similar lengths: sorting cannot save padding here, so this ratio is our overhead.
    uniform = make_texts(256 if quick else 1024, seed=3, words=(18, 22))
    u_ours, u_raw, u_cosine = compare(ours, raw, uniform, batch, rounds)
    return {
        "cpu_texts": len(mixed),
        "cpu_batch_size": batch,
        "cpu_threads": torch.get_num_threads(),
        "cpu_texts_per_s": round(ours_tps, 1),
        "raw_texts_per_s": round(raw_tps, 1),
        "cpu_ratio_vs_raw": round(ours_tps / raw_tps, 3),
        "cpu_uniform_texts_per_s": round(u_ours, 1),
        "raw_uniform_texts_per_s": round(u_raw, 1),
        "cpu_uniform_ratio_vs_raw": round(u_ours / u_raw, 3),
        "cpu_min_cosine_vs_raw": round(min(cosine, u_cosine), 6),
    }


def flops_per_text(hidden: int, ffn: int, layers: int, seq: int) -> float:
    """Forward FLOPs of one text of ``seq`` tokens: dense layers + attention scores/values."""
    dense = 2 * seq * (4 * hidden * hidden + 2 * hidden * ffn)
    attention = 2 * 2 * seq * seq * hidden
    return float(layers * (dense + attention))


def forward_rate(
    model: torch.nn.Module, batch: int, seq: int, reps: int, sync: Callable[[], None]
) -> float:
    """Texts/s of the bare forward pass on random ids already on the model's device."""
    device = next(model.parameters()).device
    ids = torch.randint(1000, 29000, (batch, seq), device=device)
    mask = torch.ones_like(ids)

    def run() -> None:
        with torch.inference_mode():
            for _ in range(reps):
                model(input_ids=ids, attention_mask=mask)

    run()
    return batch * reps / timed(run, sync)


def matmul_peak(device: torch.device, n: int, sync: Callable[[], None]) -> float:
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    reps = 20
    seconds = timed(lambda: [a @ b for _ in range(reps)], sync)
    return 2.0 * n**3 * reps / seconds


def bench_gpu(quick: bool, device: torch.device, smoke: bool) -> Stats:
    sync: Callable[[], None] = torch.cuda.synchronize if device.type == "cuda" else no_sync
    peak = matmul_peak(device, 256 if smoke else 8192, sync)
    stats: Stats = {"gpu_matmul_bf16_tflops": round(peak / 1e12, 1)}
    path = str(packaged_model_dir())
    batches = [8] if smoke else ([256, 1024] if quick else [256, 1024, 4096])
    best_fraction, best_forward = 0.0, 0.0
    for name, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
        loaded = AutoModel.from_pretrained(
            path, local_files_only=True, dtype=dtype, attn_implementation="sdpa"
        )
        model = torch.nn.Module.to(loaded, device=device)
        model.train(False)
        config = loaded.config
        shape = (config.hidden_size, config.intermediate_size, config.num_hidden_layers)
        for seq in (32, 128):
            flops = flops_per_text(*shape, seq=seq)
            for batch in batches:
                tps = forward_rate(model, batch, seq, 2 if smoke else 10, sync)
                fraction = tps * flops / peak
                stats[f"gpu_forward_{name}_seq{seq}_b{batch}_texts_per_s"] = round(tps)
                stats[f"gpu_forward_{name}_seq{seq}_b{batch}_roofline"] = round(fraction, 3)
                best_fraction, best_forward = max(best_fraction, fraction), max(best_forward, tps)
                log(f"forward {name} seq {seq} batch {batch}: {tps:.0f} texts/s {fraction:.1%}")
        del model, loaded
    stats["gpu_roofline_fraction"] = round(best_fraction, 3)
    stats["gpu_forward_best_texts_per_s"] = round(best_forward)
    return stats | bench_gpu_end_to_end(quick, device, smoke, sync, best_forward)


def bench_gpu_end_to_end(
    quick: bool, device: torch.device, smoke: bool, sync: Callable[[], None], forward_tps: float
) -> Stats:
    n = 256 if smoke else (16_384 if quick else 65_536)
    texts = make_texts(n, seed=2, words=(80, 110))  # about 128 tokens each
    tokenizer = AutoTokenizer.from_pretrained(str(packaged_model_dir()), local_files_only=True)
    tokenizer(texts[:256], truncation=True, max_length=128)
    hf_128 = Tokenizer(tokenizer, max_length=128, direct=False)  # the old path
    hf_tps = n / timed(lambda: hf_128.encode(texts), no_sync)
    ours = Tokenizer(tokenizer, max_length=128)
    ours.encode(texts[:256])
    tok_tps = n / timed(lambda: ours.encode(texts), no_sync)
    stats: Stats = {
        "cpu_tokenizer_hf_call_texts_per_s": round(hf_tps),
        "cpu_tokenizer_texts_per_s": round(tok_tps),
        "cpu_cores": os.cpu_count() or 0,
        "gpu_tokenizer_bound": tok_tps < forward_tps,
    }
    log(f"tokenizer ({os.cpu_count()} cores): ours {tok_tps:.0f}, HF call {hf_tps:.0f} texts/s")
    batch = 16 if smoke else 1024
    parts = load_parts(device=device.type, dtype="float16")
    hf_call = Tokenizer(tokenizer, max_length=parts.tokenizer.max_length, direct=False)
    best = 0.0
    for label, tok in (("", parts.tokenizer), ("_hf_call_tokenizer", hf_call)):
        for prefetch in (False, True):
            encoder = TransformerEncoder(
                tokenizer=tok,
                forward=parts.forward,
                pooler=parts.pooler,
                model_id=parts.model_id,
                max_batch_size=batch,
                token_budget=batch * 128,
                prefetch=prefetch,
            )
            encoder.encode(texts)  # every batch shape once: a running worker has seen them
            tps = n / timed(lambda: encoder.encode(texts), sync)  # noqa: B023 (called at once)
            encoder.close()
            key = f"gpu_end_to_end{label}_prefetch_{str(prefetch).lower()}_texts_per_s"
            stats[key] = round(tps)
            log(
                f"end to end fp16 seq~128 batch {batch} {label or 'ours'} prefetch={prefetch}: "
                f"{tps:.0f} texts/s"
            )
            if not label:
                best = max(best, tps)
    stats["gpu_texts_per_s"] = round(best)
    hf_best = max(
        float(stats[f"gpu_end_to_end_hf_call_tokenizer_prefetch_{p}_texts_per_s"])
        for p in ("false", "true")
    )
    stats["gpu_end_to_end_vs_hf_call_tokenizer"] = round(best / max(1.0, hf_best), 2)
    return stats


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short run")
    parser.add_argument("--cpu-batch", type=int, default=32, help="CPU batch size (both sides)")
    parser.add_argument("--gpu-smoke-on-cpu", action="store_true", help="GPU code path on CPU")
    parser.add_argument("--skip-cpu", action="store_true", help="GPU section only")
    args = parser.parse_args(argv)
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    stats: Stats = {"bench": "encoder", "quick": bool(args.quick)}
    if not args.skip_cpu:
        stats |= bench_cpu(args.quick, args.cpu_batch)
    if torch.cuda.is_available():
        stats["gpu"] = torch.cuda.get_device_name()
        stats |= bench_gpu(args.quick, torch.device("cuda"), smoke=False)
    elif args.gpu_smoke_on_cpu:
        stats |= bench_gpu(True, torch.device("cpu"), smoke=True)
    print(json.dumps(stats, sort_keys=True))


if __name__ == "__main__":
    main()
