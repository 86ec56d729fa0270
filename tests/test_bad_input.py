"""Every bad input ends with one line on stderr, exit code 2 and no partial output."""

import errno
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from .conftest import quiet, run_cli


def _one_line_error(code, err, fragment):
    assert code == 2
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("cdsynth: error: ") and fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "setup, args, fragment",
    [
        (
            lambda d: None,
            ["corpus.source=text", "corpus.path={d}/missing"],
            "corpus path not found",
        ),
        (lambda d: (d / "c").mkdir(), ["corpus.source=text", "corpus.path={d}/c"], "no .txt files"),
        (
            lambda d: _write(d, "c/a.txt", "  \n\n \t\n"),
            ["corpus.source=text", "corpus.path={d}/c"],
            "the corpus is empty",
        ),
        (
            lambda d: _write(d, "c/a.txt", b"\x89PNG\r\n\x1a\n\x00\x00"),
            ["corpus.source=text", "corpus.path={d}/c"],
            "binary file",
        ),
        (
            lambda d: _write(d, "c/a.txt", "one doc\n\ntwo doc"),
            ["corpus.source=text", "corpus.path={d}/c"],
            "too small to split",
        ),
        (lambda d: None, ["corpus.source=nope"], "unknown corpus.source 'nope'"),
        (lambda d: None, ["corpus.sourc=text"], "unknown config key 'corpus.sourc'"),
        (lambda d: None, ["corpus.eval_fraction=0.7", "corpus.seeds_fraction=0.4"], "sum < 1"),
    ],
)
def test_corpus_bad_input(tmp_path, monkeypatch, capsys, setup, args, fragment):
    setup(tmp_path)
    args = [a.format(d=tmp_path) for a in args]
    code, out, err = run_cli(monkeypatch, capsys, "corpus", f"workdir={tmp_path}/w", *args)
    _one_line_error(code, err, fragment)
    assert not (tmp_path / "w" / "corpus").exists()


def _write(d, rel, data):
    p = d / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data if isinstance(data, bytes) else data.encode())


def test_missing_config_file(tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "corpus", str(tmp_path / "x.yaml"))
    _one_line_error(code, err, "config file not found")


def test_tokenizer_and_train_before_their_inputs(tmp_path, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "tokenizer", f"workdir={tmp_path}")
    _one_line_error(code, err, "run `cdsynth corpus` first")
    code, _, err = run_cli(monkeypatch, capsys, "train", f"workdir={tmp_path}")
    _one_line_error(code, err, "run `cdsynth tokenizer` first")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train.model=giant"], "unknown model preset 'giant'"),
        (
            ["train.block_len=100000", "train.model.context=100000"],
            "too small for block_len=100000",
        ),
        (["train.batch_size=7", "train.block_len=32"], None),  # fine: a valid odd batch
        (["train.block_len=512"], "exceeds the model context"),
        (["train.precision=fp8", "train.block_len=32"], "train.precision must be"),
        (["train.synthetic_ratio=0.3", "train.block_len=32"], "needs a synthetic corpus"),
    ],
)
def test_train_bad_input(workspace, monkeypatch, capsys, args, fragment):
    base = [
        "train",
        f"workdir={workspace}",
        "train.model=test-micro",
        "train.steps=1",
        "train.micro_batch_size=8",
        "train.precision=fp32",
    ]
    code, out, err = run_cli(monkeypatch, capsys, *base, *args)
    if fragment is None:
        assert code == 0, err
        return
    _one_line_error(code, err, fragment)
    assert not (workspace / "runs").exists()
    if "block_len=100000" not in args:
        assert not (workspace / "blocks").exists()


