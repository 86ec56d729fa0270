"""Entity tracking: after `input_prefix`, which of 5 `options` is most likely? (the first)

Each option is scored as a continuation of the prefix (summed log-prob of its tokens); an item
is correct iff option 0 scores strictly higher than every other option (2025 rules; under the
2026 rules the argmax, ties broken by keyed randomness, and items with a "nothing" option are
dropped when the suite is read: `rules`). Accuracy per `<file>_<numops>_ops`, averaged within
each file, then the mean over files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from .data import read_suite
from .result import TaskResult
from .rules import DEFAULT, RULES, Rules, has_nothing_option, item_key

FIELDS = ("input_prefix", "options", "numops")


def load(path: Path, password: str | None, rules: Rules = RULES[DEFAULT]) -> dict[str, list[dict]]:
    files = read_suite(path, "entity_tracking", password, FIELDS)
    if rules.drop_nothing:
        files = {f: [r for r in rows if not has_nothing_option(r)] for f, rows in files.items()}
        files = {f: rows for f, rows in files.items() if rows}
        if not files:
            raise UserError(f"{path}: every entity-tracking item has a 'nothing' option")
    return files


def score_items(
    task: str, scorer, files: dict[str, list[dict]], rules: Rules = RULES[DEFAULT]
) -> TaskResult:
    flat = [(f, i, row) for f, rows in files.items() for i, row in enumerate(rows)]
    pairs = [(row["input_prefix"], opt) for _, _, row in flat for opt in row["options"]]
    lp = scorer.continuation_logprobs(pairs)
    items, groups, pos = [], {}, 0
    for f, i, row in flat:
        n = len(row["options"])
        s = lp[pos : pos + n]
        pos += n
        ok = rules.correct(s, item_key(task, f, row))
        sub = f"{f}_{row['numops']}_ops"
        groups.setdefault(f, {}).setdefault(sub, []).append(ok)
        items.append(
            {"id": f"{f}/{i}", "subtask": sub, "scores": [float(x) for x in s], "correct": ok}
        )
    per_sub = {sub: float(np.mean(v)) for g in groups.values() for sub, v in sorted(g.items())}
    per_file = {f: float(np.mean([np.mean(v) for v in g.values()])) for f, g in groups.items()}
    return TaskResult(
        task,
        "accuracy",
        float(np.mean(list(per_file.values()))),
        per_sub,
        items,
        extra={"files": per_file},
    )
