"""The report's numbers: the claims' verdicts, Table 2's cells and colours, the forest plots'
data, and a summary of hand-made eval folders (a reading CI, a method without a score)."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from cdsynth import analysis
from cdsynth.claims import claim_verdicts, forest_data
from cdsynth.report.summary import summarize
from cdsynth.report.tables import table2_cell
from cdsynth.tasks import LOWER_IS_BETTER

from .conftest import tiny_config


def cell(value, diff=None, ci=None):
    c = {"value": value}
    if diff is not None:
        c.update(diff=diff, ci=list(ci) if ci else None)
    return c


def pair(diff, ci):
    return {"diff": diff, "ci": list(ci)}


def hand_summary(et_ci=(0.01, 0.05), ppl_pairs=None, mu_pairs=None):
    """baseline, no-contrast, cd-early on entity tracking, perplexity and BLiMP."""
    ppl_pairs = ppl_pairs or {
        "baseline": pair(-1.0, (-1.5, -0.5)),
        "cd-early": pair(-0.4, (-0.8, -0.1)),
    }
    return {
        "tasks": ["perplexity", "blimp", "entity_tracking"],
        "methods": ["baseline", "no-contrast", "cd-early", "cd-early-top_k-200"],
        "main_methods": ["baseline", "no-contrast", "cd-early"],
        "roles": {
            "baseline": "baseline",
            "no-contrast": "no_contrast",
            "cd-early": "cd_early",
            "cd-early-top_k-200": "cd_early",
        },
        "metrics": {"perplexity": "perplexity", "blimp": "accuracy", "entity_tracking": "accuracy"},
        "rows": {
            "baseline": {
                "perplexity": cell(25.0),
                "blimp": cell(0.70),
                "entity_tracking": cell(0.28),
                "mu_delta_rel": None,
            },
            "no-contrast": {
                "perplexity": cell(24.0, -1.0, (-1.5, -0.5)),
                "blimp": cell(0.72, 0.02, (-0.01, 0.04)),
                "entity_tracking": cell(0.27, -0.01, (-0.03, 0.01)),
                "mu_delta_rel": {"value": 0.01, "ci": [-0.01, 0.03]},
            },
            "cd-early": {
                "perplexity": cell(24.4, -0.6, (-0.9, -0.3)),
                "blimp": cell(0.71, 0.01, (-0.02, 0.03)),
                "entity_tracking": cell(0.31, 0.03, et_ci),
                "mu_delta_rel": {"value": 0.05, "ci": [0.02, 0.08]},
            },
            "cd-early-top_k-200": {
                "perplexity": cell(24.5, -0.5, (-0.8, -0.2)),
                "blimp": cell(0.71, 0.01, (-0.02, 0.03)),
                "entity_tracking": cell(0.32, 0.04, (0.02, 0.06)),
                "mu_delta_rel": {"value": 0.06, "ci": [0.03, 0.09]},
            },
        },
        "pairwise": {
            "perplexity": {"no-contrast": ppl_pairs},
            "blimp": {
                "no-contrast": {
                    "baseline": pair(0.02, (-0.01, 0.04)),
                    "cd-early": pair(0.01, (-0.01, 0.03)),
                }
            },
            "mu_delta_rel": {"cd-early": mu_pairs or {"no-contrast": pair(0.04, (0.01, 0.07))}},
        },
    }


def verdicts(summary):
    return {c.key: c.verdict for c in claim_verdicts(summary)}


def test_claims_supported_contradicted_inconclusive():
    v = verdicts(hand_summary())
    assert v == {
        # cd-early's mu-Delta-REL +5% [+2, +8]: above 0, and the paper's 4.9-5.7% inside
        "aggregate:cd": "supported; the CI includes the paper's size",
        "above_baseline:entity_tracking": "supported",  # CI (0.01, 0.05) above 0
        "best:perplexity": "supported",  # lower than every main rival, CIs below 0
        "best:blimp": "inconclusive",  # best point, but the CIs span 0
        "best:mu_delta_rel": "supported",
    }
    # the sweep copy (cd-early-top_k-200) is not a main method: it neither is the subject
    # nor a rival; EWoK is not in the study: no EWoK claim
    claims = claim_verdicts(hand_summary())
    assert all(c.method in ("cd-early", "no-contrast") for c in claims)
    v = verdicts(
        hand_summary(
            et_ci=(-0.06, -0.01),
            ppl_pairs={"baseline": pair(-1.0, (-1.5, -0.5)), "cd-early": pair(0.4, (0.1, 0.8))},
            mu_pairs={"no-contrast": pair(-0.04, (-0.07, -0.01))},
        )
    )
    assert v["above_baseline:entity_tracking"] == "contradicted"
    assert v["best:perplexity"] == "contradicted"  # cd-early has a significantly lower ppl
    assert v["best:mu_delta_rel"] == "contradicted"
    v = verdicts(hand_summary(et_ci=(-0.01, 0.05)))
    assert v["above_baseline:entity_tracking"] == "inconclusive"
    # the aggregate claim: a CI that spans 0 but lies below the paper's size says both
    s = hand_summary()
    s["rows"]["cd-early"]["mu_delta_rel"] = {"value": -0.012, "ci": [-0.034, 0.0085]}
    assert verdicts(s)["aggregate:cd"] == "inconclusive; the CI excludes the paper's size"
    s["rows"]["cd-early"]["mu_delta_rel"] = {"value": 0.09, "ci": [0.06, 0.12]}
    assert verdicts(s)["aggregate:cd"] == "supported; the CI excludes the paper's size"
    s["rows"]["cd-early"]["mu_delta_rel"] = {"value": -0.05, "ci": [-0.08, -0.02]}
    assert verdicts(s)["aggregate:cd"] == "contradicted; the CI excludes the paper's size"


def test_claims_need_their_conditions():
    s = hand_summary()
    s["roles"] = {"baseline": "baseline", "no-contrast": "no_contrast"}  # no CD condition
    s["tasks"] = ["blimp"]
    assert list(verdicts(s)) == ["best:blimp"]
    # the demo probes stand in for entity tracking and BLiMP
    s = hand_summary()
    for m in s["rows"]:
        s["rows"][m]["probes_tracking"] = s["rows"][m].pop("entity_tracking")
    s["tasks"] = ["perplexity", "blimp", "probes_tracking"]
    claims = {c.key: c for c in claim_verdicts(s)}
    assert claims["above_baseline:entity_tracking"].task == "probes_tracking"
    assert "stand-in" in claims["above_baseline:entity_tracking"].text


def test_colouring_follows_the_direction_of_perplexity():
    s = hand_summary()
    for m in ("no-contrast", "cd-early"):
        for t in s["tasks"]:
            c = s["rows"][m][t]
            c["direction"] = analysis.effect_direction(c["diff"], c["ci"], t in LOWER_IS_BETTER)
    s["rows"]["no-contrast"]["mu_delta_rel"]["direction"] = None
    # perplexity fell, significantly: a gain (green)
    assert table2_cell(s, "no-contrast", "perplexity")["cls"] == "gain"
    s["rows"]["cd-early"]["perplexity"] = cell(26.0, 1.0, (0.5, 1.5))
    s["rows"]["cd-early"]["perplexity"]["direction"] = analysis.effect_direction(
        1.0, (0.5, 1.5), True
    )
    assert table2_cell(s, "cd-early", "perplexity")["cls"] == "loss"
    assert table2_cell(s, "no-contrast", "blimp")["cls"] == ""  # CI spans 0
    c = table2_cell(s, "cd-early", "entity_tracking")
    # one value per cell; the difference and CI on the second line, in % like the value
    assert c["value"] == "31.0" and c["second"] == "Δ +3.0 [+1.0, +5.0]"


def test_forest_data_equal_the_table():
    s = hand_summary()
    data = forest_data(s)
    assert list(data) == [*s["tasks"], "mu_delta_rel"]
    for t, rows in data.items():
        # one order across tasks: the table's, without the baseline
        assert [r["method"] for r in rows] == s["methods"][1:]
        for r in rows:
            src = s["rows"][r["method"]][t]
            if t == "mu_delta_rel":
                assert (r["diff"], [r["lo"], r["hi"]]) == (src["value"], src["ci"])
            else:
                assert (r["diff"], [r["lo"], r["hi"]]) == (src["diff"], src["ci"])
    # the rendered cell shows the same numbers
    r = data["perplexity"][0]
    assert table2_cell(s, r["method"], "perplexity")["second"].startswith(f"Δ {r['diff']:+.1f}")


# --- a summary of hand-made eval folders ----------------------------------------------------


def write_run(root, run, task, metric, by_step, subtasks=None, extra=None):
    """by_step: {step: (score, items)} -> runs/<run>/step_N + eval/step_N/<task>.json(l)."""
    for step, (score, items) in by_step.items():
        (root / "runs" / run / f"step_{step}").mkdir(parents=True, exist_ok=True)
        (root / "runs" / run / f"step_{step}" / "state.json").write_text("{}")
        ev = root / "runs" / run / "eval" / f"step_{step}"
        ev.mkdir(parents=True, exist_ok=True)
        (ev / f"{task}.json").write_text(
            json.dumps(
                {
                    "task": task,
                    "metric": metric,
                    "score": score,
                    "subtasks": subtasks or {},
                    **(extra or {}),
                }
            )
        )
        (ev / f"{task}.items.jsonl").write_text("".join(json.dumps(it) + "\n" for it in items))


def reading_words(rng, effect, n_words=40):
    """Reading items whose measures depend on pred by `effect` (all the fits' columns)."""
    words = []
    for i in range(n_words):
        f, n, pred = rng.normal(), float(rng.integers(1, 10)), rng.normal(5, 2)
        it = {"id": str(i), "subtask": "words", "pred": pred, "prev_pred": rng.normal(5)}
        it.update(Subtlex_log10=f, length=n, context_length=float(rng.integers(1, 20)))
        it["prev_length"] = float(rng.integers(1, 10))
        for m in ("RTfirstfix", "RTfirstpass", "RTgopast", "RTrightbound"):
            it[m] = 200 + 10 * f + 5 * n + effect * pred + rng.normal(0, 20)
        it["self_paced_reading_time"] = 300 + 3 * n + effect * pred + rng.normal(0, 20)
        words.append(it)
    return words


def fake_reading_scores(items):
    x = np.array([it["x"] for it in items], dtype=float)
    return {"eye_tracking": float(x.mean()), "self_paced_reading": float(x.mean() + 1)}


def test_summary_has_reading_cis_seeds_and_survives_a_method_without_scores(tmp_path, monkeypatch):
    from cdsynth import item_statistics

    monkeypatch.setattr(item_statistics, "reading_scores", fake_reading_scores)
    cfg = tiny_config(
        tmp_path,
        "study.seeds=[0, 1]",
        "study.amateurs={early: {run: baseline, step: 4}}",
        "study.conditions=[{name: no-contrast, strategy: ancestral}, "
        "{name: cd-early, strategy: cd, amateur: early}]",
        "study.bootstrap_samples=200",
        "evaluate.tasks=[reading, wug, entity_tracking]",
    )
    rng = np.random.default_rng(0)
    methods = {"baseline": [], "no-contrast": [], "cd-early": []}
    accs, eye, shares = {}, {}, {}
    for m, shift in (("baseline", 0.0), ("no-contrast", 0.5), ("cd-early", 1.0)):
        for seed in (0, 1):
            run = "baseline" if m == "baseline" else f"mix-{m}"
            run = f"{run}-seed{seed}"
            methods[m].append(run)
            words = [{"id": str(i), "subtask": "words", "x": rng.normal(shift)} for i in range(60)]
            s = fake_reading_scores(words)
            write_run(
                tmp_path,
                run,
                "reading",
                "reading_gain",
                {4: (float(np.mean(list(s.values()))), words)},
                subtasks=s,
            )
            eye[m, seed] = s["eye_tracking"]
            wug = [
                {"id": f"f/{i}", "subtask": "f", "p_first": rng.random(), "ratio": rng.random()}
                for i in range(30)
            ]
            # no-contrast has no finite WUG score at any checkpoint
            score = math.nan if m == "no-contrast" else -0.05 + 0.1 * (m == "cd-early")
            share = float(np.mean([it["p_first"] >= 0.5 for it in wug]))
            shares[m, seed] = share
            write_run(
                tmp_path,
                run,
                "wug",
                "spearman",
                {4: (score, wug)},
                extra={"first_form_share": share},
            )
            et = [
                {"id": str(i), "subtask": "a", "correct": bool(rng.random() < 0.3 + 0.1 * shift)}
                for i in range(50)
            ]
            acc = float(np.mean([it["correct"] for it in et]))
            accs[m, seed] = acc
            write_run(tmp_path, run, "entity_tracking", "accuracy", {4: (acc, et)})
    summary = summarize(cfg, methods)
    rows = summary["rows"]
    # every score has a CI, reading included (words resampled, the fits redone)
    for m in methods:
        lo, hi = rows[m]["reading"]["value_ci"]
        assert lo < rows[m]["reading"]["value"] < hi
    lo, hi = rows["cd-early"]["reading"]["ci"]
    assert lo < rows["cd-early"]["reading"]["diff"] < hi and lo > 0
    # reading as the paper reports it: eye tracking and self-paced, each with its own CI,
    # refitted per resample; the combined score stays as a labelled extra
    assert summary["tasks"][:3] == ["reading_eye_tracking", "reading_self_paced", "reading"]
    et_cell = rows["cd-early"]["reading_eye_tracking"]
    assert et_cell["value"] == pytest.approx((eye["cd-early", 0] + eye["cd-early", 1]) / 2)
    sp_cell = rows["cd-early"]["reading_self_paced"]
    assert sp_cell["value"] == pytest.approx(et_cell["value"] + 1)
    assert sp_cell["diff"] == pytest.approx(et_cell["diff"]) and len(sp_cell["ci"]) == 2
    # WUG: an absolute difference only; a method with no finite score gets no CI, no crash
    assert "relative" not in rows["cd-early"]["wug"]
    assert rows["cd-early"]["wug"]["diff"] == pytest.approx(0.1)
    assert (
        math.isnan(rows["no-contrast"]["wug"]["value"]) and "ci" not in rows["no-contrast"]["wug"]
    )
    # mu-Delta-REL over the proportion tasks only, with a CI; the paper-mode variant adds
    # WUG's first-form share (the paper's accuracy-style WUG), itself a column with a CI
    ff = rows["cd-early"]["wug_first_form"]
    assert ff["value"] == pytest.approx((shares["cd-early", 0] + shares["cd-early", 1]) / 2)
    assert len(ff["ci"]) == 2
    assert rows["cd-early"]["mu_delta_rel_paper"]["tasks"] == ["entity_tracking", "wug_first_form"]
    assert len(rows["cd-early"]["mu_delta_rel_paper"]["ci"]) == 2
    assert rows["cd-early"]["mu_delta_rel"]["tasks"] == ["entity_tracking"]
    assert len(rows["cd-early"]["mu_delta_rel"]["ci"]) == 2
    assert summary["seeds"] == {m: [0, 1] for m in methods}
    assert summary["resample"] == "seeds"
    assert summary["roles"]["cd-early"] == "cd_early"
    assert {c["key"] for c in summary["claims"]} >= {"above_baseline:entity_tracking"}
    assert set(summary["selection_check"]["cd-early"]) == {
        "reading_eye_tracking",
        "reading_self_paced",
        "reading",
        "wug",
        "wug_first_form",
        "entity_tracking",
    }
    # power: the per-seed differences' spread and the seeds a paired t would need
    from cdsynth.power import seeds_for_power
    from cdsynth.report.tables import power_table

    et = rows["cd-early"]["entity_tracking"]
    d = np.array([accs["cd-early", k] - accs["baseline", k] for k in (0, 1)])
    assert et["seed_sd"] == pytest.approx(d.std(ddof=1))
    assert et["seeds_needed"] == seeds_for_power(d.mean(), d.std(ddof=1))
    table = power_table(summary)
    assert table[0][-1] == "seeds for 80% power" and any(r[0] == "cd-early" for r in table[1:])


def test_synthetic_totals_show_the_segment_counts_when_present(tmp_path):
    from cdsynth.corpora import synthetic_totals

    assert synthetic_totals(tmp_path) == {}
    (tmp_path / "manifest.json").write_text(
        json.dumps({"totals": {"rows": 8, "segments": 12, "empty_segments": 1}})
    )
    assert synthetic_totals(tmp_path) == {"segments": 12, "empty_segments": 1}


def test_the_papers_figure_stands_beside_each_tested_claim():
    from cdsynth.report.findings import claim_lines

    s = full_summary()
    outside = {c["key"]: c for c in claim_lines(s, paper=False)}
    et = outside["above_baseline:entity_tracking"]["paper"]
    assert "30.38" in et and et.endswith("(at the paper's scale)")
    assert "paper" not in outside["above_baseline:ewok"]  # not run: nothing to set beside
    with_paper = {c["key"]: c for c in claim_lines(s, paper=True)}
    assert with_paper["above_baseline:entity_tracking"]["paper"] == (
        "CD-Early-500 30.38 vs baseline 27.82 (+2.56)"
    )
    assert "4.90%" in with_paper["aggregate:cd"]["paper"]


# --- verdicts in words, units, regime, rendering from summary.json alone ---------------------


def full_summary(seeds=(0, 1), **kw):
    """hand_summary with everything the renderer reads: seeds, resampling, claims, subtasks."""
    s = hand_summary(**kw)
    s.update(
        seeds={m: list(seeds) for m in s["methods"]},
        resample="hierarchical",
        resampling="seeds, then items",
        bootstrap_samples=200,
        relative_tasks=["blimp", "entity_tracking"],
        configured_tasks=list(s["tasks"]),
        selection_check={},
        subtasks={},
        curves={m: {t: {} for t in s["tasks"]} for m in s["methods"]},
        curve_seeds={m: {t: {} for t in s["tasks"]} for m in s["methods"]},
    )
    for row in s["rows"].values():
        for t in s["tasks"]:
            c = row[t]
            if c.get("ci"):
                lower = t in LOWER_IS_BETTER
                c["direction"] = analysis.effect_direction(c["diff"], c["ci"], lower)
                c["mark"] = "*" if c["direction"] else ""
    s["claims"] = [dataclasses.asdict(c) for c in claim_verdicts(s)]
    return s


def test_claims_say_what_was_tested():
    from cdsynth.report.findings import claim_lines

    s = full_summary()
    got = {c["key"]: c for c in claim_lines(s, paper=False)}
    assert len(got) == 6  # every headline claim is listed, none vanishes
    assert got["above_baseline:entity_tracking"]["verdict"] == "supported"
    # EWoK is not among the configured tasks; then configured but without results
    assert got["above_baseline:ewok"]["verdict"] == "not run"
    assert "evaluate.tasks" in got["above_baseline:ewok"]["evidence"]
    s["configured_tasks"].append("ewok")
    by_key = {c["key"]: c for c in claim_lines(s, False)}
    assert "no results for ewok" in by_key["above_baseline:ewok"]["evidence"]
    # the aggregate claim: mu-Delta-REL with its CI, in %
    assert got["aggregate:cd"]["evidence"] == "cd-early mu-Delta-REL +5.0 [+2.0, +8.0]%"
    # evidence in the table's units: accuracies in %, differences in percentage points
    assert (
        "31% vs baseline 28%: Δ +3.0 [+1.0, +5.0]* points"
        in got["above_baseline:entity_tracking"]["evidence"]
    )
    # nothing to compare with: not testable here, and the number it has is still stated
    s = full_summary()
    s["main_methods"] = ["baseline", "cd-early"]
    s["roles"] = {"baseline": "baseline", "cd-early": "cd_early"}
    s["rows"]["cd-early"]["mu_delta_rel"].update(mark="**", direction="gain")
    s["claims"] = [dataclasses.asdict(c) for c in claim_verdicts(s)]
    got = {c["key"]: c for c in claim_lines(s, paper=True)}
    mu = got["best:mu_delta_rel"]
    assert mu["verdict"] == "not testable here" and "paper" not in mu
    assert "no other main condition" in mu["evidence"] and "+5.0 [+2.0, +8.0]**" in mu["evidence"]
    assert got["best:perplexity"]["verdict"] == "not testable here"
    assert "no No-Contrast condition" in got["best:perplexity"]["evidence"]


def test_one_seed_marks_its_stars_item_only_and_says_so():
    from cdsynth.report.findings import study_findings
    from cdsynth.report.tables import ITEM_ONLY

    two = full_summary(seeds=(0, 1))
    assert table2_cell(two, "cd-early", "entity_tracking")["second"].endswith("*")
    assert "items only" not in study_findings(two)["cannot"]
    one = full_summary(seeds=(0,))
    assert table2_cell(one, "cd-early", "entity_tracking")["second"].endswith("*" + ITEM_ONLY)
    assert study_findings(one)["cannot"].endswith(f"Significance is over items only ({ITEM_ONLY}).")


def test_findings_are_computed_from_the_numbers():
    from cdsynth.report.findings import study_findings

    got = study_findings(full_summary())
    # perplexity: both mixtures lower it significantly; the largest with its CI
    assert got["found"] == [
        "Perplexity falls (better): 2 of 2 mixtures lower it significantly, by 0.60 to 1.00 "
        "(largest: no-contrast, Δ -1.00 [-1.50, -0.50])."
    ]
    # entity tracking: one gain and one (non-significant) loss: isolated, against chance
    assert got["cannot"] == (
        "No mixture differs from the baseline on BLiMP and mu-Delta-REL (every CI spans 0). "
        "1 isolated significant difference (cd-early on entity tracking): chance alone gives "
        "0.4 of 8 at the 5% level. With 2 seeds, small effects stay unresolved (see the power "
        "table)."
    )
    # every mixture the same way, one significantly; a two-way suite near chance
    s = full_summary()
    s["rows"]["no-contrast"]["entity_tracking"].update(diff=0.01, ci=[-0.01, 0.03])
    s["rows"]["baseline"]["blimp"]["value"] = 0.52
    got = study_findings(s)
    assert got["found"][1] == (
        "Entity tracking rises (better): every mixture is above the baseline, by 1.0 to 3.0 "
        "points; 1 of 2 significantly (largest: cd-early, Δ +3.0 [+1.0, +5.0] points)."
    )
    assert "BLiMP sits near chance (baseline 52.0%; chance 50%)." in got["cannot"]


def test_the_papers_configuration_only_in_the_papers_regime(tmp_path):
    from pathlib import Path

    from cdsynth.config import load_config
    from cdsynth.report.study_facts import paper_regime

    paper = Path(__file__).parents[1] / "configs" / "paper.yaml"
    assert paper_regime(load_config(paper))["matches"]
    short = paper_regime(load_config(paper, ["train.steps=200", "study.seeds=[43]"]))
    assert not short["matches"] and short["share"] == pytest.approx(200 / 8000)
    assert "the paper's shapes at 2.5% of its training" in short["text"]
    assert "seeds 1 (paper 10)" in short["text"]
    tiny = paper_regime(tiny_config(tmp_path))
    assert not tiny["matches"] and "is not the paper's configuration" in tiny["text"]


def test_subtask_table_has_a_delta_column_sorted_by_it():
    from cdsynth.report.tables import subtask_table

    s = full_summary()
    s["subtasks"] = {
        "blimp": {
            "a": {"baseline": 0.5, "no-contrast": 0.5, "cd-early": 0.6, "cd-early-top_k-200": 0.5},
            "b": {"baseline": 0.5, "no-contrast": 0.4, "cd-early": 0.4, "cd-early-top_k-200": 0.4},
            "c": {"baseline": 0.5, "no-contrast": 0.8, "cd-early": 0.8, "cd-early-top_k-200": 0.8},
        }
    }
    rows = subtask_table(s, "blimp")
    assert rows[0][-1] == "mean Δ (points)"
    assert [r[0] for r in rows[1:]] == ["c", "a", "b"]
    assert rows[1][-1] == "+30" and rows[1][2] == "80 (Δ +30)"


def test_a_code_fence_outlasts_backticks_in_a_sample():
    from cdsynth.report.render import _fence

    assert _fence("plain").startswith("```text\n")
    assert _fence("a ``` b").startswith("````text\n") and _fence("a ``` b").endswith("\n````")


def png_size(path):
    head = path.read_bytes()[:24]
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def rendered(tmp_path, seeds=(0, 1)):
    """A report rendered from a hand-made summary.json with a ratio sweep and samples."""
    from cdsynth.report.render import render_report

    s = full_summary(seeds=seeds)
    for m in s["methods"]:
        for t in s["tasks"]:
            s["rows"][m][t]["value_ci"] = [
                s["rows"][m][t]["value"] * 0.98,
                s["rows"][m][t]["value"] * 1.02,
            ]
            s["curve_seeds"][m][t] = {"4": [0.5, 0.6], "8": [0.6, 0.7], "12": [0.7, 0.75]}
    s["methods"].append("cd-early-ratio-0.5")
    s["rows"]["cd-early-ratio-0.5"] = json.loads(json.dumps(s["rows"]["cd-early"]))
    s["rows"]["cd-early-ratio-0.5"]["mu_delta_rel"]["value"] = 0.02
    s["curve_seeds"]["cd-early-ratio-0.5"] = s["curve_seeds"]["cd-early"]
    s["sweeps"] = [
        {
            "key": "ratio",
            "title": "Mixing ratio (synthetic share of rows)",
            "points": [
                {"x": 0.3, "method": "cd-early"},
                {"x": 0.5, "method": "cd-early-ratio-0.5"},
            ],
        }
    ]
    data = {
        "summary": s,
        "regime": {"matches": False, "share": 0.01, "differences": [], "text": "Not the paper's."},
        "eval_loss": {"baseline": {"4": [5.0, 5.1], "8": [4.0, 4.2]}},
        "diagnostics": {"real (train split)": {"documents": 10, "self_bleu": 0.1}},
        "samples": [
            {
                "condition": "cd-early",
                "where": "source a, prefix 1, completion 0",
                "prefix": "Once upon",
                "generated": "a time ``` there",
                "contrast": [["a", 1.0], [" time", -2.0]],
            }
        ],
        "models": [["model", "checkpoint"], ["GOOD", "runs/x/step_12"]],
        "training_data": [["method", "steps"], ["baseline", "12"]],
    }
    data = json.loads(json.dumps(data))  # as read back from summary.json: string keys
    folder = tmp_path / "report"
    folder.mkdir()
    render_report(data, folder)
    return folder


def test_report_renders_from_summary_json_alone_with_its_sweeps(tmp_path):
    folder = rendered(tmp_path)
    md = (folder / "report.md").read_text()
    # key facts first: what was found, then provenance, then the main table with arrows
    order = [
        "## What this study found",
        "## Main results (Table 2)",
        "## The paper's claims",
        "## Provenance",
    ]
    assert [md.index(h) for h in order] == sorted(md.index(h) for h in order)
    assert "| method | perplexity ↓ (perplexity) | blimp ↑ (accuracy, %) |" in md
    assert "mu-Delta-REL ↑ (%)" in md and "second line" not in md and "green" not in md
    # the sweep as the paper's Figure 3: one figure, baseline line and CIs
    assert "## Sweeps" in md and "![sweep_ratio_0.png](sweep_ratio_0.png)" in md
    assert png_size(folder / "sweep_ratio_0.png")[0] == 2 * 5.2 * 160
    # 160 dpi figures; curves with bands for every method, the held-out loss
    assert png_size(folder / "forest_blimp.png")[0] == 5.6 * 160
    for name in ("curve_eval_loss.png", "curve_blimp.png", "forest_mu_delta_rel.png"):
        assert (folder / name).stat().st_size > 1000
    # samples fenced so they never run together
    assert "````text\n[prefix] Once upon\n[generated] a time ``` there\n````" in md
    html = (folder / "report.html").read_text()
    assert "<details>" in html and "<script" not in html and 'src="http' not in html
    assert "perplexity ↓" in html and "class='t2 t2c scroll'" in html
    assert "class='t2 t2c compact'" in html


def test_curves_skip_methods_with_fewer_than_two_points(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cdsynth.report.plots import _plot_bands

    fig, ax = plt.subplots()
    n = _plot_bands(
        ax,
        {"a": {"1": [1.0, 2.0], "2": [2.0]}, "b": {"5": [1.0]}},
        1.0,
        {"a": {"color": "k", "marker": "o"}},
    )
    assert n == 1 and len(ax.lines) == 1 and len(ax.collections) == 1  # a's line and band
    plt.close(fig)


# --- layout at 1280 and 390 px (headless Chromium; Debian/Ubuntu: apt-get install chromium) ----

# added to a copy of a page: after layout, it lists the cells whose content overflows, the
# table headers with a word broken across lines, and the figures narrower than 300 px, and
# posts them to the page that frames it
LAYOUT_PROBE = """<script>window.addEventListener('load', () => {
  const bad = [], broken = [], narrow = [];
  document.querySelectorAll('td,th').forEach(c => {
    if (c.scrollWidth > c.clientWidth + 1) bad.push(c.textContent.slice(0, 60));
  });
  document.querySelectorAll('th').forEach(th => {
    const walk = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      for (const m of n.textContent.matchAll(/\\S+/g)) {
        const r = document.createRange();
        r.setStart(n, m.index);
        r.setEnd(n, m.index + m[0].length);
        const tops = new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top)));
        if (tops.size > 1) broken.push(m[0]);
      }
    }
  });
  document.querySelectorAll('img').forEach(i => {
    if (i.getBoundingClientRect().width < 300) narrow.push(i.alt);
  });
  // the opening (its words, its bottom, the first table's top), Table 2's boxes (does one
  // scroll sideways? its cells' display, its headers) and each figure's display scale
  const box = e => e ? e.getBoundingClientRect() : null;
  const opening = Array.from(document.querySelectorAll('.findings,.cannot'));
  const firstTable = box(document.querySelector('table'));
  const t2 = Array.from(document.querySelectorAll('.t2')).map(d => ({cls: d.className,
    scroll: d.scrollWidth, client: d.clientWidth, visible: box(d).width > 0,
    display: getComputedStyle(d.querySelectorAll('td')[1]).display,
    heads: Array.from(d.querySelectorAll('th')).map(h => h.textContent)}));
  const scales = Array.from(document.querySelectorAll('img')).filter(i => box(i).width > 0)
    .map(i => ({alt: i.alt, scale: box(i).width / i.naturalWidth}));
  // to the page whose frame holds this one (FRAME below)
  window.parent.postMessage(JSON.stringify({page: document.documentElement.scrollWidth,
    bad: bad, broken: broken, narrow: narrow,
    heading: (document.querySelector('h1') || {textContent: ''}).textContent,
    tables: document.querySelectorAll('table').length,
    opening: {words: opening.map(e => e.textContent.trim().split(/\\s+/).length)
                .reduce((a, b) => a + b, 0),
              bottom: Math.max(0, ...opening.map(e => box(e).bottom)),
              firstTable: firstTable ? firstTable.top : null},
    t2: t2, scales: scales}), '*');
});</script>"""


# the page is laid out in a frame exactly `width` px wide inside a wider window: a browser's
# window has a minimum width of its own (Debian's chromium 156 lays a 390 px window out at
# 485 px), a frame has none. The frame's probe posts its result to this page, which shows it.
FRAME = """<!doctype html><html><body style="margin:0">
<iframe src="{src}" style="border:0;width:{width}px;height:900px"></iframe>
<script>window.addEventListener('message', e => {{
  const o = document.createElement('pre');
  o.id = 'probe';
  o.textContent = e.data;
  document.body.appendChild(o);
}});</script></body></html>"""


def chromium_layout(page: str, tmp_path, width: int = 1280) -> dict:
    """{"page": document width, "bad": [overflowing cells], "broken": [header words split
    across lines], "narrow": [figures under 300 px], "heading": its first h1, "tables": how
    many tables it shows} of an HTML page laid out `width` px wide (in a frame of that width,
    whatever the browser's minimum window size), or skips the test where Chromium is not
    installed."""
    import html
    import re
    import shutil
    import subprocess

    names = ("chromium", "chromium-browser", "chromium-headless-shell", "google-chrome")
    chromium = next((p for n in names if (p := shutil.which(n))), None)
    if not chromium:
        pytest.skip("Chromium is not installed (apt-get install chromium-headless-shell)")
    path = tmp_path / f"page{width}.html"
    path.write_text(page.replace("</body>", LAYOUT_PROBE + "</body>"))
    frame = tmp_path / f"frame{width}.html"
    frame.write_text(FRAME.format(src=path.name, width=width))
    r = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--window-size={width + 200},1000",
            "--virtual-time-budget=5000",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            frame.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0
    probe = re.search(r'<pre id="probe">(.*?)</pre>', r.stdout, re.S)
    assert probe, "the layout probe did not run"
    return json.loads(html.unescape(probe.group(1)))


def paper_sized_summary():
    """Table 2 of the paper's study: 7 tasks, 8 methods, long names, wide CIs."""
    s = full_summary()
    tasks = ["perplexity", "blimp", "blimp_supplement", "ewok", "entity_tracking", "wug"]
    tasks += ["reading"]
    s["tasks"] = tasks
    s["metrics"].update(
        blimp_supplement="accuracy", ewok="accuracy", wug="spearman", reading="reading_gain"
    )
    names = ["baseline", "no-contrast", "no-contrast-vhead", "cd-early-500", "cd-small-20"]
    names += ["cd-drop-0.5", "cd-early-500-top_k-1000", "cd-early-500-ratio-0.5"]
    s["methods"] = names
    s["seeds"] = {m: [0, 1] for m in names}
    rng = np.random.default_rng(0)
    s["rows"] = {}
    for m in names:
        s["rows"][m] = {
            "mu_delta_rel": None
            if m == "baseline"
            else {"value": 0.0123, "ci": [-0.0234, 0.0456], "mark": "**"}
        }
        for t in tasks:
            v = float(rng.random() * (30 if t == "perplexity" else 1))
            c = {"value": v, "value_ci": [v - 0.00123, v + 0.00123]}
            if m != "baseline":
                c.update(diff=-0.01234, ci=[-0.02345, -0.00012], mark="**", direction="loss")
            s["rows"][m][t] = c
    return s


@pytest.mark.parametrize("width", [1280, 390])
def test_a_paper_sized_table_2_reads_at_1280_and_390px(tmp_path, width):
    from cdsynth.report.render import page_head
    from cdsynth.report.tables import table2_html

    s = paper_sized_summary()
    page = page_head("t") + table2_html(s) + "</body></html>"
    got = chromium_layout(page, tmp_path, width)
    assert got["bad"] == [] and got["broken"] == [] and got["page"] <= width


@pytest.mark.parametrize("width", [1280, 390])
def test_a_rendered_report_reads_at_1280_and_390px(tmp_path, width):
    """No overlapping text in the tables, no header broken mid-word, no figure narrower than
    300 px, and the page itself never wider than the screen (tables scroll on their own)."""
    folder = rendered(tmp_path, seeds=(0,))
    got = chromium_layout((folder / "report.html").read_text(), tmp_path, width)
    assert got["bad"] == [], f"cells overflow at {width} px: {got['bad']}"
    assert got["broken"] == [], f"header words broken at {width} px: {got['broken']}"
    assert got["narrow"] == [], f"figures under 300 px at {width} px: {got['narrow']}"
    assert got["page"] <= width


def test_reading_statistic_refits_the_real_regressions_per_resample():
    from cdsynth.analysis import bootstrap_scores
    from cdsynth.item_statistics import reading_scores, reading_statistic

    rng = np.random.default_rng(0)
    sides = {"strong": [reading_words(rng, 10.0, 80)], "none": [reading_words(rng, 0.0, 80)]}
    boot = bootstrap_scores(sides, reading_statistic, B=40)
    for name, (items,) in sides.items():
        assert boot[name].value == pytest.approx(np.mean(list(reading_scores(items).values())))
    assert boot["strong"].ci()[0] > boot["none"].ci()[1]


def test_each_sweep_of_the_config_is_one_plot_with_its_base_condition(tmp_path):
    from cdsynth.report.study_facts import sweep_specs

    cfg = tiny_config(
        tmp_path,
        "study.amateurs={early: {run: baseline, step: 4}}",
        "study.conditions=[{name: nc, strategy: ancestral}, {name: cd, strategy: cd, "
        "amateur: early}]",
        "study.sweeps=[{base: cd, key: top_k, values: [200, 50]}, "
        "{base: nc, key: top_k, values: [50]}, {base: cd, key: ratio, values: [0.5]}]",
    )
    got = [(s["key"], [(p["x"], p["method"]) for p in s["points"]]) for s in sweep_specs(cfg)]
    assert got == [
        ("top_k", [(0, "nc"), (50, "nc-top_k-50")]),
        ("top_k", [(0, "cd"), (50, "cd-top_k-50"), (200, "cd-top_k-200")]),
        ("ratio", [(0.3, "cd"), (0.5, "cd-ratio-0.5")]),
    ]


def test_a_sweep_axis_says_where_the_setting_is_off():
    from cdsynth.report.plots import sweep_tick

    assert [sweep_tick("top_k", x) for x in (0, 50, 1000)] == ["0 (off)", "50", "1000"]
    assert [sweep_tick("top_p", x) for x in (0.9, 1.0)] == ["0.9", "1.0 (off)"]
    assert [sweep_tick("typical_p", x) for x in (0.5, 1)] == ["0.5", "1 (off)"]
    assert [sweep_tick("min_p", x) for x in (0, 0.1)] == ["0 (off)", "0.1"]
    # no off value for a setting that is no filter's
    assert [sweep_tick("ratio", 0.3), sweep_tick("lam", 0)] == ["0.3", "0"]


def test_the_reference_sweep_figures_mark_the_off_values(monkeypatch, tmp_path):
    from cdsynth.report import plots

    ticks = {}

    def keep(fig, folder, name):
        ticks[name] = [[t.get_text() for t in ax.get_xticklabels()] for ax in fig.axes]
        plots._plt().close(fig)
        return name

    monkeypatch.setattr(plots, "_save", keep)
    plots.plot_sweeps(json.loads(REFERENCE_SUMMARY.read_text()), tmp_path)
    assert ticks["sweep_top_k_0.png"] == [["0 (off)", "50", "200", "1000"]] * 2
    assert ticks["sweep_top_p_3.png"] == [["0.9", "1.0 (off)"]] * 2
    assert ticks["sweep_ratio_4.png"] == [["0.1", "0.2", "0.3", "0.4", "0.5"]] * 2


def test_a_finished_study_prints_its_table_from_summary_json(tmp_path):
    from cdsynth.report import printed_summary
    from cdsynth.report.tables import main_table, md_table

    cfg = tiny_config(tmp_path)
    folder = tmp_path / "report"
    folder.mkdir()
    s = json.loads(json.dumps(full_summary()))
    (folder / "summary.json").write_text(json.dumps({"summary": s}))
    lines = printed_summary(cfg).splitlines()
    assert lines[0].startswith("| method | perplexity ↓ (perplexity) |")
    assert lines[:-1] == md_table(main_table(s, arrows=True)).splitlines()
    assert lines[-1] == f"report: {folder / 'report.md'} and {folder / 'report.html'}"


def test_the_layout_probe_sees_broken_headers_overflow_and_narrow_figures(tmp_path):
    from cdsynth.report.render import page_head

    page = (
        page_head("t") + "<table style='width:120px;table-layout:fixed'><tr>"
        "<th style='overflow-wrap:anywhere'>blimp_supplementary_evaluation</th>"
        "<td style='white-space:nowrap'>a long line that cannot wrap</td></tr></table>"
        "<img alt='small' style='width:200px;min-width:0' src='data:image/png;base64,'/>"
        "<div style='width:450px'>wider than a phone</div></body></html>"
    )
    got = chromium_layout(page, tmp_path, 390)
    assert got["broken"] and got["bad"] and got["narrow"] == ["small"]
    assert 450 <= got["page"] < 485  # the page's own width, not the browser's minimum window


def test_every_task_has_one_record_and_derived_tasks_name_their_parent():
    from cdsynth.evaluate import RULE_VERSIONS, TASK_NAMES
    from cdsynth.tasks import TASKS, claim_tasks, reported_tasks

    assert set(TASK_NAMES) <= set(TASKS)
    for t in TASKS.values():
        assert t.statistic is not None and t.label and t.unit[1]
        assert t.parent is None or (t.parent in TASK_NAMES and t.name in TASKS[t.parent].shown_as)
    assert RULE_VERSIONS == {"wug": 2, "reading": 2}  # in every cached result's fingerprint
    assert reported_tasks(["perplexity", "reading", "wug"]) == [
        "perplexity",
        "reading_eye_tracking",
        "reading_self_paced",
        "reading",
        "wug",
        "wug_first_form",
    ]
    assert claim_tasks("blimp") == ("blimp", "blimp_filtered", "probes_agreement")


def test_methods_that_share_no_items_get_no_cis_and_a_message(tmp_path):
    cfg = tiny_config(tmp_path, "study.bootstrap_samples=20", "evaluate.tasks=[blimp]")
    methods = {"baseline": ["baseline-seed0"], "other": ["other-seed0"]}
    for run, first in (("baseline-seed0", 0), ("other-seed0", 100)):
        items = [{"id": str(first + i), "subtask": "a", "correct": i % 2 == 0} for i in range(10)]
        write_run(tmp_path, run, "blimp", "accuracy", {4: (0.5, items)})
    logs = []
    rows = summarize(cfg, methods, log=logs.append)["rows"]
    assert rows["other"]["blimp"]["diff"] == 0 and "ci" not in rows["other"]["blimp"]
    assert logs == ["report: blimp: the methods share no items, so its scores have no CIs"]


# --- the reference study's report: first screen, Table 2 and figures at 1280 and 390 px -------

REFERENCE_SUMMARY = Path(__file__).parents[1] / "results" / "reference-cpu" / "summary.json"


@pytest.fixture(scope="module")
def reference_report(tmp_path_factory):
    """The committed reference study's report, rendered from its summary.json."""
    from cdsynth.report.render import render_report

    folder = tmp_path_factory.mktemp("reference") / "report"
    folder.mkdir()
    render_report(json.loads(REFERENCE_SUMMARY.read_text()), folder)
    return folder


@pytest.mark.parametrize("width", [1280, 390])
def test_the_reference_report_opens_with_its_findings_and_fits(reference_report, tmp_path, width):
    """Issue 37: the findings (at most ~120 words) before any table and, at 1280 px, on the
    first screen; Table 2's key columns, mu-Delta-REL among them, without sideways scrolling
    (a card per method on a phone); every figure's smallest text at 10 px or more at 1280."""
    from cdsynth.report.plots import DPI, FONT_PT

    got = chromium_layout((reference_report / "report.html").read_text(), tmp_path, width)
    opening = got["opening"]
    assert 40 <= opening["words"] <= 120
    assert opening["bottom"] < opening["firstTable"]
    # the frame is 900 px high: the first screen at 1280, under two at 390 (was ~2.5)
    assert opening["bottom"] <= (900 if width == 1280 else 1600), opening
    compact = [t for t in got["t2"] if "compact" in t["cls"]]
    assert len(compact) == 1 and compact[0]["scroll"] <= compact[0]["client"]
    if width == 1280:
        assert any(h.startswith("mu-Delta-REL") for h in compact[0]["heads"])
        assert compact[0]["display"] == "table-cell"
    else:
        assert compact[0]["display"] == "flex"  # one card per method, one line per score
    assert got["page"] <= width and got["bad"] == [] and got["broken"] == []
    if width == 1280:
        assert got["scales"]  # the visible figures
        small = [f["alt"] for f in got["scales"] if FONT_PT * DPI / 72 * f["scale"] < 10]
        assert small == [], f"text under 10 px at 1280 px in {small}"


def collected_figures(monkeypatch, data, folder):
    """Render the report's figures, keeping each figure's texts, legends, axes and bands."""
    from cdsynth.report import plots

    seen = {}
    save = plots._save

    def keep(fig, folder, name):
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        hidden = set()  # the labels of ticks outside an axis's view (matplotlib skips them)
        for ax in fig.axes:
            for axis in (ax.xaxis, ax.yaxis):
                lo, hi = sorted(axis.get_view_interval())
                for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                    if not lo - 1e-9 * (hi - lo) <= tick.get_loc() <= hi + 1e-9 * (hi - lo):
                        hidden |= {id(tick.label1), id(tick.label2)}
        texts = [
            t
            for t in fig.findobj(matplotlib_text())
            if t.get_visible() and t.get_text() and id(t) not in hidden
        ]
        legends = [lg for lg in fig.findobj(matplotlib_legend())]
        seen[name] = {
            "size": fig.bbox,
            "texts": [(t.get_text(), t.get_fontsize(), t.get_window_extent(r)) for t in texts],
            "legends": [
                (lg.get_window_extent(r), [t.get_text() for t in lg.get_texts()]) for lg in legends
            ],
            "axes": [
                (ax.get_window_extent(r), [c.get_gid() for c in ax.collections + ax.patches])
                for ax in fig.axes
                if ax.axison
            ],
        }
        return save(fig, folder, name)

    monkeypatch.setattr(plots, "_save", keep)
    plots.plot_forests(data["summary"], folder)
    plots.plot_sweeps(data, folder)
    plots.plot_learning_curves(data, folder)
    return seen


def matplotlib_text():
    from matplotlib.text import Text

    return Text


def matplotlib_legend():
    from matplotlib.legend import Legend

    return Legend


def test_every_figure_reads_at_a_glance(monkeypatch, tmp_path):
    """Issue 37, on the reference study's figures: no text under FONT_PT points and none cut
    off at the figure's edge, no legend over a plot's data area, every band named in a
    legend."""
    from cdsynth.report.plots import FONT_PT

    data = json.loads(REFERENCE_SUMMARY.read_text())
    seen = collected_figures(monkeypatch, data, tmp_path)
    assert len(seen) > 20
    for name, f in seen.items():
        W, H = f["size"].width, f["size"].height
        for text, size, ext in f["texts"]:
            assert size >= FONT_PT, f"{name}: {text!r} at {size} pt"
            assert ext.x0 >= -1 and ext.x1 <= W + 1 and ext.y0 >= -1 and ext.y1 <= H + 1, (
                f"{name}: {text!r} is cut off"
            )
        for lg, _ in f["legends"]:
            for ax, _ in f["axes"]:
                overlap = (
                    min(lg.x1, ax.x1) - max(lg.x0, ax.x0),
                    min(lg.y1, ax.y1) - max(lg.y0, ax.y0),
                )
                assert min(overlap) <= 0, f"{name}: a legend over the data"
        bands = any("band" in gids for _, gids in f["axes"])
        words = " ".join(t for _, texts in f["legends"] for t in texts)
        assert not bands or "band" in words or "CI" in words, f"{name}: a band not in a legend"


def test_each_method_has_its_own_colour_and_sweeps_their_base_hue():
    import colorsys

    from cdsynth.report.plots import method_styles, sweep_bases

    s = json.loads(REFERENCE_SUMMARY.read_text())["summary"]
    styles = method_styles(s)
    assert list(styles) == s["methods"]
    pairs = [(st["color"], st["marker"]) for st in styles.values()]
    assert len(set(pairs)) == len(pairs)  # unique colour and marker together
    main = [styles[m]["color"] for m in s["main_methods"]]
    assert len(set(main)) == len(main)  # the main methods: a colour each
    bases = sweep_bases(s)
    assert bases["no-contrast-top_k-50"] == "no-contrast"
    assert bases["cd-early-70-ratio-0.5"] == "cd-early-70"

    def hue(c):
        return colorsys.rgb_to_hsv(*(int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)))[0]

    for m, base in bases.items():
        assert hue(styles[m]["color"]) == pytest.approx(hue(styles[base]["color"]), abs=0.02)
        assert styles[m]["color"] != styles[base]["color"]


def test_the_reference_cis_are_the_paired_t_over_seeds_the_note_names():
    """Issue 37: the statistics note says every CI, the tasks' and mu-Delta-REL's, is a paired
    t over seeds with its percentiles read from B draws. On the reference study's per-seed
    scores: each shown CI is exactly what those draws give, and within their Monte Carlo
    error of the exact paired t (CD-Early's mu-Delta-REL was [-2.4, +2.6] before its
    denominator was fixed, against [-3.2, +0.7] for the paired t: far outside it)."""
    from scipy import stats

    from cdsynth.analysis import percentile_ci, seed_weights
    from cdsynth.report.summary import seed_scores
    from cdsynth.report.tables import ci_note

    s = json.loads(REFERENCE_SUMMARY.read_text())["summary"]
    assert ci_note(s).startswith("CIs: a paired t over seeds.")
    assert "mu-Delta-REL's CI comes from the same resamples" in ci_note(s)
    W = seed_weights(3, s["bootstrap_samples"], s["bootstrap_seed"])
    checked = 0
    for m in s["methods"][1:]:
        base = {t: seed_scores(s, "baseline", t) for t in s["tasks"]}
        for t in [*s["tasks"], "mu_delta_rel"]:
            if t == "mu_delta_rel":
                rel = s["relative_tasks"]
                d = np.mean([(seed_scores(s, m, u) - base[u]) / base[u].mean() for u in rel], 0)
                shown = s["rows"][m]["mu_delta_rel"]["ci"]
            else:
                if "ci" not in s["rows"][m][t]:
                    continue
                d, shown = seed_scores(s, m, t) - base[t], s["rows"][m][t]["ci"]
            assert shown == pytest.approx(percentile_ci(W @ d), abs=1e-9), (m, t)
            half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
            exact = (d.mean() - half, d.mean() + half)
            assert max(abs(a - b) for a, b in zip(shown, exact, strict=True)) < 0.3 * half, (m, t)
            checked += 1
    assert checked == 17 * 11
    cd = s["rows"]["cd-early-70"]["mu_delta_rel"]
    assert 100 * cd["ci"][1] < 1  # today's: [-3.4, +0.9]


def test_results_md_lists_the_reports_claims_with_its_verdicts():
    """Issue 37: RESULTS.md's claims are the report's, in its order and with its verdict
    words, computed from the committed summary.json."""
    import re

    from cdsynth.report.findings import claim_lines

    text = (Path(__file__).parents[1] / "RESULTS.md").read_text()
    section = text.split("## The paper's headline claims, point by point")[1].split("\n## ")[0]
    flat = re.sub(r"\s*\n\s*", " ", section)
    got = re.findall(r"\d+\. \*\*(.+?): ([a-z][^*]*?)\.\*\*", flat)
    s = json.loads(REFERENCE_SUMMARY.read_text())["summary"]
    assert got == [(c["text"], c["verdict"]) for c in claim_lines(s)]