def test_real_process_exit_code_and_message(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "cdsynth.cli",
            "corpus",
            "corpus.source=text",
            f"corpus.path={tmp_path}/nothing",
            f"workdir={tmp_path}",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert r.stderr.strip() == f"cdsynth: error: corpus path not found: {tmp_path}/nothing"


def test_unforeseen_errors_are_one_line_unless_debugging(tmp_path, monkeypatch, capsys):
    from cdsynth import stages

    def broken(*a, **k):
        raise RuntimeError("something odd")

    monkeypatch.setattr(stages, "run_corpus", broken)
    code, _, err = run_cli(monkeypatch, capsys, "corpus", f"workdir={tmp_path}")
    assert code == 1
    assert err.strip() == (
        "cdsynth: error: RuntimeError: something odd (set CDSYNTH_DEBUG=1 for a traceback)"
    )
    monkeypatch.setenv("CDSYNTH_DEBUG", "1")
    with pytest.raises(RuntimeError):
        run_cli(monkeypatch, capsys, "corpus", f"workdir={tmp_path}")


def test_corrupt_checkpoint_is_one_line(workspace, monkeypatch, capsys):
    (workspace / "m").mkdir()
    (workspace / "m" / "config.json").write_text("{not json")
    (workspace / "m" / "tokenizer.json").write_text("{}")
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "eval",
        str(workspace / "m"),
        f"workdir={workspace}",
        "--tasks",
        "probes_agreement",
    )
    assert code in (1, 2) and len(err.strip().splitlines()) == 1
    assert err.startswith("cdsynth: error: ")


@pytest.mark.parametrize(
    "arg, fragment",
    [
        ("generate.decoding.lam=.inf", "generate.decoding.lam must be finite and >= 0"),
        ("generate.decoding.lam=-1", "generate.decoding.lam must be finite and >= 0"),
        ("generate.decoding.top_p=1.5", "generate.decoding.top_p must be in (0, 1]"),
        ("generate.decoding.top_k=-3", "generate.decoding.top_k must be >= 0"),
        ("generate.decoding.alpha=2", "generate.decoding.alpha must be in [0, 1]"),
        ("generate.decoding.strategy=beam", "generate.decoding.strategy must be one of"),
        ("generate.num_prefixes=-1", "generate.num_prefixes must be >= 1"),
        ("generate.corpus_tokens=lots", "generate.corpus_tokens must be"),
        ("generate.eos=never", "generate.eos must be one of stop, continue"),
        ("train.lr=-1", "train.lr must be > 0"),
        ("train.steps=0", "train.steps must be > 0"),
        ("train.synthetic_ratio=1.5", "train.synthetic_ratio must be in [0, 1]"),
        ("evaluate.packing=zip", "evaluate.packing must be one of tree, padded"),
        ("study.resample=bootstrap", "study.resample must be one of seeds, hierarchical, items"),
    ],
)
def test_bad_values_fail_at_load_before_any_work(tmp_path, monkeypatch, capsys, arg, fragment):
    code, out, err = run_cli(monkeypatch, capsys, "corpus", f"workdir={tmp_path}/w", arg)
    _one_line_error(code, err, fragment)
    assert not (tmp_path / "w").exists()


