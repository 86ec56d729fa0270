"""The report's tables and numbers as text: Table 2's cells (the score, its difference from
the baseline with the CI, the colour class), the power, selection-check and subtask tables,
the corpus diagnostics' labels, and Markdown / HTML tables. Pure functions of summary.json's
data; every number is computed by `summary`, every unit and direction read from `tasks`.

    table2_cell(summary, "cd-early", "blimp")   # {"value", "second", "cls", "title"}
    md_table(main_table(summary, arrows=True))
"""

from __future__ import annotations

import html
import json
import math

import numpy as np

from ..tasks import LOWER_IS_BETTER, task_label, task_unit

ITEM_ONLY = "†"


def single_seed(summary) -> bool:
    """True where some method has fewer than two seeds: its CIs hold item noise only."""
    return any(len(v) < 2 for v in summary["seeds"].values())


def item_only(summary) -> bool:
    """Significance that leaves out seed-to-seed variance: one seed, or items-only resampling."""
    return single_seed(summary) or summary.get("resample") == "items"


def mark_text(summary, mark: str | None) -> str:
    return (mark or "") + (ITEM_ONLY if mark and item_only(summary) else "")


def unit_of(summary, task) -> tuple[float, str]:
    """(scale, unit) of a task's scores (`tasks.Task.unit`), or of a mu-Delta-REL column."""
    if task in MU_COLUMNS:
        return 100.0, "mu-Delta-REL, %"
    return task_unit(task, summary["metrics"].get(task, ""))


def diff_text(summary, task, diff, ci, mark=None) -> str:
    scale, unit = unit_of(summary, task)
    d = decimals(ci, scale)
    s = f"Δ {fmt_num(None if diff is None else scale * diff, d, True)}"
    if ci:
        s += f" [{fmt_num(scale * ci[0], d, True)}, {fmt_num(scale * ci[1], d, True)}]"
    return s + mark_text(summary, mark) + diff_unit(summary, task)


def diff_unit(summary, task) -> str:
    unit = unit_of(summary, task)[1]
    if task == "mu_delta_rel":
        return " %"
    return " points" if unit.endswith("%") else ""


def value_text(summary, task, v) -> str:
    scale, unit = unit_of(summary, task)
    if v is None or not math.isfinite(v):
        return "-"
    return f"{scale * v:.4g}" + ("%" if unit.endswith("%") else "")


def fmt_value(v, digits=4) -> str:
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


