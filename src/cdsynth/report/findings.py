"""What the study found, in words: each of the paper's headline claims with its verdict,
evidence in the table's units and the paper's figure beside it; the opening findings (at most
three, each with its size and CI, and what the study cannot show); the study in one
paragraph. Pure functions of summary.json's numbers: the verdicts come from
`claims.claim_verdicts`, run on them.

    claim_lines(summary, paper=False)   # [{"key", "text", "verdict", "evidence", "paper"}]
    study_findings(summary)             # {"found": [sentences], "cannot": sentence}
    study_description(summary, regime)  # the regime, methods, seeds and tasks
"""

from __future__ import annotations

import dataclasses

from ..analysis import significance_mark
from ..claims import CLAIM_KEYS, claim_subject, claim_verdicts
from ..study import ROLE_LABELS
from ..tasks import LOWER_IS_BETTER, claim_tasks, task_label
from .tables import (
    ITEM_ONLY,
    compact_tasks,
    diff_text,
    fmt_num,
    item_only,
    seeds_text,
    unit_of,
    value_text,
)

# The paper's published figures for its headline claims, transcribed from the seed summary
# ../shared/seeds/000_ad0207118ff246d7.txt (arXiv 2510.08245: "Key Results", "Mechanism 3"
# quoting Table 2, "Section 6.3"), shown beside our verdicts (at the paper's scale: a study
# outside the paper's regime says so, `paper_regime`).
PAPER_FIGURES = {
    "aggregate:cd": "CD-Early-500 +4.90%, up to +5.7% for its best CD setting",
    "above_baseline:entity_tracking": "CD-Early-500 30.38 vs baseline 27.82 (+2.56)",
    "above_baseline:ewok": "CD-Early-500 53.80, EWoK +5.28%",
    "best:perplexity": "No-Contrast 23.56, the best perplexity of Table 2 (-0.86%)",
    "best:blimp": "No-Contrast 72.09, the best BLiMP of Table 2 (+0.70%)",
    "best:mu_delta_rel": "CD-Early-500 +4.90%, the best mu-Delta-REL of the main conditions",
}


# (claim key, role that makes it, claim task): the paper's headline claims (claims.claim_verdicts)
CLAIMS = (
    ("aggregate:cd", "cd_early", None),
    ("above_baseline:entity_tracking", "cd_early", "entity_tracking"),
    ("above_baseline:ewok", "cd_early", "ewok"),
    ("best:perplexity", "no_contrast", "perplexity"),
    ("best:blimp", "no_contrast", "blimp"),
    ("best:mu_delta_rel", "cd_early", None),
)
assert tuple(k for k, _, _ in CLAIMS) == CLAIM_KEYS


CLAIM_TEXTS = {
    "aggregate:cd": "CD improves the aggregate mu-Delta-REL by 4.9-5.7%",
    "above_baseline:entity_tracking": "CD-Early scores above the baseline on entity tracking",
    "above_baseline:ewok": "CD-Early scores above the baseline on EWoK",
    "best:perplexity": "No-Contrast is the best of the main methods on perplexity",
    "best:blimp": "No-Contrast is the best of the main methods on BLiMP",
    "best:mu_delta_rel": "CD-Early has the best aggregate mu-Delta-REL of the main conditions",
}


