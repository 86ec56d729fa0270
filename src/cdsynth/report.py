"""The study's report: what the study found, its provenance, Table 2, the paper's claims,
forest plots, the selection check, sweeps, learning curves and the synthetic corpora.

    write_report(cfg, methods)   # workdir/report/{summary.json, config.yaml, report.md,
                                 #                 report.html (self-contained), *.png}
    render_report(read_json("summary.json"), folder)   # the same report from the file alone

`methods` maps a method name ("baseline" or a condition) to its run names (one per seed, named
`...-seed<N>`). Scores come from each run's eval/ folder; every statistic (mean-max, the
bootstrap, mu-Delta-REL, the claims' verdicts, the forest plots' numbers) from
`cdsynth.analysis`; this module reads files and renders.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import math
import re
from pathlib import Path

import numpy as np

from . import analysis
from .analysis import corpus_diagnostics, ngrams
from .config import ExperimentConfig
from .fileio import read_json, write_json, write_text
from .study import condition_specs, study_conditions
from .workspace import Workspace, eval_dir, latest_checkpoint, list_checkpoints, step_of

# The paper's published figures for its headline claims, transcribed from the seed summary
# ../shared/seeds/000_ad0207118ff246d7.txt (arXiv 2510.08245: "Key Results", "Mechanism 3"
# quoting Table 2, "Section 6.3"); shown beside our verdicts only when the study runs the
# paper's configuration (see `paper_regime`).
PAPER_FIGURES = {
    "above_baseline:entity_tracking": "CD-Early-500 30.38 vs baseline 27.82 (+2.56)",
    "above_baseline:ewok": "CD-Early-500 53.80, EWoK +5.28%",
    "best:perplexity": "No-Contrast 23.56, the best perplexity of Table 2 (-0.86%)",
    "best:blimp": "No-Contrast 72.09, the best BLiMP of Table 2 (+0.70%)",
    "best:mu_delta_rel": "CD-Early-500 +4.90%, the best mu-Delta-REL of the main conditions",
}

# how a metric is shown everywhere (claims, tables, curves, forests): (scale, unit) -
# accuracies in percent as in the paper's tables, their differences in percentage points
UNITS = {
    "accuracy": (100.0, "accuracy, %"),
    "perplexity": (1.0, "perplexity"),
    "spearman": (1.0, "Spearman rho"),
    "reading_gain": (1.0, "R² gain x 100"),
    "r2_gain": (1.0, "R² gain x 100"),
}

# --- collecting results -----------------------------------------------------------------------


def load_scores(run_dir: Path) -> dict:
    """{task: {step: summary}} from a run's eval folder."""
    out: dict = {}
    for ck in list_checkpoints(run_dir):
        folder = eval_dir(run_dir) / ck.name
        for f in sorted(folder.glob("*.json")):
            s = read_json(f)
            out.setdefault(s["task"], {})[step_of(ck)] = s
            if s["task"] == "reading":  # its two scores, each a task of its own
                for task, part in analysis.READING_PARTS.items():
                    if part in s.get("subtasks", {}):
                        part_s = {**s, "task": task, "score": s["subtasks"][part], "subtasks": {}}
                        out.setdefault(task, {})[step_of(ck)] = part_s
            if s["task"] == "wug" and s.get("first_form_share") is not None:
                share = {**s, "task": "wug_first_form", "metric": "accuracy", "subtasks": {}}
                share["score"] = s["first_form_share"]
                out.setdefault("wug_first_form", {})[step_of(ck)] = share
    return out


def reported_tasks(configured: list[str]) -> list[str]:
    """The tasks a report shows: reading as its two scores, then their mean."""
    out = []
    for t in configured:
        out += [*analysis.READING_PARTS, t] if t == "reading" else [t]
        out += ["wug_first_form"] if t == "wug" else []
    return out


def load_items(run_dir: Path, step: int, task: str) -> list[dict]:
    """A checkpoint's item rows for a task ([] where the file is missing)."""
    task = "reading" if task in analysis.READING_PARTS else task
    task = "wug" if task == "wug_first_form" else task
    path = eval_dir(run_dir) / f"step_{step}" / f"{task}.items.jsonl"
    if not path.is_file():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def seed_of(run: str):
    """The seed number of a run named `...-seed<N>` (else the run name itself)."""
    m = re.search(r"-seed(\d+)$", run)
    return int(m.group(1)) if m else run


def method_roles(cfg: ExperimentConfig) -> tuple[dict, list[str]]:
    """({method: role}, main methods): roles from each condition's decoding strategy and
    amateur in the config (ancestral -> no_contrast, vhead -> no_contrast_vhead, cd with an
    earlier checkpoint of the baseline run -> cd_early, with another run -> cd_small, with
    dropout -> cd_drop); main = the baseline and the conditions that are not sweep copies."""

    roles = {"baseline": "baseline"}
    conds = study_conditions(cfg)
    for c in conds:
        strategy = c.generate.decoding.strategy
        if strategy == "ancestral":
            roles[c.name] = "no_contrast"
        elif strategy == "vhead":
            roles[c.name] = "no_contrast_vhead"
        elif c.generate.bad is None:
            roles[c.name] = "cd_drop"
        else:
            roles[c.name] = "cd_early" if c.amateur_run == "baseline" else "cd_small"
    main = ["baseline", *[c.name for c in conds[: len(cfg.study.conditions)]]]
    return roles, main


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
    )
    ci = analysis._percentile_ci(samp)
    ci99 = analysis._percentile_ci(samp, 0.99)
    mu.update(
        ci=list(ci),
        p=analysis.two_sided_p(samp),
        mark=analysis.significance_mark(ci, ci99),
        direction=analysis.effect_direction(mu["value"], ci),
    )
    return mu, samp


def summarize(cfg: ExperimentConfig, methods: dict[str, list[str]]) -> dict:
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
    try:
        roles, main = method_roles(cfg)
    except Exception:  # a config the study graph would reject: no roles, no claims
        roles, main = {"baseline": "baseline"}, ["baseline"]
    main = [m for m in main if m in methods]
    table: dict = {}
    for m, runs in methods.items():
        for t in tasks:
            by_seed = {
                run: {step: s["score"] for step, s in scores[m][run].get(t, {}).items()}
                for run in runs
            }
            table.setdefault(m, {})[t] = analysis.mean_max(by_seed, t in analysis.LOWER_IS_BETTER)
    B, bseed = st.bootstrap_samples, st.bootstrap_seed
    rows: dict = {m: {} for m in methods}
    boots: dict = {}
    metrics = {t: _metric(scores, t) for t in tasks}
    for t in tasks:
        lower = t in analysis.LOWER_IS_BETTER
        stat = analysis.statistic_for(t, metrics[t])
        boot: dict = {}
        if stat is not None:
            sides = {
                m: {
                    seed_of(run): load_items(root / run, step, t)
                    for run, step in table[m][t].steps.items()
                }
                for m in methods
            }
            try:
                boot = analysis.bootstrap_scores(sides, stat, B, bseed, st.resample)
            except ValueError:
                boot = {}
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
        and t not in analysis.LOWER_IS_BETTER
        and t not in analysis.PAPER_MU_EXTRA
    ]
    paper_rel_tasks = rel_tasks + [t for t in analysis.PAPER_MU_EXTRA if t in tasks]
    mu_samples: dict = {}
    for m in methods:
        if m == "baseline":
            rows[m]["mu_delta_rel"] = None
            continue
        rows[m]["mu_delta_rel"], samp = _mu_delta_rel(rows[m], boots, m, rel_tasks)
        if samp is not None:
            mu_samples[m] = samp
        if paper_rel_tasks != rel_tasks:  # the paper's variant: its accuracy-style WUG too
            rows[m]["mu_delta_rel_paper"] = _mu_delta_rel(rows[m], boots, m, paper_rel_tasks)[0]
    pairwise: dict = {}
    for t in tasks:
        for a in main:
            for b in main:
                if a != b and a in boots[t] and b in boots[t]:
                    pairwise.setdefault(t, {}).setdefault(a, {})[b] = analysis.samples_comparison(
                        boots[t][a].samples,
                        boots[t][b].samples,
                        table[a][t].value - table[b][t].value,
                    )
    for a in main:
        for b in main:
            if a != b and a in mu_samples and b in mu_samples:
                pairwise.setdefault("mu_delta_rel", {}).setdefault(a, {})[b] = (
                    analysis.samples_comparison(
                        mu_samples[a],
                        mu_samples[b],
                        rows[a]["mu_delta_rel"]["value"] - rows[b]["mu_delta_rel"]["value"],
                    )
                )
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
    out["claims"] = [dataclasses.asdict(c) for c in analysis.claim_verdicts(out)]
    out["selection_check"] = _selection_check(root, methods, main, scores, table, tasks, metrics)
    out["subtasks"] = _subtasks(scores, table, tasks)
    out["curves"] = {m: {t: _curve(scores[m], t) for t in tasks} for m in methods}
    out["curve_seeds"] = {m: {t: _curve_seeds(scores[m], t) for t in tasks} for m in methods}
    out["configured_tasks"] = list(cfg.evaluate.tasks)
    return out


