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

from ..tasks import LOWER_IS_BETTER, run_tasks, task_label, task_unit

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
    """A difference's unit: percentage points for scores in % (mu-Delta-REL included)."""
    unit = unit_of(summary, task)[1]
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
    """v with d decimals (None: 3 significant digits, 4 unsigned); a sign where `sign`; an
    exact 0, or the float noise of one (equal means), reads 0."""
    if v is None or not math.isfinite(v):
        return "-"
    if abs(v) < 1e-9:
        return "0"
    if d is None:
        return f"{v:+.3g}" if sign else f"{v:.4g}"
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


def compact_tasks(summary, most: int = 6) -> list[str]:
    """Table 2's key columns: the lower-is-better scores (perplexity), the tasks
    mu-Delta-REL is over and the run-level scores (AoA's correlation), in the table's order
    (at most `most`)."""
    keep = set(summary.get("relative_tasks", [])) | set(LOWER_IS_BETTER)
    keep |= {t.name for t in run_tasks()}
    return [t for t in summary["tasks"] if t in keep][:most]


def main_table(
    summary, arrows: bool = False, methods=None, tasks=None, mus=None
) -> list[list[str]]:
    """Table 2 as rows of one-line strings (summary.json; with `arrows`, the Markdown report's
    headers: each task's direction and unit); every method, task and mu-Delta-REL column
    unless given."""
    mus = mu_columns(summary) if mus is None else mus
    tasks = summary["tasks"] if tasks is None else tasks
    head = ["method", *tasks, *(MU_COLUMNS[c] for c in mus)]
    if arrows:
        head = (
            ["method"]
            + [f"{t} {arrow(t)} ({unit_of(summary, t)[1]})" for t in tasks]
            + [f"{MU_COLUMNS[c]} ↑ (%)" for c in mus]
        )
    rows = [head]
    for m in summary["methods"] if methods is None else methods:
        cells = [m]
        for t in [*tasks, *mus]:
            c = table2_cell(summary, m, t)
            cells.append(c["value"] + (f" ({c['second']})" if c["second"] else ""))
        rows.append(cells)
    return rows


def compact_table(summary, arrows: bool = False) -> list[list[str]]:
    """Table 2's key columns (`compact_tasks`, our mu-Delta-REL) for the main methods."""
    return main_table(
        summary, arrows, summary["main_methods"], compact_tasks(summary), ["mu_delta_rel"]
    )


MU_HEADS = {
    "mu_delta_rel": "%, over the proportion tasks",
    "mu_delta_rel_paper": "%, with the paper's WUG",
}


