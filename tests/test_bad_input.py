"""Every bad input ends with one line on stderr, exit code 2 and no partial output."""

import subprocess
import sys

import pytest

from .conftest import run_cli


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
        ("train.synthetic_ratio=1", "train.synthetic_ratio must be in [0, 1)"),
        ("evaluate.packing=zip", "evaluate.packing must be one of tree, padded"),
        ("study.resample=seeds", "study.resample must be one of hierarchical, items"),
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
