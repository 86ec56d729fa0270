"""The study's report: the paper's claims, forest plots, Table 2, learning curves, sweeps,
the selection check and the synthetic corpora.

    write_report(cfg, methods)   # workdir/report/{report.md, report.html, *.png, summary.json}

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
# paper's configuration (see `is_paper_configuration`).
PAPER_FIGURES = {
    "above_baseline:entity_tracking": "CD-Early-500 30.38 vs baseline 27.82 (+2.56)",
    "above_baseline:ewok": "CD-Early-500 53.80, EWoK +5.28%",
    "best:perplexity": "No-Contrast 23.56, the best perplexity of Table 2 (-0.86%)",
    "best:blimp": "No-Contrast 72.09, the best BLiMP of Table 2 (+0.70%)",
    "best:mu_delta_rel": "CD-Early-500 +4.90%, the best mu-Delta-REL of the main conditions",
}

# how a metric is shown: (scale, unit) - accuracies in percent, as in the paper's tables
UNITS = {
    "accuracy": (100.0, "acc. %"),
    "perplexity": (1.0, "perplexity"),
    "spearman": (1.0, "Spearman rho"),
    "reading_gain": (1.0, "R2 gain x 100"),
    "r2_gain": (1.0, "R2 gain x 100"),
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
    return out


def load_items(run_dir: Path, step: int, task: str) -> list[dict]:
    """A checkpoint's item rows for a task ([] where the file is missing)."""
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


def is_paper_configuration(cfg: ExperimentConfig) -> bool:
    """The study trains the paper's GOOD model shape (preset paper-good) on a real corpus:
    configs/paper.yaml and its variants; the paper's figures are comparable only then."""
    return cfg.train.model.preset == "paper-good" and cfg.corpus.source != "storyworld"


