"""The study's numbers, computed once into summary.json: mean-max scores per method and task
with bootstrap CIs, comparisons with the baseline, relative improvements, mu-Delta-REL,
pairwise comparisons of the main methods, the held-out selection check, the claims'
verdicts, learning curves and the corpus diagnostics. `render` draws the report from the
file alone.

    data = collect_report(cfg, methods, corpora)   # what summary.json holds

`methods` maps a method name ("baseline" or a condition) to its run names (one per seed, named
`...-seed<N>`; `study.study_methods`). Scores come from each run's eval/ folder; statistics
from `analysis` and `claims`, each task's facts from `tasks`; whatever needs the corpus or the
tokenizer arrives as `CorpusInputs`, read by the caller.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import analysis
from ..analysis import corpus_diagnostics, ngrams
from ..claims import claim_verdicts
from ..config import ExperimentConfig
from ..fileio import read_json
from ..study import method_roles
from ..tasks import (
    PAPER_MU_ONLY,
    derived_tasks,
    lower_is_better,
    reported_tasks,
    run_tasks,
    statistic_for,
    task,
)
from ..workspace import Workspace, eval_dir, list_checkpoints, step_of
from .study_facts import eval_loss_points, model_tables, paper_regime, provenance, sweep_specs
from .tables import main_table


def _derived_score(result: dict, field: str):
    """A derived task's score in its parent's result: a field, or "subtasks.<key>"."""
    if field.startswith("subtasks."):
        return result.get("subtasks", {}).get(field.removeprefix("subtasks."))
    return result.get(field)


def run_result(run_dir: Path, name: str) -> tuple[int, dict] | None:
    """(step, summary) of a run-level task (`tasks.Task.per_run`): its score, field
    `parent_score` of RUN/eval/<parent>.json, at the last step_N checkpoint that file was
    computed over; None where the run has no such file (AoA without the child table) or the
    file names no step_N checkpoint."""
    t = task(name)
    f = eval_dir(run_dir) / f"{t.parent}.json"
    if not f.is_file():
        return None
    r = read_json(f)
    steps = [int(n[5:]) for n in r.get("checkpoints", []) if re.fullmatch(r"step_\d+", n)]
    if not steps:
        return None
    score = {"task": t.name, "metric": t.metric, "score": r[t.parent_score], "subtasks": {}}
    return max(steps), score


def load_scores(run_dir: Path) -> dict:
    """{task: {step: summary}} from a run's eval folder; a derived task (`tasks.Task.parent`)
    from its parent's result, as a task of its own; a run-level task (`run_result`) at the
    last checkpoint it was computed over, its only step."""
    out: dict = {}
    for ck in list_checkpoints(run_dir):
        folder = eval_dir(run_dir) / ck.name
        for f in sorted(folder.glob("*.json")):
            s = read_json(f)
            out.setdefault(s["task"], {})[step_of(ck)] = s
            for d in derived_tasks(s["task"]):
                score = _derived_score(s, d.parent_score)
                if score is not None:
                    part = {**s, "task": d.name, "metric": d.metric, "score": score, "subtasks": {}}
                    out.setdefault(d.name, {})[step_of(ck)] = part
    for t in run_tasks():
        got = run_result(run_dir, t.name)
        if got is not None:
            out[t.name] = {got[0]: got[1]}
    return out


def load_items(run_dir: Path, step: int, task_name: str) -> list[dict]:
    """A checkpoint's item rows for a task (a derived task: its parent's; a run-level task:
    one row holding the run's score; [] where the file is missing)."""
    t = task(task_name)
    if t is not None and t.per_run:
        got = run_result(run_dir, task_name)
        if got is None or got[0] != step:
            return []
        return [{"id": "run", "subtask": "", "score": got[1]["score"]}]
    name = t.parent if t is not None and t.parent else task_name
    path = eval_dir(run_dir) / f"step_{step}" / f"{name}.items.jsonl"
    if not path.is_file():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def seed_of(run: str):
    """The seed number of a run named `...-seed<N>` (else the run name itself)."""
    m = re.search(r"-seed(\d+)$", run)
    return int(m.group(1)) if m else run


