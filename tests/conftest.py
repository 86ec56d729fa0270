import getpass
import os
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from cdsynth.config import load_config
from cdsynth.stages import run_corpus, run_tokenizer

# inductor keys its compiled C++ by neither ATEN_CPU_CAPABILITY nor ONEDNN_MAX_CPU_ISA: code
# compiled natively on an AVX-512 CPU and reused with torch held to AVX2 gave wrong numbers
# (and the reverse crashed), so each CPU capability the tests run under gets its own cache
os.environ.setdefault(
    "TORCHINDUCTOR_CACHE_DIR",
    str(
        Path(tempfile.gettempdir())
        / f"torchinductor_{getpass.getuser()}_{torch.backends.cpu.get_cpu_capability().lower()}"
    ),
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def quiet(*args, **kwargs):
    pass


TINY = [
    "corpus.storyworld_words=30000",
    "corpus.eval_fraction=0.1",
    "corpus.seeds_fraction=0.1",
    "tokenizer.vocab_size=400",
    "train.model=test-micro",
    "train.block_len=32",
    "train.batch_size=8",
    "train.micro_batch_size=4",
    "train.steps=12",
    "train.warmup_steps=2",
    "train.eval_every=4",
    "train.eval_blocks=8",
    "train.checkpoint_every=4",
    "train.precision=fp32",
]


def tiny_config(workdir, *extra):
    """A config small enough that a whole training run takes about a second."""
    return load_config(None, [f"workdir={workdir}", *TINY, *extra])


def interrupt_after(monkeypatch, module, name: str, n: int) -> dict:
    """Make module.name raise KeyboardInterrupt right after its n-th call (a killed run);
    returns the call counter. `monkeypatch.undo()` restores it."""
    real = getattr(module, name)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        out = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(module, name, wrapper)
    return calls


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory):
    """A workspace with corpus splits and a tokenizer (shared, read-only for tests)."""
    root = tmp_path_factory.mktemp("ws")
    cfg = tiny_config(root)
    run_corpus(cfg, log=quiet)
    run_tokenizer(cfg, log=quiet)
    return root


@pytest.fixture
def workspace(tiny_workspace, tmp_path):
    """A private copy of the tiny workspace (corpus + tokenizer) for tests that write."""
    import shutil

    dst = tmp_path / "ws"
    shutil.copytree(tiny_workspace, dst)
    return dst


def run_cli(monkeypatch, capsys, *args):
    """Run `cdsynth ARGS` in-process; returns (exit code, stdout, stderr)."""
    from cdsynth import cli

    monkeypatch.setattr(sys, "argv", ["cdsynth", *map(str, args)])
    code = 0
    try:
        cli.main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err
