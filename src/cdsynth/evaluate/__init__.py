"""Evaluation: perplexity and the BabyLM tasks, as data plus a scoring rule each.

    results = evaluate_model(scorer, ["blimp", "ewok"], cfg, workdir)   # {task: TaskResult}
    evaluate_checkpoints("runs/demo/runs/baseline", cfg, workdir)      # every step_N, cached

Task files are discovered at run time under `evaluate.data_dir`, in cdsynth's layout
(blimp/ blimp_filtered/ blimp_supplement/ comps/ (*.jsonl), ewok/ewok_filtered.zip,
entity_tracking/entity_tracking.zip, wug_adj/ (*.jsonl), reading/ (*.csv)) or in the BabyLM
`evaluation_data` folder as published (full_eval/, fast_eval/; `layout`); every suite may be a
folder of .jsonl files or a zip of them. `evaluate.rules` picks the 2025 or 2026 scoring rules
(`rules`). Perplexity runs on the corpus's eval split: per document ("perplexity") or on
packed blocks as the paper's code computes it ("perplexity_packed"). docs/method.md names the
reference file of each rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from ..errors import UserError
from ..tasks import TASKS as RECORDS
from . import (
    aoa,
    comps,
    entity_tracking,
    ewok,
    layout,
    minimal_pairs,
    perplexity,
    probes,
    reading,
    subsets,
    wug,
)
from .rules import RULES, Rules

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


def rules_of(cfg) -> Rules:
    """The scoring rules `evaluate.rules` names (babylm2025 | babylm2026)."""
    return RULES[str(cfg.rules)]


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
    """How a task runs: `load(path, cfg, rules) -> {file: rows}` reads its suite (a folder or
    a zip under `evaluate.data_dir`, `layout.suite_path`; None for the built-in probes),
    `score(scorer, {file: rows}, rules) -> TaskResult` scores them (its facts: `cdsynth.tasks`;
    the rules: `rules.RULES[evaluate.rules]`)."""

    load: Callable
    score: Callable
    on_disk: bool = True  # False: built in (the probes), nothing is read from data_dir
    ruled: bool = True  # whether `evaluate.rules` changes its scores (not WUG's, not reading's)


def _pairs(name: str) -> TaskRunner:
    return TaskRunner(
        lambda path, cfg, rules: minimal_pairs.load_pairs(path),
        partial(minimal_pairs.score_pairs, name),
    )


def _ignores_rules(fn):
    """A score function of a task no rule version changes (WUG, reading)."""
    return lambda scorer, data, rules: fn(scorer, data)


TASKS: dict[str, TaskRunner] = {
    **{name: _pairs(name) for name in ("blimp", "blimp_filtered", "blimp_supplement")},
    "ewok": TaskRunner(
        lambda path, cfg, rules: ewok.load(path, cfg.passwords.ewok, rules), ewok.score
    ),
    "entity_tracking": TaskRunner(
        lambda path, cfg, rules: entity_tracking.load(path, cfg.passwords.entity_tracking, rules),
        partial(entity_tracking.score_items, "entity_tracking"),
    ),
    "comps": TaskRunner(lambda path, cfg, rules: comps.load(path), comps.score),
    "wug": TaskRunner(
        lambda path, cfg, rules: wug.load(path), _ignores_rules(wug.score), ruled=False
    ),
    "reading": TaskRunner(
        lambda path, cfg, rules: {"reading": reading.load(path)},
        _ignores_rules(lambda scorer, files: reading.score(scorer, files["reading"])),
        ruled=False,
    ),
    "aoa": TaskRunner(
        lambda path, cfg, rules: aoa.load(path), _ignores_rules(aoa.score), ruled=False
    ),
    "probes_agreement": TaskRunner(
        lambda path, cfg, rules: probes.agreement_pairs(cfg.probe_seed),
        partial(minimal_pairs.score_pairs, "probes_agreement"),
        on_disk=False,
    ),
    "probes_tracking": TaskRunner(
        lambda path, cfg, rules: probes.tracking_items(cfg.probe_seed),
        partial(entity_tracking.score_items, "probes_tracking"),
        on_disk=False,
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
    rules = rules_of(cfg)
    rules.check_task(name)
    path = layout.suite_path(name, cfg) if task.on_disk else None
    return _files(name, task.load(path, cfg, rules), partial(_with_rules, task.score, rules), cfg)


def _with_rules(fn, rules: Rules, scorer, data):
    return fn(scorer, data, rules)


def evaluate_model(scorer, tasks, cfg, workdir: str | Path = ".") -> dict:
    return {
        name: fn(scorer, data) for name in tasks for data, fn in [load_task(name, cfg, workdir)]
    }
