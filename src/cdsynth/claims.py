"""The paper's headline claims, each with a verdict from a study's numbers, and the forest
plots' numbers. Pure functions on the summary (plain data).

    claim_verdicts(summary)     # [Claim(key, text, verdict, evidence, method, task)]
    forest_data(summary)        # {task: [{method, diff, lo, hi, direction}]}

A verdict is supported / contradicted / inconclusive: supported where the 95% CI of every
needed difference excludes 0 in the claimed direction, contradicted where one excludes 0 the
other way. A claim of a size (the paper's aggregate gain) adds whether the CI includes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .analysis import effect_direction, excludes_zero
from .tasks import claim_tasks, lower_is_better, task_label

# the claims in the order the report and RESULTS.md list them
CLAIM_KEYS = (
    "aggregate:cd",
    "above_baseline:entity_tracking",
    "above_baseline:ewok",
    "best:perplexity",
    "best:blimp",
    "best:mu_delta_rel",
)

# The paper's main claim: CD's mu-Delta-REL over the baseline, 4.9% (CD-Early-500, Table 2)
# to 5.7% (its best CD setting), as fractions (arXiv 2510.08245, abstract and Table 2).
PAPER_AGGREGATE = (0.049, 0.057)


@dataclass(frozen=True)
class Claim:
    key: str  # e.g. "above_baseline:entity_tracking"
    text: str  # the claim in words, with the study's condition and task
    verdict: str  # supported | contradicted | inconclusive
    evidence: str  # the numbers behind the verdict
    method: str
    task: str


def _fmt(v) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.3g}"


def _ci_text(ci) -> str:
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "[no CI]"


def _gain_ci(ci, lower: bool):
    if ci is None:
        return None
    return (-ci[1], -ci[0]) if lower else tuple(ci)


def _verdict_above(diff, ci, lower) -> str:
    g = _gain_ci(ci, lower)
    if g is None or not excludes_zero(g):
        return "inconclusive"
    return "supported" if g[0] > 0 else "contradicted"


def _verdict_best(method, rivals, pairs, lower) -> tuple[str, str]:
    """Best among rivals: supported if significantly better than each, contradicted if some
    rival is significantly better, else inconclusive."""
    gains, parts = [], []
    for r in rivals:
        c = pairs.get(method, {}).get(r)
        if c is None or c.get("ci") is None:
            gains.append(None)
            parts.append(f"vs {r}: no CI")
            continue
        g = _gain_ci(c["ci"], lower)
        gains.append(g)
        parts.append(f"vs {r} {c['diff']:+.3g} {_ci_text(c['ci'])}")
    if any(g is not None and excludes_zero(g) and g[1] < 0 for g in gains):
        verdict = "contradicted"
    elif gains and all(g is not None and g[0] > 0 for g in gains):
        verdict = "supported"
    else:
        verdict = "inconclusive"
    return verdict, "; ".join(parts)


def claim_subject(summary: dict, role: str) -> str | None:
    """The study's first main condition in `role` (from the config), if any."""
    for m in summary.get("main_methods", summary["methods"]):
        if summary.get("roles", {}).get(m) == role:
            return m
    return None


def size_verdict(ci, size: tuple[float, float]) -> str:
    """Whether a 95% CI includes a claimed size (lo, hi): "the CI excludes the paper's size"
    where it lies wholly below or above it, else "the CI includes the paper's size"."""
    if ci is None or not all(math.isfinite(x) for x in ci):
        return ""
    if ci[1] < size[0] or ci[0] > size[1]:
        return "the CI excludes the paper's size"
    return "the CI includes the paper's size"


def aggregate_claim(summary: dict) -> Claim | None:
    """The paper's main claim, CD improves the aggregate (mu-Delta-REL) by 4.9-5.7%: judged
    on the study's CD-Early condition, its mu-Delta-REL's 95% CI against 0 and against the
    paper's size."""
    cd = claim_subject(summary, "cd_early")
    mu = summary["rows"].get(cd, {}).get("mu_delta_rel") if cd else None
    if not isinstance(mu, dict) or mu.get("value") is None:
        return None
    ci = mu.get("ci")
    verdict = _verdict_above(mu["value"], ci, False)
    size = size_verdict(ci, PAPER_AGGREGATE)
    if size:
        verdict += f"; {size}"
    lo, hi = (100 * x for x in PAPER_AGGREGATE)
    text = f"CD ({cd}) improves the aggregate mu-Delta-REL by {lo:.1f}-{hi:.1f}%"
    ev = (
        f"{cd} {_fmt(100 * mu['value'])}% {_ci_text(None if ci is None else [100 * x for x in ci])}"
    )
    return Claim("aggregate:cd", text, verdict, ev, cd, "mu_delta_rel")


