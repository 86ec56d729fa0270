"""BLiMP scoring speed and agreement: our batched scorer vs lm-evaluation-harness (HFLM).

    python bench/eval_throughput.py [--paradigms 4] [--batch 64] [--repeats 3]

Same model (a random cpu-small LLaMA, 4 x 256, with a byte-level BPE of 8192 tokens trained on
the corpus at hand), same paradigms, float32 log-softmax in both, one rule: every sentence is
scored after the BOS token, with no leading space (lm-eval's own blimp task would add a space
before each sentence; here both get the plain sentence as a loglikelihood request with an
empty context, which lm-eval conditions on BOS). Each scorer runs --repeats times, alternating
(this VM's speed drifts by up to 30% within a minute); pairs/s come from the median time.
Prints pairs/s, the ratio, and the accuracies.
Needs `pip install lm-eval` and ../shared/data/blimp (or --blimp DIR).

`--packing` adds a second table: our scorer with prefix-tree packing vs plain padded batches
on BLiMP, EWoK and entity tracking (up to 300 items per file; the zips need
$CDSYNTH_EWOK_PASSWORD and $CDSYNTH_ENTITY_TRACKING_PASSWORD, else they are skipped).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from cdsynth.config import ModelConfig, TokenizerConfig
from cdsynth.evaluate.minimal_pairs import load_pairs, score_pairs
from cdsynth.evaluate.scoring import Scorer
from cdsynth.tokenizer import train_tokenizer
from cdsynth.train import build_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def corpus_texts() -> list[str]:
    folder = DATA / "corpus"
    if folder.is_dir():
        return [
            p.read_text(encoding="utf-8", errors="replace") for p in sorted(folder.rglob("*.txt"))
        ]
    from cdsynth.storyworld import generate_stories

    return generate_stories(0, 300_000)


def lm_eval_scores(lm, sentences):
    from lm_eval.api.instance import Instance

    reqs = [Instance("loglikelihood", {}, ("", s), i) for i, s in enumerate(sentences)]
    return np.array([ll for ll, _ in lm.loglikelihood(reqs, disable_tqdm=True)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paradigms", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64, help="lm-eval's batch size (rows)")
    ap.add_argument("--tokens", type=int, default=2048, help="our batch_tokens")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--blimp", default=str(DATA / "blimp"))
    ap.add_argument("--packing", action="store_true", help="also time tree vs padded packing")
    a = ap.parse_args()
    groups = dict(list(load_pairs(Path(a.blimp)).items())[: a.paradigms])
    n_pairs = sum(len(v) for v in groups.values())
    tok = train_tokenizer(corpus_texts(), TokenizerConfig(vocab_size=8192))
    model = build_model(ModelConfig("cpu-small", vocab_size=8192, context=512), len(tok)).eval()
    sentences = [
        s for rows in groups.values() for r in rows for s in (r["sentence_good"], r["sentence_bad"])
    ]
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=model, tokenizer=tok, batch_size=a.batch, device="cpu")
    scorer = Scorer(model, tok, batch_tokens=a.tokens)
    scorer.sentence_logprobs(sentences[:64])  # warm-up
    t_ours, t_theirs = [], []
    for _ in range(a.repeats):
        t = time.perf_counter()
        ours = score_pairs("blimp", scorer, groups)
        t_ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        theirs_lp = lm_eval_scores(lm, sentences)
        t_theirs.append(time.perf_counter() - t)
    t_ours, t_theirs = float(np.median(t_ours)), float(np.median(t_theirs))
    lp = theirs_lp.reshape(-1, 2)
    per, k = {}, 0
    for name, rows in groups.items():
        per[name] = float(np.mean(lp[k : k + len(rows), 0] > lp[k : k + len(rows), 1]))
        k += len(rows)
    acc_theirs = float(np.mean(list(per.values())))
    ours_lp = np.array([[i["good"], i["bad"]] for i in ours.items])
    print(
        f"{len(groups)} BLiMP paradigms, {n_pairs} pairs, lm-eval batch {a.batch}, ours "
        f"{a.tokens} tokens per forward, median of {a.repeats}, cpu-small random model, "
        f"vocab {len(tok)}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print("| scorer | pairs/s | accuracy (macro over paradigms) |")
    print("|---|---|---|")
    print(f"| cdsynth Scorer | {n_pairs / t_ours:,.0f} | {100 * ours.score:.2f} |")
    print(f"| lm-eval HFLM | {n_pairs / t_theirs:,.0f} | {100 * acc_theirs:.2f} |")
    print(
        f"ratio {t_theirs / t_ours:.2f}x; accuracy difference "
        f"{100 * abs(ours.score - acc_theirs):.3f} "
        f"points; max |log-prob difference| {np.abs(ours_lp - lp).max():.2e}"
    )

    if a.packing:
        packing_table(model, tok, a.tokens)


def scores(item: dict) -> list[float]:
    """An item's scores (good/bad, option scores) as one list."""
    out = []
    for v in item.values():
        if isinstance(v, float):
            out.append(v)
        elif isinstance(v, list):
            out.extend(v)
    return out


def packing_table(model, tok, tokens: int) -> None:
    import os

    from cdsynth.config import EvalConfig, Passwords
    from cdsynth.errors import UserError
    from cdsynth.evaluate import load_task

    cfg = EvalConfig(
        data_dir=str(DATA),
        max_items=300,
        passwords=Passwords(
            ewok=os.environ.get("CDSYNTH_EWOK_PASSWORD"),
            entity_tracking=os.environ.get("CDSYNTH_ENTITY_TRACKING_PASSWORD"),
        ),
    )
    tree = Scorer(model, tok, batch_tokens=tokens)
    padded = Scorer(model, tok, batch_tokens=tokens, packing="padded")
    print()
    print("| task (<= 300 items per file) | items | tree s | padded s | speed-up | max |diff| |")
    print("|---|---|---|---|---|---|")
    for task in ("blimp", "ewok", "entity_tracking"):
        try:
            data, fn = load_task(task, cfg, ".")
        except UserError as e:
            print(f"| {task} | skipped: {e} | | | | |")
            continue
        times, results = [], []
        for scorer in (tree, padded):
            t = time.perf_counter()
            results.append(fn(scorer, data))
            times.append(time.perf_counter() - t)
        a, b = (np.array([scores(i) for i in r.items]) for r in results)
        diff = float(np.abs(a - b).max())
        print(
            f"| {task} | {len(results[0].items)} | {times[0]:.2f} | {times[1]:.2f} | "
            f"{times[1] / times[0]:.2f}x | {diff:.1e} |"
        )


if __name__ == "__main__":
    main()
