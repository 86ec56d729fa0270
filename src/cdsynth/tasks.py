"""One record per evaluation task: what its score is, which way is better, how the bootstrap
resamples it, how the report shows it, how its files are subset and which version of its
scoring rule made a result (lm-eval's task config is the model). Pure data; the code that
scores a task with a model lives in `evaluate` and imports these records, the statistics and
the report read them.

    TASKS["ewok"].strata            # ("ConceptA", False)
    task("perplexity").lower_is_better
    reported_tasks(["reading", "wug"])   # reading's two scores, reading, wug, wug_first_form

Derived tasks (reading's two scores, WUG's first-form share) are records too: the report
reads them from their parent task's results (`parent`, `parent_score`). A run-level task
(`per_run`: AoA's model-child correlation) has one score per run, over its checkpoints, read
from the run's RUN/eval/<parent>.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .item_statistics import (
    accuracy_statistic,
    first_form_statistic,
    perplexity_statistic,
    reading_part_statistic,
    reading_statistic,
    spearman_statistic,
)

# how a metric is shown (claims, tables, curves, forests): (scale, unit) - accuracies in
# percent as in the paper's tables, their differences in percentage points
ACCURACY = (100.0, "accuracy, %")
PERPLEXITY = (1.0, "perplexity")
SPEARMAN = (1.0, "Spearman rho")
R2_GAIN = (1.0, "R² gain x 100")
PEARSON = (1.0, "Pearson r")


@dataclass(frozen=True)
class Task:
    """A task's facts. `statistic(items, idx) -> (B,)` is its bootstrap statistic
    (`item_statistics`); `scale` x score is what the report prints, in `unit`."""

    name: str
    metric: str  # accuracy | perplexity | spearman | reading_gain (the results' "metric")
    label: str  # how the report names it in a sentence
    statistic: Callable | None
    unit: tuple[float, str]  # (scale, unit)
    lower_is_better: bool = False
    strata: tuple[str, bool] | None = None  # (column, equal allocation) of a file's rows
    rule_version: int | None = None  # bumped when the scoring rule changes (cached results redone)
    parent: str | None = None  # a derived task: read from this task's results ...
    parent_score: str | None = None  # ... this field of them ("subtasks.<key>": a subtask)
    shown_as: tuple[str, ...] = ()  # the tasks the report shows for it, in order (default: itself)
    stands_for: str | None = None  # the paper's claim task it stands for (first found wins)
    paper_mu_only: bool = False  # only in the paper-mode mu-Delta-REL (the paper's WUG)
    # one score per run over its checkpoints: field `parent_score` of RUN/eval/<parent>.json
    per_run: bool = False


def mean_surprisal_statistic(items: list[dict], idx: np.ndarray) -> np.ndarray:
    """The aoa task's score of each resample: the mean of its items' surprisals, (B,)."""
    s = np.array([it["surprisal"] for it in items], dtype=float)
    return s[idx].mean(axis=1)


def run_score_statistic(items: list[dict], idx: np.ndarray) -> np.ndarray:
    """A run-level task's score of each resample, (B,): its items are one per run, holding
    the run's score, so a seed's score is its run's and the `seeds` scheme pairs the runs by
    seed (a paired t over seeds, as for every task); there are no items to resample."""
    s = np.array([it["score"] for it in items], dtype=float)
    return s[idx].mean(axis=1)


def _accuracy(name: str, label: str, **kw) -> Task:
    return Task(name, "accuracy", label, accuracy_statistic, ACCURACY, **kw)


_RECORDS = [
    Task("perplexity", "perplexity", "perplexity", perplexity_statistic, PERPLEXITY, True,
         stands_for="perplexity"),
    Task("perplexity_packed", "perplexity", "perplexity (packed, as the paper's code)",
         perplexity_statistic, PERPLEXITY, True, stands_for="perplexity"),
    _accuracy("blimp", "BLiMP", stands_for="blimp"),
    _accuracy("blimp_filtered", "BLiMP (filtered)", stands_for="blimp"),
    _accuracy("blimp_supplement", "blimp supplement"),
    _accuracy("ewok", "EWoK", strata=("ConceptA", False), stands_for="ewok"),
    _accuracy("entity_tracking", "entity tracking", strata=("numops", True),
              stands_for="entity_tracking"),
    _accuracy("comps", "COMPS"),
    # per checkpoint, the mean surprisal of the CDI words; the AoA score itself (the
    # model-child correlation over a run's checkpoints) is the run's eval/aoa.json
    Task("aoa", "surprisal", "AoA words: mean surprisal (nats)", mean_surprisal_statistic,
         (1.0, "nats"), True, shown_as=("aoa", "aoa_correlation")),
    Task("aoa_correlation", "pearson",
         "AoA: model-child correlation (the pipeline's curve_fitness)",
         run_score_statistic, PEARSON, parent="aoa", parent_score="curve_fitness", per_run=True),
    Task("wug", "spearman", "wug", spearman_statistic, SPEARMAN, rule_version=2,
         shown_as=("wug", "wug_first_form")),
    Task("wug_first_form", "accuracy", "WUG first-form share (the paper's WUG)",
         first_form_statistic, ACCURACY, parent="wug", parent_score="first_form_share",
         paper_mu_only=True),
    # The paper (and the BabyLM 2025 pipeline) report reading as two scores: each is a task of
    # its own here, read from the reading task's results; "reading" is their mean (ours).
    Task("reading", "reading_gain", "reading, both (mean of the two; ours)", reading_statistic,
         R2_GAIN, rule_version=2,
         shown_as=("reading_eye_tracking", "reading_self_paced", "reading")),
    Task("reading_eye_tracking", "reading_gain", "reading: eye tracking",
         reading_part_statistic("eye_tracking"), R2_GAIN, parent="reading",
         parent_score="subtasks.eye_tracking"),
    Task("reading_self_paced", "reading_gain", "reading: self-paced",
         reading_part_statistic("self_paced_reading"), R2_GAIN, parent="reading",
         parent_score="subtasks.self_paced_reading"),
    _accuracy("probes_agreement", "the agreement probe (the demo's stand-in for BLiMP)",
              stands_for="blimp"),
    _accuracy("probes_tracking", "the tracking probe (the demo's stand-in for entity tracking)",
              strata=("numops", True), stands_for="entity_tracking"),
]  # fmt: skip
TASKS: dict[str, Task] = {t.name: t for t in _RECORDS}

# the report's aggregate columns, named like tasks in its tables and sentences
AGGREGATE_LABELS = {
    "mu_delta_rel": "the aggregate mu-Delta-REL",
    "mu_delta_rel_paper": "mu-Delta-REL with the paper's WUG",
}
METRIC_UNITS = {"accuracy": ACCURACY, "perplexity": PERPLEXITY, "spearman": SPEARMAN}
METRIC_UNITS |= {"reading_gain": R2_GAIN, "r2_gain": R2_GAIN, "pearson": PEARSON}
METRIC_STATISTICS = {
    "accuracy": accuracy_statistic,
    "perplexity": perplexity_statistic,
    "spearman": spearman_statistic,
}


def task(name: str) -> Task | None:
    """The record of a task (None for a name no record has, such as an aggregate)."""
    return TASKS.get(name)


def lower_is_better(name: str) -> bool:
    t = TASKS.get(name)
    return bool(t and t.lower_is_better)


def task_label(name: str) -> str:
    """How a sentence names a task (or an aggregate column)."""
    t = TASKS.get(name)
    if t is not None:
        return t.label
    return AGGREGATE_LABELS.get(name, name.replace("_", " "))


def task_unit(name: str, metric: str) -> tuple[float, str]:
    """(scale, unit) of a task's scores; a task without a record by its results' metric."""
    t = TASKS.get(name)
    return t.unit if t is not None else METRIC_UNITS.get(metric, (1.0, metric))


def statistic_for(name: str, metric: str) -> Callable | None:
    """A task's bootstrap statistic; a task without a record by its results' metric."""
    t = TASKS.get(name)
    return t.statistic if t is not None else METRIC_STATISTICS.get(metric)


def reported_tasks(configured: list[str]) -> list[str]:
    """The tasks a report shows for the configured ones (reading as its two scores, then
    their mean; WUG, then its first-form share)."""
    out: list[str] = []
    for name in configured:
        t = TASKS.get(name)
        out += list(t.shown_as) if t is not None and t.shown_as else [name]
    return out


def derived_tasks(parent: str) -> list[Task]:
    """The tasks read from `parent`'s per-checkpoint results."""
    return [t for t in TASKS.values() if t.parent == parent and not t.per_run]


def run_tasks() -> list[Task]:
    """The run-level tasks (one score per run, from RUN/eval/<parent>.json)."""
    return [t for t in TASKS.values() if t.per_run]


def claim_tasks(claim_task: str) -> tuple[str, ...]:
    """The tasks that stand for one of the paper's claim tasks, in the order they are tried."""
    return tuple(t.name for t in TASKS.values() if t.stands_for == claim_task)


LOWER_IS_BETTER = frozenset(t.name for t in TASKS.values() if t.lower_is_better)
PAPER_MU_ONLY = tuple(t.name for t in TASKS.values() if t.paper_mu_only)