def _mu_delta_rel(row: dict, boots: dict, m: str, tasks: list[str]):
    """({value, tasks, ci, p, mark, direction}, resampled values or None) of a method's
    mu-Delta-REL over `tasks` (those with a finite relative improvement)."""
    rel = {t: row[t].get("relative", float("nan")) for t in tasks}
    used = [t for t, v in rel.items() if math.isfinite(v)]
    mu = {"value": analysis.mu_delta_rel(rel, exclude=()), "tasks": used}
    if not used or not all(m in boots[t] and "baseline" in boots[t] for t in used):
        return mu, None
    samp = analysis.mu_delta_rel_samples(
        {t: boots[t][m].samples for t in used},
        {t: boots[t]["baseline"].samples for t in used},
        {t: False for t in used},
        {t: boots[t]["baseline"].value for t in used},  # fixed: the CI is a paired t over seeds
    )
    ci = analysis.percentile_ci(samp)
    ci99 = analysis.percentile_ci(samp, 0.99)
    mu.update(
        ci=list(ci),
        p=analysis.two_sided_p(samp),
        mark=analysis.significance_mark(ci, ci99),
        direction=analysis.effect_direction(mu["value"], ci),
    )
    return mu, samp


def _mu_delta_rel_rows(rows: dict, boots: dict, main: list, rel_tasks: list, paper_tasks: list):
    """Each method's mu-Delta-REL (and, where WUG's first-form share is in the study, the
    paper-mode variant) into `rows`; returns the main methods' pairwise comparisons of it,
    {a: {b: {diff, ci, ci99, p}}}, a - b on the same resamples."""
    mu_samples: dict = {}
    for m in rows:
        if m == "baseline":
            rows[m]["mu_delta_rel"] = None
            continue
        rows[m]["mu_delta_rel"], samp = _mu_delta_rel(rows[m], boots, m, rel_tasks)
        if samp is not None:
            mu_samples[m] = samp
        if paper_tasks != rel_tasks:  # the paper's variant: its accuracy-style WUG too
            rows[m]["mu_delta_rel_paper"] = _mu_delta_rel(rows[m], boots, m, paper_tasks)[0]
    pairwise: dict = {}
    for a in main:
        for b in main:
            if a != b and a in mu_samples and b in mu_samples:
                pairwise.setdefault(a, {})[b] = analysis.samples_comparison(
                    mu_samples[a],
                    mu_samples[b],
                    rows[a]["mu_delta_rel"]["value"] - rows[b]["mu_delta_rel"]["value"],
                )
    return pairwise


def seed_scores(summary: dict, method: str, task: str) -> np.ndarray:
    """Each seed's score at its selected checkpoint (the values mean-max averages), in seed
    order, read back from the summary's per-seed curves."""
    cell, curves = summary["rows"][method][task], summary["curve_seeds"][method][task]
    runs = sorted(cell["steps"], key=lambda r: (str(type(seed_of(r))), seed_of(r)))
    out = []
    for i, run in enumerate(runs):
        at = curves[str(cell["steps"][run])]
        if len(at) != len(runs):
            raise ValueError(f"{method} {task}: a seed lacks step {cell['steps'][run]}")
        out.append(at[i])
    return np.array(out, dtype=float)


