"""cdsynth's evaluation results in lm-evaluation-harness's layout (lm-eval 0.4), for the tools
that read lm-eval output (model cards, leaderboards, lm-eval's own `make_table`).

    write_lm_eval(results_dir, out)   # results_dir: EVAL/step_N (<task>.json, <task>.items.jsonl)
      -> OUT/<model_name_sanitized>/results_<date>.json
         OUT/<model_name_sanitized>/samples_<task>_<date>.jsonl   (one per leaf task)

The mapping (pure: `lm_eval_results`, `lm_eval_samples`):
- an accuracy task with subtasks (BLiMP's files, EWoK's domains) is an lm-eval group: each
  subtask is a leaf task `<task>_<subtask>` with `acc,none` (the share correct) and
  `acc_stderr,none` (lm-eval's `mean_stderr`: sample standard deviation / sqrt(n)); the group
  has cdsynth's score as `acc,none`, and as `acc_stderr,none` the standard error of an
  unweighted mean of independent subtasks, sqrt(sum se_i^2) / k, where the score is that mean
  ("N/A" where it is not: entity tracking's mean of means);
- other metrics (perplexity, Spearman rho, reading's R² gain) are `<metric>,none` with
  `<metric>_stderr,none` "N/A" (as lm-eval's wikitext perplexities), their subtask scores as
  further `<name>,none` metrics;
- `versions` is the task record's scoring-rule version (`tasks.Task.rule_version`, 1 when
  never bumped), `higher_is_better` its direction, `n-shot` 0, `configs` what cdsynth knows of
  the task (its identity, subset); `config.model_args` is `pretrained=<checkpoint>`.
Per-sample logs hold, per item, lm-eval's fields (`doc_id`, `doc`, `target`, `resps`,
`filtered_resps`, `filter`, `metrics`, the hashes, the metric's value); `doc` is the item's
id and subtask (cdsynth's items keep scores, not texts), `resps` its scores.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from datetime import datetime
from pathlib import Path

from .. import __version__
from ..fileio import git_commit, read_json, read_jsonl, write_json, write_jsonl
from ..tasks import task as task_record

NA = "N/A"
# the item fields that hold a task's per-option scores, in option order (target: option 0)
OPTION_FIELDS = (("good", "bad"), ("target1", "target2"))


def sanitize(name: str) -> str:
    """lm-eval's `sanitize_model_name` (a model path as a folder name)."""
    return re.sub(r"[\"<>:/|\\?*\[\]]+", "__", name)


def sha256(text: str) -> str:
    """lm-eval's `hash_string`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def mean_stderr(values: list[float]) -> float | str:
    """lm-eval's `mean_stderr`: sample standard deviation / sqrt(n); "N/A" for n < 2."""
    n = len(values)
    if n < 2:
        return NA
    mu = sum(values) / n
    return math.sqrt(sum((x - mu) ** 2 for x in values) / (n - 1)) / math.sqrt(n)


def safe(name: str) -> str:
    """A subtask's name as part of a task name (lm-eval's `sanitize_task_name`)."""
    return re.sub(r"\W", "_", name)


def leaf_name(task: str, subtask: str) -> str:
    return f"{task}_{safe(subtask)}"