def _selection_check(root, methods, main, scores, table, tasks, metrics) -> dict:
    """{method: {task: {mean_max, held_out, held_out_diff}}} for the main methods: each seed's
    checkpoint chosen on half A of the items, scored on half B (analysis.held_out_mean_max)."""
    out: dict = {}
    for t in tasks:
        stat = analysis.statistic_for(t, metrics[t])
        if stat is None:
            continue
        lower = t in analysis.LOWER_IS_BETTER
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


# --- what the study is: the paper's regime or not, provenance --------------------------------

# The paper's training regime (configs/paper.yaml, read in its released code): the study is
# "the paper's configuration" only when every one of these matches.
PAPER_REGIME = {
    "model preset": "paper-good",
    "training steps": 8000,
    "rows per step": 256,
    "tokens per row": 1024,
    "GOOD step": 2500,
    "BAD (earlier checkpoint) step": 500,
    "seeds": 10,
}


def paper_regime(cfg: ExperimentConfig) -> dict:
    """{"matches", "share" (our training tokens per run / the paper's), "differences",
    "text"}: whether the study runs the paper's configuration (PAPER_REGIME on a real corpus),
    and if not, how far from it it is."""
    st = cfg.study
    early = [a.get("step") for a in st.amateurs.values() if a.get("run") == "baseline"]
    ours = {
        "model preset": cfg.train.model.preset,
        "training steps": cfg.train.steps,
        "rows per step": cfg.train.batch_size,
        "tokens per row": cfg.train.block_len,
        "GOOD step": st.good_step or cfg.train.steps,
        "BAD (earlier checkpoint) step": early[0] if early else None,
        "seeds": len(st.seeds),
    }
    diffs = [f"{k} {ours[k]} (paper {v})" for k, v in PAPER_REGIME.items() if ours[k] != v]
    if cfg.corpus.source == "storyworld":
        diffs.insert(0, "the built-in story world, not real text")
    paper_tokens = 8000 * 256 * 1024
    share = cfg.train.steps * cfg.train.batch_size * cfg.train.block_len / paper_tokens
    if not diffs:
        text = "This study runs the paper's configuration; the paper's figures stand beside ours."
    elif cfg.train.model.preset == "paper-good" and cfg.corpus.source != "storyworld":
        text = (
            f"This study uses the paper's shapes at {_pct(share)} of its training "
            f"({'; '.join(diffs)}); the paper's figures are not shown beside ours."
        )
    else:
        text = (
            f"This study is not the paper's configuration ({'; '.join(diffs)}); it trains "
            f"{_pct(share)} of the paper's tokens per run. The paper's figures are not shown."
        )
    return {"matches": not diffs, "share": share, "differences": diffs, "text": text}


def is_paper_configuration(cfg: ExperimentConfig) -> bool:
    """The paper's figures are comparable only in the paper's regime (see `paper_regime`)."""
    return paper_regime(cfg)["matches"]


def _pct(share: float) -> str:
    return f"{100 * share:.2g}%" if share < 0.1 else f"{100 * share:.0f}%"


def hardware() -> str:
    import os
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.is_file():
        names = [
            x.split(":", 1)[1].strip() for x in info.read_text().splitlines() if "model name" in x
        ]
        cpu = names[0] if names else cpu
    text = f"{cpu}, {os.cpu_count()} CPU cores"
    if torch.cuda.is_available():
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        text += f"; GPU: {', '.join(dict.fromkeys(gpus))} x {len(gpus)}"
    return text + f"; {platform.system()} {platform.release()}"


def provenance(cfg: ExperimentConfig, methods: dict[str, list[str]]) -> dict:
    """What produced the numbers: the config's hash (the resolved config is written beside the
    report as config.yaml), git commit, package versions, hardware, date, seeds, B and the
    time from the study's first output to this report."""
    from datetime import datetime, timezone

    from .config import to_dict
    from .fileio import git_commit, stable_hash, versions

    data = to_dict(cfg)
    data["evaluate"]["passwords"] = {k: None for k in data["evaluate"].get("passwords", {})}
    ws = Workspace(cfg.workdir)
    first = [p.stat().st_mtime for p in (ws.corpus / "manifest.json",) if p.is_file()]
    now = datetime.now(timezone.utc)
    return {
        "config": data,
        "config_hash": stable_hash(data)[:16],
        "git_commit": git_commit(),
        "versions": versions(),
        "hardware": hardware(),
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "seeds": list(cfg.study.seeds),
        "runs": sum(len(r) for r in methods.values()),
        "bootstrap_samples": cfg.study.bootstrap_samples,
        "resample": cfg.study.resample.value,
        "elapsed_hours": (now.timestamp() - first[0]) / 3600 if first else None,
    }


# --- the corpora: diagnostics and samples ------------------------------------------------------

DIAGNOSTIC_LABELS = {  # key: (readable name, what a higher value means)
    "documents": ("documents sampled", ""),
    "mean_words": ("mean words per document", ""),
    "median_words": ("median words per document", ""),
    "eos_share": ("share ended by EOS", ""),
    "distinct_1": ("distinct 1-grams, share", "↑ more diverse"),
    "distinct_2": ("distinct 2-grams, share", "↑ more diverse"),
    "distinct_3": ("distinct 3-grams, share", "↑ more diverse"),
    "repetition_4gram": ("repeated 4-grams within a document, share", "↓ less repetitive"),
    "self_bleu": ("self-BLEU-4", "↓ more diverse"),
    "overlap_8gram_train": ("8-grams also in the train split, share", "↓ less copying"),
    "segments": ("segments in the corpus", ""),
    "empty_segments": ("empty segments", ""),
    "duplicate_segments": ("duplicate segments", ""),
}


def diagnostic_label(key: str) -> str:
    name, better = DIAGNOSTIC_LABELS.get(key, (key, ""))
    return f"{name} ({better})" if better else name


def corpus_sections(cfg: ExperimentConfig) -> tuple[dict, list[dict]]:
    """({corpus: diagnostics}, [sample]): every corpus diagnosed on samples of one size n (the
    real row on n random train documents, not scored for overlap with its own split; each
    synthetic corpus on one completion of each of n prefixes, without the prefix), and three
    samples per condition with their per-token contrast where generation recorded it."""
    import pyarrow.parquet as pq

    from .corpus import read_split
    from .tokenizer import load_tokenizer

    ws = Workspace(cfg.workdir)
    train_docs = [r["text"] for r in read_split(ws.corpus, "train")]
    train_grams = {g for t in train_docs for g in ngrams(t.split(), 8)}
    synthetic_rows = {}
    for cond in study_conditions(cfg):
        path = ws.synthetic(cond.name) / "synthetic.parquet"
        if path.is_file():
            synthetic_rows[cond.name] = pq.read_table(path).to_pylist()
    n = min(
        [cfg.study.diagnostics_samples, len(train_docs)]
        + [len({r["prefix_id"] for r in rows}) for rows in synthetic_rows.values()]
    )
    rng = np.random.default_rng(0)
    sample = [train_docs[i] for i in sorted(rng.permutation(len(train_docs))[:n])]
    diags = {"real (train split)": corpus_diagnostics(sample, None)}
    tok = load_tokenizer(ws.tokenizer)
    samples: list[dict] = []
    for name, rows in synthetic_rows.items():
        diag = [rows[i] for i in analysis.diagnostic_rows(rows, n)]
        texts = [tok.decode(r["token_ids"], skip_special_tokens=True) for r in diag]
        diags[name] = corpus_diagnostics(texts, train_grams, [r["ended_with_eos"] for r in diag])
        diags[name].update(synthetic_totals(ws.synthetic(name)))
        sources = [str(r.get("source") or "corpus") for r in rows]  # recorded by generate
        for i in analysis.sample_rows(sources, [r["prefix_id"] for r in rows], 3, seed=0):
            r = rows[i]
            contrast = None  # recorded during generation: the report loads no model
            if r.get("token_contrast") is not None:
                contrast = [
                    [piece, float(c)]
                    for t, c in zip(r["token_ids"], r["token_contrast"], strict=True)
                    if (piece := tok.decode([t], skip_special_tokens=True))  # specials hidden
                ]
            samples.append(
                {
                    "condition": name,
                    "where": f"source {sources[i]}, prefix {r['prefix_id']}, "
                    f"completion {r['completion_id']}",
                    "prefix": tok.decode(list(r["prefix_token_ids"]), skip_special_tokens=True),
                    "generated": tok.decode(list(r["token_ids"]), skip_special_tokens=True),
                    "contrast": contrast,
                }
            )
    return diags, samples


