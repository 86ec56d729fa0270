"""BLiMP scoring speed and agreement: our batched scorer vs lm-evaluation-harness (HFLM).

    python bench/eval_throughput.py [--paradigms 4] [--batch 64] [--repeats 3]
    python bench/eval_throughput.py --device cuda --preset paper-good --paradigms 20 \\
        --batch 32,128,512 --tokens 16384,65536 --data runs/gpu-data

Same model (a random LLaMA of `--preset`, cpu-small 4 x 256 by default, paper-good 12 x 768
with a 32000-token vocabulary on a GPU, with a byte-level BPE of that size trained on the
corpus at hand), same paradigms, same device, float32 weights and log-softmax in both
(`--dtype bf16` puts both in bf16; lm-eval then takes its log-softmax in bf16 too, so expect
the accuracies to drift apart), one rule: every sentence is scored after the BOS token, with
no leading space (lm-eval's own blimp task would add a space before each sentence; here both
get the plain sentence as a loglikelihood request with an empty context, which lm-eval
conditions on BOS). `--batch` (lm-eval's rows per forward) and `--tokens` (our positions per
forward) may list several values: each is timed once and the fastest of each side is then
timed `--repeats` times in all, alternating (this VM's speed drifts by up to 30% within a
minute); pairs/s come from the median time. Prints pairs/s, the ratio, the accuracies and how
many pairs the two decide differently.
Needs `pip install lm-eval` and DATA/blimp (DATA: `--data`, default ../shared/data; `--blimp`
names the folder itself). `--json FILE` writes the figures.

`--packing` adds a second table: our scorer with prefix-tree packing vs plain padded batches
on BLiMP, EWoK and entity tracking (up to 300 items per file; the zips need
$CDSYNTH_EWOK_PASSWORD and $CDSYNTH_ENTITY_TRACKING_PASSWORD, else they are skipped).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from cdsynth.config import PRESETS, ModelConfig, TokenizerConfig
from cdsynth.evaluate.minimal_pairs import load_pairs, score_pairs
from cdsynth.evaluate.scoring import Scorer
from cdsynth.tokenizer import train_tokenizer
from cdsynth.train import build_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def corpus_texts(data: Path) -> list[str]:
    folder = data / "corpus"
    if folder.is_dir():
        return [
            p.read_text(encoding="utf-8", errors="replace") for p in sorted(folder.rglob("*.txt"))
        ]
    from cdsynth.storyworld import generate_stories

    return generate_stories(0, 300_000)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def device_line(device: str) -> str:
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        return f"{p.name}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs"
    return f"CPU, {torch.get_num_threads()} threads"


def lm_eval_scores(lm, sentences):
    from lm_eval.api.instance import Instance

    reqs = [Instance("loglikelihood", {}, ("", s), i) for i, s in enumerate(sentences)]
    return np.array([ll for ll, _ in lm.loglikelihood(reqs, disable_tqdm=True)])


def int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--preset", default="cpu-small", choices=list(PRESETS))
    ap.add_argument("--vocab", type=int, default=None, help="default: the preset's, else 8192")
    ap.add_argument("--context", type=int, default=None, help="default: max(512, preset's)")
    ap.add_argument("--dtype", choices=list(DTYPES), default="fp32")
    ap.add_argument("--paradigms", type=int, default=4)
    ap.add_argument("--batch", default="64", help="lm-eval's batch size(s) (rows), e.g. 32,128")
    ap.add_argument("--tokens", default="2048", help="our batch_tokens, one or a list")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", default=str(DATA), help="holds corpus/ and blimp/")
    ap.add_argument("--blimp", default=None, help="default DATA/blimp")
    ap.add_argument("--packing", action="store_true", help="also time tree vs padded packing")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    a = ap.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    data = Path(a.data)
    dev, dtype = a.device, DTYPES[a.dtype]
    batches, token_sizes = int_list(a.batch), int_list(a.tokens)
    groups = dict(list(load_pairs(Path(a.blimp or data / "blimp")).items())[: a.paradigms])
    n_pairs = sum(len(v) for v in groups.values())
    vocab = a.vocab or PRESETS[a.preset].get("vocab_size") or 8192
    context = a.context or max(512, PRESETS[a.preset].get("context", 0))
    tok = train_tokenizer(corpus_texts(data), TokenizerConfig(vocab_size=vocab))
    model = build_model(ModelConfig(a.preset, vocab_size=vocab, context=context), len(tok))
    model = model.to(dev, dtype).eval()
    sentences = [
        s for rows in groups.values() for r in rows for s in (r["sentence_good"], r["sentence_bad"])
    ]
    from lm_eval.models.huggingface import HFLM

    # the model is on its device already: HFLM takes it from there
    lms = {b: HFLM(pretrained=model, tokenizer=tok, batch_size=b, device=dev) for b in batches}
    scorers = {t: Scorer(model, tok, batch_tokens=t, dtype=dtype, device=dev) for t in token_sizes}
    for scorer in scorers.values():
        scorer.sentence_logprobs(sentences[:64])  # warm-up
    if dev == "cuda":  # kernels and cuBLAS handles for lm-eval's shapes too
        for lm in lms.values():
            lm_eval_scores(lm, sentences[:64])

    def time_ours(t):
        sync(dev)
        start = time.perf_counter()
        result = score_pairs("blimp", scorers[t], groups)
        sync(dev)
        return time.perf_counter() - start, result

    def time_theirs(b):
        sync(dev)
        start = time.perf_counter()
        lp = lm_eval_scores(lms[b], sentences)
        sync(dev)
        return time.perf_counter() - start, lp

    # one timed pass of every setting; the fastest of each side goes on
    sweep_ours = {t: time_ours(t) for t in token_sizes}
    sweep_theirs = {b: time_theirs(b) for b in batches}
    best_t = min(sweep_ours, key=lambda t: sweep_ours[t][0])
    best_b = min(sweep_theirs, key=lambda b: sweep_theirs[b][0])
    t_ours, ours = [sweep_ours[best_t][0]], sweep_ours[best_t][1]
    t_theirs, theirs_lp = [sweep_theirs[best_b][0]], sweep_theirs[best_b][1]
    for _ in range(a.repeats - 1):
        dt, ours = time_ours(best_t)
        t_ours.append(dt)
        dt, theirs_lp = time_theirs(best_b)
        t_theirs.append(dt)
    t_ours, t_theirs = float(np.median(t_ours)), float(np.median(t_theirs))
    lp = theirs_lp.reshape(-1, 2)
    per, k = {}, 0
    for name, rows in groups.items():
        per[name] = float(np.mean(lp[k : k + len(rows), 0] > lp[k : k + len(rows), 1]))
        k += len(rows)
    acc_theirs = float(np.mean(list(per.values())))
    ours_lp = np.array([[i["good"], i["bad"]] for i in ours.items])
    differ = int(((ours_lp[:, 0] > ours_lp[:, 1]) != (lp[:, 0] > lp[:, 1])).sum())
    ties = int((ours_lp[:, 0] == ours_lp[:, 1]).sum())
    max_diff = float(np.abs(ours_lp - lp).max())
    print(
        f"device: {device_line(dev)}; {len(groups)} BLiMP paradigms, {n_pairs} pairs, lm-eval "
        f"batch {best_b}, ours {best_t} tokens per forward, median of {a.repeats}, {a.preset} "
        f"random model, {a.dtype}, vocab {len(tok)}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    if len(batches) > 1 or len(token_sizes) > 1:
        print(
            "first pass, pairs/s: lm-eval "
            + ", ".join(f"batch {b}: {n_pairs / v[0]:,.0f}" for b, v in sweep_theirs.items())
            + "; ours "
            + ", ".join(f"{t} tokens: {n_pairs / v[0]:,.0f}" for t, v in sweep_ours.items())
        )
    print("| scorer | pairs/s | accuracy (macro over paradigms) |")
    print("|---|---|---|")
    print(f"| cdsynth Scorer | {n_pairs / t_ours:,.0f} | {100 * ours.score:.2f} |")
    print(f"| lm-eval HFLM | {n_pairs / t_theirs:,.0f} | {100 * acc_theirs:.2f} |")
    print(
        f"ratio {t_theirs / t_ours:.2f}x; accuracy difference "
        f"{100 * abs(ours.score - acc_theirs):.3f} points; pairs decided differently: {differ} "
        f"(exact ties in ours: {ties}); max |log-prob difference| {max_diff:.2e}"
    )
    if a.json:
        out = {
            "device": device_line(dev),
            "args": vars(a),
            "pairs": n_pairs,
            "vocab": len(tok),
            "best_lm_eval_batch": best_b,
            "best_tokens": best_t,
            "pairs_per_s": {"cdsynth": n_pairs / t_ours, "lm_eval": n_pairs / t_theirs},
            "first_pass_s": {
                "lm_eval": {str(b): v[0] for b, v in sweep_theirs.items()},
                "cdsynth": {str(t): v[0] for t, v in sweep_ours.items()},
            },
            "ratio": t_theirs / t_ours,
            "accuracy": {"cdsynth": ours.score, "lm_eval": acc_theirs},
            "pairs_decided_differently": differ,
            "max_logprob_diff": max_diff,
            "torch": torch.__version__,
        }
        Path(a.json).write_text(json.dumps(out, indent=1))

    if a.packing:
        packing_table(model, tok, best_t, data, dtype, dev)


def scores(item: dict) -> list[float]:
    """An item's scores (good/bad, option scores) as one list."""
    out = []
    for v in item.values():
        if isinstance(v, float):
            out.append(v)
        elif isinstance(v, list):
            out.extend(v)
    return out