def claim_lines(summary, paper: bool = False) -> list[dict]:
    """Each of the paper's headline claims with a verdict that says what was tested:
    supported / contradicted / inconclusive where a test ran (claims.claim_verdicts on the
    summary's numbers), else "not testable here" or "not run" with the reason; evidence in
    the table's units; the paper's figure beside each claim that was tested (`paper`: the
    study runs the paper's regime, else the figure is marked as the paper's scale)."""
    tasks = summary["tasks"]
    configured = summary.get("configured_tasks", tasks)
    got = {c.key: dataclasses.asdict(c) for c in claim_verdicts(summary)}
    out = []
    for key, role, claim_task in CLAIMS:
        subject = claim_subject(summary, role)
        c = dict(got.get(key, {"key": key, "text": CLAIM_TEXTS[key], "method": subject}))
        c["task"] = c.get("task") or claim_task
        label = ROLE_LABELS[role]
        names = claim_tasks(claim_task) if claim_task else ()
        if key not in got:
            if subject is None:
                c["verdict"] = "not testable here"
                c["evidence"] = f"the study has no {label} condition"
            elif not names:
                c["verdict"] = "not testable here"
                c["evidence"] = f"{subject} has no mu-Delta-REL"
            elif not any(t in configured for t in names):
                c["verdict"] = "not run"
                c["evidence"] = f"no task for it in evaluate.tasks ({' or '.join(names)})"
            else:
                c["verdict"] = "not run"
                c["evidence"] = f"no results for {' or '.join(t for t in names if t in configured)}"
        elif key == "aggregate:cd":
            mu = summary["rows"][subject]["mu_delta_rel"]
            c["evidence"] = f"{subject} mu-Delta-REL " + diff_text(
                summary, "mu_delta_rel", mu["value"], mu.get("ci"), mu.get("mark")
            ).replace("Δ ", "").replace(" points", "%")
            if mu.get("ci") is None:
                c["verdict"] = "not testable here"
                c["evidence"] += " (no CI)"
        elif key.startswith("above_baseline:"):
            t, rows = c["task"], summary["rows"]
            cell = rows[subject].get(t, {})
            c["evidence"] = (
                f"{subject} {value_text(summary, t, cell.get('value'))} vs baseline "
                f"{value_text(summary, t, rows['baseline'].get(t, {}).get('value'))}: "
                + diff_text(summary, t, cell.get("diff"), cell.get("ci"), cell.get("mark"))
            )
            if cell.get("ci") is None:
                c["verdict"] = "not testable here"
                c["evidence"] += " (no CI: item scores missing)"
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
                    mark = significance_mark(p["ci"], p.get("ci99"))
                    parts.append(f"vs {r} " + diff_text(summary, t, p["diff"], p["ci"], mark))
            if t == "mu_delta_rel":
                mu = summary["rows"][subject].get("mu_delta_rel") or {}
                head = (
                    f"{subject} {fmt_num(100 * mu['value'], 2, True)}%" if mu.get("value") else ""
                )
            else:
                v = summary["rows"][subject].get(t, {}).get("value")
                head = f"{subject} {value_text(summary, t, v)}"
            if not rivals:
                c["verdict"] = "not testable here"
                parts = ["no other main condition to compare with"]
                mu = summary["rows"][subject].get("mu_delta_rel") or {}
                if t == "mu_delta_rel" and mu.get("ci"):
                    parts.append(
                        "vs the baseline "
                        + diff_text(summary, t, mu["value"], mu["ci"], mu.get("mark"))
                    )
            elif all(p.endswith("no CI") for p in parts):
                c["verdict"] = "not testable here"
                parts.append("no CI")
            c["evidence"] = "; ".join([head, *parts] if head else parts)
        if key in PAPER_FIGURES and c["verdict"] not in ("not run", "not testable here"):
            c["paper"] = PAPER_FIGURES[key] + ("" if paper else " (at the paper's scale)")
        out.append(c)
    return out


# chance level of the two-way forced-choice suites (a model that guesses scores this)
CHANCE = {"blimp": 0.5, "blimp_filtered": 0.5, "blimp_supplement": 0.5, "ewok": 0.5}


def _cells(summary, t: str, methods: list[str]) -> dict:
    """{method: {"diff", "ci", "mark", "direction"}} of a task (mu-Delta-REL: its value is the
    difference from the baseline's 0)."""
    if t == "mu_delta_rel":
        out = {}
        for m in methods:
            mu = summary["rows"][m].get("mu_delta_rel") or {}
            out[m] = {**mu, "diff": mu.get("value")}
        return out
    return {m: summary["rows"][m].get(t, {}) for m in methods}


def _range(summary, t, values: list[float]) -> str:
    scale = unit_of(summary, t)[0]
    lo, hi = sorted(abs(scale * v) for v in (min(values), max(values)))
    d = 1 if hi - lo >= 1 or hi >= 10 else 2
    unit = " points" if unit_of(summary, t)[1].endswith("%") else ""
    if fmt_num(lo, d) == fmt_num(hi, d):
        return f"{fmt_num(hi, d)}{unit}"
    return f"{fmt_num(lo, d)} to {fmt_num(hi, d)}{unit}"


