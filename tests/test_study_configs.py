"""The shipped study configs, checked without running them: the paper's regime as read in the
paper's code, and the stage graph each one expands into."""

from pathlib import Path

import pytest

from cdsynth.config import load_config
from cdsynth.graph import build_graph
from cdsynth.study import study_conditions

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_paper_config_is_the_papers_training_regime():
    cfg = load_config(CONFIGS / "paper.yaml")
    t = cfg.train
    assert (t.steps, t.batch_size, t.block_len) == (8000, 256, 1024)  # ~2.1B tokens
    assert t.batch_size * t.block_len * t.steps == 8000 * 256 * 1024
    assert (t.lr, t.warmup_steps, t.min_lr, t.weight_decay) == (1e-3, 150, 0.0, 0.1)
    assert (t.beta1, t.beta2, t.grad_clip, t.decay) == (0.9, 0.999, 0.0, "all")
    assert (t.checkpoint_every, t.eval_every) == (500, 500)
    assert t.model.resolved().n_layers == 12 and t.model.resolved().hidden == 768
    assert cfg.study.seeds == list(range(42, 52))
    assert cfg.study.good_step == 2500
    g = cfg.generate
    assert (g.prefix_tokens, g.completions, g.new_tokens) == (20, 8, 400)
    assert (g.decoding.alpha, g.decoding.lam) == (0.1, 1.0)
    assert "blimp_filtered" in cfg.evaluate.tasks and "blimp" not in cfg.evaluate.tasks


def test_paper_config_graph():
    cfg = load_config(CONFIGS / "paper.yaml")
    conds = {c.name: c for c in study_conditions(cfg)}
    early = conds["cd-early-500"].generate
    assert early.good == "runs/baseline-seed42/step_2500"
    assert early.bad == "runs/baseline-seed42/step_500"
    assert conds["cd-small-20"].generate.bad == "runs/small-20-seed42/step_2500"
    assert conds["cd-drop-0.5"].generate.bad_dropout == 0.5
    assert conds["cd-early-500-top_k-200"].generate.decoding.top_k == 200
    assert conds["cd-early-500-ratio-0.5"].ratio == 0.5
    names = [s.name for s in build_graph(cfg, log=lambda *a: None)]
    trains = [n for n in names if n.startswith("train/")]
    # 10 baseline seeds, one small model, and one mixed run per condition and seed
    assert len(trains) == 10 + 1 + len(conds) * 10
    # conditions that differ only in the mixing ratio share one synthetic corpus
    generated = [n for n in names if n.startswith("generate/")]
    assert len(generated) == len(conds) - 4 and "generate/cd-early-500-ratio-0.5" not in generated
    assert names[-1] == "report"


@pytest.mark.slow
def test_output_neutral_settings_never_make_a_finished_study_stale(tmp_path):
    """After a finished tiny study, batch sizes, devices, formats, the engine path and the
    scorer's packing leave every stage done; alpha, a ratio or a corpus file make exactly the
    stages that read them stale."""
    from cdsynth.graph import experiment_status, run_experiment

    from .conftest import quiet, tiny_config
    from .test_experiment import STUDY

    root = tmp_path / "ws"
    cfg = tiny_config(root, *STUDY)
    run_experiment(cfg, log=quiet)
    neutral = [
        "generate.batch_size=4",
        "generate.formats=[parquet, jsonl]",
        "generate.engine=lean",
        "evaluate.batch_tokens=1024",
        "evaluate.packing=padded",
        "train.device=cpu",
    ]
    status = experiment_status(tiny_config(root, *STUDY, *neutral))
    assert all(state == "done" for _, state in status), status
    # a run with nothing left to do still prints the study's summary
    logs = []
    assert all(w == "skipped" for _, w in run_experiment(cfg, log=logs.append))
    printed = "\n".join(logs)
    assert "| baseline" in printed and "cd-early" in printed and "report.html" in printed

    def stale(*extra):
        return {n for n, s in experiment_status(tiny_config(root, *STUDY, *extra)) if s != "done"}

    cd_only = {"generate/cd-early", "train/mix-cd-early-seed0", "eval/mix-cd-early-seed0"}
    assert stale("generate.decoding.alpha=0.2") == {
        "generate/no-contrast-vhead",
        "train/mix-no-contrast-vhead-seed0",
        "eval/mix-no-contrast-vhead-seed0",
        *cd_only,
        "report",
    }
    # the default ratio: every mixed run that uses it, none of the corpora
    mixes = {
        f"{k}/mix-{c}-seed0"
        for k in ("train", "eval")
        for c in ("no-contrast", "no-contrast-vhead", "cd-early")
    }
    assert stale("study.ratio=0.2") == mixes | {"report"}


def test_an_edited_corpus_file_makes_the_corpus_and_everything_after_it_stale(tmp_path):
    from .conftest import quiet, tiny_config

    src = tmp_path / "texts"
    src.mkdir()
    (src / "a.txt").write_text("one story here\n\nanother one\n", encoding="utf-8")
    args = ["corpus.source=text", f"corpus.path={src}"]

    def hashes():
        cfg = tiny_config(tmp_path / "ws", *args)
        return {s.name: s.hash for s in build_graph(cfg, log=quiet)}

    before = hashes()
    assert before == hashes()  # nothing changed: the same identities
    (src / "a.txt").write_text("one story here\n\nanother one, edited\n", encoding="utf-8")
    after = hashes()
    assert all(after[name] != before[name] for name in before)
