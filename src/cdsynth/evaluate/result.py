"""What a task returns: a score, per-subtask scores and item-level rows for the bootstrap."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TaskResult:
    task: str
    metric: str  # accuracy | spearman | reading_gain | perplexity
    score: float
    subtasks: dict[str, float] = field(default_factory=dict)
    items: list[dict] = field(default_factory=list)  # {"id", "subtask", ...}
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "task": self.task,
            "metric": self.metric,
            "score": self.score,
            "subtasks": self.subtasks,
            "n_items": len(self.items),
            **self.extra,
        }


def macro_mean(groups: dict[str, list[bool]]) -> tuple[float, dict[str, float]]:
    """Accuracy per group, then the unweighted mean over groups."""
    per = {k: float(np.mean(v)) for k, v in sorted(groups.items())}
    return float(np.mean(list(per.values()))), per
