"""Decoding throughput: HF generate (one model), naive CD, the paper's loop, and our CD engines.

    python bench/generate_throughput.py [--batch 64] [--prefix 20] [--new 400] [--dtype bf16]
    python bench/generate_throughput.py --methods d --without packed,kernel   # ablations

Same two random LLaMA models (GOOD: 4 x 256, BAD: 4 x 256, vocab 8192; ~7.4M parameters each),
same batch, prefixes, length and dtype for every method. Prints tokens/s (new tokens x rows /
seconds) and the ratios d/a, d/b, d/c. The naive method re-runs BAD on the whole text every
step; it is timed over `--naive-new` tokens only (its cost per token grows with length, so this
overstates its speed, which only makes our ratio against it conservative). (e) is the generic
engine (`hf_engine.HFEngine`, what runs for non-LLaMA pairs) on copies of the same two models.
`--without` turns parts of (d)'s one-graph step off to measure what each buys: `packed`
(oneDNN-packed products: plain F.linear instead), `kernel` (the C++ attention kernel: the torch
formulation instead), `graph` (the whole step: the per-op loop with per-layer compiled pieces).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cdsynth.config import DecodingConfig, ModelConfig
from cdsynth.generate import generate_batch, make_engines
from cdsynth.hf_engine import HFEngine
from cdsynth.train import build_model

DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def models(vocab: int, dtype):
    good = build_model(ModelConfig("cpu-small", vocab_size=vocab, context=1024), vocab, seed=0)
    bad = build_model(ModelConfig("cpu-small", vocab_size=vocab, context=1024), vocab, seed=1)
    return good.to(dtype).eval(), bad.to(dtype).eval()


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
    import cdsynth.cpu_attention
    import cdsynth.kernels

    if unknown := parts - {"packed", "kernel", "graph"}:
        raise SystemExit(f"--without: unknown parts {sorted(unknown)}")
    if "packed" in parts:
        cdsynth.kernels.can_pack = lambda device, dtype: False
    if "kernel" in parts:
        cdsynth.cpu_attention.use_kernel = lambda device: False


def timed(fn, *args):
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--prefix", type=int, default=20)
    ap.add_argument("--new", type=int, default=400)
    ap.add_argument("--naive-new", type=int, default=48)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--dtype", choices=list(DTYPES), default="bf16")
    ap.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="time (a), (c), (d), (e) this many times, alternating, and report each one's "
        "median (a process's heap state moves HF's speed by up to ~1.8x between runs, and load "
        "changes on a shared machine; alternation keeps either from favouring one method)",
    )
    ap.add_argument("--methods", default="abcde", help="which of a-e to run (default: all)")
    ap.add_argument("--without", default="", help="comma list of packed, kernel, graph")
    a = ap.parse_args()
    dtype = DTYPES[a.dtype]
    ablate(set(filter(None, a.without.split(","))))
    torch.manual_seed(0)
    good, bad = models(a.vocab, dtype)
    ids = torch.randint(4, a.vocab, (a.batch, a.prefix))
    ids[:, 0] = 1
    prefixes = ids.tolist()
    engines = make_engines(good, bad, dtype)  # same shape: stacked into one engine
    # --without graph: generate_batch's per-op loop (per-layer compiled pieces), as before
    engines[0].fused_step = "graph" not in a.without.split(",")
    # the generic engine switches its models' attention kernel: give it its own copies
    generic = [HFEngine(m, dtype) for m in models(a.vocab, dtype)]
    ours(engines, prefixes, 8)  # warm-up (compiles the decode attention)
    ours(generic, prefixes, 8)
    hf_generate(good, ids, 8)
    rows = a.batch
    runs = {
        "a": lambda: rows * a.new / timed(hf_generate, good, ids, a.new),
        "b": lambda: rows * a.naive_new / timed(naive_cd, good, bad, ids, a.naive_new),
        "c": lambda: rows * a.new / timed(paper_loop, good, bad, ids, a.new),
        "d": lambda: rows * a.new / timed(ours, engines, prefixes, a.new),
        "e": lambda: rows * a.new / timed(ours, generic, prefixes, a.new),
    }
    results = {k: runs[k]() for k in "b" if k in a.methods}
    timings = {k: [] for k in "acde" if k in a.methods}
    for _ in range(a.repeats):
        for k in timings:
            timings[k].append(runs[k]())
    results.update({k: float(np.median(v)) for k, v in timings.items()})
    names = {
        "a": "HF generate(do_sample=True), one model",
        "b": f"naive CD LogitsProcessor re-running BAD ({a.naive_new} tokens)",
        "c": "paper's loop: two HF forwards + past_key_values + multinomial",
        "d": "cdsynth CD engine (two models)",
        "e": "cdsynth generic engine (any two HF causal LMs)",
    }
    import platform
    import subprocess

    cpu = platform.processor() or "?"
    try:  # lscpu's model name: the CPU kind the figures belong to
        lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
        cpu = next(x.split(":", 1)[1].strip() for x in lines if x.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    print(
        f"batch {a.batch}, prefix {a.prefix}, {a.new} new tokens, vocab {a.vocab}, {a.dtype}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU {cpu}"
        + (f", without {a.without}" if a.without else "")
    )
    print("| method | tokens/s |")
    print("|---|---|")
    for k in sorted(results):
        each = ", ".join(f"{x:,.0f}" for x in timings.get(k, []))
        print(
            f"| ({k}) {names[k]} | {results[k]:,.0f}" + (f" (runs: {each})" if each else "") + " |"
        )
    ratios = [("d", "a"), ("d", "b"), ("d", "c"), ("e", "c")]
    print(
        ", ".join(
            f"{x}/{y} = {results[x] / results[y]:.2f}"
            for x, y in ratios
            if x in results and y in results
        )
    )


if __name__ == "__main__":
    main()