def claim_verdicts(summary: dict) -> list[Claim]:
    """The paper's headline claims that the study can test, each with a verdict from the
    numbers: CD-Early above the baseline on entity tracking and on EWoK; No-Contrast the best
    on perplexity and on BLiMP; CD-Early the best mu-Delta-REL.

    summary: {"tasks", "methods", "main_methods" (baseline + the non-sweep conditions),
    "roles" ({method: role}), "rows" ({method: {task: {"value", "diff", "ci"}, "mu_delta_rel"}}),
    "pairwise" ({task or "mu_delta_rel": {a: {b: {"diff", "ci"}}}}, a - b)}. A verdict is
    "inconclusive" where a needed interval spans 0 or is missing."""
    tasks = summary["tasks"]

    def task_for(claim_task):
        return next((t for t in claim_tasks(claim_task) if t in tasks), None)

    out = [c for c in (aggregate_claim(summary),) if c is not None]
    cd = claim_subject(summary, "cd_early")
    nc = claim_subject(summary, "no_contrast")
    rows = summary["rows"]
    main = [m for m in summary.get("main_methods", summary["methods"]) if m in rows]
    pairwise = summary.get("pairwise", {})
    for ct in ("entity_tracking", "ewok"):
        t = task_for(ct)
        if cd is None or t is None or "baseline" not in rows:
            continue
        c = rows[cd].get(t, {})
        lower = lower_is_better(t)
        diff, ci = c.get("diff"), c.get("ci")
        verdict = _verdict_above(diff, ci, lower)
        ev = (
            f"{cd} {_fmt(c.get('value'))} vs baseline {_fmt(rows['baseline'][t].get('value'))}: "
            f"{'-' if diff is None else f'{diff:+.3g}'} {_ci_text(ci)}"
        )
        text = f"CD-Early ({cd}) scores above the baseline on {task_label(t)}"
        out.append(Claim(f"above_baseline:{ct}", text, verdict, ev, cd, t))
    for ct in ("perplexity", "blimp"):
        t = task_for(ct)
        if nc is None or t is None:
            continue
        lower = lower_is_better(t)
        rivals = [m for m in main if m != nc]
        verdict, ev = _verdict_best(nc, rivals, pairwise.get(t, {}), lower)
        text = f"No-Contrast ({nc}) is the best of the main methods on {task_label(t)}"
        ev = f"{nc} {_fmt(rows[nc].get(t, {}).get('value'))}; " + ev
        out.append(Claim(f"best:{ct}", text, verdict, ev, nc, t))
    if cd is not None:
        rivals = [m for m in main if m not in (cd, "baseline")]
        mu = rows[cd].get("mu_delta_rel")
        value = mu.get("value") if isinstance(mu, dict) else mu
        if rivals:
            verdict, ev = _verdict_best(cd, rivals, pairwise.get("mu_delta_rel", {}), False)
        else:
            verdict, ev = "inconclusive", "no other condition"
        text = f"CD-Early ({cd}) has the best aggregate mu-Delta-REL of the main conditions"
        ev = f"{cd} {_fmt(None if value is None else 100 * value)}%; " + ev
        out.append(Claim("best:mu_delta_rel", text, verdict, ev, cd, "mu_delta_rel"))
    return out


def forest_data(summary: dict) -> dict[str, list[dict]]:
    """{task: [{method, diff, lo, hi, direction}]} for the forest plots: each method's
    difference from the baseline with its 95% CI, the methods in one order (the table's)
    across tasks; "mu_delta_rel" holds each method's mu-Delta-REL with its CI."""
    methods = [m for m in summary["methods"] if m != "baseline"]
    out: dict[str, list[dict]] = {}
    nan = float("nan")
    for t in summary["tasks"]:
        rows = []
        for m in methods:
            c = summary["rows"][m].get(t, {})
            ci = c.get("ci") or [nan, nan]
            rows.append(
                {
                    "method": m,
                    "diff": nan if c.get("diff") is None else c["diff"],
                    "lo": ci[0],
                    "hi": ci[1],
                    "direction": effect_direction(c.get("diff"), c.get("ci"), lower_is_better(t)),
                }
            )
        out[t] = rows
    mu_rows = []
    for m in methods:
        mu = summary["rows"][m].get("mu_delta_rel") or {}
        mu = mu if isinstance(mu, dict) else {"value": mu}
        ci = mu.get("ci") or [nan, nan]
        v = nan if mu.get("value") is None else mu["value"]
        mu_rows.append(
            {
                "method": m,
                "diff": v,
                "lo": ci[0],
                "hi": ci[1],
                "direction": effect_direction(v, mu.get("ci")),
            }
        )
    out["mu_delta_rel"] = mu_rows
    return out