def fmt_num(v, d: int | None, sign: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    if d is None:
        return f"{v:+.3g}" if sign else f"{v:.4g}"
    if abs(v) < 1e-12:  # float noise of an exact 0 (e.g. equal means): no digits to chase
        v = 0.0
    while sign and v != 0 and round(v, d) == 0 and d < 6:  # a bound near 0 keeps its side
        d += 1
    return f"{v:+.{d}f}" if sign else f"{v:.{d}f}"


MU_COLUMNS = {"mu_delta_rel": "mu-Delta-REL", "mu_delta_rel_paper": "mu-Delta-REL, paper's WUG"}


def mu_columns(summary) -> list[str]:
    """Ours, and the paper-mode variant where the study has it (WUG's first-form share in)."""
    has_paper = any((r or {}).get("mu_delta_rel_paper") for r in summary["rows"].values())
    return ["mu_delta_rel", *(["mu_delta_rel_paper"] if has_paper else [])]


def table2_cell(summary, method: str, task: str) -> dict:
    """{"value", "second", "cls", "title"}: the score on one line; the difference from the
    baseline (or, for the baseline, the score's CI) on a second; cls gain | loss | ""."""
    scale, _ = unit_of(summary, task)
    row = summary["rows"][method]
    if task in MU_COLUMNS:
        mu = row.get(task)
        if not mu:
            return {"value": "", "second": "", "cls": "", "title": ""}
        ci = mu.get("ci")
        d = decimals(ci, scale) if ci else 2
        ci_s = (
            f"[{fmt_num(scale * ci[0], d, True)}, {fmt_num(scale * ci[1], d, True)}]" if ci else ""
        )
        v = mu.get("value")
        return {
            "value": fmt_num(scale * v, d, True) + "%"
            if v is not None and math.isfinite(v)
            else "-",
            "second": (ci_s + mark_text(summary, mu.get("mark"))).strip(),
            "cls": mu.get("direction") or "",
            "title": f"over {', '.join(mu.get('tasks', [])) or 'no task'}",
        }
    c = row.get(task, {})
    vci = c.get("value_ci")
    dv = decimals(vci or c.get("ci"), scale)  # the score's CI, else the difference's
    value = fmt_num(None if c.get("value") is None else scale * c["value"], dv)
    title = ""
    if vci:
        title = (
            f"95% CI of the score [{fmt_num(scale * vci[0], dv)}, {fmt_num(scale * vci[1], dv)}]"
        )
    if method == "baseline" or c.get("diff") is None:
        second = f"[{fmt_num(scale * vci[0], dv)}, {fmt_num(scale * vci[1], dv)}]" if vci else ""
        return {"value": value, "second": second, "cls": "", "title": title}
    ci = c.get("ci")
    dd = decimals(ci, scale)
    second = f"Δ {fmt_num(scale * c['diff'], dd, True)}"
    if ci:
        second += f" [{fmt_num(scale * ci[0], dd, True)}, {fmt_num(scale * ci[1], dd, True)}]"
        second += mark_text(summary, c.get("mark"))
    else:
        second += " (no CI)"
    if c.get("relative") is not None and math.isfinite(c["relative"]):
        title += f"; relative {100 * c['relative']:+.2f}%"
    return {"value": value, "second": second, "cls": c.get("direction") or "", "title": title}


def arrow(task) -> str:
    return "↓" if task in LOWER_IS_BETTER else "↑"


def main_table(summary, arrows: bool = False) -> list[list[str]]:
    """Table 2 as rows of one-line strings (summary.json; with `arrows`, the Markdown report's
    headers: each task's direction and unit)."""
    mus = mu_columns(summary)
    head = ["method", *summary["tasks"], *(MU_COLUMNS[c] for c in mus)]
    if arrows:
        head = (
            ["method"]
            + [f"{t} {arrow(t)} ({unit_of(summary, t)[1]})" for t in summary["tasks"]]
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
            f"<th>{breakable(t)} {arrow(t)}<span class='sub'>"
            f"{html.escape(unit_of(summary, t)[1])}"
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
        tds = [f"<td>{breakable(m)}</td>"]
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


def breakable(text: str) -> str:
    """Escaped text that may wrap after an underscore or a hyphen (long task names)."""
    return html.escape(text).replace("_", "_<wbr>").replace("-", "-<wbr>")


def md_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def html_table(rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{breakable(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows[1:]
    )
    attr = f" class='{cls}'" if cls else ""
    table = f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f"<div class='scroll'>{table}</div>"


def scaled(v, k: float):
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
            k, unit = unit_of(summary, t)
            n = cell.get("seeds_needed")
            rows.append(
                [
                    m,
                    task_label(t),
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
            k = unit_of(summary, t)[0]
            s = f"{fmt_value(scaled(c['mean_max'], k))} / {fmt_value(scaled(c['held_out'], k))}"
            if c["held_out_diff"] is not None:
                s += f" (Δ {fmt_value(scaled(c['held_out_diff'], k), 3)})"
            cells.append(s)
        rows.append(cells)
    return rows


def subtask_table(summary, task: str) -> list[list[str]]:
    """A task's subtasks: the baseline's score, each method's score and difference from it,
    and the mean difference over the methods; rows sorted by that mean (largest gain first)."""
    scale, _ = unit_of(summary, task)
    lower = task in LOWER_IS_BETTER
    others = [m for m in summary["methods"] if m != "baseline"]
    subs = summary["subtasks"][task]
    rows = []
    for sub, v in subs.items():
        base = v.get("baseline")
        deltas = [v[m] - base for m in others if base is not None and v.get(m) is not None]
        mean_d = float(np.mean(deltas)) if deltas else math.nan
        cells = [sub, fmt_value(scaled(base, scale), 4)]
        for m in others:
            d = None if base is None or v.get(m) is None else v[m] - base
            val = fmt_value(scaled(v.get(m), scale), 4)
            cells.append(val + (f" (Δ {fmt_num(scale * d, None, True)})" if d is not None else ""))
        cells.append(fmt_num(scale * mean_d, None, True))
        rows.append((-mean_d if not lower else mean_d, cells))
    rows.sort(key=lambda r: (math.isnan(r[0]), r[0]))
    unit = diff_unit(summary, task).strip() or unit_of(summary, task)[1]
    head = ["subtask", "baseline", *others, f"mean Δ ({unit})"]
    return [head, *[c for _, c in rows]]


def seeds_text(summary) -> str:
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
