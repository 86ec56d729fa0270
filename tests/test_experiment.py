"""The study graph: caching, invalidation, resume, and a whole (tiny) study with its report."""

import json

import pytest

from cdsynth import train as train_mod
from cdsynth.graph import experiment_status, run_experiment, status_lines

from .conftest import interrupt_after, quiet, tiny_config

STUDY = [
    "study.seeds=[0]",
    "study.good_step=12",
    "study.amateurs={early: {run: baseline, step: 4}}",
    "study.conditions=[{name: no-contrast, strategy: ancestral}, "
    "{name: no-contrast-vhead, strategy: vhead}, {name: cd-early, strategy: cd, amateur: early}]",
    "study.bootstrap_samples=50",
    "study.diagnostics_samples=10",
    "study.sweeps=[{base: no-contrast, key: ratio, values: [0.6]}]",
    "generate.num_prefixes=4",
    "generate.completions=2",
    "generate.new_tokens=16",
    "generate.batch_size=8",
    "generate.dtype=fp32",
    "evaluate.tasks=[perplexity, probes_agreement, probes_tracking]",
    "evaluate.max_items=8",
    "evaluate.perplexity_documents=5",
]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study") / "ws"
    cfg = tiny_config(root, *STUDY)
    first = run_experiment(cfg, log=quiet)
    return root, cfg, first


def test_whole_study_and_report(study):
    root, cfg, first = study
    assert all(what == "ran" for _, what in first)
    names = [n for n, _ in first]
    assert names[:3] == ["corpus", "tokenizer", "train/baseline-seed0"]
    assert "generate/cd-early" in names and "train/mix-cd-early-seed0" in names
    assert names[-1] == "report"
    # a ratio sweep reuses its base condition's corpus: no second generation
    assert "generate/no-contrast-ratio-0.6" not in names
    assert "train/mix-no-contrast-ratio-0.6-seed0" in names
    summary = json.loads((root / "report" / "summary.json").read_text())
    table = summary["table"]
    assert table[0] == [
        "method",
        "perplexity",
        "probes_agreement",
        "probes_tracking",
        "mu-Delta-REL",
    ]
    assert [r[0] for r in table[1:]] == [
        "baseline",
        "no-contrast",
        "no-contrast-vhead",
        "cd-early",
        "no-contrast-ratio-0.6",
    ]
    md = (root / "report" / "report.md").read_text()
    for method in ("no-contrast-vhead", "cd-early"):
        assert f"| {method} |" in md
    assert "real (train split)" in md and "distinct 2-grams, share (↑ more diverse)" in md
    html = (root / "report" / "report.html").read_text()
    assert html.count("<table>") >= 3 and "data:image/png;base64," in html
    assert (root / "report" / "curve_eval_loss.png").stat().st_size > 1000
    assert (root / "report" / "sweep_ratio_0.png").stat().st_size > 1000  # the Fig. 3 analogue
    # forest plots beside the report and inline; claims in words; seeds and resampling recorded
    for t in ("perplexity", "probes_tracking", "mu_delta_rel"):
        assert (root / "report" / f"forest_{t}.png").stat().st_size > 1000
        assert f'alt="forest_{t}.png" src="data:image/png;base64,' in html
    assert "## The paper's claims" in md and "The paper's claims" in html
    assert {c["key"] for c in summary["summary"]["claims"]} >= {
        "above_baseline:entity_tracking",
        "best:perplexity",
        "best:mu_delta_rel",
    }
    assert summary["seeds"]["cd-early"] == [0] and summary["resample"] == "seeds"
    assert "resampling seeds" in md and "seeds 0 for every method" in md
    assert "class='prefix'" in html and "source storyworld" in html
    assert "class='legend'" in html  # the CD samples' per-token contrast colours
    # one self-contained file: nothing fetched from elsewhere
    assert "<link" not in html and "<script" not in html and 'src="http' not in html


def test_report_states_good_bad_and_the_real_text_each_method_saw(study):
    root, cfg, _ = study
    summary = json.loads((root / "report" / "summary.json").read_text())
    blocks = next((root / "blocks").glob("train-*"))
    n_blocks = json.loads((blocks / "blocks.json").read_text())["n_blocks"]
    models = {r[0]: r for r in summary["models"][1:]}
    for role, step in (("GOOD", 12), ("BAD of cd-early", 4)):
        state = json.loads((root / f"runs/baseline-seed0/step_{step}/state.json").read_text())
        assert models[role][1:3] == [f"runs/baseline-seed0/step_{step}", str(step)]
        assert float(models[role][3]) == pytest.approx(step * 8 / n_blocks, rel=6e-3)
        assert float(models[role][4]) == pytest.approx(state["eval_loss"], rel=1e-3)
    seen = {r[0]: r for r in summary["training_data"][1:]}
    assert float(seen["baseline"][3]) == 0
    assert float(seen["baseline"][2]) == pytest.approx(12 * 8 / n_blocks, rel=6e-3)
    for m in ("no-contrast", "cd-early"):  # 30% of the rows are synthetic: 70% the real text
        share = float(seen[m][3])
        assert share == pytest.approx(0.3, abs=0.02)
        assert float(seen[m][2]) == pytest.approx(12 * 8 * (1 - share) / n_blocks, rel=1e-2)
    assert float(seen["no-contrast-ratio-0.6"][3]) == pytest.approx(0.6, abs=0.02)
    assert "## GOOD, BAD and the training data" in (root / "report" / "report.md").read_text()