def table2_html(summary, compact: bool = False) -> str:
    """Table 2 in HTML: the compact table (the main methods, `compact_tasks` and our
    mu-Delta-REL: fits a 1280 px screen) or the full one (every method, task and
    mu-Delta-REL; wider screens scroll it). On a phone both become one card per method."""
    tasks = compact_tasks(summary) if compact else summary["tasks"]
    mus = ["mu_delta_rel"] if compact else mu_columns(summary)
    methods = summary["main_methods"] if compact else summary["methods"]
    heads = {t: (f"{breakable(t)} {arrow(t)}", unit_of(summary, t)[1]) for t in tasks}
    heads.update({c: ("mu-<wbr>Delta-<wbr>REL ↑", MU_HEADS[c]) for c in mus})
    head = "<th>method</th>" + "".join(
        f"<th>{name}<span class='sub'>{html.escape(sub)}</span></th>"
        for name, sub in heads.values()
    )
    body = []
    for m in methods:
        tds = [f"<td>{breakable(m)}</td>"]
        for t in [*tasks, *mus]:
            c = table2_cell(summary, m, t)
            cls = f" class='{c['cls']}'" if c["cls"] else ""
            label = (MU_COLUMNS[t] if t in MU_COLUMNS else t) + f" {arrow(t)}"
            tds.append(
                f"<td{cls} data-label='{html.escape(label, quote=True)}' "
                f"title='{html.escape(c['title'], quote=True)}'><div>"
                f"<span class='v'>{html.escape(c['value'])}</span>"
                f"<span class='sub'>{html.escape(c['second'])}</span></div></td>"
            )
        body.append("<tr>" + "".join(tds) + "</tr>")
    # the full table: wide enough that no header word breaks; narrower screens scroll it
    width = "" if compact else f" style='min-width:{9 + 8 * (len(tasks) + len(mus))}em'"
    kind = "t2 t2c compact" if compact else "t2 t2c scroll"
    return (
        f"<div class='{kind}'><table{width}>"
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
            k = unit_of(summary, t)[0]
            d = decimals(cell.get("ci"), k)
            n = cell.get("seeds_needed")
            unit = diff_unit(summary, t)
            rows.append(
                [
                    m,
                    task_label(t),
                    fmt_num(cell["diff"] * k, d, True) + unit,
                    fmt_num(cell["seed_sd"] * k, d) + unit,
                    "more than 1000" if n is None else str(n),
                ]
            )
    return rows if len(rows) > 1 else []


def score_decimals(summary, method: str, task: str) -> int | None:
    """The decimals Table 2 gives a method's score on a task (from its CI)."""
    c = summary["rows"].get(method, {}).get(task) or {}
    return decimals(c.get("value_ci") or c.get("ci"), unit_of(summary, task)[0])


def selection_table(summary) -> list[list[str]]:
    """Per main method and task: the mean-max score / the held-out one (each seed's
    checkpoint chosen on one half of the items, scored on the other), with the held-out
    score's difference from the baseline's; digits as Table 2 gives the score."""
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
            k, d = unit_of(summary, t)[0], score_decimals(summary, m, t)
            s = f"{fmt_num(scaled(c['mean_max'], k), d)} / {fmt_num(scaled(c['held_out'], k), d)}"
            if c["held_out_diff"] is not None:
                s += f" (Δ {fmt_num(scaled(c['held_out_diff'], k), d, True)})"
            cells.append(s)
        rows.append(cells)
    return rows


def selection_gaps(summary, share: float = 0.5) -> list[str]:
    """The tasks where mean-max and the held-out choice disagree most: a main method's
    held-out score further than `share` of its mean-max score from it, e.g. "reading
    self-paced: baseline 24.6 by mean-max, 3.3 held out"."""
    out = []
    check = summary.get("selection_check", {})
    for t in summary["tasks"]:
        worst = None
        for m in summary["main_methods"]:
            c = check.get(m, {}).get(t)
            if not c or c["mean_max"] is None or c["held_out"] is None:
                continue
            gap = abs(c["mean_max"] - c["held_out"])
            if abs(c["mean_max"]) > 0 and gap > share * abs(c["mean_max"]):
                if worst is None or gap > worst[0]:
                    worst = (gap, m, c)
        if worst:
            _, m, c = worst
            k, d = unit_of(summary, t)[0], score_decimals(summary, m, t)
            out.append(
                f"{task_label(t)}: {m} {fmt_num(k * c['mean_max'], d)} by mean-max, "
                f"{fmt_num(k * c['held_out'], d)} held out"
            )
    return out


def subtask_table(summary, task: str) -> list[list[str]]:
    """A task's subtasks: the baseline's score, each method's score and difference from it,
    and the mean difference over the methods; rows sorted by that mean (largest gain first)."""
    scale, _ = unit_of(summary, task)
    lower = task in LOWER_IS_BETTER
    others = [m for m in summary["methods"] if m != "baseline"]
    subs = summary["subtasks"][task]
    dd = score_decimals(summary, "baseline", task)  # a subtask has fewer items: no more digits
    rows = []
    for sub, v in subs.items():
        base = v.get("baseline")
        deltas = [v[m] - base for m in others if base is not None and v.get(m) is not None]
        mean_d = float(np.mean(deltas)) if deltas else math.nan
        cells = [sub, fmt_num(scaled(base, scale), dd)]
        for m in others:
            d = None if base is None or v.get(m) is None else v[m] - base
            val = fmt_num(scaled(v.get(m), scale), dd)
            cells.append(val + (f" (Δ {fmt_num(scale * d, dd, True)})" if d is not None else ""))
        cells.append(fmt_num(scale * mean_d, dd, True))
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
    "eos_share": ("documents ended by EOS, %", ""),
    "distinct_1": ("distinct 1-grams, share", "↑ more diverse"),
    "distinct_2": ("distinct 2-grams, share", "↑ more diverse"),
    "distinct_3": ("distinct 3-grams, share", "↑ more diverse"),
    "repetition_4gram": ("repeated 4-grams within a document, %", "↓ less repetitive"),
    "self_bleu": ("self-BLEU-4", "↓ more diverse"),
    "overlap_8gram_train": ("8-grams also in the train split, %", "↓ less copying"),
    "segments": ("segments in the corpus", ""),
    "empty_segments": ("empty segments", ""),
    "duplicate_segments": ("duplicate segments", ""),
}