def _by_subtask(items: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for it in items:
        groups.setdefault(str(it.get("subtask", "")), []).append(it)
    return dict(sorted(groups.items()))


def _is_accuracy(summary: dict, items: list[dict]) -> bool:
    return summary["metric"] == "accuracy" and bool(items) and "correct" in items[0]


def _metric_name(summary: dict) -> str:
    return "acc" if summary["metric"] == "accuracy" else summary["metric"]


def task_entries(summary: dict, items: list[dict]) -> tuple[dict, list[str]]:
    """{lm-eval task name: its results entry} for one cdsynth task, and its leaf subtasks
    (empty when the task is a leaf itself)."""
    name, score = summary["task"], summary["score"]
    if not _is_accuracy(summary, items):
        entry = {"name": name, "alias": name, "sample_len": len(items)}
        metric = _metric_name(summary)
        entry[f"{metric},none"], entry[f"{metric}_stderr,none"] = score, NA
        for sub, value in sorted(summary.get("subtasks", {}).items()):
            if isinstance(value, (int, float)) and sub != metric:
                entry[f"{safe(sub)},none"] = value
        return {name: entry}, []
    groups = _by_subtask(items)
    leaves, accs, errs = {}, [], []
    for sub, rows in groups.items():
        correct = [float(r["correct"]) for r in rows]
        acc, err = sum(correct) / len(correct), mean_stderr(correct)
        leaves[leaf_name(name, sub)] = {
            "name": leaf_name(name, sub),
            "alias": leaf_name(name, sub),
            "sample_len": len(rows),
            "acc,none": acc,
            "acc_stderr,none": err,
        }
        accs.append(acc)
        errs.append(err)
    if len(groups) == 1:  # one subtask: the task is the leaf
        [entry] = leaves.values()
        return {name: entry | {"name": name, "alias": name, "acc,none": score}}, []
    macro = abs(score - sum(accs) / len(accs)) < 1e-12 and NA not in errs
    group = {
        "name": name,
        "alias": name,
        "sample_len": len(items),
        "acc,none": score,
        "acc_stderr,none": math.sqrt(sum(e * e for e in errs)) / len(errs) if macro else NA,
    }
    return {name: group, **leaves}, list(leaves)


def lm_eval_samples(summary: dict, items: list[dict]) -> dict[str, list[dict]]:
    """{leaf task name: per-sample logs} of one cdsynth task, in lm-eval's fields."""
    name = summary["task"]
    accuracy = _is_accuracy(summary, items)
    groups = _by_subtask(items) if accuracy else {"": items}
    metric = _metric_name(summary)
    out = {}
    for sub, rows in groups.items():
        leaf = leaf_name(name, sub) if accuracy and len(groups) > 1 else name
        samples = []
        for i, it in enumerate(rows):
            doc = {"id": it.get("id"), "subtask": it.get("subtask")}
            scores = _option_scores(it)
            target = 0 if scores is not None else None
            sample = {
                "doc_id": i,
                "doc": doc,
                "target": str(target) if target is not None else "",
                "arguments": {},
                "resps": [[s] for s in scores] if scores is not None else [],
                "filtered_resps": scores if scores is not None else [],
                "filter": "none",
                "metrics": [metric],
                "doc_hash": sha256(json.dumps(doc, indent=2, ensure_ascii=False)),
                "prompt_hash": sha256(str(it.get("id"))),
                "target_hash": sha256(str(target)),
                "cdsynth_item": it,
            }
            if accuracy:
                sample[metric] = float(it["correct"])
            samples.append(sample)
        out[leaf] = samples
    return out


def _option_scores(item: dict) -> list[float] | None:
    """The item's per-option log-probs (the correct option first), or None."""
    if "scores" in item:
        return [float(x) for x in item["scores"]]
    for fields in OPTION_FIELDS:
        if all(f in item for f in fields):
            return [float(item[f]) for f in fields]
    return None


def lm_eval_results(
    summaries: dict[str, dict], items: dict[str, list[dict]], checkpoint: str, date: float
) -> dict:
    """The results JSON of one checkpoint (lm-eval's `EvalResults`), from cdsynth's task
    summaries and items, keyed by task."""
    results, groups, group_subtasks = {}, {}, {}
    configs, versions, n_shot, better, n_samples = {}, {}, {}, {}, {}
    for name, summary in sorted(summaries.items()):
        entries, leaves = task_entries(summary, items[name])
        results.update(entries)
        if leaves:  # a standalone task is no group (lm-eval lists groups only)
            group_subtasks[name] = leaves
            groups[name] = entries[name]
        record = task_record(name)
        version = float(record.rule_version or 1) if record else 1.0
        higher = not (record and record.lower_is_better)
        for key, entry in entries.items():
            metric = next(k for k in entry if "," in k).split(",")[0]
            versions[key] = version
            n_shot[key] = 0
            better[key] = {metric: higher}
            n_samples[key] = {"original": entry["sample_len"], "effective": entry["sample_len"]}
            configs[key] = {
                "task": key,
                "tag": ["cdsynth"],
                "output_type": "multiple_choice" if metric == "acc" else "loglikelihood",
                "num_fewshot": 0,
                "metric_list": [
                    {"metric": metric, "aggregation": "mean", "higher_is_better": higher}
                ],
                "metadata": {
                    "version": version,
                    "scored_by": f"cdsynth {__version__}",
                    "cdsynth_identity": summary.get("identity"),
                    "subset": summary.get("subset"),
                },
            }
    seconds = sum(float(s.get("seconds", 0.0)) for s in summaries.values())
    out = {
        "results": results,
        **({"groups": groups} if groups else {}),
        "group_subtasks": group_subtasks,
        "configs": configs,
        "versions": versions,
        "n-shot": n_shot,
        "higher_is_better": better,
        "n-samples": n_samples,
        "config": {
            "model": "hf",
            "model_args": f"pretrained={checkpoint}",
            "batch_size": None,
            "batch_sizes": [],
            "device": None,
            "use_cache": None,
            "limit": None,
            "bootstrap_iters": 0,
            "gen_kwargs": None,
        },
        "git_hash": git_commit(),
        "date": date,
        "model_source": "hf",
        "model_name": checkpoint,
        "model_name_sanitized": sanitize(checkpoint),
        "cdsynth_version": __version__,
        "total_evaluation_time_seconds": str(seconds),
    }
    return out


def write_lm_eval(
    results_dir: str | Path,
    out: str | Path,
    tasks: list[str] | None = None,
    date_id: str | None = None,
) -> Path:
    """Write one checkpoint's results (RESULTS_DIR/<task>.json and .items.jsonl; `tasks`, or
    every task there) in lm-eval's layout under OUT/<model_name_sanitized>/; returns the
    results JSON's path."""
    results_dir = Path(results_dir)
    names = tasks if tasks is not None else [p.stem for p in sorted(results_dir.glob("*.json"))]
    summaries = {n: read_json(results_dir / f"{n}.json") for n in names}
    items = {n: read_jsonl(results_dir / f"{n}.items.jsonl") for n in summaries}
    checkpoint = next(iter(summaries.values()))["checkpoint"] if summaries else str(results_dir)
    date = time.time()
    date_id = date_id or datetime.fromtimestamp(date).isoformat().replace(":", "-")
    res = lm_eval_results(summaries, items, checkpoint, date)
    folder = Path(out) / res["model_name_sanitized"]
    hashes = {}
    for name in summaries:
        for leaf, samples in lm_eval_samples(summaries[name], items[name]).items():
            write_jsonl(folder / f"samples_{leaf}_{date_id}.jsonl", samples)
            hashes[leaf] = sha256(
                "".join(s["doc_hash"] + s["prompt_hash"] + s["target_hash"] for s in samples)
            )
    res["task_hashes"] = hashes
    path = folder / f"results_{date_id}.json"
    write_json(path, res)
    return path
