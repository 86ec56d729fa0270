"""Decoding throughput: HF generate (one model), naive CD, the paper's loop, and our CD engines.

    python bench/generate_throughput.py [--batch 64] [--prefix 20] [--new 400] [--dtype auto]
    python bench/generate_throughput.py --methods d --without packed,kernel   # ablations
    python bench/generate_throughput.py --device cuda --preset paper-good --batch 256 --json f

Same two random LLaMA models (GOOD: 4 x 256, BAD: 4 x 256, vocab 8192; ~7.4M parameters each),
same batch, prefixes and length for every method. `--dtype auto` (the default) runs each method
in the dtype a user gets with `generate.dtype=auto` (`generate.run.resolve_dtype`): bf16 where
the CPU has bf16 arithmetic; on an AVX2-only CPU, the lean engine (d) in bf16 storage with
float32 arithmetic and the transformers paths (a, b, c, e, f) in float32, their fastest there;
`--dtype bf16|fp32` runs every method in that dtype. The first line names the dtypes, torch's
CPU capability and the CPU model. Prints tokens/s (new tokens x rows /
seconds) and the ratios d/a, d/b, d/c. The naive method re-runs BAD on the whole text every
step; it is timed over `--naive-new` tokens only (its cost per token grows with length, so this
overstates its speed, which only makes our ratio against it conservative). (e) is the generic
engine (`engine.hf.HFEngine`, what runs for non-LLaMA pairs) on copies of the same two models.
`--without` turns parts of (d)'s one-graph step off to measure what each buys: `packed`
(oneDNN-packed products: plain F.linear instead), `kernel` (our C++ ops, attention, the
rule with the sample, sampling, the models' op: the torch formulations instead),
`models-op` (float32 arithmetic: the models' part as one C++ op, each model on its own
thread; the compiled graph instead), `graph` (the whole step: the per-op loop with per-layer
compiled pieces).

`--profile` runs (d) once more under torch.profiler and prints the ops that take its step's
time (ms a token, calls a token).

`--device cuda` runs every method on the GPU (timings synchronized) and adds (f), HF's
strongest `generate` setting: a static cache, which transformers compiles on its own on CUDA.
(g) is (d) with the static-shape step (`generate.step_shape=static`: every shape fixed, on CUDA
captured as a CUDA graph and replayed each token).
There the default methods are a, f, c, d, e, g, and the output adds the bandwidth bound of (d):
the bytes one step must read (the stacked weights, the float32 output layers, the KV cache at
the run's mean context) over a device-to-device copy rate measured on the spot (bytes read +
written / s), and (d)'s share of it. `--preset paper-good` is the paper's 12 x 768 shape with
its 32000-token vocabulary (default: cpu-small, 4 x 256, vocabulary `--vocab`). `--hf-new N`
times (a) and (f) over N new tokens only (their speed at shorter contexts, which flatters
them); `--json FILE` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from cdsynth.config import PRESETS, DecodingConfig, ModelConfig
from cdsynth.engine.hf import HFEngine
from cdsynth.generate import generate_batch, make_engines
from cdsynth.generate.run import resolve_dtype
from cdsynth.machine import cpu_model
from cdsynth.train import build_model

DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}
DTYPE_NAMES = {torch.bfloat16: "bf16", torch.float32: "fp32"}


def models(vocab: int, dtype, preset: str = "cpu-small", device: str = "cpu"):
    shape = ModelConfig(preset, vocab_size=vocab, context=1024)
    good, bad = (build_model(shape, vocab, seed=s) for s in (0, 1))
    return good.to(device, dtype).eval(), bad.to(device, dtype).eval()


def hf_generate(good, ids, new, **extra):
    """`generate(do_sample=True)` for exactly `new` tokens (no top-k, no early stop)."""
    out = good.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        do_sample=True,
        max_new_tokens=new,
        min_new_tokens=new,
        pad_token_id=3,
        top_k=0,
        **extra,
    )
    assert out.shape[1] == ids.shape[1] + new


class NaiveCD:
    """CD as a LogitsProcessor that re-runs BAD over the whole sequence at every step."""

    def __init__(self, bad, alpha=0.1, lam=1.0):
        self.bad, self.alpha, self.lam = bad, alpha, lam

    def __call__(self, input_ids, scores):
        with torch.no_grad():
            bad_logits = self.bad(input_ids=input_ids).logits[:, -1].float()
        g = torch.log_softmax(scores.float(), -1)
        b = torch.log_softmax(bad_logits, -1)
        mask = g >= g.max(-1, keepdim=True).values + np.log(self.alpha)
        return (g - self.lam * b).masked_fill(~mask, -float("inf"))


def naive_cd(good, bad, ids, new):
    from transformers import LogitsProcessorList

    hf_generate(good, ids, new, logits_processor=LogitsProcessorList([NaiveCD(bad)]))


def paper_loop(good, bad, ids, new, alpha=0.1, lam=1.0):
    """A transcription of the paper's loop: two HF forwards with past_key_values, softmax,
    -20 outside V_head, torch.multinomial."""
    with torch.no_grad():
        g_out = good(input_ids=ids, use_cache=True)
        b_out = bad(input_ids=ids, use_cache=True)
        g_past, b_past = g_out.past_key_values, b_out.past_key_values
        g_logits, b_logits = g_out.logits[:, -1], b_out.logits[:, -1]
        generated = []
        for _ in range(new):
            pg = torch.softmax(g_logits.float(), -1)
            pb = torch.softmax(b_logits.float(), -1)
            cd = torch.log(pg + 1e-10) - lam * torch.log(pb + 1e-10)
            cd = cd.masked_fill(pg < alpha * pg.max(-1, keepdim=True).values, -20.0)
            tok = torch.multinomial(torch.softmax(cd, -1), 1)
            generated.append(tok)
            g_out = good(input_ids=tok, past_key_values=g_past, use_cache=True)
            b_out = bad(input_ids=tok, past_key_values=b_past, use_cache=True)
            g_past, b_past = g_out.past_key_values, b_out.past_key_values
            g_logits, b_logits = g_out.logits[:, -1], b_out.logits[:, -1]
    return torch.cat(generated, 1)


def ours(engines, prefixes, new):
    keys = np.stack([np.arange(len(prefixes)), np.zeros(len(prefixes), dtype=np.int64)], 1)
    res = generate_batch(
        engines, prefixes, keys, DecodingConfig("cd", 0.1, 1.0), new, seed=0, eos="continue"
    )
    assert all(len(t) == new for t in res.tokens)


def ablate(parts: set[str]) -> None:
    """Switch parts of the one-graph decode step off (for the record of what each buys)."""
    import cdsynth.engine.cpu_attention
    import cdsynth.engine.kernels

    if unknown := parts - {"packed", "kernel", "models-op", "graph"}:
        raise SystemExit(f"--without: unknown parts {sorted(unknown)}")
    if "packed" in parts:
        cdsynth.engine.kernels.can_pack = lambda device, dtype: False
    if "kernel" in parts:
        cdsynth.engine.cpu_attention.use_kernel = lambda device: False


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn, *args, device="cpu", **kwargs):
    sync(device)
    t = time.perf_counter()
    fn(*args, **kwargs)
    sync(device)
    return time.perf_counter() - t


def copy_rate(device: str, n_bytes: int = 2**30, reps: int = 10) -> float:
    """Bytes read + written per second by a device-to-device copy of `n_bytes`."""
    x = torch.empty(n_bytes, dtype=torch.uint8, device=device).random_()
    y = torch.empty_like(x)
    for _ in range(3):
        y.copy_(x)
    sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        y.copy_(x)
    sync(device)
    return 2 * n_bytes * reps / (time.perf_counter() - t)


def step_bytes(lean, batch: int, context: float) -> dict:
    """Bytes one decode step of `lean` must read: every stacked weight once (embedding rows
    aside: one row per token) and `batch` rows of K and V at `context` cached tokens."""
    weights = sum(t.numel() * t.element_size() for L in lean.layers for t in L.values())
    weights += sum(t.numel() * t.element_size() for t in (lean.norm, lean.lm_head))
    per_token = 2 * len(lean.layers) * lean.n_models * lean.n_kv * lean.head_dim
    kv = per_token * torch.finfo(lean.cache_dtype).bits // 8 * batch * context
    return {"weights": weights, "kv_cache": kv, "total": weights + kv}


def profile_step(engines, prefixes, new: int, rows: int = 12) -> None:
    """(d) once under torch.profiler: the ops with the most time of their own, in ms a token
    (the profiler's own cost makes the step ~5-10% slower than unprofiled). Each op's time is
    summed over the threads that ran it: with the models' C++ op (float32 on a CPU) both
    models run at once, one a thread, so the rows add up to more than the step."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        seconds = timed(ours, engines, prefixes, new)
    print(f"(d) under the profiler: {seconds / new * 1e3:.2f} ms a token; by op (ms a token):")
    print("| op | ms | calls a token |")
    print("|---|---|---|")
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    for e in events[:rows]:
        name = e.key if len(e.key) < 70 else e.key[:67] + "..."
        print(f"| {name} | {e.self_cpu_time_total / new / 1e3:.2f} | {e.count / new:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--preset", default="cpu-small", choices=list(PRESETS))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--prefix", type=int, default=20)
    ap.add_argument("--new", type=int, default=400)
    ap.add_argument("--naive-new", type=int, default=48)
    ap.add_argument("--vocab", type=int, default=None, help="default: the preset's, else 8192")
    ap.add_argument("--hf-new", type=int, default=None, help="(a), (f): tokens timed (--new)")
    ap.add_argument("--dtype", choices=["auto", *DTYPES], default="auto")
    ap.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="time (a), (c), (d), (e) this many times, alternating, and report each one's "
        "median (a process's heap state moves HF's speed by up to ~1.8x between runs, and load "
        "changes on a shared machine; alternation keeps either from favouring one method)",
    )
    ap.add_argument(
        "--methods",
        default=None,
        help="which of a-g to run (default: abcde; afcdeg on cuda)",
    )
    ap.add_argument("--without", default="", help="comma list of packed, kernel, models-op, graph")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="also run (d) once under torch.profiler and print where its step goes",
    )
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    a = ap.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    methods = a.methods or ("afcdeg" if a.device == "cuda" else "abcde")
    vocab = a.vocab or PRESETS[a.preset].get("vocab_size") or 8192
    hf_new = a.hf_new or a.new
    dev = a.device
    # the lean engine's dtype (d) and the transformers paths' (a, b, c, e, f)
    dtype = resolve_dtype(a.dtype, torch.device(dev), "lean")
    hf_dtype = resolve_dtype(a.dtype, torch.device(dev), "generic")
    ablate(set(filter(None, a.without.split(","))))
    torch.manual_seed(0)
    good, bad = models(vocab, hf_dtype, a.preset, dev)
    ids = torch.randint(4, vocab, (a.batch, a.prefix))
    ids[:, 0] = 1
    prefixes = ids.tolist()
    ids = ids.to(dev)
    engines = make_engines(good, bad, dtype, dev)  # same shape: stacked into one engine
    # --without graph: generate_batch's per-op loop (per-layer compiled pieces), as before
    engines[0].fused_step = "graph" not in a.without.split(",")
    engines[0].models_op = "models-op" not in a.without.split(",")
    # the generic engine switches its models' attention kernel: give it its own copies
    generic = [HFEngine(m, hf_dtype, dev) for m in models(vocab, hf_dtype, a.preset, dev)]
    static = dict(cache_implementation="static")
    ours(engines, prefixes, 8)  # warm-up (compiles the decode attention)
    if "g" in methods:  # (d) with the static-shape step (generate.step_shape=static)
        static_engines = make_engines(good, bad, dtype, dev)
        static_engines[0].static_step = True
        ours(static_engines, prefixes, a.new)  # warm-up at the timed length (CUDA graph)
    if "e" in methods:
        ours(generic, prefixes, 8)
    hf_generate(good, ids, 8)
    if "f" in methods:  # compiles for the static cache's length: warm up at that length
        hf_generate(good, ids, hf_new, **static)
    rows = a.batch
    runs = {
        "a": lambda: rows * hf_new / timed(hf_generate, good, ids, hf_new, device=dev),
        "b": lambda: rows * a.naive_new / timed(naive_cd, good, bad, ids, a.naive_new, device=dev),
        "c": lambda: rows * a.new / timed(paper_loop, good, bad, ids, a.new, device=dev),
        "d": lambda: rows * a.new / timed(ours, engines, prefixes, a.new, device=dev),
        "e": lambda: rows * a.new / timed(ours, generic, prefixes, a.new, device=dev),
        "f": lambda: rows * hf_new / timed(hf_generate, good, ids, hf_new, **static, device=dev),
        "g": lambda: rows * a.new / timed(ours, static_engines, prefixes, a.new, device=dev),
    }
    results = {k: runs[k]() for k in "b" if k in methods}
    timings = {k: [] for k in "afcdeg" if k in methods}
    for _ in range(a.repeats):
        for k in timings:
            timings[k].append(runs[k]())
    results.update({k: float(np.median(v)) for k, v in timings.items()})
    names = {
        "a": "HF generate(do_sample=True), one model"
        + (f" ({hf_new} tokens)" if hf_new != a.new else ""),
        "b": f"naive CD LogitsProcessor re-running BAD ({a.naive_new} tokens)",
        "c": "paper's loop: two HF forwards + past_key_values + multinomial",
        "d": "cdsynth CD engine (two models)",
        "e": "cdsynth generic engine (any two HF causal LMs)",
        "f": "HF generate(do_sample=True), one model, static cache (compiled on CUDA)"
        + (f" ({hf_new} tokens)" if hf_new != a.new else ""),
        "g": "cdsynth CD engine, static-shape step (a CUDA graph on CUDA)",
    }
    cpu = cpu_model()  # the CPU kind the figures belong to
    where = (
        f"{torch.get_num_threads()} threads, CPU {cpu}, "
        f"capability {torch.backends.cpu.get_cpu_capability()}"
    )
    if dev == "cuda":
        where = f"GPU {torch.cuda.get_device_name(0)}, CPU {cpu}"
    print(
        f"batch {a.batch}, prefix {a.prefix}, {a.new} new tokens, vocab {vocab}, "
        f"dtype {a.dtype} (d: {DTYPE_NAMES[dtype]}"
        + (
            f" storage, {DTYPE_NAMES[engines[0].dtype]} arithmetic"
            if engines[0].dtype != dtype
            else ""
        )
        + f"; a, b, c, e, f: {DTYPE_NAMES[hf_dtype]}), "
        + (f"model {a.preset}, " if a.preset != "cpu-small" else "")
        + f"torch {torch.__version__}, {where}"
        + (f", without {a.without}" if a.without else "")
    )
    print("| method | tokens/s |")
    print("|---|---|")
    for k in sorted(results):
        each = ", ".join(f"{x:,.0f}" for x in timings.get(k, []))
        print(
            f"| ({k}) {names[k]} | {results[k]:,.0f}" + (f" (runs: {each})" if each else "") + " |"
        )
    pairs = [("d", "a"), ("d", "f"), ("d", "b"), ("d", "c"), ("e", "c"), ("g", "c"), ("g", "d")]
    ratios = {f"{x}/{y}": results[x] / results[y] for x, y in pairs if {x, y} <= set(results)}
    print(", ".join(f"{k} = {v:.2f}" for k, v in ratios.items()))
    bound = None
    if dev == "cuda":
        rate = copy_rate(dev)
        need = step_bytes(engines[0], a.batch, a.prefix + (a.new - 1) / 2)
        bound = {**need, "copy_bytes_per_s": rate, "tokens_per_s": a.batch * rate / need["total"]}
        print(
            f"bandwidth bound of (d): {need['total'] / 1e9:.2f} GB a step (weights "
            f"{need['weights'] / 1e9:.2f}, KV cache {need['kv_cache'] / 1e9:.2f} at the mean "
            f"context {a.prefix + (a.new - 1) / 2:.0f}) at the measured copy rate "
            f"{rate / 1e12:.2f} TB/s: {bound['tokens_per_s']:,.0f} tokens/s"
            + (
                f"; (d) reaches {results['d'] / bound['tokens_per_s']:.1%}"
                if "d" in results
                else ""
            )
            + (f", (g) {results['g'] / bound['tokens_per_s']:.1%}" if "g" in results else "")
        )
    if a.profile:
        profile_step(engines, prefixes, a.new)
    if a.json:
        out = {
            "device": where,
            "args": vars(a),
            "vocab": vocab,
            "torch": torch.__version__,
            "dtype": {"d": DTYPE_NAMES[dtype], "others": DTYPE_NAMES[hf_dtype]},
            "names": {k: names[k] for k in results},
            "tokens_per_s": results,
            "runs": timings,
            "ratios": ratios,
            "bandwidth_bound": bound,
            "share_of_bound": results["d"] / bound["tokens_per_s"]
            if bound and "d" in results
            else None,
        }
        Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