def summarize(cfg: ExperimentConfig, methods: dict[str, list[str]]) -> dict:
    """Mean-max scores per method and task with bootstrap CIs, comparisons with the
    baseline, relative improvements, mu-Delta-REL, pairwise comparisons of the main methods,
    the held-out selection check and the claims' verdicts."""
    root = Workspace(cfg.workdir).runs
    st = cfg.study
    scores = {m: {run: load_scores(root / run) for run in runs} for m, runs in methods.items()}
    tasks = [
        t for t in cfg.evaluate.tasks if any(t in s for r in scores.values() for s in r.values())
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
            rows[m][t] = cell
    rel_tasks = [
        t
        for t in tasks
        if analysis.relative_defined(metrics[t]) and t not in analysis.LOWER_IS_BETTER
    ]
    mu_samples: dict = {}
    for m in methods:
        if m == "baseline":
            rows[m]["mu_delta_rel"] = None
            continue
        rel = {t: rows[m][t].get("relative", float("nan")) for t in rel_tasks}
        used = [t for t, v in rel.items() if math.isfinite(v)]
        mu = {"value": analysis.mu_delta_rel(rel, exclude=()), "tasks": used}
        if used and all(m in boots[t] and "baseline" in boots[t] for t in used):
            samp = analysis.mu_delta_rel_samples(
                {t: boots[t][m].samples for t in used},
                {t: boots[t]["baseline"].samples for t in used},
                {t: False for t in used},
            )
            mu_samples[m] = samp
            ci = analysis._percentile_ci(samp)
            ci99 = analysis._percentile_ci(samp, 0.99)
            mu.update(
                ci=list(ci),
                p=analysis.two_sided_p(samp),
                mark=analysis.significance_mark(ci, ci99),
                direction=analysis.effect_direction(mu["value"], ci),
            )
        rows[m]["mu_delta_rel"] = mu
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


def _curve(scores_by_run: dict, task: str) -> dict:
    """{step: mean score over seeds}."""
    steps: dict = {}
    for per_task in scores_by_run.values():
        for step, s in per_task.get(task, {}).items():
            steps.setdefault(step, []).append(s["score"])
    return {k: float(np.mean(v)) for k, v in sorted(steps.items())}


# --- samples --------------------------------------------------------------------------------


# --- figures ----------------------------------------------------------------------------------


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(cfg, methods, summary, folder: Path) -> list[str]:
    plt = _plt()
    names = []
    fig, ax = plt.subplots(figsize=(6, 4))
    for m, runs in methods.items():
        rows = []
        for run in runs:
            f = Workspace(cfg.workdir).run(run) / "metrics.jsonl"
            if f.is_file():
                rows += [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
        pts: dict = {}
        for r in rows:
            if "eval_loss" in r:
                pts.setdefault(r["step"], []).append(r["eval_loss"])
        if pts:
            xs = sorted(pts)
            ax.plot(xs, [np.mean(pts[x]) for x in xs], marker="o", label=m)
    ax.set_xlabel("step"), ax.set_ylabel("eval loss (nats/token)"), ax.legend()
    ax.set_title("Eval loss during training")
    fig.tight_layout()
    fig.savefig(folder / "curve_eval_loss.png", dpi=100)
    plt.close(fig)
    names.append("curve_eval_loss.png")
    for t in summary["tasks"]:
        fig, ax = plt.subplots(figsize=(6, 4))
        for m in methods:
            c = summary["curves"][m][t]
            if c:
                ax.plot(list(c), list(c.values()), marker="o", label=m)
        ax.set_xlabel("step"), ax.set_ylabel(t), ax.legend(), ax.set_title(f"{t} over training")
        fig.tight_layout()
        fig.savefig(folder / f"curve_{t}.png", dpi=100)
        plt.close(fig)
        names.append(f"curve_{t}.png")
    return names


def sweep_groups(cfg: ExperimentConfig, key: str) -> list[list[dict]]:
    """Groups of conditions that differ only in `key` (ratio, top_k or top_p)."""

    conds = condition_specs(cfg.study)
    groups: dict = {}
    for c in conds:
        rest = json.dumps({k: v for k, v in c.items() if k not in ("name", key)}, sort_keys=True)
        groups.setdefault(rest, []).append(c)
    return [g for g in groups.values() if len({json.dumps(c.get(key)) for c in g}) > 1]


def _mu_value(row) -> float:
    mu = row.get("mu_delta_rel")
    v = mu.get("value") if isinstance(mu, dict) else mu
    return float("nan") if v is None else v


def plot_sweeps(cfg, summary, folder: Path) -> list[str]:
    plt = _plt()
    names = []
    dec = cfg.generate.decoding
    default = {"ratio": cfg.study.ratio, "top_k": dec.top_k, "top_p": dec.top_p, "lam": dec.lam}
    for key, title in (
        ("ratio", "Mixing ratio"),
        ("top_k", "Top-k truncation"),
        ("top_p", "Top-p truncation"),
        ("lam", "Contrast strength (lambda)"),
    ):
        for gi, group in enumerate(sweep_groups(cfg, key)):

            def x_of(c, key=key):
                return c[key] if c.get(key) is not None else default[key]

            group = sorted(group, key=x_of)
            xs = [x_of(c) for c in group]
            mu = [_mu_value(summary["rows"][c["name"]]) for c in group]
            fig, ax = plt.subplots(figsize=(6, 4))
            ax.plot(range(len(xs)), [100 * v for v in mu], marker="o", label="mu-Delta-REL (%)")
            if "perplexity" in summary["tasks"]:
                ppl = [
                    100 * (summary["rows"][c["name"]]["perplexity"].get("relative") or math.nan)
                    for c in group
                ]
                ax.plot(range(len(xs)), ppl, marker="s", label="perplexity rel. change (%)")
            ax.set_xticks(range(len(xs)), [str(x) for x in xs])
            ax.set_xlabel(key), ax.axhline(0, color="grey", lw=0.5), ax.legend()
            ax.set_title(f"{title} sweep")
            fig.tight_layout()
            name = f"sweep_{key}_{gi}.png"
            fig.savefig(folder / name, dpi=100)
            plt.close(fig)
            names.append(name)
    return names


COLORS = {"gain": "#1a7f37", "loss": "#c62828", None: "#555555"}


def _unit(summary, task) -> tuple[float, str]:
    if task == "mu_delta_rel":
        return 100.0, "mu-Delta-REL, %"
    return UNITS.get(summary["metrics"].get(task, ""), (1.0, summary["metrics"].get(task, "")))


def plot_forests(summary, folder: Path) -> list[str]:
    """One forest plot per task and one for mu-Delta-REL: each method's difference from the
    baseline with its 95% CI (analysis.forest_data, in the table's units), a zero line."""
    plt = _plt()
    names = []
    for t, rows in analysis.forest_data(summary).items():
        if not rows:
            continue
        scale, unit = _unit(summary, t)
        n = len(rows)
        fig, ax = plt.subplots(figsize=(5.2, 0.9 + 0.38 * n))
        for i, r in enumerate(rows):
            y = n - 1 - i
            d, lo, hi = (scale * r[k] for k in ("diff", "lo", "hi"))
            col = COLORS[r["direction"]]
            if math.isfinite(lo) and math.isfinite(hi):
                ax.plot([lo, hi], [y, y], color=col, lw=2)
            if math.isfinite(d):
                ax.plot([d], [y], "o", color=col)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(n), [r["method"] for r in reversed(rows)])
        ax.set_ylim(-0.7, n - 0.3)
        better = "lower is better" if t in analysis.LOWER_IS_BETTER else "higher is better"
        title = "mu-Delta-REL" if t == "mu_delta_rel" else t
        ax.set_title(f"{title}: difference from the baseline", fontsize=10)
        ax.set_xlabel(f"{unit} ({better}); 95% CI", fontsize=8)
        fig.tight_layout()
        name = f"forest_{t}.png"
        fig.savefig(folder / name, dpi=100)
        plt.close(fig)
        names.append(name)
    return names


# --- rendering -----------------------------------------------------------------------------


def _fmt(v, digits=4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
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
    while sign and v != 0 and round(v, d) == 0 and d < 6:  # a bound near 0 keeps its side
        d += 1
    return f"{v:+.{d}f}" if sign else f"{v:.{d}f}"


def table2_cell(summary, method: str, task: str) -> dict:
    """{"value", "second", "cls", "title"}: the score on one line; the difference from the
    baseline (or, for the baseline, the score's CI) on a second; cls gain | loss | ""."""
    scale, _ = _unit(summary, task)
    row = summary["rows"][method]
    if task == "mu_delta_rel":
        mu = row.get("mu_delta_rel")
        if not mu:
            return {"value": "", "second": "", "cls": "", "title": ""}
        ci = mu.get("ci")
        d = decimals(ci, scale) if ci else 2
        ci_s = f"[{_num(scale * ci[0], d, True)}, {_num(scale * ci[1], d, True)}]" if ci else ""
        v = mu.get("value")
        return {
            "value": _num(scale * v, d, True) + "%" if v is not None and math.isfinite(v) else "-",
            "second": (ci_s + mu.get("mark", "")).strip(),
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
        second += c.get("mark", "")
    else:
        second += " (no CI)"
    if c.get("relative") is not None and math.isfinite(c["relative"]):
        title += f"; relative {100 * c['relative']:+.2f}%"
    return {"value": value, "second": second, "cls": c.get("direction") or "", "title": title}


def main_table(summary) -> list[list[str]]:
    """Table 2 as rows of one-line strings (Markdown, summary.json)."""
    head = ["method", *summary["tasks"], "mu-Delta-REL"]
    rows = [head]
    for m in summary["methods"]:
        cells = [m]
        for t in [*summary["tasks"], "mu_delta_rel"]:
            c = table2_cell(summary, m, t)
            cells.append(c["value"] + (f" ({c['second']})" if c["second"] else ""))
        rows.append(cells)
    return rows


def table2_html(summary) -> str:
    head = (
        "<th>method</th>"
        + "".join(
            f"<th>{_breakable(t)}<span class='sub'>{html.escape(_unit_label(summary, t))}"
            "</span></th>"
            for t in summary["tasks"]
        )
        + "<th>mu-Delta-REL<span class='sub'>%, over the proportion tasks</span></th>"
    )
    body = []
    for m in summary["methods"]:
        tds = [f"<td>{_breakable(m)}</td>"]
        for t in [*summary["tasks"], "mu_delta_rel"]:
            c = table2_cell(summary, m, t)
            cls = f" class='{c['cls']}'" if c["cls"] else ""
            tds.append(
                f"<td{cls} title='{html.escape(c['title'], quote=True)}'>"
                f"<span class='v'>{html.escape(c['value'])}</span>"
                f"<span class='sub'>{html.escape(c['second'])}</span></td>"
            )
        body.append("<tr>" + "".join(tds) + "</tr>")
    return (
        f"<div class='t2'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _breakable(text: str) -> str:
    """Escaped text that may wrap after an underscore or a hyphen (long task names)."""
    return html.escape(text).replace("_", "_<wbr>").replace("-", "-<wbr>")


def _unit_label(summary, task) -> str:
    unit = _unit(summary, task)[1]
    return unit + (", lower is better" if task in analysis.LOWER_IS_BETTER else "")


def md_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def html_table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_breakable(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:]
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f"<div class='scroll'>{table}</div>"


def claim_lines(summary, paper: bool) -> list[dict]:
    """The claims with the paper's figures attached where they are comparable."""
    out = []
    for c in summary["claims"]:
        c = dict(c)
        if paper and c["key"] in PAPER_FIGURES:
            c["paper"] = PAPER_FIGURES[c["key"]]
        out.append(c)
    return out


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
    "overflow-wrap:break-word}.t2 td,.t2 th{overflow-wrap:anywhere}"
    "th{background:#f3f3f3;font-weight:600}"
    "td:first-child,th:first-child{text-align:left}"
    ".t2 table{width:100%;table-layout:fixed}.t2 td:first-child,.t2 th:first-child"
    "{width:13%}.t2 .v{display:block;font-size:15px}.sub{display:block;font-size:11px;"
    "color:#555;font-weight:normal}td.gain{background:#dff3e3}td.loss{background:#fbe1e1}"
    ".scroll{overflow-x:auto;max-width:100%}img{max-width:100%}"
    ".forest{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));"
    "gap:6px}.forest figure{margin:0}ul.claims{list-style:none;padding:0}"
    "ul.claims li{margin:.4em 0}.verdict{display:inline-block;min-width:7.5em;"
    "font-weight:600}.supported{color:#1a7f37}.contradicted{color:#c62828}"
    ".inconclusive{color:#8a6d00}.ev,.paper{display:block;font-size:12px;color:#555;"
    "margin-left:7.5em}.sample{border:1px solid #ddd;padding:6px;margin:6px 0;"
    "font-family:monospace;white-space:pre-wrap;overflow-wrap:anywhere}"
    ".where{font-size:11px;color:#666}.prefix{background:#eef;padding:2px 4px}"
    ".lab{font-family:sans-serif;font-size:10px;color:#666;margin-right:6px;"
    "text-transform:uppercase}.legend{font-size:13px}"
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


def write_report(cfg: ExperimentConfig, methods: dict[str, list[str]], log=print) -> Path:
    import pyarrow.parquet as pq

    from .corpus import read_split
    from .tokenizer import load_tokenizer

    folder = Workspace(cfg.workdir).report
    folder.mkdir(parents=True, exist_ok=True)
    summary = summarize(cfg, methods)
    paper = is_paper_configuration(cfg)
    forests = plot_forests(summary, folder)
    figures = plot_learning_curves(cfg, methods, summary, folder) + plot_sweeps(
        cfg, summary, folder
    )

    corpus_dir = Workspace(cfg.workdir).corpus
    train_docs = [r["text"] for r in read_split(corpus_dir, "train")]
    train_grams = {g for t in train_docs for g in ngrams(t.split(), 8)}
    # every corpus is diagnosed on samples of one size n: the real row on n random train
    # documents (not scored for overlap with its own split), each synthetic corpus on one
    # completion of each of n prefixes, without the prefix
    synthetic_rows = {}
    for cond in study_conditions(cfg):
        path = Workspace(cfg.workdir).synthetic(cond.name) / "synthetic.parquet"
        if path.is_file():
            synthetic_rows[cond.name] = pq.read_table(path).to_pylist()
    n = min(
        [cfg.study.diagnostics_samples, len(train_docs)]
        + [len({r["prefix_id"] for r in rows}) for rows in synthetic_rows.values()]
    )
    rng = np.random.default_rng(0)
    sample = [train_docs[i] for i in sorted(rng.permutation(len(train_docs))[:n])]
    diags = {"real (train split)": corpus_diagnostics(sample, None)}
    tok = load_tokenizer(Workspace(cfg.workdir).tokenizer)
    samples_html, samples_md = [], []
    any_contrast = False
    for cond in study_conditions(cfg):
        out_dir = Workspace(cfg.workdir).synthetic(cond.name)
        path = out_dir / "synthetic.parquet"
        if not path.is_file():
            continue
        rows = synthetic_rows[cond.name]
        diag = [rows[i] for i in analysis.diagnostic_rows(rows, n)]
        texts = [tok.decode(r["token_ids"], skip_special_tokens=True) for r in diag]
        diags[cond.name] = corpus_diagnostics(
            texts, train_grams, [r["ended_with_eos"] for r in diag]
        )
        diags[cond.name].update(synthetic_totals(out_dir))
        sources = [str(r.get("source") or "corpus") for r in rows]  # recorded by generate
        picked = analysis.sample_rows(sources, [r["prefix_id"] for r in rows], 3, seed=0)
        chosen = [rows[i] for i in picked]
        contrast: list = []  # recorded during generation: the report loads no model
        if all(r.get("token_contrast") is not None for r in chosen):
            contrast = [
                [
                    (tok.decode([t]), float(c))
                    for t, c in zip(r["token_ids"], r["token_contrast"], strict=True)
                ]
                for r in chosen
            ]
        samples_html.append(f"<h4>{html.escape(cond.name)}</h4>")
        for k, (i, r) in enumerate(zip(picked, chosen, strict=True)):
            prefix = tok.decode(list(r["prefix_token_ids"]), skip_special_tokens=True)
            gen = tok.decode(list(r["token_ids"]), skip_special_tokens=True)
            where = f"source {sources[i]}, prefix {r['prefix_id']}, completion {r['completion_id']}"
            body = colored_sample(contrast[k]) if k < len(contrast) else html.escape(gen[:1500])
            any_contrast |= k < len(contrast)
            samples_html.append(
                f"<div class='sample'><div class='where'>{html.escape(where)}</div>"
                f"<div class='prefix'><span class='lab'>prefix</span>{html.escape(prefix)}</div>"
                f"<div class='gen'><span class='lab'>generated</span>{body}</div></div>"
            )
            samples_md.append(f"**{cond.name}** ({where}): prefix «{prefix}» → {gen[:600]}")
    diag_keys = list(dict.fromkeys(k for d in diags.values() for k in d))
    diag_rows = [["measure", *diags]] + [  # one column per corpus: stays narrow
        [k, *[_fmt(d.get(k), 3) for d in diags.values()]] for k in diag_keys
    ]

    models, data_seen = model_tables(cfg, methods)
    models_note = (
        "GOOD, the amateurs and what each method trained on, read from the checkpoints: "
        "epochs of real text = real rows seen / blocks in the real train split (means over "
        "seeds); held-out loss in nats per token on the eval split."
    )
    table = main_table(summary)
    sub_tables = {}
    for t, subs in summary["subtasks"].items():
        if len(subs) > 1:
            sub_tables[t] = [["subtask", *summary["methods"]]] + [
                [s, *[_fmt(_scaled(v.get(m), _unit(summary, t)[0]), 4) for m in summary["methods"]]]
                for s, v in sorted(subs.items())
            ]
    claims = claim_lines(summary, paper)
    rel = summary["relative_tasks"]
    note = (
        "Values: mean over seeds of each seed's best checkpoint (mean-max, the paper's rule); "
        "accuracies in %. Second line: the difference from the baseline with its 95% "
        f"bootstrap CI (B = {summary['bootstrap_samples']}, resampling "
        f"{summary['resample']}: {summary['resampling']}; {_seeds_text(summary)}); for the "
        "baseline, the CI of its score. * the 95% CI excludes 0, ** the 99% CI does "
        "(two-sided); green: a significant gain, red: a significant loss (lower perplexity "
        "is a gain). Digits: as many as the CI supports. mu-Delta-REL: the mean relative "
        f"improvement over {', '.join(rel) if rel else 'no task'} - the tasks whose score is "
        "a positive proportion; correlations and R2 gains, which can sit near or below zero, "
        "are compared by absolute differences only, and perplexity is left out as in the paper."
    )
    claims_note = (
        "Each line is computed from the study's numbers: supported where the 95% CI of the "
        "needed differences excludes 0 in the claimed direction, contradicted where it "
        'excludes 0 in the other, inconclusive where it spans 0. "Best" is among the '
        f"main methods ({', '.join(summary['main_methods'])}), each pair compared on the same "
        "resamples. "
        + (
            "The paper's figures (arXiv 2510.08245) stand beside ours: this study uses the "
            "paper's configuration (model preset paper-good on a real corpus)."
            if paper
            else "The paper's figures are not shown: this study is not the paper's "
            "configuration (model preset paper-good on a real corpus)."
        )
    )
    sel_note = (
        "Selection check: mean-max picks each seed's best checkpoint on the very items it "
        "reports, which favours noisy methods. Here: mean-max / the score when each seed's "
        "checkpoint is chosen on one half of the items and reported on the other half (a "
        "fixed split of item ids, the same for every run), with that held-out score's "
        "difference from the baseline's."
    )

    def claim_md(c):
        s = f"- **{c['verdict']}**: {c['text']} - {c['evidence']}"
        return s + (f" (paper: {c['paper']})" if c.get("paper") else "")

    md = ["# cdsynth study report", "", f"Workdir: `{cfg.workdir}`", ""]
    md += ["## The paper's claims", "", claims_note, ""]
    md += [claim_md(c) for c in claims] or ["(the study has none of the claims' conditions)"]
    md += ["", "## Differences from the baseline", ""] + [f"![{f}]({f})" for f in forests]
    md += ["", "## Table 2", "", note, "", md_table(table), ""]
    md += ["### Selection check", "", sel_note, "", md_table(selection_table(summary)), ""]
    for t, rows in sub_tables.items():
        md += [f"### {t} by subtask", "", md_table(rows), ""]
    md += ["## GOOD, BAD and the training data", "", models_note, "", md_table(models), ""]
    md += [md_table(data_seen), ""]
    md += ["## Figures", ""] + [f"![{f}]({f})" for f in figures]
    md += ["", "## Synthetic corpora", "", md_table(diag_rows), "", "### Samples", ""] + samples_md
    write_text(folder / "report.md", "\n".join(md) + "\n")

    def img(name):
        data = base64.b64encode((folder / name).read_bytes()).decode()
        return f'<figure><img alt="{name}" src="data:image/png;base64,{data}"/></figure>'

    def claim_html(c):
        paper_s = (
            f"<span class='paper'>paper: {html.escape(c['paper'])}</span>" if c.get("paper") else ""
        )
        return (
            f"<li><span class='verdict {c['verdict']}'>{c['verdict']}</span>"
            f"{html.escape(c['text'])}<span class='ev'>{html.escape(c['evidence'])}</span>"
            f"{paper_s}</li>"
        )

    parts = [
        page_head("cdsynth report") + "<h1>cdsynth study report</h1>",
        f"<p>Workdir: <code>{html.escape(cfg.workdir)}</code></p>",
        "<h2>The paper's claims</h2>",
        f"<p>{html.escape(claims_note)}</p>",
        "<ul class='claims'>"
        + ("".join(claim_html(c) for c in claims) or "<li>(none of the claims' conditions)</li>")
        + "</ul>",
        "<h2>Differences from the baseline</h2><div class='forest'>"
        + "".join(img(f) for f in forests)
        + "</div>",
        "<h2>Table 2</h2>",
        f"<p>{html.escape(note)}</p>",
        table2_html(summary),
        "<h3>Selection check</h3>",
        f"<p>{html.escape(sel_note)}</p>",
        html_table(selection_table(summary)),
    ]
    for t, rows in sub_tables.items():
        parts += [f"<h3>{html.escape(t)} by subtask</h3>", html_table(rows)]
    parts += ["<h2>GOOD, BAD and the training data</h2>", f"<p>{html.escape(models_note)}</p>"]
    parts += [html_table(models), html_table(data_seen)]
    parts += ["<h2>Figures</h2>"] + [img(f) for f in figures]
    parts += [
        "<h2>Synthetic corpora</h2>",
        html_table(diag_rows),
        "<h3>Samples</h3><p>Three completions per condition, drawn at random across corpus "
        "sources and prefixes; the prefix (the start of a corpus document) is set apart from the "
        "generated text.</p>",
        CONTRAST_LEGEND if any_contrast else "",
        *samples_html,
        "</body></html>",
    ]
    write_text(folder / "report.html", "\n".join(parts))
    write_json(
        folder / "summary.json",
        {
            "table": table,
            "seeds": summary["seeds"],
            "resample": summary["resample"],
            "summary": summary,
            "diagnostics": diags,
            "models": models,
            "training_data": data_seen,
        },
    )
    log(md_table(table))
    log(f"report: {folder / 'report.md'} and {folder / 'report.html'}")
    return folder


def printed_summary(cfg: ExperimentConfig) -> str:
    """What a finished study prints: the report's Table 2 and where the report is (read from
    the report on disk, for a run in which the report stage was already done)."""
    folder = Workspace(cfg.workdir).report
    md = (folder / "report.md").read_text(encoding="utf-8").split("\n")
    start = md.index("## Table 2")
    end = next((i for i in range(start + 1, len(md)) if md[i].startswith("#")), len(md))
    table = [line for line in md[start + 1 : end] if line.startswith("|")]
    return "\n".join([*table, f"report: {folder / 'report.md'} and {folder / 'report.html'}"])