def eval_loss_points(cfg: ExperimentConfig, methods: dict[str, list[str]]) -> dict:
    """{method: {step: [held-out loss of each seed]}} from the runs' metrics.jsonl."""
    out: dict = {}
    for m, runs in methods.items():
        for run in runs:
            f = Workspace(cfg.workdir).run(run) / "metrics.jsonl"
            if not f.is_file():
                continue
            for line in f.read_text().splitlines():
                r = json.loads(line) if line.strip() else {}
                if r.get("eval_loss") is not None:
                    out.setdefault(m, {}).setdefault(r["step"], []).append(r["eval_loss"])
    return out


SWEEP_TITLES = {
    "ratio": "Mixing ratio (synthetic share of rows)",
    "top_k": "Top-k truncation",
    "top_p": "Top-p truncation",
    "lam": "Contrast strength lambda",
    "alpha": "Plausibility threshold alpha",
    "temperature": "Temperature",
}


def sweep_groups(cfg: ExperimentConfig, key: str) -> list[list[dict]]:
    """Groups of conditions that differ only in `key` (ratio, top_k or top_p)."""

    conds = condition_specs(cfg.study)
    groups: dict = {}
    for c in conds:
        rest = json.dumps({k: v for k, v in c.items() if k not in ("name", key)}, sort_keys=True)
        groups.setdefault(rest, []).append(c)
    return [g for g in groups.values() if len({json.dumps(c.get(key)) for c in g}) > 1]


def sweep_specs(cfg: ExperimentConfig) -> list[dict]:
    """[{"key", "title", "points": [{"x", "method"}]}]: one per group of conditions that differ
    only in a swept setting, a condition without the setting at the config's default."""
    dec = cfg.generate.decoding
    default = {f.name: getattr(dec, f.name) for f in dataclasses.fields(dec)}
    default["ratio"] = cfg.study.ratio
    keys = list(dict.fromkeys(sw["key"] for sw in cfg.study.sweeps if isinstance(sw, dict)))
    out = []
    for key in keys:
        for group in sweep_groups(cfg, key):
            pts = [
                {"x": c[key] if c.get(key) is not None else default.get(key), "method": c["name"]}
                for c in group
            ]
            pts.sort(key=lambda p: (p["x"] is None, p["x"] if p["x"] is not None else 0))
            out.append({"key": key, "title": SWEEP_TITLES.get(key, key), "points": pts})
    return out


def collect_report(cfg: ExperimentConfig, methods: dict[str, list[str]]) -> dict:
    """Everything the report shows, as plain data (written as summary.json)."""
    summary = summarize(cfg, methods)
    summary["sweeps"] = sweep_specs(cfg)
    diags, samples = corpus_sections(cfg)
    models, data_seen = model_tables(cfg, methods)
    return {
        "table": main_table(summary),
        "seeds": summary["seeds"],
        "resample": summary["resample"],
        "summary": summary,
        "regime": paper_regime(cfg),
        "provenance": provenance(cfg, methods),
        "eval_loss": eval_loss_points(cfg, methods),
        "diagnostics": diags,
        "samples": samples,
        "models": models,
        "training_data": data_seen,
    }


# --- verdicts in words -------------------------------------------------------------------------

# (claim key, role that makes it, claim task): the paper's headline claims (analysis.claim_verdicts)
CLAIMS = (
    ("above_baseline:entity_tracking", "cd_early", "entity_tracking"),
    ("above_baseline:ewok", "cd_early", "ewok"),
    ("best:perplexity", "no_contrast", "perplexity"),
    ("best:blimp", "no_contrast", "blimp"),
    ("best:mu_delta_rel", "cd_early", None),
)
CLAIM_TEXTS = {
    "above_baseline:entity_tracking": "CD-Early scores above the baseline on entity tracking",
    "above_baseline:ewok": "CD-Early scores above the baseline on EWoK",
    "best:perplexity": "No-Contrast is the best of the main methods on perplexity",
    "best:blimp": "No-Contrast is the best of the main methods on BLiMP",
    "best:mu_delta_rel": "CD-Early has the best aggregate mu-Delta-REL of the main conditions",
}
ITEM_ONLY = "†"


def single_seed(summary) -> bool:
    """True where some method has fewer than two seeds: its CIs hold item noise only."""
    return any(len(v) < 2 for v in summary["seeds"].values())


def item_only(summary) -> bool:
    """Significance that leaves out seed-to-seed variance: one seed, or items-only resampling."""
    return single_seed(summary) or summary.get("resample") == "items"


def _mark(summary, mark: str | None) -> str:
    return (mark or "") + (ITEM_ONLY if mark and item_only(summary) else "")


def _diff_text(summary, task, diff, ci, mark=None) -> str:
    scale, unit = _unit(summary, task)
    d = decimals(ci, scale)
    s = f"Δ {_num(None if diff is None else scale * diff, d, True)}"
    if ci:
        s += f" [{_num(scale * ci[0], d, True)}, {_num(scale * ci[1], d, True)}]"
    return s + _mark(summary, mark) + _diff_unit(summary, task)


def _diff_unit(summary, task) -> str:
    unit = _unit(summary, task)[1]
    if task == "mu_delta_rel":
        return " %"
    return " points" if unit.endswith("%") else ""


def _value_text(summary, task, v) -> str:
    scale, unit = _unit(summary, task)
    if v is None or not math.isfinite(v):
        return "-"
    return f"{scale * v:.4g}" + ("%" if unit.endswith("%") else "")


def claim_lines(summary, paper: bool) -> list[dict]:
    """Each of the paper's headline claims with a verdict that says what was tested:
    supported / contradicted / inconclusive where a test ran (analysis.claim_verdicts), else
    "not testable here" or "not run" with the reason; evidence in the table's units; the
    paper's figures attached only when `paper` (the study runs the paper's regime)."""
    tasks = summary["tasks"]
    configured = summary.get("configured_tasks", tasks)
    got = {c["key"]: c for c in summary["claims"]}
    out = []
    for key, role, claim_task in CLAIMS:
        subject = analysis.claim_subject(summary, role)
        c = dict(got.get(key, {"key": key, "text": CLAIM_TEXTS[key], "method": subject}))
        c["task"] = c.get("task") or claim_task
        label = analysis.ROLE_LABELS[role]
        names = analysis.CLAIM_TASKS.get(claim_task, ())
        if key not in got:
            if subject is None:
                c["verdict"] = "not testable here"
                c["evidence"] = f"the study has no {label} condition"
            elif not any(t in configured for t in names):
                c["verdict"] = "not run"
                c["evidence"] = f"no task for it in evaluate.tasks ({' or '.join(names)})"
            else:
                c["verdict"] = "not run"
                c["evidence"] = f"no results for {' or '.join(t for t in names if t in configured)}"
        elif key.startswith("above_baseline:"):
            t, rows = c["task"], summary["rows"]
            cell = rows[subject].get(t, {})
            c["evidence"] = (
                f"{subject} {_value_text(summary, t, cell.get('value'))} vs baseline "
                f"{_value_text(summary, t, rows['baseline'].get(t, {}).get('value'))}: "
                + _diff_text(summary, t, cell.get("diff"), cell.get("ci"), cell.get("mark"))
            )
            if cell.get("ci") is None:
                c["verdict"] = "not testable here"
                c["evidence"] += " (no bootstrap CI: item scores missing)"
        else:
            t = c["task"]
            rivals = [
                m
                for m in summary["main_methods"]
                if m != subject and (t != "mu_delta_rel" or m != "baseline")
            ]
            pairs = summary.get("pairwise", {}).get(t, {}).get(subject, {})
            parts = []
            for r in rivals:
                p = pairs.get(r)
                if p is None or p.get("ci") is None:
                    parts.append(f"vs {r}: no CI")
                else:
                    mark = analysis.significance_mark(p["ci"], p.get("ci99"))
                    parts.append(f"vs {r} " + _diff_text(summary, t, p["diff"], p["ci"], mark))
            if t == "mu_delta_rel":
                mu = summary["rows"][subject].get("mu_delta_rel") or {}
                head = f"{subject} {_num(100 * mu['value'], 2, True)}%" if mu.get("value") else ""
            else:
                v = summary["rows"][subject].get(t, {}).get("value")
                head = f"{subject} {_value_text(summary, t, v)}"
            if not rivals:
                c["verdict"] = "not testable here"
                parts = ["no other main condition to compare with"]
                mu = summary["rows"][subject].get("mu_delta_rel") or {}
                if t == "mu_delta_rel" and mu.get("ci"):
                    parts.append(
                        "vs the baseline "
                        + _diff_text(summary, t, mu["value"], mu["ci"], mu.get("mark"))
                    )
            elif all(p.endswith("no CI") for p in parts):
                c["verdict"] = "not testable here"
                parts.append("no bootstrap CI")
            c["evidence"] = "; ".join([head, *parts] if head else parts)
        if paper and key in PAPER_FIGURES and c["verdict"] not in ("not run", "not testable here"):
            c["paper"] = PAPER_FIGURES[key]
        out.append(c)
    return out


