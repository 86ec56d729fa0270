"""Atomic writes, JSON/JSONL helpers and stage manifests.

Every file the pipeline writes goes through a temporary name and `os.replace`, so a
killed process never leaves a half-written output under the final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import UserError


def warn(message: str) -> None:
    """A warning for the user: one line on stderr (stdout carries results and progress)."""
    print(f"cdsynth: warning: {message}", file=sys.stderr)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path; on success rename it to `path` (file or folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}@{_HOST}")
    _remove(tmp)
    try:
        yield tmp
        if path.is_dir() and tmp.is_dir():
            _remove(path)
        os.replace(tmp, path)
    finally:
        _remove(tmp)


_HOST = socket.gethostname()


def remove_orphans(path: Path) -> list[Path]:
    """Remove the temporary siblings `.NAME.tmpPID@HOST` of `path` left by a killed process of
    this host (a PID that no longer runs here); a live writer's are left alone, and so are
    other hosts' (on a shared filesystem their PIDs mean nothing here). A name without a host
    (written before hosts were named) counts as this host's. Returns what was removed."""
    removed = []
    for tmp in path.parent.glob(f".{path.name}.tmp*"):
        pid, _, host = tmp.name[len(f".{path.name}.tmp") :].partition("@")
        if host not in ("", _HOST):
            continue
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            _remove(tmp)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    elif p.exists() or p.is_symlink():
        p.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def parse_jsonl(text: str, where: str, required: tuple[str, ...] = ()) -> list[dict]:
    """Rows of a JSONL text; `where` names the file in errors (`file:line: ...`)."""
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{where}:{n}: malformed JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{where}:{n}: expected a JSON object")
        for f in required:
            if f not in row:
                raise UserError(f"{where}:{n}: missing field '{f}'")
        rows.append(row)
    return rows


def stable_hash(obj: Any) -> str:
    """A short sha256 of a JSON-serialisable object (sorted keys): config hashes."""
    data = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def file_hash(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def checkpoint_fingerprint(path: str | os.PathLike) -> str:
    """A hash of a checkpoint's config and weights (any number of safetensors shards)."""
    path = Path(path)
    files = [path / "config.json", *sorted(path.glob("*.safetensors"))]
    return stable_hash([file_hash(f) for f in files if f.is_file()])


def nonfinite_weight(path: str | os.PathLike) -> str | None:
    """The name of the first weight tensor of a safetensors checkpoint holding NaN or inf."""
    import torch
    from safetensors import SafetensorError, safe_open

    for f in sorted(Path(path).glob("*.safetensors")):
        try:
            with safe_open(str(f), framework="pt") as st:
                for name in st.keys():
                    t = st.get_tensor(name)
                    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                        return name
        except SafetensorError as e:  # an empty or truncated file: name it
            raise UserError(
                f"cannot read {f}: {e} (an empty or truncated safetensors file?); "
                "save the checkpoint again"
            ) from None
    return None


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=5,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str]:
    import numpy
    import tokenizers
    import torch
    import transformers

    from . import __version__

    return {
        "cdsynth": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "numpy": numpy.__version__,
    }


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def write_manifest(
    folder: str | os.PathLike,
    *,
    config: Any,
    inputs: dict,
    identity: str | None = None,
    **extra: Any,
) -> dict:
    """Write `folder/manifest.json` recording config, the output's identity (`identity.py`),
    versions, commit and inputs. Without `identity` (a writer not yet on identity.py) it
    records `config_hash`, the hash of config and inputs, as before."""
    recorded = (
        {"identity": identity}
        if identity is not None
        else {"config_hash": stable_hash({"config": config, "inputs": inputs})}
    )
    manifest = {
        "config": config,
        **recorded,
        "inputs": inputs,
        "versions": versions(),
        "git_commit": git_commit(),
        "threads": torch_threads(),  # float results depend on it (see PERF_NOTES)
        **extra,
    }
    write_json(Path(folder) / "manifest.json", manifest)
    return manifest
