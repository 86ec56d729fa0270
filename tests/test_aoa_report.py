"""AoA's run-level score in the report (issue 38, item 6): each run's model-child correlation
(RUN/eval/aoa.json, `curve_fitness`) is a column of Table 2 with the mean over seeds and the
paired t over seeds against the baseline, compared by absolute difference and kept out of
mu-Delta-REL; the per-checkpoint mean surprisal stays the `aoa` task it was."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from .conftest import tiny_config
from .test_report import write_run

SEEDS = (0, 1, 2)
# each run's curve_fitness, by hand
AOA = {"baseline": (0.20, 0.25, 0.15), "cd-early": (0.30, 0.28, 0.35)}


def write_aoa_study(root, *, aoa_files=True, seeds=SEEDS):
    """Two methods x seeds: BLiMP and AoA surprisals at steps 4 and 8; with `aoa_files` each
    run's eval/aoa.json (as `evaluate.runner.write_aoa_score` writes it) over both steps."""
    rng = np.random.default_rng(0)
    methods: dict = {"baseline": [], "cd-early": []}
    for m, shift in (("baseline", 0.0), ("cd-early", 0.1)):
        for k, seed in enumerate(seeds):
            run = ("baseline" if m == "baseline" else f"mix-{m}") + f"-seed{seed}"
            methods[m].append(run)
            for step in (4, 8):
                bl = [
                    {
                        "id": str(i),
                        "subtask": "xy"[i % 2],
                        "correct": bool(rng.random() < 0.6 + shift),
                    }
                    for i in range(80)
                ]
                acc = float(np.mean([it["correct"] for it in bl]))
                write_run(root, run, "blimp", "accuracy", {step: (acc, bl)})
                sur = [
                    {"id": f"{w}/0", "subtask": w, "surprisal": float(rng.uniform(2, 9))}
                    for w in ("dog", "ball", "milk")
                ]
                mean = float(np.mean([it["surprisal"] for it in sur]))
                write_run(root, run, "aoa", "surprisal", {step: (mean, sur)})
            if aoa_files:
                r = AOA[m][k]
                record = {
                    "curve_fitness": r,
                    "pearson_r": r,
                    "p_value": 0.01,
                    "n_words": 3,
                    "checkpoints": ["step_4", "step_8"],
                    "child_table": "cdi_human.csv",
                }
                (root / "runs" / run / "eval" / "aoa.json").write_text(json.dumps(record))
    return methods


def config(root, *extra):
    return tiny_config(
        root,
        "study.seeds=[0, 1, 2]",
        "study.amateurs={early: {run: baseline, step: 4}}",
        "study.conditions=[{name: cd-early, strategy: cd, amateur: early}]",
        "evaluate.tasks=[blimp, aoa]",
        *extra,
    )


