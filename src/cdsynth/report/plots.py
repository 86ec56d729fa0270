"""The report's figures, drawn from summary.json's data alone: forest plots (each method's
difference from the baseline with its 95% CI), the sweeps (as the paper's Figures 2 and 3)
and the learning curves (the main methods, mean over seeds with a min-max band; each sweep
in a small panel of its own). PNG at DPI dots per inch; no text under FONT_PT points, no
legend over the data.

    method_styles(summary)                 # {method: {"color", "marker"}}: one per method
    plot_forests(summary, folder)          # ["forest_<task>.png", ...]
    plot_sweeps(data, folder)              # ["sweep_<key>_<i>.png", ...]
    plot_learning_curves(data, folder)     # (["curve_<task>.png"], ["curve_sweeps_<task>.png"])
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..claims import forest_data
from ..decoding_rules import setting_is_off
from ..tasks import LOWER_IS_BETTER, task_label
from .tables import unit_of

DPI = 160
FONT_PT = 8  # the smallest text in any figure: >= 10 px on a 1280 px screen (tests check)

# The main methods' colours: Okabe-Ito without its green and vermillion (the tables' gain and
# loss colours), then Paul Tol's dark yellow and further colour-blind-safe hues; the baseline
# black. A sweep's conditions take their base method's hue, lighter, each with its own marker.
METHOD_PALETTE = ["#0072B2", "#E69F00", "#CC79A7", "#56B4E9", "#997700", "#332288", "#AA4499"]
BASELINE_COLOR = "#000000"
SWEEP_MARKERS = ["s", "^", "D", "v", "P", "X", "<", ">", "p", "h"]


def _lighter(color: str, share: float) -> str:
    """`color` mixed with white: share 0 is the colour itself, 1 is white."""
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * share):02X}" for c in rgb)


def sweep_bases(summary) -> dict[str, str]:
    """{sweep condition: its base method}, from the sweeps' groups (the base: the group's
    main method)."""
    main = set(summary.get("main_methods", []))
    out: dict = {}
    for sw in summary.get("sweeps") or []:
        names = [p["method"] for p in sw["points"]]
        base = next((m for m in names if m in main), None)
        for m in names:
            if base is not None and m != base:
                out.setdefault(m, base)
    return out


def method_styles(summary) -> dict[str, dict]:
    """{method: {"color", "marker"}}, the same in every figure and different for every
    method: the baseline black, each main method a hue of its own, each sweep condition its
    base method's hue made lighter, with a marker of its own."""
    methods = summary["methods"]
    bases = sweep_bases(summary)
    own = [m for m in methods if m != "baseline" and m not in bases]
    styles = {"baseline": {"color": BASELINE_COLOR, "marker": "o"}}
    for i, m in enumerate(own):
        styles[m] = {"color": METHOD_PALETTE[i % len(METHOD_PALETTE)], "marker": "o"}
    for base in dict.fromkeys(bases.values()):
        kids = [m for m in methods if bases.get(m) == base]
        for i, m in enumerate(kids):
            share = 0.2 + 0.4 * i / max(len(kids) - 1, 1)
            styles[m] = {
                "color": _lighter(styles[base]["color"], share),
                "marker": SWEEP_MARKERS[i % len(SWEEP_MARKERS)],
            }
    return {m: styles[m] for m in methods if m in styles}


def method_colors(summary) -> dict[str, str]:
    return {m: s["color"] for m, s in method_styles(summary).items()}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": FONT_PT,
            "axes.titlesize": FONT_PT + 1,
            "axes.labelsize": FONT_PT,
            "xtick.labelsize": FONT_PT,
            "ytick.labelsize": FONT_PT,
            "legend.fontsize": FONT_PT,
            "figure.titlesize": FONT_PT + 1,
        }
    )
    return plt