def packing_table(model, tok, tokens: int, data: Path, dtype, device: str) -> None:
    import os

    from cdsynth.config import EvalConfig, Passwords
    from cdsynth.errors import UserError
    from cdsynth.evaluate import load_task

    cfg = EvalConfig(
        data_dir=str(data),
        max_items=300,
        passwords=Passwords(
            ewok=os.environ.get("CDSYNTH_EWOK_PASSWORD"),
            entity_tracking=os.environ.get("CDSYNTH_ENTITY_TRACKING_PASSWORD"),
        ),
    )
    tree = Scorer(model, tok, batch_tokens=tokens, dtype=dtype, device=device)
    padded = Scorer(model, tok, batch_tokens=tokens, packing="padded", dtype=dtype, device=device)
    print()
    print("| task (<= 300 items per file) | items | tree s | padded s | speed-up | max |diff| |")
    print("|---|---|---|---|---|---|")
    for task in ("blimp", "ewok", "entity_tracking"):
        try:
            data_, fn = load_task(task, cfg, ".")
        except UserError as e:
            print(f"| {task} | skipped: {e} | | | | |")
            continue
        times, results = [], []
        for scorer in (tree, padded):
            sync(device)
            t = time.perf_counter()
            results.append(fn(scorer, data_))
            sync(device)
            times.append(time.perf_counter() - t)
        a, b = (np.array([scores(i) for i in r.items]) for r in results)
        diff = float(np.abs(a - b).max())
        print(
            f"| {task} | {len(results[0].items)} | {times[0]:.2f} | {times[1]:.2f} | "
            f"{times[1] / times[0]:.2f}x | {diff:.1e} |"
        )


if __name__ == "__main__":
    main()
