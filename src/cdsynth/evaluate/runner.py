"""Evaluate every checkpoint of a run (or one model folder) on a set of tasks, with caching.

Results go to OUT/<checkpoint>/<task>.json (scores per task and subtask) and
OUT/<checkpoint>/<task>.items.jsonl (per-item scores and correctness, keyed by item id, for
the paired bootstrap). A result records its identity (`identity.eval_identity`: the task's data
and scoring rule, and the checkpoint's fingerprint); a current result is not redone.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..config import EvalConfig, to_dict
from ..distributed import pick_device
from ..engine.hf import check_weight_files
from ..errors import UserError
from ..fileio import checkpoint_fingerprint, nonfinite_weight, write_json, write_jsonl
from ..identity import eval_identity, is_current, read_record, task_identity
from ..locks import output_lock
from ..workspace import eval_dir, list_checkpoints, step_of
from . import PERPLEXITY, RULE_VERSIONS, TASK_NAMES, load_task
from .scoring import Scorer


def model_folders(path: str | Path, steps=None) -> list[Path]:
    """A model folder itself, or the complete step_N checkpoints of a run folder."""
    path = Path(path)
    if (path / "config.json").is_file():
        return [path]
    if not path.is_dir():
        raise UserError(f"no run or model folder at {path}")
    ckpts = list_checkpoints(path)
    if steps:
        wanted = {int(s) for s in steps}
        ckpts = [c for c in ckpts if step_of(c) in wanted]
    if not ckpts:
        raise UserError(f"no checkpoints (step_N folders) to evaluate in {path}")
    return ckpts


def scoring_rule(name: str, cfg: EvalConfig) -> dict:
    """A task's scoring rule as its results' identity holds it: the BOS rule, the leading
    space, and the task's rule version where it has one."""
    rule = {"bos_rule": cfg.bos_rule, "leading_space": cfg.leading_space}
    if name in RULE_VERSIONS:
        rule["version"] = RULE_VERSIONS[name]
    return rule


# The settings each kind of task reads to choose its items, besides its scoring rule: a task
# with files under data_dir, the built-in probes, perplexity (on the corpus the study makes).
DATA_SETTINGS = ("data_dir", "max_items", "subset_seed")
PROBE_SETTINGS = ("probe_seed", "max_items", "subset_seed")
PERPLEXITY_SETTINGS = ("perplexity_documents", "perplexity_file", "subset_seed")


def task_reads(cfg: EvalConfig) -> dict[str, dict]:
    """{task: the settings its results read besides the checkpoint} for the configured tasks:
    its scoring rule and what chooses its items (`*_SETTINGS`), so that neither a zip
    password, nor the settings of a task not run, nor the order of the list counts. What an
    evaluation stage's identity holds (`identity.eval_reads`); each result then records the
    identity of the items it scored (`task_identity`), and the runner redoes only results
    whose items or rule changed."""
    data = to_dict(cfg)
    out = {}
    for name in sorted(set(cfg.tasks)):
        if name not in TASK_NAMES:
            raise UserError(f"unknown task '{name}'; choose from {', '.join(TASK_NAMES)}")
        if name in PERPLEXITY:
            keys = PERPLEXITY_SETTINGS
        elif name.startswith("probes_"):
            keys = PROBE_SETTINGS
        else:
            keys = DATA_SETTINGS
        out[name] = {**{k: data[k] for k in keys}, "rule": scoring_rule(name, cfg)}
    return out


def evaluate_checkpoints(
    path: str | Path,
    cfg: EvalConfig,
    workdir: str | Path = ".",
    out: str | Path | None = None,
    log=print,
    progress: bool = True,
) -> dict:
    """{checkpoint name: {task: summary}} for every checkpoint and task, cached on disk."""
    folders = model_folders(path, cfg.steps)
    for folder in folders:  # formats checked before anything is written
        check_weight_files(folder)
    out = Path(out) if out else eval_dir(path)
    tasks = {}
    for name in cfg.tasks:
        data, fn = load_task(name, cfg, workdir)
        tasks[name] = (data, fn, task_identity(name, data, scoring_rule(name, cfg)))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(folders) * len(tasks), desc="eval", unit="task")
    results: dict[str, dict] = {}
    with output_lock(out):  # one writer per results folder, taken before its first write
        try:
            for folder in folders:
                scorer = None
                checkpoint = checkpoint_fingerprint(folder)
                for name, (data, fn, task_id) in tasks.items():
                    # a retrained checkpoint (same name, other weights) is scored again
                    ident = eval_identity(task_id, checkpoint)
                    summary_path = out / folder.name / f"{name}.json"
                    recorded = read_record(summary_path)
                    if is_current(recorded, ident):
                        results.setdefault(folder.name, {})[name] = recorded
                    else:
                        if scorer is None:
                            broken = nonfinite_weight(folder)
                            if broken:
                                raise UserError(
                                    f"checkpoint {folder} has NaN or infinite weights "
                                    f"(first: {broken}); retrain or fix it, then evaluate again"
                                )
                            scorer = Scorer.from_pretrained(
                                folder,
                                device=pick_device(cfg.device),
                                batch_tokens=cfg.batch_tokens,
                                packing=cfg.packing,
                                bos_rule=cfg.bos_rule,
                                leading_space=cfg.leading_space,
                                log=log,
                            )
                        t0 = time.perf_counter()
                        res = fn(scorer, data)
                        seconds = time.perf_counter() - t0
                        write_jsonl(out / folder.name / f"{name}.items.jsonl", res.items)
                        summary = {
                            **res.summary(),
                            "checkpoint": str(folder),
                            "identity": ident,
                            "checkpoint_fingerprint": checkpoint,
                            "seconds": seconds,
                            "items_per_s": len(res.items) / max(seconds, 1e-9),
                        }
                        write_json(summary_path, summary)
                        results.setdefault(folder.name, {})[name] = summary
                        if bar is not None:
                            bar.set_postfix(items_s=f"{summary['items_per_s']:.0f}")
                    if bar is not None:
                        bar.update(1)
        finally:
            if bar is not None:
                bar.close()
    for ckpt, per_task in results.items():
        scores = ", ".join(f"{t} {s['score']:.4g}" for t, s in per_task.items())
        log(f"{ckpt}: {scores}")
    return results
