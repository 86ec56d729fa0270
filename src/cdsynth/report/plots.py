"""The report's figures, drawn from summary.json's data alone: forest plots (each method's
difference from the baseline with its 95% CI), the sweeps (as the paper's Figures 2 and 3)
and the learning curves (mean over seeds with a min-max band). PNG at DPI dots per inch.

    plot_forests(summary, folder)          # ["forest_<task>.png", ...]
    plot_sweeps(data, folder)              # ["sweep_<key>_<i>.png", ...]
    plot_learning_curves(data, folder)     # ["curve_<task>.png", ...]
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..claims import forest_data
from ..tasks import LOWER_IS_BETTER, task_label
from .tables import unit_of

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
    unit = unit_of(summary, task)[1]
    arrow = "↓ better" if task in LOWER_IS_BETTER else "↑ better"
    label = task_label(task)
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
        scale = 1.0 if t == "eval_loss" else unit_of(summary, t)[0]
        if not _plot_bands(ax, pts, scale, colors):
            plt.close(fig)
            continue
        ax.set_xlabel("training step")
        ax.set_ylabel(
            "held-out loss, nats/token (↓ better)" if t == "eval_loss" else _axis_label(summary, t),
            fontsize=8,
        )
        title = "Held-out loss" if t == "eval_loss" else task_label(t)
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
        panels = ["mu_delta_rel"] + [t for t in summary["tasks"] if t in LOWER_IS_BETTER]
        fig, axes = plt.subplots(1, len(panels[:2]), figsize=(5.2 * len(panels[:2]), 3.6))
        axes = np.atleast_1d(axes)
        for ax, t in zip(axes, panels[:2], strict=False):
            scale = unit_of(summary, t)[0]
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
    baseline with its 95% CI (claims.forest_data, in the table's units), a zero line; each
    method in its own colour, the marker filled where the CI excludes 0, a legend."""
    from matplotlib.lines import Line2D

    plt = _plt()
    colors = method_colors(summary["methods"])
    names = []
    for t, rows in forest_data(summary).items():
        if not rows:
            continue
        scale, unit = unit_of(summary, t)
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
        lower = t in LOWER_IS_BETTER
        better = "← better (lower)" if lower else "better (higher) →"
        title = "mu-Delta-REL" if t == "mu_delta_rel" else task_label(t)
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