def test_config_file_that_is_not_utf8(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("workdir: caf\xe9\n".encode("latin-1"))
    code, _, err = run_cli(monkeypatch, capsys, "corpus", str(bad))
    _one_line_error(code, err, "is not UTF-8 text")


def test_ctrl_c_exits_130_and_says_the_command_resumes(tmp_path, monkeypatch, capsys):
    from cdsynth import stages

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(stages, "run_corpus", interrupted)
    code, _, err = run_cli(monkeypatch, capsys, "corpus", f"workdir={tmp_path}")
    assert code == 130
    assert err.strip() == "cdsynth: interrupted; run the same command again to resume"


# ---------------------------------------------------------------------------------------------
# Issue 24: nothing lost, nothing mixed. Each refusal: exit 2, one line, no traceback, and the
# workdir byte-identical (`_snapshot`) or not created at all.


def _snapshot(root):
    """Every file and folder under `root` with its bytes (None for a folder)."""
    root = Path(root)
    if not root.exists():
        return None
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def _refused(code, err, fragment, before, root):
    _one_line_error(code, err, fragment)
    assert "Traceback" not in err
    assert _snapshot(root) == before


def tiny_generate_args(workspace) -> list[str]:
    """`cdsynth generate` on the tiny baseline: 4 one-completion rows of 4 tokens, one per
    batch (so a run has batches to lock, interrupt and resume)."""
    return [
        "generate",
        f"workdir={workspace}",
        "generate.good=runs/baseline/step_12",
        "generate.decoding.strategy=ancestral",
        "generate.num_prefixes=4",
        "generate.completions=1",
        "generate.new_tokens=4",
        "generate.batch_size=1",
        "generate.dtype=fp32",
    ]


def _hold_lock(folder, part=""):
    """Another process holding the lock of `folder` (as a running stage does): its Popen."""
    code = (
        "import sys, time\n"
        "from cdsynth.locks import output_lock\n"
        "with output_lock(sys.argv[1], sys.argv[2]):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(300)\n"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", code, str(folder), part], stdout=subprocess.PIPE, text=True
    )
    assert p.stdout.readline().strip() == "held"
    return p


def _stop(p):
    p.kill()
    p.wait()


def _cli_process(*args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "cdsynth.cli", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_two_trains_on_one_run_are_refused_and_a_kill_releases_the_lock(
    workspace, monkeypatch, capsys
):
    """Two real `cdsynth train` processes on one run name: the second exits 2 naming the
    first's pid and writes nothing; after a kill -9 of the first the run trains again."""
    from cdsynth.locks import is_locked, lock_file

    from .conftest import TINY

    run = workspace / "runs" / "baseline"
    base = ["train", f"workdir={workspace}", *TINY]
    first = _cli_process(*base, "train.steps=100000", "train.checkpoint_every=100000")
    try:
        deadline = time.time() + 300
        while not (is_locked(lock_file(run)) and (run / "train_config.json").is_file()):
            assert first.poll() is None, first.stderr.read()
            assert time.time() < deadline
            time.sleep(0.2)
        config_before = (run / "train_config.json").read_bytes()
        second = subprocess.run(
            [sys.executable, "-m", "cdsynth.cli", *base, "train.lr=5e-4"],
            capture_output=True,
            text=True,
        )
        _one_line_error(second.returncode, second.stderr, f"(pid {first.pid})")
        assert "being written by another cdsynth process" in second.stderr
        assert (run / "train_config.json").read_bytes() == config_before
        assert not list(run.glob("step_*"))
    finally:
        first.kill()  # kill -9: the kernel drops its lock
        first.wait()
    code, _, err = run_cli(monkeypatch, capsys, *base, "train.lr=5e-4")
    assert code == 0, err
    assert (run / "step_12" / "state.json").is_file()


def test_generation_shards_lock_their_own_shard(workspace, monkeypatch, capsys):
    """Shard 0/2 held by another process: a second 0/2 is refused (nothing written), while
    1/2 runs beside it on the same workdir."""
    from cdsynth.stages import run_train

    from .conftest import tiny_config

    run_train(tiny_config(workspace), log=quiet, progress=False)
    out = workspace / "synthetic" / "cd"
    args = tiny_generate_args(workspace)
    holder = _hold_lock(out, "shard-0-of-2")
    try:
        before = _snapshot(workspace)
        code, _, err = run_cli(monkeypatch, capsys, *args, "--shard", "0/2")
        _refused(code, err, f"(pid {holder.pid})", before, workspace)
        assert f"{out} (shard-0-of-2)" in err
        code, out_text, err = run_cli(monkeypatch, capsys, *args, "--shard", "1/2")
        assert code == 0, err
        assert sorted(p.name for p in (out / "batches").iterdir()) == [
            "batch_000001.parquet",
            "batch_000003.parquet",
        ]
    finally:
        _stop(holder)
    code, out_text, err = run_cli(monkeypatch, capsys, *args, "--shard", "0/2")
    assert code == 0, err
    assert (out / "synthetic.parquet").is_file()


def test_a_second_experiment_run_on_one_workdir_is_refused(workspace, monkeypatch, capsys):
    config = _tiny_yaml(workspace)
    holder = _hold_lock(workspace / "experiment")
    try:
        before = _snapshot(workspace)
        code, _, err = run_cli(monkeypatch, capsys, "experiment", "run", config)
        _refused(code, err, f"(pid {holder.pid})", before, workspace)
    finally:
        _stop(holder)


def _tiny_yaml(workspace, **sections):
    """The tiny test config as a YAML file beside the workspace (not in it)."""
    from cdsynth.config import to_dict

    from .conftest import tiny_config

    data = to_dict(tiny_config(workspace))
    for k, v in sections.items():
        data[k] = {**data[k], **v}
    path = workspace.parent / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "arg",
    [
        "train.name=../../../../x",
        "train.name=/an/absolute/path",
        "generate.name=../corpus",
        "generate.name=/an/absolute/path",
        "generate.name=a/b",
        "generate.name=..",
        "generate.name=.hidden",
        "study.runs={'../x': {}}",
        "study.conditions=[{name: ../c, strategy: ancestral}]",
        "study.sweeps=[{base: c, key: top_k, values: ['1/2']}]",
    ],
)
def test_names_that_leave_their_folder_fail_at_load(tmp_path, monkeypatch, capsys, arg):
    code, _, err = run_cli(monkeypatch, capsys, "corpus", f"workdir={tmp_path}/w", arg)
    _refused(code, err, "must be a plain folder name", None, tmp_path / "w")


@pytest.mark.parametrize("source", ["text", "parquet"])
def test_a_workdir_inside_the_corpus_is_refused(tmp_path, monkeypatch, capsys, source):
    import pyarrow as pa
    import pyarrow.parquet as pq

    corpus = tmp_path / "c"
    corpus.mkdir()
    docs = [f"document number {i} about a cat." for i in range(40)]
    if source == "text":
        (corpus / "a.txt").write_text("\n\n".join(docs))
    else:
        pq.write_table(pa.table({"text": docs}), corpus / "a.parquet")
    before = _snapshot(tmp_path)
    args = [f"corpus.source={source}", f"corpus.path={corpus}", f"workdir={corpus}/w"]
    code, _, err = run_cli(monkeypatch, capsys, "corpus", *args)
    _refused(code, err, "lies inside corpus.path", before, tmp_path)


def test_a_corpus_inside_the_workdir_is_refused_but_its_own_corpus_folder_is_not(
    tmp_path, monkeypatch, capsys
):
    from cdsynth.config import load_config

    (tmp_path / "w" / "c").mkdir(parents=True)
    (tmp_path / "w" / "c" / "a.txt").write_text("text")
    before = _snapshot(tmp_path)
    args = ["corpus.source=text", f"corpus.path={tmp_path}/w/c", f"workdir={tmp_path}/w"]
    code, _, err = run_cli(monkeypatch, capsys, "corpus", *args)
    _refused(code, err, "lies inside workdir", before, tmp_path)
    (tmp_path / "w" / "corpus").mkdir()
    (tmp_path / "w" / "corpus" / "train.jsonl").write_text('{"text": "x"}\n')
    own = ["corpus.source=jsonl", f"corpus.path={tmp_path}/w/corpus/train.jsonl"]
    assert load_config(None, [*own, f"workdir={tmp_path}/w"]).corpus.source == "jsonl"


@pytest.mark.parametrize(
    "arg, fragment",
    [
        ("train.min_lr=nan", "config key 'train.min_lr' must be a finite number, got nan"),
        ("train.weight_decay=nan", "config key 'train.weight_decay' must be a finite number"),
        ("train.beta2=.inf", "config key 'train.beta2' must be a finite number, got inf"),
        ("train.eps=-.inf", "config key 'train.eps' must be a finite number, got -inf"),
        ("corpus.eval_fraction=nan", "config key 'corpus.eval_fraction' must be a finite"),
        ("generate.bad_dropout=nan", "generate.bad_dropout must be in [0, 1)"),  # its own check
        ("study.ratio=.nan", "study.ratio must be in [0, 1], got nan"),
        (
            "study.sweeps=[{base: c, key: lam, values: [1, .nan]}]",
            "config key 'study.sweeps[0].values[1]' must be a finite number",
        ),
        (
            "study.conditions=[{name: c, ratio: .inf}]",
            "config key 'study.conditions[0].ratio' must be a finite number",
        ),
    ],
)
def test_every_float_is_finite_at_load(tmp_path, monkeypatch, capsys, arg, fragment):
    code, _, err = run_cli(monkeypatch, capsys, "corpus", f"workdir={tmp_path}/w", arg)
    _refused(code, err, fragment, None, tmp_path / "w")


def test_training_stops_at_the_first_nonfinite_step_and_keeps_the_last_good_checkpoint(
    workspace, monkeypatch, capsys
):
    """lr=1e10 blows the weights up: step 2's loss and gradient norm are NaN. Training stops
    there, before step 2 is recorded or saved; step_1 (finite weights) is the last checkpoint."""
    from safetensors.torch import load_file

    from .conftest import TINY

    args = ["train", f"workdir={workspace}", *TINY, "train.lr=1e10", "train.warmup_steps=0"]
    code, _, err = run_cli(monkeypatch, capsys, *args, "train.checkpoint_every=1")
    _one_line_error(code, err, "training baseline stopped at step 2: the loss is nan")
    assert "the last good checkpoint is step_1" in err
    run = workspace / "runs" / "baseline"
    assert [p.name for p in run.glob("step_*")] == ["step_1"]
    weights = load_file(str(run / "step_1" / "model.safetensors"))
    assert all(bool(torch.isfinite(w).all()) for w in weights.values())
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1] and math.isfinite(rows[0]["loss"])


