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

from functools import partial
from pathlib import Path

from ..errors import UserError
from . import entity_tracking, ewok, minimal_pairs, perplexity, probes, reading, subsets, wug

TASK_NAMES = (
    "perplexity",
    "perplexity_packed",
    "blimp",
    "blimp_filtered",
    "blimp_supplement",
    "ewok",
    "entity_tracking",
    "wug",
    "reading",
    "probes_agreement",
    "probes_tracking",
)

# Bumped when a task's scoring rule changes, so that cached results are redone (the runner
# puts it in the result's fingerprint).
RULE_VERSIONS = {"reading": 2, "wug": 2}

# The stratum of each task's rows within a file, and whether the score averages per stratum
# (equal allocation) or pools the file's items (proportional); see `subsets`.
STRATA = {
    "ewok": ("ConceptA", False),
    "entity_tracking": ("numops", True),
    "probes_tracking": ("numops", True),
}


def _score_and_record(fn, subset: dict, scorer, data):
    res = fn(scorer, data)
    res.extra["subset"] = subset
    return res


def _recorded(fn, subset: dict):
    """The score function `fn`, with the subset rule stored in its result's extra."""
    return partial(_score_and_record, fn, subset)


def _files(name: str, files: dict, fn, cfg):
    stratum, equal = STRATA.get(name, (None, False))
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


def load_task(name: str, cfg, workdir: str | Path):
    """(data, score function) of a task; the data is read once and shared by checkpoints.

    `evaluate.max_items` keeps a seeded random sample of that many rows per file (stratified
    where a file has strata, see STRATA); the result records the rule in extra["subset"]."""
    root = Path(cfg.data_dir)
    if name in ("blimp", "blimp_filtered", "blimp_supplement"):
        files = minimal_pairs.load_pairs(root / name)
        return _files(name, files, partial(minimal_pairs.score_pairs, name), cfg)
    if name == "ewok":
        files = ewok.load(root / "ewok" / "ewok_filtered.zip", cfg.passwords.ewok)
        return _files(name, files, ewok.score, cfg)
    if name == "entity_tracking":
        files = entity_tracking.load(
            root / "entity_tracking" / "entity_tracking.zip", cfg.passwords.entity_tracking
        )
        return _files(name, files, partial(entity_tracking.score_items, name), cfg)
    if name == "wug":
        return _files(name, wug.load(root / "wug_adj"), wug.score, cfg)
    if name == "reading":
        files = {"reading": reading.load(root / "reading")}
        data, fn = _files(name, files, reading.score, cfg)
        return data["reading"], fn
    if name in ("perplexity", "perplexity_packed"):
        docs, subset = perplexity_documents(cfg, workdir)
        fn = perplexity.score if name == "perplexity" else perplexity.score_packed
        return docs, _recorded(fn, subset)
    if name == "probes_agreement":
        data = probes.agreement_pairs(cfg.probe_seed)
        return _files(name, data, partial(minimal_pairs.score_pairs, name), cfg)
    if name == "probes_tracking":
        data = probes.tracking_items(cfg.probe_seed)
        return _files(name, data, partial(entity_tracking.score_items, name), cfg)
    raise UserError(f"unknown task '{name}'; choose from {', '.join(TASK_NAMES)}")


def evaluate_model(scorer, tasks, cfg, workdir: str | Path = ".") -> dict:
    return {
        name: fn(scorer, data) for name in tasks for data, fn in [load_task(name, cfg, workdir)]
    }