def test_html_report_renders_at_1280px_in_headless_chromium(study, tmp_path):
    """Runs where Chromium is installed (Debian/Ubuntu: apt-get install chromium)."""
    from .test_report import chromium_layout

    got = chromium_layout((study[0] / "report" / "report.html").read_text(), tmp_path)
    assert got["heading"] == "cdsynth study report" and got["tables"] > 0
    assert got["bad"] == [], f"cells overflow at 1280 px: {got['bad']}"
    assert got["page"] <= 1280  # no horizontal scrolling of the page


def test_rerun_does_no_work_and_one_change_redoes_one_stage(study):
    root, cfg, _ = study
    again = run_experiment(cfg, log=quiet)
    assert all(what == "skipped" for _, what in again)
    assert all(state == "done" for _, state in experiment_status(cfg))
    # each finished stage recorded its wall time and machine; status sums them by kind
    rec = json.loads((root / "stages" / "train__baseline-seed0.json").read_text())
    assert rec["seconds"] > 0 and rec["machine"] and rec["finished"]
    (wall,) = [x for x in status_lines(cfg) if x.startswith("wall time recorded:")]
    assert all(f"{kind} " in wall for kind in ("corpus", "train", "generate", "eval", "report"))
    # a report-only setting: only the report is redone
    changed = tiny_config(root, *STUDY[:4], "study.bootstrap_samples=60", *STUDY[5:])
    ran = [n for n, what in run_experiment(changed, log=quiet) if what == "ran"]
    assert ran == ["report"]
    # one condition's decoding setting: its corpus, its mixed run, that run's eval and the report
    cond = STUDY[3].replace(
        "strategy: cd, amateur: early}", "strategy: cd, amateur: early, lam: 0.5}"
    )
    changed = tiny_config(root, *STUDY[:3], cond, "study.bootstrap_samples=60", *STUDY[5:])
    status = dict(experiment_status(changed))
    assert status["generate/cd-early"] == "stale" and status["generate/no-contrast"] == "done"
    ran = [n for n, what in run_experiment(changed, log=quiet) if what == "ran"]
    assert ran == [
        "generate/cd-early",
        "train/mix-cd-early-seed0",
        "eval/mix-cd-early-seed0",
        "report",
    ]


def test_a_stage_killed_half_way_resumes(study, monkeypatch):
    root, cfg, _ = study
    changed = tiny_config(root, *STUDY[:4], "study.ratio=0.5", *STUDY[4:])
    interrupt_after(monkeypatch, train_mod, "save_checkpoint", 2)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(changed, log=quiet)
    status = dict(experiment_status(changed))
    assert status["train/mix-no-contrast-seed0"] == "partial"
    # `cdsynth experiment status` says how far it came and what is left
    lines = status_lines(changed)
    assert any(
        line.split() == ["train/mix-no-contrast-seed0", "partial", "(step", "8", "of", "12)"]
        for line in lines
    )
    left = [n for n, s in experiment_status(changed) if s != "done"]
    assert lines[-1].startswith(f"{len(status) - len(left)} of {len(status)} stages done; left: ")
    monkeypatch.undo()
    logs = []
    run_experiment(changed, log=logs.append)
    assert "[train/mix-no-contrast-seed0] resuming" in logs
    run = root / "runs" / "mix-no-contrast-seed0"
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 13))  # resumed at step 8: nothing lost, nothing twice
    assert all(state == "done" for _, state in experiment_status(changed))


def test_sweeps_expand_into_conditions_and_plots(tmp_path):
    from cdsynth.report.study_facts import sweep_groups
    from cdsynth.study import condition_specs, study_conditions

    cfg = tiny_config(
        tmp_path, *STUDY[:4], "study.sweeps=[{base: cd-early, key: ratio, values: [0.1, 0.5]}]"
    )
    names = [c["name"] for c in condition_specs(cfg.study)]
    assert names[-2:] == ["cd-early-ratio-0.1", "cd-early-ratio-0.5"]
    conds = {c.name: c for c in study_conditions(cfg)}
    assert conds["cd-early-ratio-0.5"].ratio == 0.5 and conds["cd-early"].ratio == 0.3
    assert conds["cd-early-ratio-0.1"].generate.bad == "runs/baseline-seed0/step_4"
    groups = sweep_groups(cfg, "ratio")
    assert [sorted(c["name"] for c in g) for g in groups] == [
        ["cd-early", "cd-early-ratio-0.1", "cd-early-ratio-0.5"]
    ]
    from cdsynth.errors import UserError

    bad = tiny_config(tmp_path, *STUDY[:4], "study.sweeps=[{base: nope, key: lam, values: [1]}]")
    with pytest.raises(UserError, match="no condition named 'nope'"):
        condition_specs(bad.study)


def test_torchrun_launcher_runs_training_stages_in_two_processes(tmp_path):
    cfg = tiny_config(
        tmp_path / "ws",
        "train.steps=4",
        "study.conditions=[]",
        "evaluate.tasks=[perplexity]",
        "evaluate.perplexity_documents=3",
    )
    done = run_experiment(cfg, launcher="torchrun", nproc=2, log=quiet)
    assert [n for n, _ in done] == [
        "corpus",
        "tokenizer",
        "train/baseline-seed0",
        "eval/baseline-seed0",
        "report",
    ]
    run = tmp_path / "ws" / "runs" / "baseline-seed0"
    assert (run / "step_4" / "model.safetensors").is_file()
    # the stage ran under torchrun: its resolved config was written for the processes
    assert (tmp_path / "ws" / "stages" / "train__baseline-seed0.yaml").is_file()
    assert all(state == "done" for _, state in experiment_status(cfg))
