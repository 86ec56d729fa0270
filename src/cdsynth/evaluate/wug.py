"""WUG adjective nominalisation: P(first form) = softmax of the two sentence log-probs;
the score is Spearman's rho between P(first form) and the human ratio over all items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from ..errors import UserError
from .data import jsonl_files, read_jsonl_file
from .result import TaskResult


def load(folder: Path) -> dict[str, list[dict]]:
    out = {}
    for f in jsonl_files(folder):
        rows = read_jsonl_file(f, ("sentences", "ratio"))
        for n, row in enumerate(rows, 1):
            if len(row["sentences"].split("\t")) != 2:
                raise UserError(
                    f"{f}: item {n}: 'sentences' must hold two sentences split by a tab"
                )
        out[f.stem] = rows
    return out


def score(scorer, files: dict[str, list[dict]]) -> TaskResult:
    flat = [(f, i, row) for f, rows in files.items() for i, row in enumerate(rows)]
    sents = [s for _, _, row in flat for s in row["sentences"].split("\t")]
    lp = scorer.sentence_logprobs(sents).reshape(-1, 2)
    p_first = 1.0 / (1.0 + np.exp(lp[:, 1] - lp[:, 0]))
    ratio = np.array([row["ratio"] for _, _, row in flat], dtype=float)
    rho = float(spearmanr(p_first, ratio).statistic) if len(flat) > 1 else float("nan")
    items = [
        {"id": f"{f}/{i}", "subtask": f, "p_first": float(p), "ratio": float(r)}
        for (f, i, _), p, r in zip(flat, p_first, ratio, strict=False)
    ]
    return TaskResult("wug", "spearman", rho, {}, items)
