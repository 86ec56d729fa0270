"""Minimal pairs (BLiMP, BLiMP filtered, BLiMP supplement, the demo agreement probes).

Score of a sentence = summed token log-probability of the whole sentence (see `scoring` for
the BOS rule); a pair is correct iff good > bad (strictly: a tie, as for the few BLiMP pairs
with identical sentences, counts as wrong; under the 2026 rules a tie is broken by keyed
randomness, `rules`). Accuracy per file (= paradigm / UID), task score = unweighted mean over
files. Files are discovered at run time.
"""

from __future__ import annotations

from pathlib import Path

from .data import read_suite
from .result import TaskResult, macro_mean
from .rules import DEFAULT, RULES, Rules, item_key

FIELDS = ("sentence_good", "sentence_bad")


def load_pairs(path: Path) -> dict[str, list[dict]]:
    """{file stem: pairs} of a folder of .jsonl files (or a zip of them)."""
    return read_suite(path, path.stem, None, FIELDS)


def score_pairs(
    task: str, scorer, groups: dict[str, list[dict]], rules: Rules = RULES[DEFAULT]
) -> TaskResult:
    flat = [(name, i, row) for name, rows in groups.items() for i, row in enumerate(rows)]
    sentences = [s for _, _, row in flat for s in (row["sentence_good"], row["sentence_bad"])]
    lp = scorer.sentence_logprobs(sentences)
    items, correct = [], {}
    for k, (name, i, row) in enumerate(flat):
        good, bad = float(lp[2 * k]), float(lp[2 * k + 1])
        ok = rules.correct([good, bad], item_key(task, name, row))
        correct.setdefault(name, []).append(ok)
        items.append(
            {"id": f"{name}/{i}", "subtask": name, "good": good, "bad": bad, "correct": ok}
        )
    score, per = macro_mean(correct)
    return TaskResult(task, "accuracy", score, per, items)