def recompute_mu_delta_rel(summary: dict) -> dict:
    """A summary.json's mu-Delta-REL rows, their pairwise comparisons and the claims redone
    with today's rule, from its per-seed scores (`seed_scores`): for a study with the `seeds`
    scheme the task resamples are `seed_weights @ per-seed scores`, so they are rebuilt
    exactly (the tasks' CIs come out as recorded). Returns a new summary."""
    s = json.loads(json.dumps(summary))
    if s["resample"] != "seeds" or any(len(v) < 2 for v in s["seeds"].values()):
        raise ValueError("only a seeds-scheme summary with 2 or more seeds can be redone")
    tasks = [t for t in s["tasks"] if t in s["relative_tasks"] or t in PAPER_MU_ONLY]
    boots: dict = {}
    for t in tasks:
        for m in s["methods"]:
            v = seed_scores(s, m, t)
            w = analysis.seed_weights(len(v), s["bootstrap_samples"], s["bootstrap_seed"])
            boots.setdefault(t, {})[m] = analysis.BootstrapScore(
                float(v.mean()), w @ v, tuple(s["seeds"][m]), 0, tuple(v)
            )
    paper = s["relative_tasks"] + [t for t in PAPER_MU_ONLY if t in s["tasks"]]
    main = s["main_methods"]
    s["pairwise"]["mu_delta_rel"] = _mu_delta_rel_rows(
        s["rows"], boots, main, s["relative_tasks"], paper
    )
    s["claims"] = [dataclasses.asdict(c) for c in claim_verdicts(s)]
    return json.loads(json.dumps(s))


def summarize(cfg: ExperimentConfig, methods: dict[str, list[str]], log=print) -> dict:
    """Mean-max scores per method and task with bootstrap CIs, comparisons with the
    baseline, relative improvements, mu-Delta-REL, pairwise comparisons of the main methods,
    the held-out selection check and the claims' verdicts."""
    root = Workspace(cfg.workdir).runs
    st = cfg.study
    scores = {m: {run: load_scores(root / run) for run in runs} for m, runs in methods.items()}
    tasks = [
        t
        for t in reported_tasks(cfg.evaluate.tasks)
        if any(t in s for r in scores.values() for s in r.values())
    ]
    roles, main = method_roles(cfg)
    main = [m for m in main if m in methods]
    table: dict = {}
    for m, runs in methods.items():
        for t in tasks:
            by_seed = {
                run: {step: s["score"] for step, s in scores[m][run].get(t, {}).items()}
                for run in runs
            }
            table.setdefault(m, {})[t] = analysis.mean_max(by_seed, lower_is_better(t))
    B, bseed = st.bootstrap_samples, st.bootstrap_seed
    rows: dict = {m: {} for m in methods}
    boots: dict = {}
    metrics = {t: _metric(scores, t) for t in tasks}
    for t in tasks:
        lower = lower_is_better(t)
        stat = statistic_for(t, metrics[t])
        boot: dict = {}
        if stat is not None:
            sides = {
                m: {
                    seed_of(run): load_items(root / run, step, t)
                    for run, step in table[m][t].steps.items()
                }
                for m in methods
            }
            if task(t) is not None and task(t).per_run:
                sides = _seed_resampled(sides, st.resample, t, log)
            try:
                boot = analysis.bootstrap_scores(sides, stat, B, bseed, st.resample)
            except analysis.NoSharedItems:
                log(f"report: {t}: the methods share no items, so its scores have no CIs")
        boots[t] = boot
        base = table.get("baseline", {}).get(t)
        for m in methods:
            mm = table[m][t]
            cell: dict = {
                "value": mm.value,
                "steps": mm.steps,
                "seeds": sorted((seed_of(r) for r in mm.steps), key=str),
            }
            if m in boot:
                cell["value_ci"] = list(boot[m].ci())
            if m != "baseline" and base is not None and math.isfinite(base.value):
                if math.isfinite(mm.value):
                    cell["diff"] = mm.value - base.value
                if analysis.relative_defined(metrics[t]):
                    cell["relative"] = analysis.relative_improvement(mm.value, base.value, lower)
                if m in boot and "baseline" in boot and "diff" in cell:
                    c = analysis.compare(boot[m], boot["baseline"])
                    cell.update(ci=list(c.ci), ci99=list(c.ci99), p=c.p, mark=c.mark)
                    cell["direction"] = analysis.effect_direction(cell["diff"], c.ci, lower)
                    d = analysis.seed_differences(boot[m], boot["baseline"])
                    if len(d) >= 2:  # the seed-to-seed spread, and the seeds it would take
                        cell["seed_sd"] = float(np.std(d, ddof=1))
                        cell["seeds_needed"] = analysis.seeds_needed(boot[m], boot["baseline"])
            rows[m][t] = cell
    rel_tasks = [
        t
        for t in tasks
        if analysis.relative_defined(metrics[t])
        and not lower_is_better(t)
        and t not in PAPER_MU_ONLY
    ]
    paper_rel_tasks = rel_tasks + [t for t in PAPER_MU_ONLY if t in tasks]
    pairwise: dict = {
        "mu_delta_rel": _mu_delta_rel_rows(rows, boots, main, rel_tasks, paper_rel_tasks)
    }
    for t in tasks:
        for a in main:
            for b in main:
                if a != b and a in boots[t] and b in boots[t]:
                    pairwise.setdefault(t, {}).setdefault(a, {})[b] = analysis.samples_comparison(
                        boots[t][a].samples,
                        boots[t][b].samples,
                        table[a][t].value - table[b][t].value,
                    )
    if not pairwise["mu_delta_rel"]:
        del pairwise["mu_delta_rel"]
    out = {
        "tasks": tasks,
        "methods": list(methods),
        "main_methods": main,
        "roles": roles,
        "metrics": metrics,
        "seeds": {m: [seed_of(r) for r in runs] for m, runs in methods.items()},
        "resample": st.resample,
        "resampling": analysis.RESAMPLING.get(st.resample, st.resample),
        "bootstrap_samples": B,
        "bootstrap_seed": bseed,
        "relative_tasks": rel_tasks,
        "rows": rows,
        "pairwise": pairwise,
    }
    out["claims"] = [dataclasses.asdict(c) for c in claim_verdicts(out)]
    out["selection_check"] = _selection_check(root, methods, main, scores, table, tasks, metrics)
    out["subtasks"] = _subtasks(scores, table, tasks)
    out["curves"] = {m: {t: _curve(scores[m], t) for t in tasks} for m in methods}
    out["curve_seeds"] = {m: {t: _curve_seeds(scores[m], t) for t in tasks} for m in methods}
    out["configured_tasks"] = list(cfg.evaluate.tasks)
    return out


