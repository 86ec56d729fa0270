"""Minimal pairs (BLiMP, BLiMP filtered, BLiMP supplement, the demo agreement probes).

Score of a sentence = summed token log-probability of the whole sentence (see `scoring` for
the BOS rule); a pair is correct iff good > bad (strictly: a tie, as for the few BLiMP pairs
with identical sentences, counts as wrong). Accuracy per file (= paradigm / UID), task score =
unweighted mean over files. Files are discovered at run time.
"""

from __future__ import annotations

from pathlib import Path

from .data import jsonl_files, read_jsonl_file
from .result import TaskResult, macro_mean

FIELDS = ("sentence_good", "sentence_bad")


def load_pairs(folder: Path) -> dict[str, list[dict]]:
    return {f.stem: read_jsonl_file(f, FIELDS) for f in jsonl_files(folder)}


def score_pairs(task: str, scorer, groups: dict[str, list[dict]]) -> TaskResult:
    flat = [(name, i, row) for name, rows in groups.items() for i, row in enumerate(rows)]
    sentences = [s for _, _, row in flat for s in (row["sentence_good"], row["sentence_bad"])]
    lp = scorer.sentence_logprobs(sentences)
    items, correct = [], {}
    for k, (name, i, _) in enumerate(flat):
        good, bad = float(lp[2 * k]), float(lp[2 * k + 1])
        ok = good > bad
        correct.setdefault(name, []).append(ok)
        items.append(
            {"id": f"{name}/{i}", "subtask": name, "good": good, "bad": bad, "correct": ok}
        )
    score, per = macro_mean(correct)
    return TaskResult(task, "accuracy", score, per, items)
