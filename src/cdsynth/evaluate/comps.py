"""COMPS (Misra et al. 2023): does a concept take a property? Only the property is scored.

A line holds `prefix_acceptable`, `prefix_unacceptable` and their shared `property_phrase`;
each prefix + " " + phrase is scored on the phrase's tokens only (the summed log-prob of
" " + property_phrase after the prefix), and an item is correct iff the acceptable one scores
higher (a tie: by the rules, `rules`). Accuracy per file, task score = the unweighted mean over
files, as babylm-eval `strict/` scores it (`read_files.decode_comps`, `run.process_results`):
its files are reported as the pipeline's subsets: comps_base as base, comps_wugs as wugs,
comps_wugs_dist-before as wugs_dist_before and any other file (the fourth, the distractor in
between) as wugs_dist_in_between.
"""

from __future__ import annotations

from pathlib import Path

from .data import read_suite
from .result import TaskResult, macro_mean
from .rules import DEFAULT, RULES, Rules, item_key

FIELDS = ("prefix_acceptable", "prefix_unacceptable", "property_phrase")
SUBSETS = {  # decode_comps: file stem -> the subset ("UID") it is reported as
    "comps_base": "base",
    "comps_wugs": "wugs",
    "comps_wugs_dist-before": "wugs_dist_before",
}
OTHER = "wugs_dist_in_between"  # decode_comps's else branch


def load(path: Path, password: str | None = None) -> dict[str, list[dict]]:
    return read_suite(path, "comps", password, FIELDS)


def score(scorer, files: dict[str, list[dict]], rules: Rules = RULES[DEFAULT]) -> TaskResult:
    flat = [(f, i, row) for f, rows in files.items() for i, row in enumerate(rows)]
    pairs = [
        (row[prefix], " " + row["property_phrase"])
        for _, _, row in flat
        for prefix in ("prefix_acceptable", "prefix_unacceptable")
    ]
    lp = scorer.continuation_logprobs(pairs)
    items, correct = [], {}
    for k, (f, i, row) in enumerate(flat):
        good, bad = float(lp[2 * k]), float(lp[2 * k + 1])
        ok = rules.correct([good, bad], item_key("comps", f, row))
        sub = SUBSETS.get(f, OTHER)
        correct.setdefault(sub, []).append(ok)
        items.append({"id": f"{f}/{i}", "subtask": sub, "good": good, "bad": bad, "correct": ok})
    s, per = macro_mean(correct)
    return TaskResult("comps", "accuracy", s, per, items)