def _seed_resampled(sides: dict, resample: str, name: str, log=print) -> dict:
    """The sides of a run-level task whose CI can come from its seeds: with one score per
    run there are no items to resample, so a side with fewer than 2 seeds, or every side
    under the `items` scheme, gets no CI (rather than a zero-width one)."""
    keep = {
        m: s
        for m, s in sides.items()
        if resample != "items" and sum(1 for v in s.values() if v) >= 2
    }
    if len(keep) < len(sides):
        why = "study.resample is items" if resample == "items" else "fewer than 2 seeds"
        left = ", ".join(m for m in sides if m not in keep)
        log(f"report: {name}: one score per run, so no CI for {left} ({why})")
    return keep


def _selection_check(root, methods, main, scores, table, tasks, metrics) -> dict:
    """{method: {task: {mean_max, held_out, held_out_diff}}} for the main methods: each seed's
    checkpoint chosen on half A of the items, scored on half B (analysis.held_out_mean_max)."""
    out: dict = {}
    for t in tasks:
        stat = statistic_for(t, metrics[t])
        if stat is None or (task(t) is not None and task(t).per_run):  # no checkpoint chosen
            continue
        lower = lower_is_better(t)
        held = {}
        for m in main:
            items = {
                run: {
                    step: its
                    for step in scores[m][run].get(t, {})
                    if (its := load_items(root / run, step, t))
                }
                for run in methods[m]
            }
            held[m] = analysis.held_out_mean_max(items, stat, lower).value
        for m in main:
            d = held[m] - held["baseline"] if "baseline" in held and m != "baseline" else None
            out.setdefault(m, {})[t] = {
                "mean_max": table[m][t].value,
                "held_out": held[m],
                "held_out_diff": d,
            }
    return out


