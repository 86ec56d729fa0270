"""Decode attention against memory bandwidth: bytes moved per step / time, as a share of the
machine's measured copy bandwidth.

    python bench/attention_bandwidth.py [--batch 64] [--dtype bf16] [--repeats 7]

The shapes of bench/generate_throughput.py's engine: GOOD and BAD stacked (M = 2), batch 64,
4 heads of 64 (no grouping), a cache of 421 slots; one layer's attention at contexts 110, 220
(the mean of a 20 + 400-token run) and 420. Bytes moved: the valid slots' K and V, read once
(2 x M x B x KV x context x D x bytes per value; the query, the new k, v and the output are
<1% of it). Copy bandwidth: torch's copy of a 512 MB float32 buffer, (read + written bytes) /
time; the read-only figure (a sum over the same buffer) is printed beside it. Each figure is
the median of `--repeats` timings of 20 calls; the kernel and the compiled torch reference
(what the compiled step ran before the kernel) alternate.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

import torch

from cdsynth.engine.cpu_attention import kernel_available, reference_attention


def per_call_ms(fn, n=20) -> float:
    for _ in range(2):
        fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e3


def bandwidths() -> tuple[float, float]:
    """GB/s of a 512 MB float32 copy (read + written bytes) and of a sum over it (read)."""
    big = torch.randn(128 * 1024 * 1024)
    out = torch.empty_like(big)
    nbytes = big.numel() * 4
    copy_ms = statistics.median(per_call_ms(lambda: out.copy_(big), 5) for _ in range(5))
    read_ms = statistics.median(per_call_ms(lambda: big.sum(), 5) for _ in range(5))
    return 2 * nbytes / copy_ms / 1e6, nbytes / read_ms / 1e6


def cpu_model() -> str:
    lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    return next((x.split(":", 1)[1].strip() for x in lines if x.startswith("Model name")), "?")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16")
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    if not kernel_available():
        raise SystemExit("the CPU attention kernel could not be built here")
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[a.dtype]
    M, B, H, D, L = 2, a.batch, 4, 64, 421
    g = torch.Generator().manual_seed(0)
    caches = [torch.randn(M, B, H, L, D, generator=g).to(dtype) for _ in range(2)]
    q, k, v = (torch.randn(M, B, H, D, generator=g).to(dtype) for _ in range(3))
    valid = torch.ones(B, L, dtype=torch.bool)
    # one graph per context (dynamic=False): with the cache length symbolic, as the decode
    # step marks it, torch 2.13's inductor code for this graph corrupted the heap on the
    # AVX-512 VM (the step itself runs our kernel there, not this graph)
    reference = torch.compile(reference_attention, dynamic=False)

    copy_bw, read_bw = bandwidths()
    print(
        f"CPU {cpu_model()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{a.dtype}, batch {B}"
    )
    print(f"copy bandwidth {copy_bw:.1f} GB/s (read + write); read-only (sum) {read_bw:.1f} GB/s")
    print("| context | bytes / layer | kernel ms | GB/s | share of copy bw | torch ref ms | GB/s |")
    print("|---|---|---|---|---|---|---|")
    for end in (110, 220, 420):
        key_valid = valid[:, :end]
        moved = 2 * M * B * H * end * D * caches[0].element_size()
        ours, ref = [], []
        for _ in range(a.repeats):
            ours.append(
                per_call_ms(
                    lambda kv=key_valid: torch.ops.cdsynth_cpu.decode_attention_(
                        q, k, v, *caches, kv
                    )
                )
            )
            ref.append(per_call_ms(lambda kv=key_valid: reference(q, k, v, *caches, kv)))
        o, r = statistics.median(ours), statistics.median(ref)
        print(
            f"| {end} | {moved / 1e6:.1f} MB | {o:.3f} | {moved / o / 1e6:.1f} | "
            f"{moved / o / 1e6 / copy_bw:.0%} | {r:.3f} | {moved / r / 1e6:.1f} |"
        )


if __name__ == "__main__":
    main()