def _pickled_only(step):
    from safetensors.torch import load_file

    torch.save(load_file(str(step / "model.safetensors")), step / "pytorch_model.bin")
    (step / "model.safetensors").unlink()


def _without_tokenizer(step):
    for f in step.glob("tokenizer*"):
        f.unlink()


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (_pickled_only, "does not load pickled .bin weights"),
        (_without_tokenizer, "has no tokenizer files"),
    ],
)
def test_generate_checks_its_checkpoints_before_writing(
    workspace, monkeypatch, capsys, damage, fragment
):
    from cdsynth.stages import run_train

    from .conftest import tiny_config

    run_train(tiny_config(workspace), log=quiet, progress=False)
    step = workspace / "runs" / "baseline" / "step_12"
    damage(step)
    before = _snapshot(workspace)
    args = [
        "generate",
        f"workdir={workspace}",
        "generate.good=runs/baseline/step_12",
        "generate.bad=runs/baseline/step_4",
        "generate.num_prefixes=2",
        "generate.completions=1",
        "generate.new_tokens=4",
    ]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    _refused(code, err, fragment, before, workspace)
    assert str(step) in err and "cdsynth tokenizer" not in err
    assert not (workspace / "synthetic").exists()


def test_experiment_run_checks_every_stage_before_the_first(workspace, monkeypatch, capsys):
    """An unknown preset in a later run of the study is refused before the corpus stage."""
    config = _tiny_yaml(workspace, study={"runs": {"baseline": {}, "small": {"model": "giant"}}})
    before = _snapshot(workspace)
    code, _, err = run_cli(monkeypatch, capsys, "experiment", "run", config)
    _refused(code, err, "unknown model preset 'giant'", before, workspace)


