"""The one stale rule (issue 39): a setting is part of an output's identity only if that output
can read it, settings that change only float rounding count alike for every stage, and the
graph never deletes a finished output before the stage that replaces it passed its checks."""

import dataclasses
import shutil

import pytest

from cdsynth.config import CorpusConfig, to_dict
from cdsynth.graph import experiment_status, run_experiment
from cdsynth.identity import CORPUS_READS, SPLIT_SETTINGS, identity

from .conftest import quiet, run_cli, tiny_config
from .test_bad_input import _one_line_error, _snapshot
from .test_experiment import STUDY

# every corpus setting with a value other than its default, to change one at a time
OTHER_VALUE = {
    "path": "/somewhere/else",
    "text_field": "body",
    "documents": "file",
    "hf_config": "en",
    "hf_split": "validation",
    "storyworld_words": 1234,
    "seed": 7,
    "eval_fraction": 0.2,
    "seeds_fraction": 0.2,
    "max_words": 999,
}


@pytest.mark.parametrize("source", sorted(CORPUS_READS))
def test_a_corpus_identity_holds_exactly_what_its_source_reads(source):
    base = to_dict(CorpusConfig(source=source, path="/data"))
    reads = {*SPLIT_SETTINGS, *CORPUS_READS[source]}
    assert set(OTHER_VALUE) | {"source"} == {f.name for f in dataclasses.fields(CorpusConfig)}
    for key, value in OTHER_VALUE.items():
        changed = identity("corpus", {**base, key: value}) != identity("corpus", base)
        assert changed == (key in reads), (source, key)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("stale") / "ws"
    cfg = tiny_config(root, *STUDY)
    run_experiment(cfg, log=quiet)
    return root


def _contents(root):
    """Every file's bytes but the lock files'."""
    return {k: v for k, v in _snapshot(root).items() if not k.endswith(".lock")}


# Per stage kind, settings it cannot read (or that change only float rounding): none may make
# a finished stage stale, and a rerun deletes and redoes nothing.
NEUTRAL = {
    "corpus": [
        "corpus.text_field=body",
        "corpus.documents=file",
        "corpus.hf_split=validation",
        "corpus.hf_config=en",
        "corpus.path=/nonexistent",
    ],
    "train": [
        "train.micro_batch_size=2",
        "train.device=cpu",
        "train.loss=chunked",
        "train.loss_chunk_rows=8",
    ],
    "generate": [
        "generate.batch_size=4",
        "generate.engine=generic",
        "generate.formats=[parquet]",
        "generate.device=cpu",
    ],
    "eval": [
        "evaluate.data_dir=/nonexistent",
        "evaluate.passwords={ewok: secret, entity_tracking: other}",
        "evaluate.tasks=[probes_tracking, perplexity, probes_agreement]",
        "evaluate.steps=[12, 4, 8]",
        "evaluate.batch_tokens=64",
        "evaluate.packing=padded",
        "evaluate.device=cpu",
    ],
    "report": ["slurm.partition=gpu"],
}


@pytest.mark.parametrize("kind", sorted(NEUTRAL))
def test_settings_a_stage_cannot_read_make_nothing_stale(study, kind):
    root = study
    cfg = tiny_config(root, *STUDY, *NEUTRAL[kind])
    assert {s for _, s in experiment_status(cfg)} == {"done"}, experiment_status(cfg)
    before = _contents(root)
    assert all(what == "skipped" for _, what in run_experiment(cfg, log=quiet))
    assert _contents(root) == before


def test_settings_a_stage_reads_do_make_it_stale(study):
    """The other side, so that the test above can fail: a setting each stage reads."""
    root = study
    status = dict(experiment_status(tiny_config(root, *STUDY, "corpus.storyworld_words=20000")))
    assert set(status.values()) == {"stale"}
    status = dict(experiment_status(tiny_config(root, *STUDY, "evaluate.max_items=4")))
    assert {s for n, s in status.items() if n.startswith("eval/")} == {"stale"}
    assert {s for n, s in status.items() if n.startswith(("train/", "generate/"))} == {"done"}
    status = dict(experiment_status(tiny_config(root, *STUDY, "evaluate.steps=[12]")))
    assert status["eval/baseline-seed0"] == "stale"


def test_a_stale_evaluation_keeps_its_results_and_scores_only_what_changed(study, tmp_path):
    """An evaluation made stale (a task added) is not deleted: the results it has stay, byte
    for byte, and only the new task is scored."""
    root = tmp_path / "ws"
    shutil.copytree(study, root)
    results = root / "runs" / "baseline-seed0" / "eval"
    before = {p: p.read_bytes() for p in results.rglob("*.json")}
    tasks = "evaluate.tasks=[perplexity, probes_agreement, probes_tracking, perplexity_packed]"
    cfg = tiny_config(root, *STUDY, tasks)
    assert dict(experiment_status(cfg))["eval/baseline-seed0"] == "stale"
    run_experiment(cfg, log=quiet)
    assert all(p.read_bytes() == b for p, b in before.items())
    assert len(list(results.rglob("perplexity_packed.json"))) == 3  # steps 4, 8, 12


def test_a_refused_amateur_step_deletes_nothing(study, monkeypatch, capsys, tmp_path):
    """An amateur step the run never saves, on a finished study: refused before the graph
    touches anything (the finished cd-early corpus stays), exit 2, one line."""
    root = study
    config = tmp_path / "c.yaml"
    _write_config(config, root, "study.amateurs={early: {run: baseline, step: 5}}")
    before = _snapshot(root)
    code, _, err = run_cli(monkeypatch, capsys, "experiment", "run", config)
    _one_line_error(code, err, "study.amateurs.early.step: step 5 is never saved by run")
    assert "(it saves steps 4, 8, 12;" in err
    assert _snapshot(root) == before


def test_in_a_fresh_workdir_an_unsaved_amateur_step_is_refused_before_the_corpus(
    tmp_path, monkeypatch, capsys
):
    root = tmp_path / "ws"
    config = tmp_path / "c.yaml"
    _write_config(config, root, "study.amateurs={early: {run: baseline, step: 50}}")
    code, _, err = run_cli(monkeypatch, capsys, "experiment", "run", config)
    _one_line_error(code, err, "step 50 is never saved by run 'baseline'")
    assert not root.exists()


def test_a_stale_corpus_whose_amateur_is_gone_is_kept(study, monkeypatch, capsys, tmp_path):
    """cd-early made stale (another lambda) while its BAD checkpoint lost its tokenizer: the
    stage's checks run before its old corpus is deleted, so the corpus stays."""
    root = tmp_path / "ws"
    shutil.copytree(study, root)
    for f in (root / "runs" / "baseline-seed0" / "step_4").glob("tokenizer*"):
        f.unlink()
    cond = STUDY[3].replace("amateur: early}", "amateur: early, lam: 0.5}")
    config = tmp_path / "c.yaml"
    _write_config(config, root, cond)
    corpus = root / "synthetic" / "cd-early"
    before = _snapshot(corpus)
    code, _, err = run_cli(monkeypatch, capsys, "experiment", "run", config)
    _one_line_error(code, err, "has no tokenizer files")
    assert _snapshot(corpus) == before


def _write_config(path, root, *extra):
    """The tiny study's config with `extra` overrides, as a YAML file outside the workdir."""
    import yaml

    cfg = tiny_config(root, *STUDY, *extra)
    path.write_text(yaml.safe_dump(to_dict(cfg)))
