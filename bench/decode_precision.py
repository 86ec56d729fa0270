"""Precision of the contrast: how often a bf16 decoding step samples another token than fp32.

    python bench/decode_precision.py [--model paper-good] [--rows 16] [--steps 48]
                                     [--trained-steps 300] [--no-trained] [--no-random]
                                     [--workdir DIR]

The same GOOD and BAD weights run in one fp32 engine and one bf16 engine (LeanLlama, eager).
Every step feeds both engines the fp32 engine's token (teacher forcing), so each step compares
the two on the same input; both sample with the same keyed uniform. The bf16 engine's last
hidden state goes through three output layers: "bf16 head" (bf16 final norm and bf16 lm_head
product, the engine's output layer before this bench), "fp32 product" (the same bf16 weights,
norm and product in fp32), "fp32 head" (fp32 final norm and lm_head weights from the
checkpoint, product in fp32: the engine's output layer now, checked at every step). Prints, per
output layer and rule (CD: alpha 0.1, lam 1; No-Contrast), the share of (row, step) picks that
differ from fp32; the mean total-variation distance between the two sampling distributions
(the share of probability mass that moved: the fewest differing picks any coupling of the two
samplers could reach; inverse-CDF sampling in vocabulary order reaches more when the
distribution is flat, without any bias); and the mean |score difference| over V_head.

Models: `--model` random GOOD and BAD of that preset shape (two seeds, lm_head x 8 so that
distributions are peaked rather than near uniform); and, unless --no-trained, a cpu-tiny GOOD
trained `--trained-steps` on the story world with BAD its checkpoint at a third of the way
(CD-Early), prefixes from the seeds split.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from cdsynth.config import DecodingConfig, ModelConfig
from cdsynth.decoding import sample, step_scores
from cdsynth.engine import lean as lean_engine
from cdsynth.engine.keyed_random import STREAM_SAMPLE, keyed_uniform
from cdsynth.engine.lean import LeanLlama
from cdsynth.engine.llama_math import rms_norm
from cdsynth.generate import left_pad
from cdsynth.train import build_model

RULES = {"cd": DecodingConfig("cd", alpha=0.1, lam=1.0), "no-contrast": DecodingConfig("ancestral")}
HEADS = ("bf16 head", "fp32 product", "fp32 head")


def random_pair(preset: str, vocab: int | None):
    def one(seed):
        m = build_model(ModelConfig(preset, vocab_size=vocab), vocab or 32000, seed=seed)
        with torch.no_grad():
            m.lm_head.weight.mul_(8)
        return m.float().eval()

    return one(0), one(1)


def trained_pair(steps: int, prefix_tokens: int, rows: int, workdir: str | None):
    """Train cpu-tiny on the story world (fp32), return (GOOD, BAD at steps // 3, prefixes).
    A `workdir` that already holds this run is reused (the stages skip themselves)."""
    from transformers import LlamaForCausalLM

    from cdsynth.config import load_config
    from cdsynth.corpus import read_split
    from cdsynth.generate import load_prefixes
    from cdsynth.stages import run_corpus, run_tokenizer, run_train
    from cdsynth.tokenizer import load_tokenizer
    from cdsynth.workspace import Workspace

    root = workdir or tempfile.mkdtemp(prefix="decode_precision_")
    early = steps // 3
    cfg = load_config(
        None,
        [
            f"workdir={root}",
            "corpus.storyworld_words=200000",
            "tokenizer.vocab_size=2048",
            "train.model=cpu-tiny",
            f"train.steps={steps}",
            "train.batch_size=16",
            "train.micro_batch_size=16",
            "train.block_len=128",
            "train.lr=2e-3",
            f"train.warmup_steps={max(1, steps // 10)}",
            f"train.eval_every={steps}",
            "train.eval_blocks=8",
            f"train.checkpoint_every={early}",
            "train.precision=fp32",
        ],
    )
    quiet = lambda *a, **k: None  # noqa: E731
    run_corpus(cfg, log=quiet)
    run_tokenizer(cfg, log=quiet)
    t0 = time.time()
    run_train(cfg, log=quiet, progress=False)
    print(f"trained cpu-tiny for {steps} steps in {time.time() - t0:.0f} s ({root})")
    ws = Workspace(root)
    good = LlamaForCausalLM.from_pretrained(ws.run("baseline") / f"step_{steps}").float().eval()
    bad = LlamaForCausalLM.from_pretrained(ws.run("baseline") / f"step_{early}").float().eval()
    tok = load_tokenizer(ws.tokenizer)
    prefixes = load_prefixes(tok, read_split(ws.corpus, "seeds"), prefix_tokens, rows)
    return good, bad, prefixes


def compare(good, bad, prefixes, steps: int, seed: int = 0) -> dict:
    """{(head, rule): (differing picks, picks, mean TV distance, mean |score diff| on V_head)}."""
    f32 = LeanLlama([good, bad], torch.float32, compile_decode=False)
    b16 = LeanLlama([good, bad], torch.bfloat16, compile_decode=False)
    n32, w32 = f32.norm, f32.lm_head  # the checkpoint's final norm and lm_head, float32
    n16, w16 = n32.to(torch.bfloat16), w32.to(torch.bfloat16)
    captured = {}
    real_head = lean_engine.lm_head

    def capturing_head(x, norm, weight, eps):  # the bf16 engine's head: keep its input
        captured["x"] = x
        return real_head(x, norm, weight, eps)

    def heads_of(x, engine_logits):
        out = {
            "bf16 head": torch.bmm(rms_norm(x, n16, b16.eps), w16).float(),
            "fp32 product": torch.bmm(rms_norm(x.float(), n16.float(), b16.eps), w16.float()),
            "fp32 head": torch.bmm(rms_norm(x.float(), n32, b16.eps), w32),
        }
        assert torch.equal(engine_logits, out["fp32 head"])  # the engine's own output layer
        return out

    B = len(prefixes)
    ids, pads = left_pad(prefixes)
    P = ids.shape[1]
    valid = torch.ones(B, P + steps, dtype=torch.bool)
    valid[:, :P] = torch.arange(P)[None] >= pads[:, None]
    positions = (torch.arange(P)[None] - pads[:, None]).clamp_min(0)
    c32, c16 = f32.new_cache(B, P + steps), b16.new_cache(B, P + steps)
    keys = np.arange(B)
    stats = {(h, r): [0, 0, 0.0, 0.0] for h in HEADS for r in RULES}

    def run(step_ids, pos, slot, upto):
        lean_engine.lm_head = capturing_head
        try:
            logits16 = b16.forward(step_ids, pos, c16, slot, valid[:, :upto])
        finally:
            lean_engine.lm_head = real_head
        return f32.forward(step_ids, pos, c32, slot, valid[:, :upto]), heads_of(
            captured["x"], logits16
        )

    ref, ours = run(ids, positions, 0, P)
    for t in range(steps):
        u = torch.from_numpy(keyed_uniform(seed, STREAM_SAMPLE, keys, 0, t))
        for name, rule in RULES.items():
            bad_ref = ref[1] if rule.rule.needs_amateur else None
            st = step_scores(rule, ref[0], bad_ref)
            pick = sample(st.scores, u)
            p_ref = torch.softmax(st.scores.double(), -1)
            for h in HEADS:
                lg = ours[h]
                so = step_scores(rule, lg[0], lg[1] if rule.rule.needs_amateur else None).scores
                s = stats[(h, name)]
                s[0] += int((sample(so, u) != pick).sum())
                s[1] += B
                tv = 0.5 * (torch.softmax(so.double(), -1) - p_ref).abs().sum(-1)
                s[2] += float(tv.sum())
                both = st.vhead & torch.isfinite(so)
                s[3] += float((so - st.scores)[both].abs().mean()) * B
            if name == "cd":
                tok = pick
        if t == steps - 1:
            break
        slot = P + t
        ref, ours = run(tok[:, None], positions[:, -1:] + t + 1, slot, slot + 1)
    return {k: (v[0], v[1], v[2] / v[1], v[3] / v[1]) for k, v in stats.items()}


def report(title: str, stats: dict) -> None:
    print(f"\n{title}")
    print(f"{'output layer':<14}{'rule':<13}{'picks differ':>22}{'mean TV':>9}{'|d score|':>11}")
    for (h, r), (d, n, tv, m) in stats.items():
        print(f"{h:<14}{r:<13}{d:>7}/{n:<6} {100 * d / n:6.2f}% {100 * tv:7.2f}% {m:>10.5f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="paper-good")
    ap.add_argument("--vocab", type=int, default=None, help="default: the preset's")
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--steps", type=int, default=48)
    ap.add_argument("--prefix", type=int, default=20)
    ap.add_argument("--trained-steps", type=int, default=300)
    ap.add_argument("--no-trained", action="store_true")
    ap.add_argument("--no-random", action="store_true")
    ap.add_argument("--workdir", default=None, help="for the trained model (default: a temp dir)")
    args = ap.parse_args()
    torch.manual_seed(0)

    if not args.no_random:
        t0 = time.time()
        good, bad = random_pair(args.model, args.vocab)
        g = torch.Generator().manual_seed(0)
        V = good.config.vocab_size
        prefixes = [
            [1, *torch.randint(4, V, (args.prefix,), generator=g).tolist()]
            for _ in range(args.rows)
        ]
        stats = compare(good, bad, prefixes, args.steps)
        report(
            f"random {args.model} (vocab {V}, lm_head x 8), {args.rows} rows x {args.steps} "
            f"steps, {time.time() - t0:.0f} s",
            stats,
        )
        del good, bad

    if not args.no_trained:
        good, bad, prefixes = trained_pair(args.trained_steps, args.prefix, args.rows, args.workdir)
        t0 = time.time()
        stats = compare(good, bad, prefixes, args.steps)
        report(
            f"trained cpu-tiny, GOOD step {args.trained_steps} vs BAD step "
            f"{args.trained_steps // 3}, {len(prefixes)} rows x {args.steps} steps, "
            f"{time.time() - t0:.0f} s",
            stats,
        )


if __name__ == "__main__":
    main()