def diagnostic_label(key: str) -> str:
    name, better = DIAGNOSTIC_LABELS.get(key, (key, ""))
    return f"{name} ({better})" if better else name


def ci_method(summary) -> str:
    """The test behind the report's CIs, in a few words (provenance)."""
    B = summary["bootstrap_samples"]
    if summary["resample"] == "seeds" and not single_seed(summary):
        return f"a paired t over seeds (its percentiles from B = {B} draws)"
    if summary["resample"] == "hierarchical":
        return f"a paired bootstrap over seeds, then items within subtasks (B = {B})"
    return f"a paired bootstrap over items within subtasks, every seed kept (B = {B})"


def ci_note(summary) -> str:
    """The statistics note: the test behind the tasks' CIs and the one behind mu-Delta-REL's
    (the same resamples: `summary` computes both from one draw)."""
    B = summary["bootstrap_samples"]
    mu = (
        "mu-Delta-REL's CI comes from the same resamples: per resample, the mean over the "
        "tasks of the method's difference from the baseline divided by the baseline's score"
    )
    if summary["resample"] == "seeds" and not single_seed(summary):
        return (
            "CIs: a paired t over seeds. Each seed's score is computed on every item, and "
            "the 95% CI of Δ is the t interval of the per-seed differences (seed k of a "
            "method against seed k of the baseline; S − 1 degrees of freedom), its "
            f"percentiles read from B = {B} draws of the t distribution (so the last digit "
            "can move). A score's own CI (the baseline's row) is the t interval over its "
            f"seeds. {mu}, so it is the paired t over seeds of each seed's mean relative "
            "difference."
        )
    kind = (
        "seeds drawn with replacement, then items within subtasks"
        if summary["resample"] == "hierarchical"
        else "items within subtasks (every seed kept)"
    )
    return (
        f"CIs: a paired bootstrap, B = {B} resamples of {kind}, the same draws for every "
        f"method; the 2.5th and 97.5th percentiles of the resampled Δ. {mu}."
    )


def run_level_note(summary) -> str:
    """A sentence on the run-level scores in the study (AoA's correlation): one score per
    run over its checkpoints, so no checkpoint is chosen; "" where there are none."""
    per_run = {t.name for t in run_tasks()}
    names = [t for t in summary["tasks"] if t in per_run]
    if not names:
        return ""
    return (
        f" {', '.join(names)}: one score per run, computed over its checkpoints (no "
        "checkpoint is chosen), so the cell is the mean over seeds and its CI the paired t "
        "over seeds (none with one seed or items-only resampling); a correlation, it is "
        "compared by absolute differences and is not in mu-Delta-REL."
    )


PERCENT_SHARES = {"eos_share", "repetition_4gram", "overlap_8gram_train"}


def percent(v, d: int = 1) -> str:
    """A share (0..1) in %, e.g. 0.0119 -> "1.2%"."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{100 * v:.{d}f}%"
