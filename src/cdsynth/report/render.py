"""The report rendered from summary.json's data alone: report.md, report.html (self-contained,
figures inline) and the PNG figures. Nothing here computes a statistic or reads a result
file; numbers come from `summary`, their text from `tables` and `findings`, figures from
`plots`.

    render_report(read_json("report/summary.json"), Path("report"))
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from ..fileio import write_text
from .findings import claim_lines, study_description, study_findings
from .plots import plot_forests, plot_learning_curves, plot_sweeps
from .tables import (
    ITEM_ONLY,
    PERCENT_SHARES,
    ci_method,
    ci_note,
    compact_table,
    diagnostic_label,
    fmt_value,
    html_table,
    item_only,
    main_table,
    md_table,
    percent,
    power_table,
    run_level_note,
    seeds_text,
    selection_gaps,
    selection_table,
    single_seed,
    subtask_table,
    table2_html,
)


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


STYLE = (
    "body{font-family:sans-serif;max-width:1220px;margin:1.5em auto;padding:0 1em;"
    "color:#222}table{border-collapse:collapse;margin:.6em 0}"
    "td,th{border:1px solid #ccc;padding:4px 6px;text-align:right;vertical-align:top;"
    "overflow-wrap:normal;word-break:normal;hyphens:none}"
    "th{background:#f3f3f3;font-weight:600}"
    "td:first-child,th:first-child,.kv td,.kv th{text-align:left}"
    ".t2 table{width:100%;table-layout:fixed}.t2 td:first-child,"
    ".t2 th:first-child{width:13%}.t2 .v{display:block;font-size:15px}.sub{display:block;"
    "font-size:11px;color:#555;font-weight:normal}.t2.compact .sub{font-size:12px}"
    "td.gain{background:#dff3e3}td.loss{background:#fbe1e1}"
    ".scroll{overflow-x:auto;max-width:100%}img{max-width:100%;height:auto}"
    "figure{margin:.4em 0;overflow-x:auto}figure img{min-width:min(100%,320px)}"
    ".forest{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(540px,100%),1fr));"
    "gap:6px}.forest figure{margin:0}ul.claims{list-style:none;padding:0}"
    "ul.claims li{margin:.6em 0}.verdict{font-weight:600;margin-right:.4em}"
    ".supported{color:#1a7f37}.contradicted{color:#c62828}"
    ".inconclusive{color:#8a6d00}.not{color:#666}.ev,.paper{display:block;font-size:13px;"
    "color:#444;margin-left:1.5em}.paper{color:#555}.sample{border:1px solid #ddd;padding:6px;"
    "margin:6px 0;font-family:monospace;white-space:pre-wrap;overflow-wrap:anywhere}"
    ".where{font-size:11px;color:#666}.prefix{background:#eef;padding:2px 4px}"
    ".lab{font-family:sans-serif;font-size:10px;color:#666;margin-right:6px;"
    "text-transform:uppercase}.legend{font-size:13px}details{margin:.4em 0}"
    "summary{cursor:pointer;color:#333;font-size:13px}.note{font-size:13px;color:#444}"
    ".banner{background:#fff4d6;border:1px solid #e0c060;padding:6px 10px}"
    ".findings{font-size:16px;line-height:1.45;margin:.3em 0;padding-left:1.4em}"
    ".findings li{margin:.25em 0}.cannot{font-size:15px;line-height:1.45;margin:.4em 0}"
    ".key{font-size:13px;color:#333;margin:.3em 0}"
    # a phone: Table 2 becomes one card per method, each score on its own line
    "@media (max-width:640px){.t2c{overflow-x:visible}.t2c table{min-width:0!important;"
    "table-layout:auto}.t2c thead{display:none}.t2c tr{display:block;border:1px solid #ccc;"
    "margin:0 0 .6em}.t2c td{display:flex;justify-content:space-between;gap:.8em;border:0;"
    "border-top:1px solid #eee;width:auto!important}.t2c td::before{content:attr(data-label);"
    "text-align:left;font-size:13px;color:#333}.t2c td:first-child{display:block;"
    "background:#f3f3f3;font-weight:600;border-top:0}.t2c td:first-child::before{content:none}"
    ".t2c td div{text-align:right}}"
)


def page_head(title: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>"
    )


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
        ["confidence intervals", f"{ci_method(data['summary'])}; resampling {p['resample']}"],
        [
            "wall time",
            "-"
            if hours is None
            else f"{hours:.2f} h from the first stage's output to this report (pauses included)",
        ],
    ]


def _details(summary_html: str, body: str, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary>{summary_html}</summary>{body}</details>"


def _percent_columns(rows: list[list[str]], names: set[str]) -> list[list[str]]:
    """A table's share columns (0..1, as text) in %."""
    cols = [i for i, h in enumerate(rows[0]) if h in names]
    out = [[c.replace("share of rows", "share of rows, %") for c in rows[0]]]
    for r in rows[1:]:
        r = list(r)
        for i in cols:
            try:
                r[i] = percent(float(r[i]))
            except ValueError:
                pass
        out.append(r)
    return out


