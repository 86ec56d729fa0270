"""EWoK: given Context1, is " " + Target1 more likely than " " + Target2?

Only the target tokens are scored. Accuracy per Domain, then the unweighted mean over domains.
Each item appears twice in the data (contexts and targets swapped); every line is an item.
The zip is read in place with its password (config or $CDSYNTH_EWOK_PASSWORD).
"""

from __future__ import annotations

from pathlib import Path

from .data import zip_jsonl, zip_password
from .result import TaskResult, macro_mean

FIELDS = ("Domain", "Context1", "Target1", "Target2")


def load(path: Path, password: str | None) -> dict[str, list[dict]]:
    return zip_jsonl(path, zip_password("ewok", password), FIELDS)


def score(scorer, files: dict[str, list[dict]]) -> TaskResult:
    flat = [(f, i, row) for f, rows in files.items() for i, row in enumerate(rows)]
    pairs = [(row["Context1"], " " + row[t]) for _, _, row in flat for t in ("Target1", "Target2")]
    lp = scorer.continuation_logprobs(pairs)
    items, correct = [], {}
    for k, (f, i, row) in enumerate(flat):
        a, b = float(lp[2 * k]), float(lp[2 * k + 1])
        ok = a > b
        correct.setdefault(row["Domain"], []).append(ok)
        items.append(
            {"id": f"{f}/{i}", "subtask": row["Domain"], "target1": a, "target2": b, "correct": ok}
        )
    s, per = macro_mean(correct)
    return TaskResult("ewok", "accuracy", s, per, items)
