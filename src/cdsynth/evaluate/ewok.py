"""EWoK: which target goes with which context; only the target tokens are scored.

- 2025 rules: given Context1, is " " + Target1 more likely than " " + Target2?
- 2026 rules: is " " + Target1 more likely after Context1 than after Context2? (the target is
  fixed, the context varies; babylm-eval `read_files.decode_ewok`, see `rules`)

Accuracy per Domain, then the unweighted mean over domains. Each item appears twice in the
data (contexts and targets swapped); every line is scored as one pair. The suite is a folder
of .jsonl files or a zip (with its password: config or $CDSYNTH_EWOK_PASSWORD), read in place.
"""

from __future__ import annotations

from pathlib import Path

from .data import read_suite
from .result import TaskResult, macro_mean
from .rules import DEFAULT, RULES, Rules, item_key

FIELDS = ("Domain", "Context1", "Target1", "Target2")
FIELDS_2026 = (*FIELDS, "Context2")


def load(path: Path, password: str | None, rules: Rules = RULES[DEFAULT]) -> dict[str, list[dict]]:
    return read_suite(path, "ewok", password, FIELDS_2026 if rules.ewok_context_pairs else FIELDS)


def candidates(row: dict, rules: Rules) -> list[tuple[str, str]]:
    """The two (context, continuation) requests of a line; the first is the right one."""
    if rules.ewok_context_pairs:
        return [(row["Context1"], " " + row["Target1"]), (row["Context2"], " " + row["Target1"])]
    return [(row["Context1"], " " + row["Target1"]), (row["Context1"], " " + row["Target2"])]


def score(scorer, files: dict[str, list[dict]], rules: Rules = RULES[DEFAULT]) -> TaskResult:
    flat = [(f, i, row) for f, rows in files.items() for i, row in enumerate(rows)]
    pairs = [p for _, _, row in flat for p in candidates(row, rules)]
    lp = scorer.continuation_logprobs(pairs)
    items, correct = [], {}
    for k, (f, i, row) in enumerate(flat):
        a, b = float(lp[2 * k]), float(lp[2 * k + 1])
        ok = rules.correct([a, b], item_key("ewok", f, row))
        correct.setdefault(row["Domain"], []).append(ok)
        # target1/target2: the scores of the right and the wrong candidate
        items.append(
            {"id": f"{f}/{i}", "subtask": row["Domain"], "target1": a, "target2": b, "correct": ok}
        )
    s, per = macro_mean(correct)
    return TaskResult("ewok", "accuracy", s, per, items)