def study_findings(summary, most: int = 3) -> dict:
    """The report's opening, computed from the numbers: {"found": at most `most` sentences,
    one per task where the main conditions move the score together (one or more
    significantly, and every difference the same way, or most of them significantly), each
    with its size and the largest effect's CI; "cannot": what the study cannot show (the
    scores no main condition moves, those near chance, the CIs' width)}."""
    main = [m for m in summary["main_methods"] if m != "baseline"]
    key = set(compact_tasks(summary)) | {"mu_delta_rel"}
    found, quiet, isolated = [], [], []
    tested = 0
    for t in [*summary["tasks"], "mu_delta_rel"]:
        cells = _cells(summary, t, main)
        diffs = {m: c["diff"] for m, c in cells.items() if c.get("diff") is not None}
        sig = [m for m in main if cells[m].get("direction")]
        tested += sum(1 for m in main if cells[m].get("ci"))
        if not diffs:
            continue
        if not sig:
            if t in key and any(cells[m].get("ci") for m in main):
                quiet.append(t)
            continue
        signs = {v > 0 for v in diffs.values()}
        if not (len(signs) == 1 or 2 * len(sig) > len(main)):
            isolated += [(t, m) for m in sig]
            continue
        lower = t in LOWER_IS_BETTER
        big = max(sig, key=lambda m: abs(diffs[m]))
        c = cells[big]
        falls = diffs[big] < 0
        label = "mu-Delta-REL" if t == "mu_delta_rel" else task_label(t)
        verb = (
            ("lowers" if falls else "raises") if len(sig) == 1 else ("lower" if falls else "raise")
        )
        who = f"{len(sig)} of {len(main)} mixtures {verb} it significantly"
        if len(signs) == 1 and len(diffs) > len(sig):
            who = (
                f"every mixture is {'below' if falls else 'above'} the baseline, by "
                f"{_range(summary, t, list(diffs.values()))}; {len(sig)} of {len(main)} "
                "significantly"
            )
        else:
            who += f", by {_range(summary, t, [diffs[m] for m in sig])}"
        what = "better" if falls == lower else "worse"
        found.append(
            (
                len(sig),
                f"{label[0].upper()}{label[1:]} {'falls' if falls else 'rises'} ({what}): {who} "
                f"(largest: {big}, "
                + diff_text(summary, t, diffs[big], c.get("ci")).replace(" points", "")
                + f"{' points' if unit_of(summary, t)[1].endswith('%') else ''}).",
            )
        )
    found = [f for _, f in sorted(found, key=lambda x: -x[0])][:most]
    cannot = []
    if quiet:
        names = [("mu-Delta-REL" if t == "mu_delta_rel" else task_label(t)) for t in quiet]
        cannot.append(f"No mixture differs from the baseline on {_join(names)} (every CI spans 0).")
    near = [
        t
        for t in quiet
        if t in CHANCE
        and summary["rows"]["baseline"].get(t, {}).get("value") is not None
        and abs(summary["rows"]["baseline"][t]["value"] - CHANCE[t]) < 0.05
    ]
    if near:
        vals = [f"{100 * summary['rows']['baseline'][t]['value']:.1f}%" for t in near]
        names = _join([task_label(t) for t in near])
        cannot.append(
            f"{names[0].upper()}{names[1:]} {'sit' if len(near) > 1 else 'sits'} near chance "
            f"(baseline {_join(vals)}; chance 50%)."
        )
    seeds = sorted({len(v) for v in summary["seeds"].values()})
    if isolated:
        n = len(isolated)
        cannot.append(
            f"{n} isolated significant difference{'s' if n > 1 else ''} "
            f"({'; '.join(f'{m} on {_label(t)}' for t, m in isolated)}): chance alone gives "
            f"{0.05 * tested:.1f} of {tested} at the 5% level."
        )
    cannot.append(
        f"With {'/'.join(map(str, seeds))} seed{'s' if seeds != [1] else ''}, small effects "
        "stay unresolved (see the power table)."
    )
    if item_only(summary):
        cannot.append(f"Significance is over items only ({ITEM_ONLY}).")
    return {"found": found, "cannot": " ".join(cannot)}


def _label(t: str) -> str:
    return "mu-Delta-REL" if t == "mu_delta_rel" else task_label(t).split(" (")[0]


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def study_description(summary, regime: dict | None) -> str:
    """The study in one paragraph: its regime, its methods (main and swept) and seeds."""
    main = summary["main_methods"]
    swept = [m for m in summary["methods"] if m not in main]
    out = []
    if regime and regime["matches"]:
        out.append("The paper's configuration.")
    elif regime:
        share = regime["share"]
        pct = f"{100 * share:.2g}%" if share < 0.1 else f"{100 * share:.0f}%"
        out.append(
            f"Not the paper's configuration ({'; '.join(regime['differences'])}): {pct} of "
            "its training tokens per run, so the paper's figures beside ours are at its scale."
        )
    out.append(
        f"{len(summary['methods'])} methods, {seeds_text(summary)}, {len(summary['tasks'])} "
        f"scores. Main methods: {', '.join(main)}."
    )
    if swept:
        out.append(f"Sweeps: {', '.join(swept)}.")
    return " ".join(out)
