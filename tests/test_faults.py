"""Faults as a hostile user meets them: broken checkpoints, stale caches, killed writers."""

import subprocess
import sys

import torch
from safetensors.torch import load_file, save_file

from cdsynth.evaluate.runner import evaluate_checkpoints
from cdsynth.fileio import atomic_path, read_json, write_json
from cdsynth.stages import run_train

from .conftest import TINY, quiet, run_cli, tiny_config


def _trained(workspace):
    cfg = tiny_config(workspace, "evaluate.tasks=[perplexity]", "evaluate.perplexity_documents=3")
    return cfg, run_train(cfg, log=quiet, progress=False)


def _scale_weights(folder, factor):
    f = folder / "model.safetensors"
    weights = load_file(str(f))
    save_file({k: v * factor for k, v in weights.items()}, str(f), metadata={"format": "pt"})


def test_eval_cache_is_redone_for_a_retrained_checkpoint(workspace):
    cfg, run = _trained(workspace)
    first = evaluate_checkpoints(run, cfg.evaluate, workspace, log=quiet, progress=False)
    step = run / "step_12"
    _scale_weights(step, 0.5)  # "retrained": same folder name, other weights
    second = evaluate_checkpoints(run, cfg.evaluate, workspace, log=quiet, progress=False)
    a, b = first["step_12"]["perplexity"], second["step_12"]["perplexity"]
    assert a["checkpoint_fingerprint"] != b["checkpoint_fingerprint"]
    assert a["score"] != b["score"]
    # an untouched checkpoint is served from the cache
    assert first["step_4"]["perplexity"]["seconds"] == second["step_4"]["perplexity"]["seconds"]


def test_eval_of_a_nan_checkpoint_is_one_line_and_leaves_nothing(workspace, monkeypatch, capsys):
    cfg, run = _trained(workspace)
    step = run / "step_12"
    weights = load_file(str(step / "model.safetensors"))
    name = sorted(weights)[0]
    weights[name][0] = float("nan")
    save_file(weights, str(step / "model.safetensors"), metadata={"format": "pt"})
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "eval",
        step,
        f"workdir={workspace}",
        "--tasks",
        "perplexity",
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(step) in err and "NaN or infinite weights" in err
    assert not (step / "eval" / "step_12" / "perplexity.json").exists()


def test_a_killed_writers_temporary_folder_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "corpus"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / f".corpus.tmp{dead.pid}"
    orphan.mkdir()
    (orphan / "train.jsonl").write_text("half")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        busy = tmp_path / f".corpus.tmp{live.pid}"
        busy.mkdir()
        with atomic_path(target) as tmp:
            tmp.mkdir()
            write_json(tmp / "done.json", {"ok": True})
        assert read_json(target / "done.json") == {"ok": True}
        assert not orphan.exists()  # its writer is gone
        assert busy.exists()  # its writer still runs
    finally:
        live.kill()
        live.wait()


def test_zip_passwords_never_reach_stage_files(tmp_path, monkeypatch):
    """The torchrun launcher writes the stage's resolved config for its processes: without
    the evaluation data's passwords, which train and generate never read."""
    import types

    from cdsynth import graph

    cfg = tiny_config(
        tmp_path / "ws", "evaluate.passwords.ewok=s3cret", "evaluate.passwords.entity_tracking=pw2"
    )
    stage = next(s for s in graph.build_graph(cfg, log=quiet) if s.kind == "train")
    monkeypatch.setattr(
        graph.subprocess, "run", lambda *a, **k: types.SimpleNamespace(returncode=0)
    )
    graph._torchrun(cfg, stage, nproc=2)
    written = list((tmp_path / "ws" / "stages").glob("*.yaml"))
    assert written and all(
        "s3cret" not in f.read_text() and "pw2" not in f.read_text() for f in written
    )