def _save(fig, folder: Path, name: str) -> str:
    """The figure as a PNG of at most 128 colours (a third of the bytes; report.html holds
    every figure inline)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=DPI, format="png")
    _plt().close(fig)
    image = Image.open(buf).convert("RGB")
    image.quantize(128, Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        folder / name, optimize=True
    )
    return name


def _axis_label(summary, task) -> str:
    """'BLiMP (filtered): accuracy, % (↑ better)': the quantity, its unit and direction."""
    unit = unit_of(summary, task)[1]
    arrow = "↓ better" if task in LOWER_IS_BETTER else "↑ better"
    label = task_label(task).split(" (")[0]  # "WUG first-form share", not its gloss
    own = unit.startswith(label) or task == "mu_delta_rel"
    text = f"{unit} ({arrow})" if own else f"{label}: {unit} ({arrow})"
    return text if len(text) <= 40 else text.replace(": ", ":\n", 1)


def _plot_bands(ax, points: dict, scale: float, styles: dict, bands: bool = True) -> int:
    """Mean over seeds per step, with a min-max band (`bands`); methods with fewer than 2
    points are skipped. A band carries gid "band" (the legend names it once)."""
    from matplotlib.ticker import MaxNLocator

    drawn = 0
    for m, by_step in points.items():
        steps = sorted(by_step, key=int)
        if len(steps) < 2:
            continue
        st = styles.get(m, {"color": "#444444", "marker": "o"})
        xs = [int(s) for s in steps]
        vals = [np.asarray(by_step[s], dtype=float) * scale for s in steps]
        mean = [v.mean() for v in vals]
        ax.plot(xs, mean, marker=st["marker"], ms=3.5, lw=1.4, color=st["color"], label=m)
        if bands and any(len(v) > 1 for v in vals):
            band = ax.fill_between(
                xs, [v.min() for v in vals], [v.max() for v in vals], color=st["color"], alpha=0.12
            )
            band.set_gid("band")
        drawn += 1
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
    return drawn


def _curve_points(data: dict) -> list[tuple[str, dict]]:
    """[(task, {method: {step: [score of each seed]}})]: the held-out loss, then each task."""
    summary = data["summary"]
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
    return panels


def _curve_axes(ax, summary, t):
    ax.set_xlabel("training step")
    ax.set_ylabel(
        "held-out loss, nats/token (↓ better)" if t == "eval_loss" else _axis_label(summary, t)
    )
    if t != "eval_loss" and unit_of(summary, t)[1] == "perplexity":
        # log scale: early checkpoints' perplexity would flatten the end, where methods differ
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(10, subs=(1, 1.5, 2, 3, 5, 7)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())


def plot_learning_curves(data: dict, folder: Path) -> tuple[list[str], list[str]]:
    """Held-out loss and each task over training steps. One figure per task with the main
    methods (mean over seeds, a band from the lowest to the highest seed; the legend beside
    the plot), and one with a small panel per sweep (its conditions' means and the
    baseline's); a figure only where some method has 2 or more points."""
    from matplotlib.patches import Patch

    plt = _plt()
    summary = data["summary"]
    styles = method_styles(summary)
    main = summary.get("main_methods") or summary["methods"]
    sweeps = [sw for sw in summary.get("sweeps") or [] if len(sw["points"]) > 1]
    names, sweep_names = [], []
    for t, pts in _curve_points(data):
        scale = 1.0 if t == "eval_loss" else unit_of(summary, t)[0]
        title = "Held-out loss" if t == "eval_loss" else task_label(t)
        fig, ax = plt.subplots(figsize=(7.6, 3.4), layout="constrained")
        if not _plot_bands(ax, {m: pts[m] for m in main if m in pts}, scale, styles):
            plt.close(fig)
            continue
        _curve_axes(ax, summary, t)
        ax.set_title(f"{title} over training, main methods")
        handles, labels = ax.get_legend_handles_labels()
        if any(c.get_gid() == "band" for c in ax.collections):
            handles.append(Patch(color="#777777", alpha=0.3))
            labels.append("band: lowest to\nhighest seed")
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        names.append(_save(fig, folder, f"curve_{t}.png"))
        if not sweeps:
            continue
        cols = min(3, len(sweeps))
        rows = math.ceil(len(sweeps) / cols)
        fig, axes = plt.subplots(
            rows, cols, figsize=(3.8 * cols, 3.3 * rows), layout="constrained", squeeze=False
        )
        drawn = 0
        for ax, sw in zip(axes.flat, sweeps, strict=False):
            group = ["baseline"] + [p["method"] for p in sw["points"]]
            drawn += _plot_bands(
                ax, {m: pts[m] for m in group if m in pts}, scale, styles, bands=False
            )
            base = next((p["method"] for p in sw["points"] if p["method"] in main), "")
            ax.set_title(f"{sw['title'].split(' (')[0]}, {base}")
            _curve_axes(ax, summary, t)
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
        for ax in axes.flat[len(sweeps) :]:
            ax.set_axis_off()
        fig.suptitle(f"{title} over training, each sweep (mean over seeds; no bands)")
        if drawn:
            sweep_names.append(_save(fig, folder, f"curve_sweeps_{t}.png"))
        else:
            plt.close(fig)
    return names, sweep_names


def sweep_tick(key: str, x) -> str:
    """A sweep point's x-axis label: its value, with " (off)" where the value turns the swept
    setting off (the rules say which: decoding_rules.setting_is_off), e.g. top_p "1.0 (off)"."""
    return f"{x} (off)" if setting_is_off(key, x) else f"{x}"


def plot_sweeps(data: dict, folder: Path) -> list[str]:
    """One figure per sweep, as the paper's Figures 2 and 3: mu-Delta-REL (and perplexity
    where evaluated) against the swept value, 95% CIs, the baseline as a reference line (its
    CI a grey band, in the legend); each point in its condition's colour and marker."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    plt = _plt()
    summary = data["summary"]
    rows = summary["rows"]
    styles = method_styles(summary)
    names = []
    for i, sw in enumerate(summary.get("sweeps") or []):
        pts = [p for p in sw["points"] if p["method"] in rows]
        if len(pts) < 2:
            continue
        xs = list(range(len(pts)))
        panels = ["mu_delta_rel"] + [t for t in summary["tasks"] if t in LOWER_IS_BETTER]
        fig, axes = plt.subplots(
            1, len(panels[:2]), figsize=(5.2 * len(panels[:2]), 3.8), layout="constrained"
        )
        axes = np.atleast_1d(axes)
        for ax, t in zip(axes, panels[:2], strict=False):
            scale = unit_of(summary, t)[0]
            vals = []
            for x, p in zip(xs, pts, strict=True):
                if t == "mu_delta_rel":
                    c = rows[p["method"]].get("mu_delta_rel") or {}
                    v, ci = c.get("value"), c.get("ci")
                else:
                    c = rows[p["method"]].get(t, {})
                    v, ci = c.get("value"), c.get("value_ci")
                v = math.nan if v is None else scale * v
                vals.append(v)
                st = styles.get(p["method"], {"color": "#444444", "marker": "o"})
                lo = v - scale * ci[0] if ci else 0.0
                hi = scale * ci[1] - v if ci else 0.0
                ax.errorbar(
                    [x], [v], yerr=[[lo], [hi]], fmt=st["marker"], color=st["color"], capsize=3
                )
            ax.plot(xs, vals, color="#999999", lw=0.8, zorder=0)
            handles = [
                Line2D([], [], color="#555555", marker="o", label="condition, 95% CI"),
            ]
            if t == "mu_delta_rel":
                ax.axhline(0, color=BASELINE_COLOR, lw=1, ls="--")
                handles.append(
                    Line2D(
                        [], [], color=BASELINE_COLOR, ls="--", label="baseline (0 by definition)"
                    )
                )
            else:
                b = rows["baseline"].get(t, {})
                if b.get("value") is not None:
                    ax.axhline(scale * b["value"], color=BASELINE_COLOR, lw=1, ls="--")
                    handles.append(Line2D([], [], color=BASELINE_COLOR, ls="--", label="baseline"))
                    if b.get("value_ci"):
                        ax.axhspan(
                            scale * b["value_ci"][0],
                            scale * b["value_ci"][1],
                            color=BASELINE_COLOR,
                            alpha=0.08,
                            gid="band",
                        )
                        handles.append(
                            Patch(color=BASELINE_COLOR, alpha=0.15, label="baseline's 95% CI")
                        )
            ax.set_xticks(xs, [sweep_tick(sw["key"], p["x"]) for p in pts])
            ax.set_xlabel(sw["title"])
            ax.set_ylabel(_axis_label(summary, t))
            ax.legend(
                handles=handles,
                loc="upper center",
                bbox_to_anchor=(0.5, -0.2),
                ncol=2,
                frameon=False,
            )
        main = set(summary.get("main_methods", []))
        base = next((p["method"] for p in pts if p["method"] in main), pts[0]["method"])
        fig.suptitle(f"{sw['title']} sweep of {base}")
        names.append(_save(fig, folder, f"sweep_{sw['key']}_{i}.png"))
    return names


def plot_forests(summary, folder: Path) -> list[str]:
    """One forest plot per task and one for mu-Delta-REL: each method's difference from the
    baseline with its 95% CI (claims.forest_data, in the table's units), a zero line; each
    method in its own colour and marker, the marker filled where the CI excludes 0."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    plt = _plt()
    styles = method_styles(summary)
    names = []
    for t, rows in forest_data(summary).items():
        if not rows:
            continue
        scale, unit = unit_of(summary, t)
        n = len(rows)
        fig, ax = plt.subplots(figsize=(5.6, 1.7 + 0.3 * n), layout="constrained")
        for i, r in enumerate(rows):
            y = n - 1 - i
            d, lo, hi = (scale * r[k] for k in ("diff", "lo", "hi"))
            st = styles.get(r["method"], {"color": "#444444", "marker": "o"})
            if math.isfinite(lo) and math.isfinite(hi):
                ax.plot([lo, hi], [y, y], color=st["color"], lw=2)
            if math.isfinite(d):
                face = st["color"] if r["direction"] else "white"
                ax.plot([d], [y], st["marker"], color=st["color"], mfc=face, ms=6.5)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(n), [r["method"] for r in reversed(rows)])
        ax.set_ylim(-0.7, n - 0.3)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        lower = t in LOWER_IS_BETTER
        better = "← better (lower)" if lower else "better (higher) →"
        title = "mu-Delta-REL" if t == "mu_delta_rel" else task_label(t)
        ax.set_title(f"{title}: Δ from the baseline")
        if t == "mu_delta_rel":
            what = "mu-Delta-REL, %"
        else:
            what = f"Δ {unit}".replace(", %", ", points")
        ax.set_xlabel(f"{what}; {better}")
        handles = [
            Line2D([], [], color="#444444", marker="o", lw=2, label="95% CI excludes 0"),
            Line2D([], [], color="#444444", marker="o", mfc="white", lw=2, label="CI spans 0"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
        names.append(_save(fig, folder, f"forest_{t}.png"))
    return names
