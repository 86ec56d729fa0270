"""Evaluation: perplexity and the BabyLM tasks, as data plus a scoring rule each.

    results = evaluate_model(scorer, ["blimp", "ewok"], cfg, workdir)   # {task: TaskResult}
    evaluate_checkpoints("runs/demo/runs/baseline", cfg, workdir)      # every step_N, cached

Task files are discovered at run time under `evaluate.data_dir`:
blimp/ blimp_filtered/ blimp_supplement/ (*.jsonl), ewok/ewok_filtered.zip,
entity_tracking/entity_tracking.zip, wug_adj/ (*.jsonl), reading/ (*.csv).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from ..errors import UserError
from . import entity_tracking, ewok, minimal_pairs, perplexity, probes, reading, wug

TASK_NAMES = (
    "perplexity",
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


def _limit(groups: dict[str, list], n: int | None) -> dict[str, list]:
    return groups if not n else {k: v[:n] for k, v in groups.items()}


def load_task(name: str, cfg, workdir: str | Path):
    """(data, score function) of a task; the data is read once and shared by checkpoints."""
    root = Path(cfg.data_dir)
    n = cfg.max_items
    if name in ("blimp", "blimp_filtered", "blimp_supplement"):
        return _limit(minimal_pairs.load_pairs(root / name), n), partial(
            minimal_pairs.score_pairs, name
        )
    if name == "ewok":
        return _limit(
            ewok.load(root / "ewok" / "ewok_filtered.zip", cfg.passwords.ewok), n
        ), ewok.score
    if name == "entity_tracking":
        data = entity_tracking.load(
            root / "entity_tracking" / "entity_tracking.zip", cfg.passwords.entity_tracking
        )
        return _limit(data, n), partial(entity_tracking.score_items, name)
    if name == "wug":
        return _limit(wug.load(root / "wug_adj"), n), wug.score
    if name == "reading":
        rows = reading.load(root / "reading")
        return (rows[:n] if n else rows), reading.score
    if name == "perplexity":
        from ..corpus import read_split
        from ..fileio import read_jsonl

        if cfg.perplexity_file:
            path = Path(cfg.perplexity_file)
            if not path.is_file():
                raise UserError(f"perplexity file not found: {path}")
            docs = read_jsonl(path)
        else:
            docs = read_split(Path(workdir) / "corpus", "eval")
        return docs[
            : cfg.perplexity_documents
        ] if cfg.perplexity_documents else docs, perplexity.score
    if name == "probes_agreement":
        data = probes.agreement_pairs(cfg.probe_seed)
        return _limit(data, n), partial(minimal_pairs.score_pairs, name)
    if name == "probes_tracking":
        data = probes.tracking_items(cfg.probe_seed)
        return _limit(data, n), partial(entity_tracking.score_items, name)
    raise UserError(f"unknown task '{name}'; choose from {', '.join(TASK_NAMES)}")


def evaluate_model(scorer, tasks, cfg, workdir: str | Path = ".") -> dict:
    return {
        name: fn(scorer, data) for name in tasks for data, fn in [load_task(name, cfg, workdir)]
    }
