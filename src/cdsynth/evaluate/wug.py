"""WUG adjective nominalisation, as the BabyLM 2025 pipeline scores it
(babylm/evaluation-pipeline-2025, evaluation_pipeline/sentence_zero_shot/compute_results.py,
`rank_and_evaluate_wug`): each of the two sentences is scored whole (summed token log-probs),
P(first form) = softmax of the two log-probs, and the score is Spearman's rho between P(first
form) and the human `ratio` over all items of the file (the pipeline prints rho x 100).

extra["first_form_share"] is the share of items whose first form scores at least as high as
the second: the number the paper's code reports for WUG (a pipeline version from before WUG
was scored by correlation, run with `--task wug`, counted "correct" = first sentence chosen,
and the paper's bootstrap, evals/subsample_predictions.py, resamples that accuracy).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from ..errors import UserError
from .data import read_suite
from .result import TaskResult


def load(path: Path) -> dict[str, list[dict]]:
    """{file stem: items} of a folder of .jsonl files (or a zip of them)."""
    out = read_suite(path, "wug", None, ("sentences", "ratio"))
    for stem, rows in out.items():
        for n, row in enumerate(rows, 1):
            if len(row["sentences"].split("\t")) != 2:
                raise UserError(
                    f"{path}: {stem}: item {n}: 'sentences' must hold two sentences split by a tab"
                )
    return out


def p_first(logprobs: np.ndarray) -> np.ndarray:
    """softmax over each row's two sentence log-probs (shape (n, 2)), first column."""
    return 1.0 / (1.0 + np.exp(logprobs[:, 1] - logprobs[:, 0]))


def spearman(p: np.ndarray, ratio: np.ndarray) -> float:
    return float(spearmanr(p, ratio).statistic) if len(p) > 1 else float("nan")


def score(scorer, files: dict[str, list[dict]]) -> TaskResult:
    flat = [(f, i, row) for f, rows in files.items() for i, row in enumerate(rows)]
    sents = [s for _, _, row in flat for s in row["sentences"].split("\t")]
    lp = scorer.sentence_logprobs(sents).reshape(-1, 2)
    first = p_first(lp)
    ratio = np.array([row["ratio"] for _, _, row in flat], dtype=float)
    rho = spearman(first, ratio)
    items = [
        {"id": f"{f}/{i}", "subtask": f, "p_first": float(p), "ratio": float(r)}
        for (f, i, _), p, r in zip(flat, first, ratio, strict=True)
    ]
    share = float(np.mean(lp[:, 0] >= lp[:, 1])) if len(flat) else float("nan")
    return TaskResult("wug", "spearman", rho, {}, items, extra={"first_form_share": share})
