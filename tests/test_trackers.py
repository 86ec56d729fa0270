"""Experiment trackers: off by default, one clear line when a package or login is missing, no
part of any identity; TensorBoard event files and wandb's offline run hold every step of a
killed-and-resumed run exactly once, with the numbers of metrics.jsonl."""

import glob
import importlib.util
import json
import shutil
import struct

import pytest

from cdsynth.config import to_dict
from cdsynth.errors import UserError
from cdsynth.identity import identity
from cdsynth.stages import run_train
from cdsynth.trackers import Trackers, check_trackers, metric_name, run_group
from cdsynth.workspace import Workspace, list_checkpoints

from .conftest import TINY, interrupt_after, quiet, run_cli, tiny_config

HAS = {name: importlib.util.find_spec(name) is not None for name in ("tensorboard", "wandb")}


@pytest.fixture()
def workspace(tmp_path, tiny_workspace):
    root = tmp_path / "ws"
    shutil.copytree(tiny_workspace, root)
    return root


def metrics(run):
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_off_by_default_validated_and_in_no_identity(tmp_path):
    cfg = tiny_config(tmp_path)
    assert cfg.train.trackers == []
    on = tiny_config(tmp_path, "train.trackers=[tensorboard, wandb]", "train.tracker_project=x")
    assert on.train.trackers == ["tensorboard", "wandb"]
    assert identity("train", to_dict(on.train)) == identity("train", to_dict(cfg.train))
    for bad in ("[tensorbored]", "[wandb, wandb]"):
        with pytest.raises(UserError, match="train.trackers must be a list of distinct names"):
            tiny_config(tmp_path, f"train.trackers={bad}")
    with pytest.raises(UserError, match="'train.trackers' must be list, got 'wandb'"):
        tiny_config(tmp_path, "train.trackers=wandb")


def test_a_missing_package_is_one_line_before_training(workspace, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    code, out, err = run_cli(
        monkeypatch, capsys, "train", f"workdir={workspace}", *TINY, "train.trackers=[wandb]"
    )
    assert code == 2 and err.count("\n") == 1
    assert "the wandb package is not installed: pip install 'cdsynth[wandb]'" in err
    assert not Workspace(workspace).run("baseline").exists()  # nothing ran


@pytest.mark.skipif(not HAS["wandb"], reason="wandb not installed")
def test_wandb_without_a_login_is_one_line(monkeypatch, tmp_path):
    for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    with pytest.raises(UserError, match="wandb is not logged in: run `wandb login`"):
        check_trackers(["wandb"])
    monkeypatch.setenv("WANDB_MODE", "offline")
    check_trackers(["wandb"])


def test_names_and_groups(tmp_path):
    assert metric_name("eval_loss") == "eval/loss" and metric_name("grad_norm") == "train/grad_norm"
    assert run_group(tmp_path / "study-a" / "runs" / "mix-cd-seed1") == "study-a"
    assert run_group(tmp_path / "elsewhere") is None


def kill_between_checkpoints(cfg, run, hard: bool):
    """Train, stop after step 10 is logged (checkpoint at 8); `hard`: as kill -9, which leaves
    trackers.json at the last checkpoint. Then the same command resumes."""
    with pytest.MonkeyPatch.context() as mp:
        interrupt_after(mp, Trackers, "log", 10)
        with pytest.raises(KeyboardInterrupt):
            run_train(cfg, log=quiet, progress=False)
    assert [p.name for p in list_checkpoints(run)] == ["step_4", "step_8"]
    record = json.loads((run / "trackers.json").read_text())
    assert record["last_step"] == 10
    if hard:
        (run / "trackers.json").write_text(json.dumps(record | {"last_step": 8}))
    run_train(cfg, log=quiet, progress=False)
    return record


@pytest.mark.skipif(not HAS["tensorboard"], reason="tensorboard not installed")
@pytest.mark.parametrize("hard", [False, True])
def test_tensorboard_events_hold_each_step_once_after_a_resume(workspace, hard):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = tiny_config(workspace, "train.trackers=[tensorboard]")
    run = Workspace(workspace).run("baseline")
    kill_between_checkpoints(cfg, run, hard)
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) == 2  # two sessions
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    rows = metrics(run)
    for key in ("loss", "lr", "grad_norm", "tokens", "synthetic_rows"):
        got = [(e.step, e.value) for e in events.Scalars(f"train/{key}")]
        assert got == [(r["step"], pytest.approx(r[key], rel=1e-6)) for r in rows], key
    evals = [(e.step, e.value) for e in events.Scalars("eval/loss")]
    assert evals == [
        (r["step"], pytest.approx(r["eval_loss"], rel=1e-6)) for r in rows if "eval_loss" in r
    ]
    assert [s for s, _ in evals] == [4, 8, 12]
    assert (
        '"lr": 0.001'
        in events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    )


def wandb_records(path):
    """The records of a wandb offline run file (LevelDB log format: 7-byte header, 32 KiB
    blocks of [crc32, length, type] chunks)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = open(path, "rb").read()
    assert data[:4] == b":W&B"
    pos, block, parts = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0 and length == 0:
            break
        parts += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = pb.Record()
            record.ParseFromString(parts)
            parts = b""
            yield record


@pytest.mark.skipif(not HAS["wandb"], reason="wandb not installed")
def test_wandb_offline_run_is_resumed_with_the_same_id_and_no_repeated_step(workspace, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = tiny_config(workspace, "train.trackers=[wandb]", "train.tracker_project=proj")
    run = Workspace(workspace).run("baseline")
    record = kill_between_checkpoints(cfg, run, hard=False)
    files = sorted(glob.glob(str(run / "wandb" / "offline-run-*" / "run-*.wandb")))
    assert len(files) == 2 and all(f.endswith(f"run-{record['wandb_id']}.wandb") for f in files)
    history, runs = {}, []
    for f in files:
        for r in wandb_records(f):
            kind = r.WhichOneof("record_type")
            if kind == "history":
                items = {
                    i.key or "/".join(i.nested_key): json.loads(i.value_json)
                    for i in r.history.item
                }
                assert r.history.step.num not in history  # no step logged twice
                history[r.history.step.num] = items
            elif kind == "run":
                runs.append(r.run)
    assert {(x.run_id, x.project, x.display_name, x.run_group) for x in runs} == {
        (record["wandb_id"], "proj", "baseline", "ws")
    }
    config = {u.key: json.loads(u.value_json) for u in runs[0].config.update}
    assert config["lr"] == 0.001 and config["steps"] == 12 and "identity" in config
    rows = metrics(run)
    assert sorted(history) == [r["step"] for r in rows] == list(range(1, 13))
    for r in rows:
        got = history[r["step"]]
        assert got["train/loss"] == r["loss"] and got["train/grad_norm"] == r["grad_norm"]
        assert got["train/lr"] == r["lr"] and got.get("eval/loss") == r.get("eval_loss")