def _metric(scores: dict, task: str) -> str:
    for by_run in scores.values():
        for per_task in by_run.values():
            for s in per_task.get(task, {}).values():
                return s["metric"]
    return "accuracy"


def _subtasks(scores, table, tasks) -> dict:
    """{task: {subtask: {method: mean over seeds at each seed's selected checkpoint}}}."""
    out: dict = {}
    for t in tasks:
        for m, runs in scores.items():
            steps = table[m][t].steps
            vals: dict = {}
            for run, step in steps.items():
                for sub, v in runs[run][t][step].get("subtasks", {}).items():
                    if isinstance(v, (int, float)):
                        vals.setdefault(sub, []).append(v)
            for sub, v in vals.items():
                out.setdefault(t, {}).setdefault(sub, {})[m] = float(np.mean(v))
    return out


def _curve_seeds(scores_by_run: dict, task: str) -> dict:
    """{step: [score of each seed that has the step]} (finite scores only)."""
    steps: dict = {}
    for per_task in scores_by_run.values():
        for step, s in per_task.get(task, {}).items():
            if s["score"] is not None and math.isfinite(s["score"]):
                steps.setdefault(step, []).append(s["score"])
    return dict(sorted(steps.items()))


def _curve(scores_by_run: dict, task: str) -> dict:
    """{step: mean score over seeds}."""
    steps: dict = {}
    for per_task in scores_by_run.values():
        for step, s in per_task.get(task, {}).items():
            steps.setdefault(step, []).append(s["score"])
    return {k: float(np.mean(v)) for k, v in sorted(steps.items())}


@dataclass(frozen=True)
class CorpusInputs:
    """What the report needs from the corpora and the tokenizer, read by the caller (the
    report stage: `corpora.corpus_inputs`), as plain data."""

    train: list[str]  # the real train split's documents (for the 8-gram overlap)
    real_sample: list[str]  # the documents the real row of the diagnostics is computed on
    synthetic: dict  # {condition: {"texts", "ended_with_eos", "totals"}}: its diagnosed rows
    samples: list[dict]  # {"condition", "where", "prefix", "generated", "contrast"}
    train_blocks: int | None  # blocks in one epoch of the real train split


def corpus_diagnostic_table(corpora: CorpusInputs) -> dict:
    """{corpus: diagnostics}: the real train split's sample (not scored for overlap with its
    own split), then each synthetic corpus with the segment counts generation recorded."""
    train_grams = {g for t in corpora.train for g in ngrams(t.split(), 8)}
    diags = {"real (train split)": corpus_diagnostics(corpora.real_sample, None)}
    for name, c in corpora.synthetic.items():
        diags[name] = corpus_diagnostics(c["texts"], train_grams, c["ended_with_eos"])
        diags[name].update(c["totals"])
    return diags


def collect_report(
    cfg: ExperimentConfig, methods: dict[str, list[str]], corpora: CorpusInputs, log=print
) -> dict:
    """Everything the report shows, as plain data (written as summary.json)."""
    summary = summarize(cfg, methods, log)
    summary["sweeps"] = sweep_specs(cfg)
    models, data_seen = model_tables(cfg, methods, corpora.train_blocks)
    return {
        "table": main_table(summary),
        "seeds": summary["seeds"],
        "resample": summary["resample"],
        "summary": summary,
        "regime": paper_regime(cfg),
        "provenance": provenance(cfg, methods),
        "eval_loss": eval_loss_points(cfg, methods),
        "diagnostics": corpus_diagnostic_table(corpora),
        "samples": corpora.samples,
        "models": models,
        "training_data": data_seen,
    }