def test_wrong_zip_passwords_are_one_clear_error():
    """Some wrong passwords pass ZipCrypto's one-byte check and fail later in inflate (zlib)
    or decode to garbage: each is a UserError naming the file, never a raw zlib error."""
    import pytest

    from cdsynth.errors import UserError
    from cdsynth.evaluate.data import zip_jsonl

    from .conftest import SHARED_DATA

    path = SHARED_DATA / "ewok" / "ewok_filtered.zip"
    if not path.is_file():
        pytest.skip("shared evaluation data not present")
    for i in range(600):
        with pytest.raises(UserError, match="wrong password for .*ewok_filtered.zip"):
            zip_jsonl(path, f"guess{i}".encode())


def test_resume_with_another_thread_count_warns(workspace, capsys):
    """Float results depend on the thread count: a resume that uses another says so."""
    import shutil

    cfg, run = _trained(workspace)
    shutil.rmtree(run / "step_12")
    state = read_json(run / "step_8" / "state.json")
    assert state["threads"] == torch.get_num_threads()
    write_json(run / "step_8" / "state.json", {**state, "threads": state["threads"] + 7})
    capsys.readouterr()
    run_train(cfg, log=quiet, progress=False)
    err = capsys.readouterr().err
    assert "cdsynth: warning:" in err and "torch threads" in err
    assert (run / "step_12" / "state.json").is_file()


def test_a_pickled_checkpoint_is_refused_in_one_line(workspace, monkeypatch, capsys):
    """cdsynth never unpickles files: a .bin-only checkpoint gets one line naming it."""
    _, run = _trained(workspace)
    step = run / "step_12"
    weights = load_file(str(step / "model.safetensors"))
    torch.save(weights, step / "pytorch_model.bin")
    (step / "model.safetensors").unlink()
    code, _, err = run_cli(
        monkeypatch, capsys, "eval", step, f"workdir={workspace}", "--tasks", "perplexity"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "safetensors" in err and str(step) in err


def test_generate_refuses_a_nan_checkpoint_and_reruns_once_it_is_fixed(
    workspace, monkeypatch, capsys
):
    """One line naming the file, nothing written; after the fix the same command runs."""
    _, run = _trained(workspace)
    step = run / "step_12"
    good = load_file(str(step / "model.safetensors"))
    broken = {k: v.clone() for k, v in good.items()}
    broken[sorted(broken)[0]][0] = float("nan")
    save_file(broken, str(step / "model.safetensors"), metadata={"format": "pt"})
    args = [
        "generate",
        f"workdir={workspace}",
        "generate.good=runs/baseline/step_12",
        "generate.decoding.strategy=ancestral",
        "generate.num_prefixes=2",
        "generate.completions=1",
        "generate.new_tokens=4",
        "generate.dtype=fp32",
    ]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(step) in err and "NaN or infinite weights" in err
    assert not (workspace / "synthetic" / "cd").exists()
    save_file(good, str(step / "model.safetensors"), metadata={"format": "pt"})
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    assert (workspace / "synthetic" / "cd" / "synthetic.parquet").is_file()


def test_a_full_disk_during_a_save_is_one_line_and_leaves_no_partial_checkpoint(
    workspace, monkeypatch, capsys
):
    import errno

    from cdsynth import train as train_mod

    real = train_mod.save_optimizer
    calls = {"n": 0}

    def full_disk(opt, folder):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(folder / "optimizer"))
        return real(opt, folder)

    monkeypatch.setattr(train_mod, "save_optimizer", full_disk)
    args = ["train", f"workdir={workspace}", *TINY]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "No space left on device" in err
    run = workspace / "runs" / "baseline"
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []
    assert (run / "step_4").is_dir() and not (run / "step_8").exists()
    monkeypatch.setattr(train_mod, "save_optimizer", real)
    code, _, err = run_cli(monkeypatch, capsys, *args)  # the same command resumes
    assert code == 0, err
    assert (run / "step_12" / "state.json").is_file()