def _task_label(task) -> str:
    return analysis.TASK_LABELS.get(task, task.replace("_", " "))


def study_findings(summary, regime: dict | None) -> str:
    """'What this study found': a short paragraph computed from the numbers."""
    others = [m for m in summary["methods"] if m != "baseline"]
    out = []
    if regime:
        out.append(regime["text"])
    seeds = {len(v) for v in summary["seeds"].values()}
    out.append(
        f"{len(summary['methods'])} methods x {'/'.join(map(str, sorted(seeds)))} seed(s), "
        f"{len(summary['tasks'])} tasks."
    )
    quiet = []
    for t in [*summary["tasks"], "mu_delta_rel"]:
        if t == "mu_delta_rel":
            cells = {m: summary["rows"][m].get("mu_delta_rel") or {} for m in others}
        else:
            cells = {m: summary["rows"][m].get(t, {}) for m in others}
        diff_key = "value" if t == "mu_delta_rel" else "diff"
        label = _task_label(t)
        lower = t in analysis.LOWER_IS_BETTER
        verbs = (
            (("gain", "lower"), ("loss", "raise"))
            if lower
            else (("gain", "raise"), ("loss", "lower"))
        )
        for direction, verb in verbs:
            hit = [m for m in others if cells[m].get("direction") == direction]
            if not hit:
                continue
            nums = "; ".join(
                f"{m} "
                + _diff_text(
                    summary, t, cells[m].get(diff_key), cells[m].get("ci"), cells[m].get("mark")
                )
                for m in hit
            )
            if len(hit) == len(others) > 1:
                out.append(f"Every condition {verb}s {label} significantly ({nums}).")
            else:
                side = "lower" if verb == "lower" else "higher"
                out.append(
                    f"{label[0].upper()}{label[1:]} is significantly {side} than the "
                    f"baseline's for {', '.join(hit)} ({nums})."
                )
        if not any(cells[m].get("direction") for m in others) and any(
            cells[m].get("ci") for m in others
        ):
            quiet.append(label)
    if quiet:
        out.append(f"No condition differs significantly from the baseline on {', '.join(quiet)}.")
    counts: dict = {}
    for c in claim_lines(summary, False):
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    if counts:
        out.append(
            f"Of the paper's {len(CLAIMS)} headline claims: "
            + ", ".join(f"{n} {v}" for v, n in counts.items())
            + "."
        )
    if item_only(summary):
        out.append(
            f"Significance here is over items only ({ITEM_ONLY}): "
            + (
                "one seed, so seed-to-seed variance is not in the CIs."
                if single_seed(summary)
                else "items are resampled with every seed kept."
            )
        )
    return " ".join(out)


def _unit(summary, task) -> tuple[float, str]:
    if task in MU_COLUMNS:
        return 100.0, "mu-Delta-REL, %"
    return UNITS.get(summary["metrics"].get(task, ""), (1.0, summary["metrics"].get(task, "")))


# --- figures ----------------------------------------------------------------------------------

DPI = 160
# one colour per method in every figure (Okabe-Ito without its green and vermillion, then
# muted extras): never the green/red that mark a significant gain/loss in the tables
METHOD_PALETTE = ["#0072B2", "#E69F00", "#CC79A7", "#56B4E9", "#8C564B", "#9467BD", "#7F7F7F"]
METHOD_PALETTE += ["#BCBD22", "#17BECF", "#F0E442", "#1F3A93", "#B15928"]
BASELINE_COLOR = "#000000"


def method_colors(methods: list[str]) -> dict[str, str]:
    others = [m for m in methods if m != "baseline"]
    out = {m: METHOD_PALETTE[i % len(METHOD_PALETTE)] for i, m in enumerate(others)}
    return {"baseline": BASELINE_COLOR, **out}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, folder: Path, name: str, rect=(0, 0, 1, 1)) -> str:
    fig.tight_layout(rect=rect)
    fig.savefig(folder / name, dpi=DPI)
    _plt().close(fig)
    return name


def _axis_label(summary, task) -> str:
    """'BLiMP (filtered): accuracy, % (↑ better)': the quantity, its unit and direction."""
    unit = _unit(summary, task)[1]
    arrow = "↓ better" if task in analysis.LOWER_IS_BETTER else "↑ better"
    label = _task_label(task)
    own = unit.startswith(label) or task == "mu_delta_rel"
    return f"{unit} ({arrow})" if own else f"{label}: {unit} ({arrow})"


def _plot_bands(ax, points: dict, scale: float, colors: dict) -> int:
    """Mean over seeds with a min-max band; methods with fewer than 2 points are skipped."""
    from matplotlib.ticker import MaxNLocator

    drawn = 0
    for m, by_step in points.items():
        steps = sorted(by_step, key=int)
        if len(steps) < 2:
            continue
        xs = [int(s) for s in steps]
        vals = [np.asarray(by_step[s], dtype=float) * scale for s in steps]
        mean = [v.mean() for v in vals]
        ax.plot(xs, mean, marker="o", ms=3, color=colors.get(m, "#444"), label=m)
        if any(len(v) > 1 for v in vals):
            ax.fill_between(
                xs, [v.min() for v in vals], [v.max() for v in vals], color=colors[m], alpha=0.15
            )
        drawn += 1
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    return drawn


def plot_learning_curves(data: dict, folder: Path) -> list[str]:
    """Held-out loss and each task over training steps: mean over seeds, a band from the
    lowest to the highest seed; a figure only where some method has 2 or more points."""
    plt = _plt()
    summary = data["summary"]
    colors = method_colors(summary["methods"])
    names = []
    panels = [("eval_loss", data.get("eval_loss") or {})]
    seeds = summary.get("curve_seeds") or {}
    for t in summary["tasks"]:
        if seeds:
            pts = {m: seeds[m].get(t, {}) for m in summary["methods"] if m in seeds}
        else:  # a summary.json from before per-seed curves: the mean only
            pts = {
                m: {k: [v] for k, v in summary["curves"][m][t].items()} for m in summary["methods"]
            }
        panels.append((t, pts))
    for t, pts in panels:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        scale = 1.0 if t == "eval_loss" else _unit(summary, t)[0]
        if not _plot_bands(ax, pts, scale, colors):
            plt.close(fig)
            continue
        ax.set_xlabel("training step")
        ax.set_ylabel(
            "held-out loss, nats/token (↓ better)" if t == "eval_loss" else _axis_label(summary, t),
            fontsize=8,
        )
        title = "Held-out loss" if t == "eval_loss" else _task_label(t)
        ax.set_title(f"{title} over training (mean over seeds; band: min-max)", fontsize=9)
        ax.legend(fontsize=7)
        names.append(_save(fig, folder, f"curve_{t}.png"))
    return names


