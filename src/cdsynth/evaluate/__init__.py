"""Evaluation: perplexity and the BabyLM tasks, as data plus a scoring rule each.

    results = evaluate_model(scorer, ["blimp", "ewok"], cfg, workdir)   # {task: TaskResult}
    evaluate_checkpoints("runs/demo/runs/baseline", cfg, workdir)      # every step_N, cached

Task files are discovered at run time under `evaluate.data_dir`:
blimp/ blimp_filtered/ blimp_supplement/ (*.jsonl), ewok/ewok_filtered.zip,
entity_tracking/entity_tracking.zip, wug_adj/ (*.jsonl), reading/ (*.csv). Perplexity runs
on the corpus's eval split: per document ("perplexity") or on packed blocks as the paper's code
computes it ("perplexity_packed"). docs/method.md names the reference file of each rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from ..errors import UserError
from ..tasks import TASKS as RECORDS
from . import entity_tracking, ewok, minimal_pairs, perplexity, probes, reading, subsets, wug

# Each task's facts (metric, direction, strata, rule version, ...) are its record in
# `cdsynth.tasks`; the rule versions, bumped when a task's scoring rule changes so that cached
# results are redone, go into the result's fingerprint (the runner).
RULE_VERSIONS = {n: t.rule_version for n, t in RECORDS.items() if t.rule_version is not None}


def _score_and_record(fn, subset: dict, scorer, data):
    res = fn(scorer, data)
    res.extra["subset"] = subset
    return res


def _recorded(fn, subset: dict):
    """The score function `fn`, with the subset rule stored in its result's extra."""
    return partial(_score_and_record, fn, subset)


def _files(name: str, files: dict, fn, cfg):
    """A task's files subset by `evaluate.max_items`: stratified by the record's strata (a
    column, and whether the score averages per stratum or pools the file's items)."""
    record = RECORDS.get(name)
    stratum, equal = record.strata if record and record.strata else (None, False)
    data, subset = subsets.sample_files(files, cfg.max_items, cfg.subset_seed, name, stratum, equal)
    return data, _recorded(fn, subset)


def perplexity_documents(cfg, workdir: str | Path) -> tuple[list[dict], dict]:
    """The documents perplexity is computed on: a random sample of `perplexity_documents`
    of the eval split (or `perplexity_file`), stratified by the rows' "source"."""
    from ..corpus import read_split
    from ..fileio import read_jsonl

    if cfg.perplexity_file:
        path = Path(cfg.perplexity_file)
        if not path.is_file():
            raise UserError(f"perplexity file not found: {path}")
        docs = read_jsonl(path)
    else:
        docs = read_split(Path(workdir) / "corpus", "eval")
    n = cfg.perplexity_documents
    kept = subsets.sample_rows(docs, n, cfg.subset_seed, "perplexity", "source")
    return kept, subsets.record(n, cfg.subset_seed, "source", False, "documents")


@dataclass(frozen=True)
class TaskRunner:
    """How a task runs: `load(root, cfg) -> {file: rows}` reads its files under
    `evaluate.data_dir`, `score(scorer, {file: rows}) -> TaskResult` scores them (its facts:
    `cdsynth.tasks`)."""

    load: Callable
    score: Callable


TASKS: dict[str, TaskRunner] = {
    **{
        name: TaskRunner(
            lambda root, cfg, name=name: minimal_pairs.load_pairs(root / name),
            partial(minimal_pairs.score_pairs, name),
        )
        for name in ("blimp", "blimp_filtered", "blimp_supplement")
    },
    "ewok": TaskRunner(
        lambda root, cfg: ewok.load(root / "ewok" / "ewok_filtered.zip", cfg.passwords.ewok),
        ewok.score,
    ),
    "entity_tracking": TaskRunner(
        lambda root, cfg: entity_tracking.load(
            root / "entity_tracking" / "entity_tracking.zip", cfg.passwords.entity_tracking
        ),
        partial(entity_tracking.score_items, "entity_tracking"),
    ),
    "wug": TaskRunner(lambda root, cfg: wug.load(root / "wug_adj"), wug.score),
    "reading": TaskRunner(
        lambda root, cfg: {"reading": reading.load(root / "reading")},
        lambda scorer, files: reading.score(scorer, files["reading"]),
    ),
    "probes_agreement": TaskRunner(
        lambda root, cfg: probes.agreement_pairs(cfg.probe_seed),
        partial(minimal_pairs.score_pairs, "probes_agreement"),
    ),
    "probes_tracking": TaskRunner(
        lambda root, cfg: probes.tracking_items(cfg.probe_seed),
        partial(entity_tracking.score_items, "probes_tracking"),
    ),
}
# perplexity runs on the corpus's eval split, not on files under data_dir
PERPLEXITY = {"perplexity": perplexity.score, "perplexity_packed": perplexity.score_packed}
TASK_NAMES = (*PERPLEXITY, *TASKS)


def load_task(name: str, cfg, workdir: str | Path):
    """(data, score function) of a task; the data is read once and shared by checkpoints.

    `evaluate.max_items` keeps a seeded random sample of that many rows per file (stratified
    where a file has strata, `tasks.Task.strata`); the result records the rule in
    extra["subset"]."""
    if name in PERPLEXITY:
        docs, subset = perplexity_documents(cfg, workdir)
        return docs, _recorded(PERPLEXITY[name], subset)
    task = TASKS.get(name)
    if task is None:
        raise UserError(f"unknown task '{name}'; choose from {', '.join(TASK_NAMES)}")
    return _files(name, task.load(Path(cfg.data_dir), cfg), task.score, cfg)


def evaluate_model(scorer, tasks, cfg, workdir: str | Path = ".") -> dict:
    return {
        name: fn(scorer, data) for name in tasks for data, fn in [load_task(name, cfg, workdir)]
    }