def test_invalid_yaml_names_line_column_and_complaint(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("workdir: x\ntrain:\n  lr: [1, 2\n  steps: 3\n")
    code, _, err = run_cli(monkeypatch, capsys, "corpus", str(bad))
    _refused(code, err, "line 4, column 8: expected ',' or ']', but got ':'", None, tmp_path / "x")


@pytest.mark.parametrize("source", ["jsonl", "parquet"])
def test_a_missing_text_field_names_the_key_to_set(tmp_path, monkeypatch, capsys, source):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "c").mkdir()
    rows = [{"body": f"document {i}"} for i in range(30)]
    if source == "jsonl":
        (tmp_path / "c" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), tmp_path / "c" / "a.parquet")
    before = _snapshot(tmp_path)
    args = [f"corpus.source={source}", f"corpus.path={tmp_path}/c", f"workdir={tmp_path}/w"]
    code, _, err = run_cli(monkeypatch, capsys, "corpus", *args)
    _refused(code, err, "set corpus.text_field to the text", before, tmp_path)
    assert "body" in err


def test_a_full_disk_in_a_training_checkpoint_says_free_space_and_resumes(
    workspace, monkeypatch, capsys
):
    """safetensors reports a full disk in its own exception type (not an OSError): still
    exit 2 and the fix, the last checkpoint kept, no partial one; the same command resumes."""
    from safetensors import SafetensorError

    from cdsynth import train as train_mod

    from .conftest import TINY

    real, calls = train_mod.save_file, {"n": 0}

    def full_disk(tensors, path, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:  # the second checkpoint's optimizer.safetensors
            raise SafetensorError(
                'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No '
                'space left on device" })'
            )
        return real(tensors, path, *a, **k)

    monkeypatch.setattr(train_mod, "save_file", full_disk)
    args = ["train", f"workdir={workspace}", *TINY]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    _one_line_error(code, err, "No space left on device while writing")
    assert err.strip().endswith("free space, then rerun to resume")
    run = workspace / "runs" / "baseline"
    assert [p.name for p in run.glob("step_*")] == ["step_4"]
    assert not [p for p in run.iterdir() if p.name.startswith(".")]
    monkeypatch.setattr(train_mod, "save_file", real)
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    assert (run / "step_12" / "state.json").is_file()


def test_a_read_only_folder_is_named(tmp_path, monkeypatch, capsys):
    """The workdir cannot be written (EROFS from the first write, its lock file): the line
    names the folder and says that it must be writable. (As root, chmod cannot make a folder
    read-only, so the file system's answer is injected.)"""
    from cdsynth import locks

    real_open = os.open
    workdir = tmp_path / "w"

    def read_only(path, *a, **k):
        if str(path).startswith(str(workdir)):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(locks.os, "open", read_only)
    code, _, err = run_cli(monkeypatch, capsys, "corpus", f"workdir={workdir}", *_SMALL_STORIES)
    _one_line_error(code, err, f"the folder {workdir} is read-only; it must be writable")
    assert not (workdir / "corpus").exists()


_SMALL_STORIES = ["corpus.storyworld_words=3000", "corpus.eval_fraction=0.1"]


def test_a_resumed_generation_says_from_which_batch(workspace, monkeypatch, capsys):
    from cdsynth.generate import shards as generate_mod
    from cdsynth.stages import run_train

    from .conftest import interrupt_after, tiny_config

    run_train(tiny_config(workspace), log=quiet, progress=False)
    args = tiny_generate_args(workspace)
    interrupt_after(monkeypatch, generate_mod, "write_batch", 2)
    code, _, _ = run_cli(monkeypatch, capsys, *args)
    assert code == 130
    monkeypatch.undo()
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "resuming cd from batch 3 of 4 (2 done)" in out.splitlines()


def test_a_parquet_corpus_skips_nothing_silently(tmp_path, monkeypatch, capsys):
    """A null text is an empty document, counted as dropped; a number is refused."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cdsynth.fileio import read_json

    (tmp_path / "c").mkdir()
    texts = [f"document number {i}." for i in range(40)]
    pq.write_table(pa.table({"text": [*texts, None, None]}), tmp_path / "c" / "a.parquet")
    args = ["corpus.source=parquet", f"corpus.path={tmp_path}/c", f"workdir={tmp_path}/w"]
    code, out, err = run_cli(monkeypatch, capsys, "corpus", *args, "corpus.eval_fraction=0.1")
    assert code == 0, err
    stats = read_json(tmp_path / "w" / "corpus" / "stats.json")["source"]
    assert (stats["raw_documents"], stats["empty_dropped"]) == (42, 2)
    assert "42 documents read, 2 empty and 0 duplicate dropped" in out
    pq.write_table(pa.table({"text": texts, "n": list(range(40))}), tmp_path / "c" / "a.parquet")
    before = _snapshot(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, "corpus", *args, "corpus.text_field=n")
    _refused(code, err, "row 1: column 'n' holds int, not text", before, tmp_path)


def test_a_second_eval_of_one_run_is_refused(workspace, monkeypatch, capsys):
    from cdsynth.stages import run_train

    from .conftest import tiny_config

    run = run_train(tiny_config(workspace), log=quiet, progress=False)
    holder = _hold_lock(run / "eval")
    try:
        before = _snapshot(workspace)
        args = ["eval", run, f"workdir={workspace}", "--tasks", "probes_agreement"]
        code, _, err = run_cli(monkeypatch, capsys, *args)
        _refused(code, err, f"(pid {holder.pid})", before, workspace)
    finally:
        _stop(holder)


# ---------------------------------------------------------------------------------------------
# Issue 39: no pickle on any loading path, clear lines for the errors a hostile user found,
# study configs that would give wrong results refused before the first write.


def _pickle_refused(monkeypatch):
    """torch.load (the unpickler) fails the test if anything calls it."""

    def no_pickle(*a, **k):
        raise AssertionError("a pickle was loaded")

    monkeypatch.setattr(torch, "load", no_pickle)


def _trained(workspace):
    from cdsynth.stages import run_train

    from .conftest import tiny_config

    run_train(tiny_config(workspace), log=quiet, progress=False)
    return workspace / "runs" / "baseline"


@pytest.mark.parametrize("path", ["resume", "good", "bad", "generic", "eval"])
def test_no_loading_path_reads_a_pickled_checkpoint(workspace, monkeypatch, capsys, path):
    """A checkpoint folder holding only a pytorch_model.bin, on each path that loads a model:
    refused in one line, nothing written, the unpickler never called."""
    from .conftest import TINY

    run = _trained(workspace)
    if path == "resume":  # the run stopped after step 4: it resumes from there
        for step in ("step_8", "step_12"):
            shutil.rmtree(run / step)
    damaged = run / ("step_4" if path in ("resume", "bad") else "step_12")
    _pickled_only(damaged)
    _pickle_refused(monkeypatch)
    gen = [
        "generate",
        f"workdir={workspace}",
        "generate.good=runs/baseline/step_12",
        "generate.bad=runs/baseline/step_4",
        "generate.num_prefixes=2",
        "generate.completions=1",
        "generate.new_tokens=4",
    ]
    args = {
        "resume": ["train", f"workdir={workspace}", *TINY],
        "good": gen,
        "bad": gen,
        "generic": [*gen, "generate.engine=generic"],
        "eval": ["eval", run, f"workdir={workspace}", "--tasks", "probes_agreement"],
    }[path]
    before = _snapshot(workspace)
    code, _, err = run_cli(monkeypatch, capsys, *args)
    _refused(code, err, "does not load pickled .bin weights", before, workspace)
    assert str(damaged) in err


@pytest.mark.parametrize("damage", [b"", b'\x08\x00\x00\x00\x00\x00\x00\x00{"a":'])
@pytest.mark.parametrize("which", ["step_12", "step_4"])
def test_an_empty_or_truncated_safetensors_file_is_named(
    workspace, monkeypatch, capsys, damage, which
):
    run = _trained(workspace)
    weights = run / which / "model.safetensors"
    weights.write_bytes(damage)
    args = [
        "generate",
        f"workdir={workspace}",
        "generate.good=runs/baseline/step_12",
        "generate.bad=runs/baseline/step_4",
        "generate.num_prefixes=2",
        "generate.completions=1",
        "generate.new_tokens=4",
    ]
    before = _snapshot(workspace)
    code, _, err = run_cli(monkeypatch, capsys, *args)
    _refused(code, err, f"cannot read {weights}: ", before, workspace)
    assert "empty or truncated safetensors file" in err


def test_a_full_disk_is_matched_by_errno_in_safetensors_own_words(workspace, monkeypatch, capsys):
    """safetensors says `I/O error: No space left on device (os error 28)` (as measured on a
    full tmpfs): the message is found by its errno, 28, and says to free space."""
    from safetensors import SafetensorError

    from cdsynth import train as train_mod

    from .conftest import TINY

    real = train_mod.save_file

    def full_disk(tensors, path, *a, **k):
        raise SafetensorError(
            "Error while serializing: I/O error: No space left on device (os error 28)"
        )

    monkeypatch.setattr(train_mod, "save_file", full_disk)
    code, _, err = run_cli(monkeypatch, capsys, "train", f"workdir={workspace}", *TINY)
    _one_line_error(code, err, "No space left on device while writing")
    assert err.strip().endswith("free space, then rerun to resume")
    monkeypatch.setattr(train_mod, "save_file", real)


def test_a_really_full_disk_while_a_checkpoint_is_written(tiny_workspace, tmp_path):
    """A checkpoint written to a real, full file system (a 256 KiB tmpfs; root only): the
    error the library raises there becomes an OSError with errno ENOSPC."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from cdsynth.errors import os_error_line
    from cdsynth.tokenizer import load_tokenizer
    from cdsynth.train import make_optimizer, save_checkpoint

    from .conftest import tiny_config

    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)]).returncode:
        pytest.skip("could not mount a tmpfs here")
    try:
        config = LlamaConfig(
            vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
            num_attention_heads=4, num_key_value_heads=4,
        )  # fmt: skip
        model = LlamaForCausalLM(config)  # ~1 MB of float32 weights: more than the disk holds
        opt = make_optimizer(model, tiny_config(tmp_path).train)
        tok = load_tokenizer(tiny_workspace / "tokenizer")
        with pytest.raises(OSError) as got:
            save_checkpoint(model, opt, tok, disk / "step_1", {"step": 1})
        assert got.value.errno == errno.ENOSPC
        assert os_error_line(got.value).endswith("free space, then rerun to resume")
        assert not (disk / "step_1").exists()
    finally:
        subprocess.run(["umount", str(disk)])


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"\x89PNG\r\n\x1a\n\xff\xfe", "is not UTF-8 text"),
        (
            b'{"text": "one", "id": 3}\n{"text": "two", "id": "b"}\n',
            "prompt ids must be all integers or all strings",
        ),
        (b'{"text": "one"}\n{"text": "two", "id": "b"}\n', "prompt 1 str 'b'"),
    ],
)
def test_a_prompt_file_is_checked_before_the_first_batch(
    workspace, monkeypatch, capsys, content, fragment
):
    """A binary prompt file, or one whose ids mix integers and strings (the corpus's id
    column holds one type; mixed, every batch was made and merge failed, every time)."""
    _trained(workspace)
    prompts = workspace.parent / "prompts.jsonl"
    prompts.write_bytes(content)
    args = [
        *tiny_generate_args(workspace),
        "generate.prefix_source=file",
        f"generate.prefix_file={prompts}",
    ]
    before = _snapshot(workspace)
    code, _, err = run_cli(monkeypatch, capsys, *args)
    _refused(code, err, fragment, before, workspace)


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("study.seeds=[0, 0]", "study.seeds must not repeat a seed"),
        ("study.sweeps=[{base: nc, key: lam, values: '12'}]", "must be a non-empty list"),
        ("study.sweeps=[{base: nc, key: lam, values: []}]", "must be a non-empty list"),
        ("study.sweeps=[{base: nc, key: lam, values: 0.5}]", "must be a non-empty list"),
        ("study.sweeps=[{base: nc, key: lam, values: [1, 1]}]", "repeats a value"),
    ],
)
def test_study_configs_that_give_wrong_results_are_refused(
    tmp_path, monkeypatch, capsys, override, fragment
):
    from .conftest import TINY

    root = tmp_path / "w"
    args = [
        f"workdir={root}",
        *TINY,
        "study.conditions=[{name: nc, strategy: ancestral}]",
        override,
    ]
    for command in (["experiment", "run"], ["experiment", "status"]):
        code, _, err = run_cli(monkeypatch, capsys, *command, *args)
        _one_line_error(code, err, fragment)
        assert not root.exists()


@pytest.mark.parametrize("held, mine", [("shard-0-of-1", "0/2"), ("shard-1-of-2", "0/1")])
def test_shards_of_two_layouts_of_one_corpus_are_refused(
    workspace, monkeypatch, capsys, held, mine
):
    """`generate` (one shard) and `generate --shard 0/2` of the same corpus would write the
    same batches: while one runs, the other is refused and writes nothing."""
    _trained(workspace)
    out = workspace / "synthetic" / "cd"
    holder = _hold_lock(out, held)
    try:
        before = _snapshot(workspace)
        code, _, err = run_cli(monkeypatch, capsys, *tiny_generate_args(workspace), "--shard", mine)
        s, n = held.split("-")[1], held.split("-")[3]
        _refused(code, err, f"is being generated as shard {s}/{n} by another process", before,
                 workspace)  # fmt: skip
    finally:
        _stop(holder)