def plot_sweeps(data: dict, folder: Path) -> list[str]:
    """One figure per sweep, as the paper's Figures 2 and 3: mu-Delta-REL (and perplexity
    where evaluated) against the swept value, 95% CIs, the baseline as a reference line."""
    plt = _plt()
    summary = data["summary"]
    rows = summary["rows"]
    names = []
    for i, sw in enumerate(summary.get("sweeps") or []):
        pts = [p for p in sw["points"] if p["method"] in rows]
        if len(pts) < 2:
            continue
        xs = list(range(len(pts)))
        panels = ["mu_delta_rel"] + [t for t in summary["tasks"] if t in analysis.LOWER_IS_BETTER]
        fig, axes = plt.subplots(1, len(panels[:2]), figsize=(5.2 * len(panels[:2]), 3.6))
        axes = np.atleast_1d(axes)
        for ax, t in zip(axes, panels[:2], strict=False):
            scale = _unit(summary, t)[0]
            vals, los, his = [], [], []
            for p in pts:
                if t == "mu_delta_rel":
                    c = rows[p["method"]].get("mu_delta_rel") or {}
                    v, ci = c.get("value"), c.get("ci")
                else:
                    c = rows[p["method"]].get(t, {})
                    v, ci = c.get("value"), c.get("value_ci")
                v = math.nan if v is None else scale * v
                vals.append(v)
                los.append(v - scale * ci[0] if ci else 0.0)
                his.append(scale * ci[1] - v if ci else 0.0)
            ax.errorbar(
                xs,
                vals,
                yerr=[los, his],
                fmt="o-",
                color=METHOD_PALETTE[0],
                capsize=3,
                label="condition (95% CI)",
            )
            if t == "mu_delta_rel":
                ax.axhline(
                    0, color=BASELINE_COLOR, lw=1, ls="--", label="baseline (0 by definition)"
                )
            else:
                b = rows["baseline"].get(t, {})
                if b.get("value") is not None:
                    ax.axhline(
                        scale * b["value"], color=BASELINE_COLOR, lw=1, ls="--", label="baseline"
                    )
                    if b.get("value_ci"):
                        ax.axhspan(
                            scale * b["value_ci"][0],
                            scale * b["value_ci"][1],
                            color=BASELINE_COLOR,
                            alpha=0.08,
                        )
            off = {"top_k": 0, "top_p": 1.0}.get(sw["key"])  # the settings' "off" values
            ax.set_xticks(xs, [f"{p['x']}" + (" (off)" if p["x"] == off else "") for p in pts])
            ax.set_xlabel(sw["title"], fontsize=8)
            ax.set_ylabel(_axis_label(summary, t), fontsize=8)
            ax.legend(fontsize=7)
        fig.suptitle(f"{sw['title']} sweep ({pts[0]['method']} ...)", fontsize=9)
        names.append(_save(fig, folder, f"sweep_{sw['key']}_{i}.png"))
    return names


def plot_forests(summary, folder: Path) -> list[str]:
    """One forest plot per task and one for mu-Delta-REL: each method's difference from the
    baseline with its 95% CI (analysis.forest_data, in the table's units), a zero line; each
    method in its own colour, the marker filled where the CI excludes 0, a legend."""
    from matplotlib.lines import Line2D

    plt = _plt()
    colors = method_colors(summary["methods"])
    names = []
    for t, rows in analysis.forest_data(summary).items():
        if not rows:
            continue
        scale, unit = _unit(summary, t)
        n = len(rows)
        fig, ax = plt.subplots(figsize=(5.6, 1.5 + 0.36 * n))
        for i, r in enumerate(rows):
            y = n - 1 - i
            d, lo, hi = (scale * r[k] for k in ("diff", "lo", "hi"))
            col = colors.get(r["method"], "#444")
            if math.isfinite(lo) and math.isfinite(hi):
                ax.plot([lo, hi], [y, y], color=col, lw=2)
            if math.isfinite(d):
                face = col if r["direction"] else "white"
                ax.plot([d], [y], "o", color=col, mfc=face, ms=7)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(n), [r["method"] for r in reversed(rows)], fontsize=8)
        ax.set_ylim(-0.7, n - 0.3)
        ax.xaxis.set_major_locator(__import__("matplotlib.ticker").ticker.MaxNLocator(nbins=5))
        lower = t in analysis.LOWER_IS_BETTER
        better = "← better (lower)" if lower else "better (higher) →"
        title = "mu-Delta-REL" if t == "mu_delta_rel" else _task_label(t)
        ax.set_title(f"{title}: difference from the baseline", fontsize=9)
        if t == "mu_delta_rel":
            what = "mu-Delta-REL, %"
        else:
            what = f"Δ {unit}".replace(", %", ", percentage points")
        ax.set_xlabel(f"{what}; {better}", fontsize=8)
        handles = [
            Line2D([], [], color="#444", marker="o", lw=2, label="95% CI excludes 0"),
            Line2D([], [], color="#444", marker="o", mfc="white", lw=2, label="95% CI spans 0"),
        ]
        fig.legend(handles=handles, fontsize=7, loc="lower center", ncol=2, frameon=False)
        height = fig.get_size_inches()[1]
        names.append(_save(fig, folder, f"forest_{t}.png", rect=(0, 0.3 / height, 1, 1)))
    return names


# --- rendering -----------------------------------------------------------------------------


def _fmt(v, digits=4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)  # counts stay whole numbers
    return f"{v:.{digits}g}"


def decimals(ci, scale: float = 1.0) -> int | None:
    """Decimals a value supports: two significant digits of its CI's half-width."""
    if not ci or not all(isinstance(x, (int, float)) and math.isfinite(x) for x in ci):
        return None
    half = scale * (ci[1] - ci[0]) / 2
    if half <= 0:
        return None
    return int(min(max(1 - math.floor(math.log10(half)), 0), 6))