def test_aoa_correlation_is_a_table2_column_with_a_paired_t_over_seeds(tmp_path):
    from cdsynth import analysis
    from cdsynth.report.summary import summarize
    from cdsynth.report.tables import compact_table, main_table, table2_cell

    B = 20000
    methods = write_aoa_study(tmp_path)
    summary = summarize(
        config(tmp_path, f"study.bootstrap_samples={B}"), methods, log=lambda *_: None
    )
    summary = json.loads(json.dumps(summary))  # as summary.json holds it
    # the run-level score beside the per-checkpoint mean surprisal, which stays as it was
    assert summary["tasks"] == ["blimp", "aoa", "aoa_correlation"]
    assert summary["metrics"]["aoa"] == "surprisal"
    assert summary["metrics"]["aoa_correlation"] == "pearson"
    rows = summary["rows"]
    base, cd = rows["baseline"]["aoa_correlation"], rows["cd-early"]["aoa_correlation"]
    # the mean over seeds of each run's score, at the last checkpoint it was computed over
    assert base["value"] == pytest.approx(0.20)  # (0.20 + 0.25 + 0.15) / 3
    assert cd["value"] == pytest.approx(0.31)  # (0.30 + 0.28 + 0.35) / 3
    assert set(cd["steps"].values()) == {8} and cd["seeds"] == [0, 1, 2]
    assert cd["diff"] == pytest.approx(0.11)
    # the paired t over seeds: per-seed differences 0.10, 0.03, 0.20
    d = np.array([0.10, 0.03, 0.20])
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)  # 4.3027 x 0.08544 / 1.7321
    assert half == pytest.approx(0.2122, abs=1e-4)
    lo, hi = cd["ci"]
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.1)
    assert (lo + hi) / 2 == pytest.approx(0.11, abs=0.03)
    assert lo < 0 < hi and cd["mark"] == "" and cd["direction"] is None  # 3 seeds: not sig.
    # exactly the seed weights every task's `seeds` scheme uses (the same path, not a new one)
    w = analysis.seed_weights(3, B, summary["bootstrap_seed"])
    want = analysis.percentile_ci(w @ np.array(AOA["cd-early"]) - w @ np.array(AOA["baseline"]))
    assert cd["ci"] == pytest.approx(list(want), abs=1e-12)
    assert base["value_ci"] == pytest.approx(
        list(analysis.percentile_ci(w @ np.array(AOA["baseline"]))), abs=1e-12
    )
    assert cd["seed_sd"] == pytest.approx(d.std(ddof=1))
    # a correlation: absolute differences only, not in mu-Delta-REL (BLiMP's relative alone)
    assert "relative" not in cd
    assert summary["relative_tasks"] == ["blimp"]
    mu = rows["cd-early"]["mu_delta_rel"]
    assert mu["tasks"] == ["blimp"] and mu["value"] == pytest.approx(
        rows["cd-early"]["blimp"]["relative"]
    )
    # no checkpoint is chosen for it, so no selection check
    assert "aoa_correlation" not in summary["selection_check"]["cd-early"]
    assert "aoa" in summary["selection_check"]["cd-early"]
    # Table 2: its column, the values to the digits the CI supports
    table = main_table(summary)
    col = table[0].index("aoa_correlation")
    assert [r[0] for r in table[1:]] == ["baseline", "cd-early"]
    for r, m, want_v in ((table[1], "baseline", 0.20), (table[2], "cd-early", 0.31)):
        c = table2_cell(summary, m, "aoa_correlation")
        assert r[col].startswith(c["value"])
        decimals = len(c["value"].split(".")[1]) if "." in c["value"] else 0
        assert float(c["value"]) == pytest.approx(want_v, abs=0.5 * 10**-decimals + 1e-12)
    assert table2_cell(summary, "cd-early", "aoa_correlation")["second"].startswith("Δ +0.1")
    # the compact Table 2 keeps it beside the scores mu-Delta-REL is over
    assert compact_table(summary)[0] == [
        "method",
        "blimp",
        "aoa",
        "aoa_correlation",
        "mu-Delta-REL",
    ]


