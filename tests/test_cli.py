"""The command line itself: --version, help without the heavy imports, "did you mean"."""

import subprocess
import sys

from cdsynth import __version__

from .conftest import run_cli


def test_version_prints_the_package_version(monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "--version")
    assert code == 0 and out.strip() == f"cdsynth {__version__}" and err == ""


def test_help_imports_neither_torch_nor_transformers():
    # a fresh interpreter: the test session itself has torch loaded already
    probe = (
        "import sys\n"
        "sys.argv = ['cdsynth', '--help']\n"
        "from cdsynth import cli\n"
        "try:\n    cli.main()\nexcept SystemExit as e:\n    code = e.code\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules)\n"
        "print('HEAVY', code, heavy)\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "experiment" in r.stdout and "--version" in r.stdout
    assert r.stdout.strip().splitlines()[-1] == "HEAVY 0 []", r.stdout[-300:] + r.stderr[-300:]


def test_a_mistyped_config_key_gets_a_suggestion(monkeypatch, capsys, tmp_path):
    code, out, err = run_cli(monkeypatch, capsys, "corpus", f"workdir={tmp_path}", "train.lrr=1")
    assert code == 2 and err.count("\n") == 1
    assert "unknown config key 'train.lrr'; did you mean 'lr'?" in err
    code, out, err = run_cli(monkeypatch, capsys, "corpus", f"workdir={tmp_path}", "zzz=1")
    assert code == 2 and "unknown config key 'zzz'" in err and "did you mean" not in err


def test_an_unknown_command_gets_a_suggestion(monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "trian")
    assert code == 2 and "Did you mean 'train'" in err