def _num(v, d: int | None, sign: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    if d is None:
        return f"{v:+.3g}" if sign else f"{v:.4g}"
    if abs(v) < 1e-12:  # float noise of an exact 0 (e.g. equal means): no digits to chase
        v = 0.0
    while sign and v != 0 and round(v, d) == 0 and d < 6:  # a bound near 0 keeps its side
        d += 1
    return f"{v:+.{d}f}" if sign else f"{v:.{d}f}"


def table2_cell(summary, method: str, task: str) -> dict:
    """{"value", "second", "cls", "title"}: the score on one line; the difference from the
    baseline (or, for the baseline, the score's CI) on a second; cls gain | loss | ""."""
    scale, _ = _unit(summary, task)
    row = summary["rows"][method]
    if task in MU_COLUMNS:
        mu = row.get(task)
        if not mu:
            return {"value": "", "second": "", "cls": "", "title": ""}
        ci = mu.get("ci")
        d = decimals(ci, scale) if ci else 2
        ci_s = f"[{_num(scale * ci[0], d, True)}, {_num(scale * ci[1], d, True)}]" if ci else ""
        v = mu.get("value")
        return {
            "value": _num(scale * v, d, True) + "%" if v is not None and math.isfinite(v) else "-",
            "second": (ci_s + _mark(summary, mu.get("mark"))).strip(),
            "cls": mu.get("direction") or "",
            "title": f"over {', '.join(mu.get('tasks', [])) or 'no task'}",
        }
    c = row.get(task, {})
    vci = c.get("value_ci")
    dv = decimals(vci or c.get("ci"), scale)  # the score's CI, else the difference's
    value = _num(None if c.get("value") is None else scale * c["value"], dv)
    title = ""
    if vci:
        title = f"95% CI of the score [{_num(scale * vci[0], dv)}, {_num(scale * vci[1], dv)}]"
    if method == "baseline" or c.get("diff") is None:
        second = f"[{_num(scale * vci[0], dv)}, {_num(scale * vci[1], dv)}]" if vci else ""
        return {"value": value, "second": second, "cls": "", "title": title}
    ci = c.get("ci")
    dd = decimals(ci, scale)
    second = f"Δ {_num(scale * c['diff'], dd, True)}"
    if ci:
        second += f" [{_num(scale * ci[0], dd, True)}, {_num(scale * ci[1], dd, True)}]"
        second += _mark(summary, c.get("mark"))
    else:
        second += " (no CI)"
    if c.get("relative") is not None and math.isfinite(c["relative"]):
        title += f"; relative {100 * c['relative']:+.2f}%"
    return {"value": value, "second": second, "cls": c.get("direction") or "", "title": title}


def _arrow(task) -> str:
    return "↓" if task in analysis.LOWER_IS_BETTER else "↑"


MU_COLUMNS = {"mu_delta_rel": "mu-Delta-REL", "mu_delta_rel_paper": "mu-Delta-REL, paper's WUG"}


def mu_columns(summary) -> list[str]:
    """Ours, and the paper-mode variant where the study has it (WUG's first-form share in)."""
    has_paper = any((r or {}).get("mu_delta_rel_paper") for r in summary["rows"].values())
    return ["mu_delta_rel", *(["mu_delta_rel_paper"] if has_paper else [])]


def main_table(summary, arrows: bool = False) -> list[list[str]]:
    """Table 2 as rows of one-line strings (summary.json; with `arrows`, the Markdown report's
    headers: each task's direction and unit)."""
    mus = mu_columns(summary)
    head = ["method", *summary["tasks"], *(MU_COLUMNS[c] for c in mus)]
    if arrows:
        head = (
            ["method"]
            + [f"{t} {_arrow(t)} ({_unit(summary, t)[1]})" for t in summary["tasks"]]
            + [f"{MU_COLUMNS[c]} ↑ (%)" for c in mus]
        )
    rows = [head]
    for m in summary["methods"]:
        cells = [m]
        for t in [*summary["tasks"], *mus]:
            c = table2_cell(summary, m, t)
            cells.append(c["value"] + (f" ({c['second']})" if c["second"] else ""))
        rows.append(cells)
    return rows


def table2_html(summary) -> str:
    head = (
        "<th>method</th>"
        + "".join(
            f"<th>{_breakable(t)} {_arrow(t)}<span class='sub'>"
            f"{html.escape(_unit(summary, t)[1])}"
            "</span></th>"
            for t in summary["tasks"]
        )
        + "<th>mu-<wbr>Delta-<wbr>REL ↑<span class='sub'>%, over the proportion tasks</span></th>"
        + (
            "<th>mu-<wbr>Delta-<wbr>REL ↑<span class='sub'>%, with the paper's WUG</span></th>"
            if len(mu_columns(summary)) > 1
            else ""
        )
    )
    body = []
    for m in summary["methods"]:
        tds = [f"<td>{_breakable(m)}</td>"]
        for t in [*summary["tasks"], *mu_columns(summary)]:
            c = table2_cell(summary, m, t)
            cls = f" class='{c['cls']}'" if c["cls"] else ""
            tds.append(
                f"<td{cls} title='{html.escape(c['title'], quote=True)}'>"
                f"<span class='v'>{html.escape(c['value'])}</span>"
                f"<span class='sub'>{html.escape(c['second'])}</span></td>"
            )
        body.append("<tr>" + "".join(tds) + "</tr>")
    return (
        # wide enough that no header word breaks; narrower screens scroll the table sideways
        f"<div class='t2 scroll'><table style='min-width:{9 + 8 * (len(summary['tasks']) + 1)}em'>"
        f"<thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _breakable(text: str) -> str:
    """Escaped text that may wrap after an underscore or a hyphen (long task names)."""
    return html.escape(text).replace("_", "_<wbr>").replace("-", "-<wbr>")


def md_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def html_table(rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{_breakable(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:]
    )
    attr = f" class='{cls}'" if cls else ""
    table = f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f"<div class='scroll'>{table}</div>"


def colored_sample(tokens: list[tuple]) -> str:
    """HTML: each token on a background whose colour shows log p_good - log p_bad."""
    spans = []
    for text, c in tokens:
        a = min(abs(c) / 4.0, 1.0)
        rgb = "0,128,0" if c > 0 else "200,0,0"
        spans.append(
            f'<span title="{c:+.2f}" style="background:rgba({rgb},{a:.2f})">'
            f"{html.escape(text)}</span>"
        )
    return "".join(spans)


CONTRAST_LEGEND = (
    "<p class='legend'>Contrast per generated token, log p<sub>GOOD</sub> − log "
    "p<sub>BAD</sub> (nats; hover a token for its value): "
    + colored_sample([(" −4 ", -4.0), (" −2 ", -2.0), (" 0 ", 0.0), (" +2 ", 2.0), (" +4 ", 4.0)])
    + " - green: GOOD favours the token more than BAD; red: less; full colour at |4| and above."
    "</p>"
)


def _scaled(v, k: float):
    return None if v is None else k * v


def power_table(summary) -> list[list[str]]:
    """Per main method and task: Δ, the seed-to-seed sd of the per-seed Δ, and the seeds a
    paired t would need to find that Δ with 80% power (`power.seeds_for_power`)."""
    rows = [["method", "task", "Δ", "sd of Δ across seeds", "seeds for 80% power"]]
    for m in summary["main_methods"]:
        for t in summary["tasks"]:
            cell = summary["rows"].get(m, {}).get(t) or {}
            if "seed_sd" not in cell:
                continue
            k, unit = _unit(summary, t)
            n = cell.get("seeds_needed")
            rows.append(
                [
                    m,
                    _task_label(t),
                    f"{cell['diff'] * k:+.2f} {unit}",
                    f"{cell['seed_sd'] * k:.2f}",
                    "more than 1000" if n is None else str(n),
                ]
            )
    return rows if len(rows) > 1 else []


def selection_table(summary) -> list[list[str]]:
    tasks = summary["tasks"]
    rows = [["method", *tasks]]
    check = summary.get("selection_check", {})
    for m in summary["main_methods"]:
        cells = [m]
        for t in tasks:
            c = check.get(m, {}).get(t)
            if c is None:
                cells.append("-")
                continue
            k = _unit(summary, t)[0]
            s = f"{_fmt(_scaled(c['mean_max'], k))} / {_fmt(_scaled(c['held_out'], k))}"
            if c["held_out_diff"] is not None:
                s += f" (Δ {_fmt(_scaled(c['held_out_diff'], k), 3)})"
            cells.append(s)
        rows.append(cells)
    return rows


def _seeds_text(summary) -> str:
    seeds = summary["seeds"]
    sets = {json.dumps(v) for v in seeds.values()}
    if len(sets) == 1:
        text = f"seeds {', '.join(map(str, next(iter(seeds.values()))))} for every method"
    else:
        text = "; ".join(f"{m}: {', '.join(map(str, v))}" for m, v in seeds.items())
    if summary["resample"] in ("seeds", "hierarchical") and all(
        len(v) <= 1 for v in seeds.values()
    ):
        text += " - with one seed only the items are resampled"
    return text


STYLE = (
    "body{font-family:sans-serif;max-width:1220px;margin:1.5em auto;padding:0 1em;"
    "color:#222}table{border-collapse:collapse;margin:.6em 0}"
    "td,th{border:1px solid #ccc;padding:4px 6px;text-align:right;vertical-align:top;"
    "overflow-wrap:normal;word-break:normal;hyphens:none}"
    "th{background:#f3f3f3;font-weight:600}"
    "td:first-child,th:first-child,.kv td,.kv th{text-align:left}"
    ".t2 table{width:100%;table-layout:fixed}.t2 td:first-child,"
    ".t2 th:first-child{width:13%}.t2 .v{display:block;font-size:15px}.sub{display:block;"
    "font-size:11px;color:#555;font-weight:normal}td.gain{background:#dff3e3}"
    "td.loss{background:#fbe1e1}"
    ".scroll{overflow-x:auto;max-width:100%}img{max-width:100%;height:auto}"
    "figure{margin:.4em 0;overflow-x:auto}figure img{min-width:min(100%,320px)}"
    ".forest{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(380px,100%),1fr));"
    "gap:6px}.forest figure{margin:0}ul.claims{list-style:none;padding:0}"
    "ul.claims li{margin:.5em 0}.verdict{display:inline-block;min-width:9.5em;"
    "font-weight:600}.supported{color:#1a7f37}.contradicted{color:#c62828}"
    ".inconclusive{color:#8a6d00}.not{color:#666}.ev,.paper{display:block;font-size:12px;"
    "color:#555;margin-left:1.5em}.sample{border:1px solid #ddd;padding:6px;margin:6px 0;"
    "font-family:monospace;white-space:pre-wrap;overflow-wrap:anywhere}"
    ".where{font-size:11px;color:#666}.prefix{background:#eef;padding:2px 4px}"
    ".lab{font-family:sans-serif;font-size:10px;color:#666;margin-right:6px;"
    "text-transform:uppercase}.legend{font-size:13px}details{margin:.4em 0}"
    "summary{cursor:pointer;color:#333;font-size:13px}.note{font-size:13px;color:#444}"
    ".banner{background:#fff4d6;border:1px solid #e0c060;padding:6px 10px}"
    ".findings{font-size:15px;line-height:1.45}"
)


def page_head(title: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>"
    )


SYNTHETIC_TOTALS = ("segments", "empty_segments", "duplicate_segments")


def _train_blocks(cfg: ExperimentConfig) -> int | None:
    """Blocks in one epoch of the real train split, as the trainer packed it."""
    from .stages import blocks_folder

    ws = Workspace(cfg.workdir)
    f = blocks_folder(ws, "train", [ws.corpus / "train.jsonl"], cfg.train.block_len)
    return read_json(f / "blocks.json")["n_blocks"] if (f / "blocks.json").is_file() else None


def _state(checkpoint: Path) -> dict:
    f = checkpoint / "state.json"
    return read_json(f) if f.is_file() else {}


def model_tables(cfg: ExperimentConfig, methods: dict[str, list[str]]) -> tuple[list, list]:
    """(GOOD and the amateurs: checkpoint, epochs of real text, held-out loss;
    each method's training data: epochs of real text and the synthetic share of its rows),
    read from the checkpoints' state.json. Epochs = real rows seen / blocks in the train split.
    """
    n_blocks = _train_blocks(cfg)
    ws = Workspace(cfg.workdir)

    def epochs(state: dict):
        if not n_blocks or "rows_total" not in state:
            return None
        return (state["rows_total"] - state.get("synthetic_rows_total", 0)) / n_blocks

    models = [["model", "checkpoint", "step", "epochs of real text", "held-out loss"]]
    seen = set()
    for cond in study_conditions(cfg):
        g = cond.generate
        for role, path in (("GOOD", g.good), (f"BAD of {cond.name}", g.bad)):
            if path is None and role != "GOOD" and g.bad_dropout > 0:
                if ("dropout", g.bad_dropout) not in seen:
                    seen.add(("dropout", g.bad_dropout))
                    models.append([role, f"GOOD with dropout {g.bad_dropout}", "-", "-", "-"])
                continue
            if path is None or path in seen:
                continue
            seen.add(path)
            st = _state(ws.root / path)
            models.append(
                [
                    role,
                    path,
                    str(st.get("step", "-")),
                    _fmt(epochs(st), 3),
                    _fmt(st.get("eval_loss")),
                ]
            )
    data = [
        ["method", "steps", "epochs of real text", "synthetic share of rows", "last held-out loss"]
    ]
    for m, runs in methods.items():
        lasts = [latest_checkpoint(ws.run(run)) for run in runs]
        states = [st for ck in lasts if ck and "rows_total" in (st := _state(ck))]
        if not states:
            continue
        ep = [epochs(st) for st in states]
        share = [st.get("synthetic_rows_total", 0) / st["rows_total"] for st in states]
        losses = [st["eval_loss"] for st in states if st.get("eval_loss") is not None]
        data.append(
            [
                m,
                str(states[0]["step"]),
                _fmt(np.mean(ep), 3) if None not in ep else "-",
                _fmt(np.mean(share), 3),
                _fmt(np.mean(losses)) if losses else "-",
            ]
        )
    return models, data


def synthetic_totals(out_dir: Path) -> dict:
    """The corpus manifest's segment counts (those present) for the diagnostics table."""
    m = out_dir / "manifest.json"
    totals = read_json(m).get("totals", {}) if m.is_file() else {}
    return {k: totals[k] for k in SYNTHETIC_TOTALS if k in totals}


def subtask_table(summary, task: str) -> list[list[str]]:
    """A task's subtasks: the baseline's score, each method's score and difference from it,
    and the mean difference over the methods; rows sorted by that mean (largest gain first)."""
    scale, _ = _unit(summary, task)
    lower = task in analysis.LOWER_IS_BETTER
    others = [m for m in summary["methods"] if m != "baseline"]
    subs = summary["subtasks"][task]
    rows = []
    for sub, v in subs.items():
        base = v.get("baseline")
        deltas = [v[m] - base for m in others if base is not None and v.get(m) is not None]
        mean_d = float(np.mean(deltas)) if deltas else math.nan
        cells = [sub, _fmt(_scaled(base, scale), 4)]
        for m in others:
            d = None if base is None or v.get(m) is None else v[m] - base
            val = _fmt(_scaled(v.get(m), scale), 4)
            cells.append(val + (f" (Δ {_num(scale * d, None, True)})" if d is not None else ""))
        cells.append(_num(scale * mean_d, None, True))
        rows.append((-mean_d if not lower else mean_d, cells))
    rows.sort(key=lambda r: (math.isnan(r[0]), r[0]))
    unit = _diff_unit(summary, task).strip() or _unit(summary, task)[1]
    head = ["subtask", "baseline", *others, f"mean Δ ({unit})"]
    return [head, *[c for _, c in rows]]


def _fence(text: str) -> str:
    """Text in a Markdown code fence longer than any run of backticks inside it."""
    longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def sample_md(s: dict) -> str:
    body = f"[prefix] {s['prefix']}\n[generated] {s['generated'][:600]}"
    return f"**{s['condition']}** ({s['where']}):\n\n{_fence(body)}"


def sample_html(s: dict) -> str:
    gen = s["generated"][:1500]
    body = colored_sample(s["contrast"]) if s.get("contrast") else html.escape(gen)
    return (
        f"<div class='sample'><div class='where'>{html.escape(s['where'])}</div>"
        f"<div class='prefix'><span class='lab'>prefix</span>{html.escape(s['prefix'])}</div>"
        f"<div class='gen'><span class='lab'>generated</span>{body}</div></div>"
    )


def provenance_rows(data: dict) -> list[list[str]]:
    p = data.get("provenance")
    if not p:
        return [
            ["what", "value"],
            [
                "provenance",
                "not recorded in this summary.json (written before reports recorded it)",
            ],
        ]
    v = p["versions"]
    hours = p.get("elapsed_hours")
    return [
        ["what", "value"],
        ["config", f"config.yaml beside this report (resolved, hash {p['config_hash']})"],
        ["workdir", p["config"]["workdir"]],
        ["git commit", p.get("git_commit") or "unknown (not a git checkout)"],
        ["versions", ", ".join(f"{k} {x}" for k, x in v.items())],
        ["hardware", p["hardware"]],
        ["date", p["date"]],
        ["seeds", ", ".join(map(str, p["seeds"])) + f" ({p['runs']} trained runs)"],
        ["bootstrap", f"B = {p['bootstrap_samples']}, resampling {p['resample']}"],
        [
            "wall time",
            "-"
            if hours is None
            else f"{hours:.2f} h from the first stage's output to this report (pauses included)",
        ],
    ]


def _details(summary_html: str, body: str, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary>{summary_html}</summary>{body}</details>"


def render_report(data: dict, folder: Path) -> None:
    """report.md, report.html (self-contained: figures inline) and the PNG figures, from the
    report's data alone (what collect_report returns and summary.json holds)."""
    summary = data["summary"]
    regime = data.get("regime")
    paper = bool(regime and regime["matches"])
    forests = plot_forests(summary, folder)
    sweeps = plot_sweeps(data, folder)
    curves = plot_learning_curves(data, folder)
    findings = study_findings(summary, regime)
    claims = claim_lines(summary, paper)
    prov = provenance_rows(data)
    diags = data.get("diagnostics", {})
    diag_keys = list(dict.fromkeys(k for d in diags.values() for k in d))
    diag_rows = [["measure", *diags]] + [  # one column per corpus: stays narrow
        [diagnostic_label(k), *[_fmt(d.get(k), 3) for d in diags.values()]] for k in diag_keys
    ]
    sub_tables = {
        t: subtask_table(summary, t) for t, subs in summary["subtasks"].items() if len(subs) > 1
    }
    samples = data.get("samples", [])
    rel = summary["relative_tasks"]
    one_seed = single_seed(summary)
    banner = (
        f"**Single seed.** {_seeds_text(summary)}: the CIs hold item noise only, so a star "
        f"({ITEM_ONLY}) says the items, not the seeds, make the difference."
        if one_seed
        else ""
    )
    legend_common = (
        f"Values: mean over seeds of each seed's best checkpoint (mean-max, the paper's rule); "
        "accuracies in %, their differences in percentage points; ↑ higher is better, ↓ lower "
        f"is better. 95% bootstrap CIs (B = {summary['bootstrap_samples']}, resampling "
        f"{summary['resample']}: {summary['resampling']}; {_seeds_text(summary)}). * the 95% CI "
        "of the difference excludes 0, ** the 99% CI does (two-sided)"
        + (f"; {ITEM_ONLY} item-only: seed variance is not in the CI" if item_only(summary) else "")
        + ". Digits: as many as the CI supports. mu-Delta-REL: the mean relative improvement over "
        f"{', '.join(rel) if rel else 'no task'} (the tasks whose score is a positive proportion); "
        "correlations and R² gains are compared by absolute differences only, and perplexity is "
        "left out as in the paper."
    )
    md_note = (
        "Each cell: the score, then in parentheses Δ, the difference from the baseline, with its "
        "95% CI (for the baseline: the CI of its score). " + legend_common
    )
    html_note = (
        "Each cell: the score; below it Δ, the difference from the baseline, with its 95% CI "
        "(for the baseline: the CI of its score); green: a significant gain, red: a significant "
        "loss (lower perplexity is a gain). " + legend_common
    )
    claims_note = (
        "Each line is computed from the study's numbers: supported where the 95% CI of the "
        "needed differences excludes 0 in the claimed direction, contradicted where it "
        'excludes 0 in the other, inconclusive where it spans 0; "not testable here" where the '
        'study has nothing to test it with, "not run" where its task was not evaluated. "Best" '
        f"is among the main methods ({', '.join(summary['main_methods'])}), each pair compared "
        "on the same resamples."
    )
    forest_note = (
        "Each method's difference from the baseline with its 95% CI, in the table's units; each "
        "method in its own colour (the same in every figure); a filled marker: the CI excludes 0."
    )
    power_note = (
        "What would settle each comparison: the standard deviation across seeds of a seed's "
        "difference from the baseline (paired by seed number), and the number of seeds at which "
        "a paired t over seeds (the seeds scheme's test) finds the observed difference with 80% "
        "power at the 5% level, if that difference is the true one. Measured, not guessed: a "
        "rough guide with few seeds, since the spread itself is estimated from them."
    )
    sel_note = (
        "Selection check: mean-max picks each seed's best checkpoint on the very items it "
        "reports, which favours noisy methods. Here: mean-max / the score when each seed's "
        "checkpoint is chosen on one half of the items and reported on the other half (a "
        "fixed split of item ids, the same for every run), with that held-out score's "
        "difference from the baseline's."
    )
    models_note = (
        "GOOD, the amateurs and what each method trained on, read from the checkpoints: "
        "epochs of real text = real rows seen / blocks in the real train split (means over "
        "seeds); held-out loss in nats per token on the eval split."
    )
    sweep_note = (
        "One figure per sweep, as the paper's Figures 2 and 3: mu-Delta-REL (%, ↑) and "
        "perplexity (↓) of each swept condition with 95% CIs; the dashed line is the baseline "
        "(mu-Delta-REL is 0 there by definition; its perplexity band is its 95% CI)."
    )

    def claim_md(c):
        s = f"- **{c['verdict']}**: {c['text']} - {c['evidence']}"
        return s + (f" (paper: {c['paper']})" if c.get("paper") else "")

    md = ["# cdsynth study report", ""]
    md += [banner, ""] if banner else []
    md += ["## What this study found", "", findings, ""]
    md += ["## Provenance", "", md_table(prov), ""]
    md += ["## Main results (Table 2)", "", md_note, "", md_table(main_table(summary, True)), ""]
    md += ["## The paper's claims", "", claims_note, ""]
    md += [claim_md(c) for c in claims]
    md += ["", "## Differences from the baseline", "", forest_note, ""]
    md += [f"![{f}]({f})" for f in forests]
    if power_table(summary):
        md += ["", "### Power: the seeds each comparison needs", "", power_note, ""]
        md += [md_table(power_table(summary)), ""]
    md += ["", "### Selection check", "", sel_note, "", md_table(selection_table(summary)), ""]
    for t, rows in sub_tables.items():
        md += [f"### {t} by subtask", "", md_table(rows), ""]
    if sweeps:
        md += ["## Sweeps", "", sweep_note, ""] + [f"![{f}]({f})" for f in sweeps] + [""]
    md += ["## Learning curves", ""] + [f"![{f}]({f})" for f in curves] + [""]
    md += ["## GOOD, BAD and the training data", "", models_note, ""]
    md += [md_table(data["models"]), "", md_table(data["training_data"]), ""]
    md += ["## Synthetic corpora", "", md_table(diag_rows), "", "### Samples", ""]
    md += [sample_md(s) + "\n" for s in samples]
    write_text(folder / "report.md", "\n".join(md) + "\n")

    def img(name):
        b64 = base64.b64encode((folder / name).read_bytes()).decode()
        return f'<figure><img alt="{name}" src="data:image/png;base64,{b64}"/></figure>'

    def claim_html(c):
        paper_s = (
            f"<span class='paper'>paper: {html.escape(c['paper'])}</span>" if c.get("paper") else ""
        )
        cls = c["verdict"].split()[0]
        return (
            f"<li><span class='verdict {cls}'>{html.escape(c['verdict'])}</span>"
            f"{html.escape(c['text'])}<span class='ev'>{html.escape(c['evidence'])}</span>"
            f"{paper_s}</li>"
        )

    def note(text):
        return _details("How to read this", f"<p class='note'>{html.escape(text)}</p>")

    parts = [page_head("cdsynth report") + "<h1>cdsynth study report</h1>"]
    if banner:
        parts.append(f"<p class='banner'>{html.escape(banner.replace('**', ''))}</p>")
    parts += [
        "<h2>What this study found</h2>",
        f"<p class='findings'>{html.escape(findings)}</p>",
        "<h2>Provenance</h2>",
        html_table(prov, "kv"),
        "<h2>Main results (Table 2)</h2>",
        note(html_note),
        table2_html(summary),
        "<h2>The paper's claims</h2>",
        note(claims_note),
        "<ul class='claims'>" + "".join(claim_html(c) for c in claims) + "</ul>",
        "<h2>Differences from the baseline</h2>",
        note(forest_note),
        "<div class='forest'>" + "".join(img(f) for f in forests) + "</div>",
    ]
    if power_table(summary):
        rows = power_table(summary)
        parts += [
            "<h3>Power: the seeds each comparison needs</h3>",
            note(power_note),
            _details(f"{len(rows) - 1} comparisons", html_table(rows)),
        ]
    parts += [
        "<h3>Selection check</h3>",
        note(sel_note),
        html_table(selection_table(summary)),
    ]
    for t, rows in sub_tables.items():
        parts.append(
            _details(f"{html.escape(t)} by subtask ({len(rows) - 1} subtasks)", html_table(rows))
        )
    if sweeps:
        parts += ["<h2>Sweeps</h2>", note(sweep_note)] + [img(f) for f in sweeps]
    parts += ["<h2>Learning curves</h2>"] + [img(f) for f in curves]
    parts += ["<h2>GOOD, BAD and the training data</h2>", note(models_note)]
    parts += [html_table(data["models"]), html_table(data["training_data"])]
    any_contrast = any(s.get("contrast") for s in samples)
    sample_parts = []
    for cond in dict.fromkeys(s["condition"] for s in samples):
        sample_parts.append(f"<h4>{html.escape(cond)}</h4>")
        sample_parts += [sample_html(s) for s in samples if s["condition"] == cond]
    parts += [
        "<h2>Synthetic corpora</h2>",
        html_table(diag_rows),
        _details(
            "Samples: three completions per condition",
            "<p>Drawn at random across corpus sources and prefixes; the prefix (the start of a "
            "corpus document) is set apart from the generated text; special tokens are hidden."
            "</p>" + (CONTRAST_LEGEND if any_contrast else "") + "".join(sample_parts),
        ),
        "</body></html>",
    ]
    write_text(folder / "report.html", "\n".join(parts))


def write_report(cfg: ExperimentConfig, methods: dict[str, list[str]], log=print) -> Path:
    """Collect the study's numbers into summary.json (with the resolved config beside it as
    config.yaml), then render report.md, report.html and the figures from that file alone."""
    import yaml

    folder = Workspace(cfg.workdir).report
    folder.mkdir(parents=True, exist_ok=True)
    data = collect_report(cfg, methods)
    write_text(
        folder / "config.yaml", yaml.safe_dump(data["provenance"]["config"], sort_keys=False)
    )
    write_json(folder / "summary.json", data)
    render_report(read_json(folder / "summary.json"), folder)
    log(md_table(data["table"]))
    log(f"report: {folder / 'report.md'} and {folder / 'report.html'}")
    return folder


MAIN_TABLE_HEADINGS = ("## Main results (Table 2)", "## Table 2")


def printed_summary(cfg: ExperimentConfig) -> str:
    """What a finished study prints: the report's main table and where the report is (read
    from the report on disk, for a run in which the report stage was already done)."""
    folder = Workspace(cfg.workdir).report
    md = (folder / "report.md").read_text(encoding="utf-8").split("\n")
    # "## Table 2": a report written before the main table was renamed (same stage hash)
    start = next(i for i, line in enumerate(md) if line in MAIN_TABLE_HEADINGS)
    end = next((i for i in range(start + 1, len(md)) if md[i].startswith("#")), len(md))
    table = [line for line in md[start + 1 : end] if line.startswith("|")]
    return "\n".join([*table, f"report: {folder / 'report.md'} and {folder / 'report.html'}"])