def render_report(data: dict, folder: Path) -> None:
    """report.md, report.html (self-contained: figures inline) and the PNG figures, from the
    report's data alone (what collect_report returns and summary.json holds)."""
    summary = data["summary"]
    regime = data.get("regime")
    paper = bool(regime and regime["matches"])
    forests = plot_forests(summary, folder)
    sweeps = plot_sweeps(data, folder)
    curves, sweep_curves = plot_learning_curves(data, folder)
    findings = study_findings(summary)
    about = study_description(summary, regime)
    claims = claim_lines(summary, paper)
    prov = provenance_rows(data)
    diags = data.get("diagnostics", {})
    diag_keys = list(dict.fromkeys(k for d in diags.values() for k in d))
    diag_rows = [["measure", *diags]] + [  # one column per corpus: stays narrow
        [
            diagnostic_label(k),
            *[
                percent(d.get(k)) if k in PERCENT_SHARES else fmt_value(d.get(k), 3)
                for d in diags.values()
            ],
        ]
        for k in diag_keys
    ]
    training_data = _percent_columns(data["training_data"], {"synthetic share of rows"})
    sub_tables = {
        t: subtask_table(summary, t) for t, subs in summary["subtasks"].items() if len(subs) > 1
    }
    samples = data.get("samples", [])
    rel = summary["relative_tasks"]
    one_seed = single_seed(summary)
    banner = (
        f"**Single seed.** {seeds_text(summary)}: the CIs hold item noise only, so a star "
        f"({ITEM_ONLY}) says the items, not the seeds, make the difference."
        if one_seed
        else ""
    )
    key = (
        "Each cell: the score (mean over seeds of each seed's best checkpoint), then Δ, its "
        "difference from the baseline, with the 95% CI of Δ in brackets (the baseline's row: "
        "the CI of its score). Accuracies in %, their Δ in points; ↑ higher is better, ↓ lower. "
        "* the 95% CI of Δ excludes 0, ** the 99% CI does"
        + (f"; {ITEM_ONLY} item-only: seed variance is not in the CI" if item_only(summary) else "")
        + "."
    )
    stats_note = (
        ci_note(summary)
        + " Digits: as many as the CI supports. mu-Delta-REL: the mean relative improvement "
        f"over {', '.join(rel) if rel else 'no task'} (the tasks whose score is a positive "
        "proportion), in %; differences between two mu-Delta-REL values are in points. "
        "Correlations and R² gains are compared by absolute differences only, and perplexity "
        "is left out as in the paper. The compact table shows the main methods and the "
        "scores mu-Delta-REL is built from; the full table has every method and score."
        + run_level_note(summary)
    )
    claims_note = (
        "Each verdict is computed from the study's numbers: supported where the 95% CI of the "
        "needed differences excludes 0 in the claimed direction, contradicted where it "
        "excludes 0 in the other, inconclusive where it spans 0; for a claimed size, whether "
        'the CI includes it. "Not testable here": the study has nothing to test it with; "not '
        'run": its task was not evaluated. "Best" is among the main methods '
        f"({', '.join(summary['main_methods'])}), each pair compared on the same resamples. "
        "The paper's figure stands beside each claim, at the paper's scale."
    )
    forest_note = (
        "Each method's difference from the baseline with its 95% CI, in the table's units; each "
        "method in its own colour and marker, the same in every figure (a sweep's conditions "
        "in lighter shades of their base method's colour); a filled marker: the CI excludes 0."
    )
    power_note = (
        "What would settle each comparison: the standard deviation across seeds of a seed's "
        "difference from the baseline (paired by seed number), and the number of seeds at which "
        "a paired t over seeds finds the observed difference with 80% power at the 5% level, "
        "if that difference is the true one. Measured, not guessed: a rough guide with few "
        "seeds, since the spread itself is estimated from them."
    )
    gaps = selection_gaps(summary)
    sel_note = (
        "Selection check: mean-max picks each seed's best checkpoint on the very items it "
        "reports, which favours noisy methods. Each cell: the mean-max score / the score when "
        "each seed's checkpoint is chosen on one half of the items and reported on the other "
        "half (a fixed split of item ids, the same for every run), and in brackets that "
        "held-out score's Δ from the baseline's. No CIs: a check, not a result."
        + (
            " Where the two disagree most (the score owes much to the choice): "
            + "; ".join(gaps)
            + "."
            if gaps
            else ""
        )
    )
    models_note = (
        "GOOD, the amateurs and what each method trained on, read from the checkpoints: "
        "epochs of real text = real rows seen / blocks in the real train split (means over "
        "seeds); held-out loss in nats per token on the eval split."
    )
    sweep_note = (
        "One figure per sweep, as the paper's Figures 2 and 3: mu-Delta-REL (%, ↑) and "
        "perplexity (↓) of each swept condition with 95% CIs, each in its own colour and "
        "marker; the dashed line is the baseline (mu-Delta-REL is 0 there by definition; the "
        "grey band is the baseline's perplexity CI)."
    )
    curve_note = (
        "The main methods over training: the mean over seeds, the shaded band from the lowest "
        "to the highest seed. Each sweep's conditions are in panels of their own below."
    )

    def claim_md(c):
        s = f"- **{c['verdict']}**: {c['text']}. Ours: {c['evidence']}"
        return s + (f". Paper: {c['paper']}" if c.get("paper") else "")

    md = ["# cdsynth study report", ""]
    md += [banner, ""] if banner else []
    md += ["## What this study found", ""]
    md += [f"{i}. {f}" for i, f in enumerate(findings["found"], 1)]
    md += ["", f"What it cannot show: {findings['cannot']}", "", f"The study: {about}", ""]
    md += ["## Main results (Table 2)", "", key, "", md_table(compact_table(summary, True)), ""]
    md += ["### Every method and score", "", stats_note, "", md_table(main_table(summary, True))]
    md += ["", "## The paper's claims", "", claims_note, ""]
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
    md += ["## Learning curves", "", curve_note, ""] + [f"![{f}]({f})" for f in curves]
    md += [""] + [f"![{f}]({f})" for f in sweep_curves] + [""]
    md += ["## GOOD, BAD and the training data", "", models_note, ""]
    md += [md_table(data["models"]), "", md_table(training_data), ""]
    md += ["## Synthetic corpora", "", md_table(diag_rows), "", "### Samples", ""]
    md += [sample_md(s) + "\n" for s in samples]
    md += ["## Provenance", "", md_table(prov), ""]
    write_text(folder / "report.md", "\n".join(md) + "\n")

    def img(name):
        b64 = base64.b64encode((folder / name).read_bytes()).decode()
        return f'<figure><img alt="{name}" src="data:image/png;base64,{b64}"/></figure>'

    def claim_html(c):
        paper_s = (
            f"<span class='paper'>paper: {html.escape(c['paper'])}</span>" if c.get("paper") else ""
        )
        cls = c["verdict"].split()[0].rstrip(";")
        return (
            f"<li><span class='verdict {cls}'>{html.escape(c['verdict'])}:</span>"
            f"{html.escape(c['text'])}<span class='ev'>ours: {html.escape(c['evidence'])}</span>"
            f"{paper_s}</li>"
        )

    def note(text, title="How to read this"):
        return _details(title, f"<p class='note'>{html.escape(text)}</p>")

    parts = [page_head("cdsynth report") + "<h1>cdsynth study report</h1>"]
    if banner:
        parts.append(f"<p class='banner'>{html.escape(banner.replace('**', ''))}</p>")
    parts += [
        "<h2>What this study found</h2>",
        "<ol class='findings'>"
        + "".join(f"<li>{html.escape(f)}</li>" for f in findings["found"])
        + "</ol>",
        f"<p class='cannot'><b>What it cannot show.</b> {html.escape(findings['cannot'])}</p>",
        note(about, "The study: its scale, methods and seeds"),
        "<h2>Main results (Table 2)</h2>",
        f"<p class='key'>{html.escape(key)}</p>",
        table2_html(summary, compact=True),
        note(stats_note, "Statistics: the test behind each CI"),
        _details(
            f"Every method and score ({len(summary['methods'])} methods)",
            table2_html(summary),
        ),
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
        f"<p class='note'>{html.escape(sel_note)}</p>",
        html_table(selection_table(summary)),
    ]
    for t, rows in sub_tables.items():
        parts.append(
            _details(f"{html.escape(t)} by subtask ({len(rows) - 1} subtasks)", html_table(rows))
        )
    if sweeps:
        parts += ["<h2>Sweeps</h2>", note(sweep_note)] + [img(f) for f in sweeps]
    parts += ["<h2>Learning curves</h2>", note(curve_note)] + [img(f) for f in curves]
    if sweep_curves:
        parts.append(
            _details(
                f"Each sweep over training ({len(sweep_curves)} figures)",
                "".join(img(f) for f in sweep_curves),
            )
        )
    parts += ["<h2>GOOD, BAD and the training data</h2>", note(models_note)]
    parts += [html_table(data["models"]), html_table(training_data)]
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
        "<h2>Provenance</h2>",
        html_table(prov, "kv"),
        "</body></html>",
    ]
    write_text(folder / "report.html", "\n".join(parts))