def test_the_report_renders_the_aoa_column_and_says_what_it_is(tmp_path):
    from cdsynth.report.render import render_report
    from cdsynth.report.summary import summarize
    from cdsynth.report.tables import main_table

    methods = write_aoa_study(tmp_path)
    summary = summarize(
        config(tmp_path, "study.bootstrap_samples=200"), methods, log=lambda *_: None
    )
    data = {
        "table": main_table(summary),
        "seeds": summary["seeds"],
        "resample": summary["resample"],
        "summary": json.loads(json.dumps(summary)),
        "regime": None,
        "provenance": [],
        "eval_loss": {},
        "diagnostics": {},
        "samples": [],
        "models": [["model"], ["GOOD"]],
        "training_data": [["method"], ["baseline"]],
    }
    (tmp_path / "report").mkdir()
    render_report(data, tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    assert "aoa_correlation ↑ (Pearson r)" in md
    assert "aoa_correlation: one score per run" in md and "not in mu-Delta-REL" in md
    assert "aoa_correlation" in (tmp_path / "report" / "report.html").read_text()


def test_aoa_correlation_gets_no_ci_where_its_runs_cannot_be_resampled(tmp_path):
    """One score per run has no items: under items-only resampling (or with one seed) it
    gets its mean but no CI, never a zero-width one; the item tasks keep theirs."""
    from cdsynth.report.summary import summarize

    methods = write_aoa_study(tmp_path)
    said = []
    cfg = config(tmp_path, "study.bootstrap_samples=200", "study.resample=items")
    summary = summarize(cfg, methods, log=said.append)
    cd = summary["rows"]["cd-early"]["aoa_correlation"]
    assert cd["value"] == pytest.approx(0.31) and cd["diff"] == pytest.approx(0.11)
    assert "ci" not in cd and "value_ci" not in cd and "mark" not in cd
    assert len(summary["rows"]["cd-early"]["blimp"]["ci"]) == 2
    assert said == [
        "report: aoa_correlation: one score per run, so no CI for baseline, cd-early "
        "(study.resample is items)"
    ]

    one = tmp_path / "one"
    methods = write_aoa_study(one, seeds=(0,))
    said.clear()
    summary = summarize(
        config(one, "study.seeds=[0]", "study.bootstrap_samples=200"), methods, log=said.append
    )
    cd = summary["rows"]["cd-early"]["aoa_correlation"]
    assert cd["value"] == pytest.approx(0.30) and "ci" not in cd
    assert said[-1].endswith("(fewer than 2 seeds)")


def test_a_study_without_the_aoa_score_reports_the_surprisal_only(tmp_path):
    """No child table, so no eval/aoa.json: the report has the per-checkpoint record only."""
    from cdsynth.report.summary import summarize
    from cdsynth.report.tables import run_level_note

    methods = write_aoa_study(tmp_path, aoa_files=False)
    summary = summarize(
        config(tmp_path, "study.bootstrap_samples=50"), methods, log=lambda *_: None
    )
    assert summary["tasks"] == ["blimp", "aoa"]
    assert run_level_note(summary) == ""


def test_run_result_reads_the_last_step_the_score_was_computed_over(tmp_path):
    from cdsynth.report.summary import load_items, run_result

    ev = tmp_path / "eval"
    ev.mkdir()
    assert run_result(tmp_path, "aoa_correlation") is None
    record = {"curve_fitness": 0.4, "checkpoints": ["step_10", "step_200", "step_30"]}
    (ev / "aoa.json").write_text(json.dumps(record))
    step, s = run_result(tmp_path, "aoa_correlation")
    assert step == 200 and s["score"] == 0.4 and s["metric"] == "pearson"
    assert load_items(tmp_path, 200, "aoa_correlation") == [
        {"id": "run", "subtask": "", "score": 0.4}
    ]
    assert load_items(tmp_path, 30, "aoa_correlation") == []
    # checkpoints named by words seen are not the report's step_N checkpoints
    (ev / "aoa.json").write_text(json.dumps({"curve_fitness": 0.4, "checkpoints": ["chck_1M"]}))
    assert run_result(tmp_path, "aoa_correlation") is None


def test_under_the_hierarchical_scheme_its_seeds_are_drawn_as_for_every_task(tmp_path):
    from cdsynth import analysis
    from cdsynth.report.summary import summarize

    methods = write_aoa_study(tmp_path)
    cfg = config(tmp_path, "study.bootstrap_samples=500", "study.resample=hierarchical")
    summary = summarize(cfg, methods, log=lambda *_: None)
    J = analysis.seed_draws(3, 500, summary["bootstrap_seed"])  # no items to draw
    d = np.array(AOA["cd-early"])[J].mean(1) - np.array(AOA["baseline"])[J].mean(1)
    cd = summary["rows"]["cd-early"]["aoa_correlation"]
    assert cd["ci"] == pytest.approx(list(analysis.percentile_ci(d)), abs=1e-12)
