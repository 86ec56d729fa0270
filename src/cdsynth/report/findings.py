"""What the study found, in words: each of the paper's headline claims with its verdict and
evidence in the table's units (the paper's figures beside them in the paper's regime), and
the findings paragraph. Pure functions of summary.json's data: the verdicts themselves come
from `claims.claim_verdicts`, computed into the summary.

    claim_lines(summary, paper=False)   # [{"key", "text", "verdict", "evidence", ...}]
    study_findings(summary, regime)     # "What this study found"
"""

from __future__ import annotations

from ..analysis import significance_mark
from ..claims import claim_subject
from ..study import ROLE_LABELS
from ..tasks import LOWER_IS_BETTER, claim_tasks, task_label
from .tables import (
    ITEM_ONLY,
    diff_text,
    fmt_num,
    item_only,
    single_seed,
    value_text,
)

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


# (claim key, role that makes it, claim task): the paper's headline claims (claims.claim_verdicts)
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


def claim_lines(summary, paper: bool) -> list[dict]:
    """Each of the paper's headline claims with a verdict that says what was tested:
    supported / contradicted / inconclusive where a test ran (claims.claim_verdicts), else
    "not testable here" or "not run" with the reason; evidence in the table's units; the
    paper's figures attached only when `paper` (the study runs the paper's regime)."""
    tasks = summary["tasks"]
    configured = summary.get("configured_tasks", tasks)
    got = {c["key"]: c for c in summary["claims"]}
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
                f"{subject} {value_text(summary, t, cell.get('value'))} vs baseline "
                f"{value_text(summary, t, rows['baseline'].get(t, {}).get('value'))}: "
                + diff_text(summary, t, cell.get("diff"), cell.get("ci"), cell.get("mark"))
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
                parts.append("no bootstrap CI")
            c["evidence"] = "; ".join([head, *parts] if head else parts)
        if paper and key in PAPER_FIGURES and c["verdict"] not in ("not run", "not testable here"):
            c["paper"] = PAPER_FIGURES[key]
        out.append(c)
    return out


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
        label = task_label(t)
        lower = t in LOWER_IS_BETTER
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
                + diff_text(
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
