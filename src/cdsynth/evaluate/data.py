"""Reading task files: JSONL on disk or inside a zip (read in place, with its password where
it has one).

    read_suite(path, "ewok", cfg.passwords.ewok, FIELDS)   # a folder of .jsonl or a .zip

Every reader reports a malformed line as `file:line` and a missing field by name.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

from ..errors import UserError
from ..fileio import parse_jsonl

PASSWORD_FIELDS = ("ewok", "entity_tracking")  # config.Passwords: the suites shipped zipped


def jsonl_files(folder: Path) -> list[Path]:
    """The .jsonl files of a task folder, discovered at run time, sorted by name."""
    if not folder.is_dir():
        raise UserError(f"task folder not found: {folder}")
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise UserError(f"no .jsonl files in task folder {folder}")
    return files


def read_jsonl_file(path: Path, required: tuple[str, ...] = ()) -> list[dict]:
    return parse_jsonl(path.read_text(encoding="utf-8"), str(path), required)


def zip_password(name: str, configured: str | None) -> bytes:
    """A zip password from the config, else from $CDSYNTH_<NAME>_PASSWORD."""
    env = f"CDSYNTH_{name.upper()}_PASSWORD"
    pwd = configured or os.environ.get(env)
    if not pwd:
        where = f"evaluate.passwords.{name} or ${env}" if name in PASSWORD_FIELDS else f"${env}"
        raise UserError(f"the {name} data is a password-protected zip: set {where}")
    return pwd.encode()


def read_suite(
    path: Path, name: str, password: str | None, required: tuple[str, ...] = ()
) -> dict[str, list[dict]]:
    """{file stem: rows} of a suite stored as a folder of .jsonl files or as a zip of them; a
    zip's password (`password`, else $CDSYNTH_<NAME>_PASSWORD) is asked for only when the zip
    is encrypted."""
    if path.suffix == ".zip":
        return zip_jsonl(path, lambda: zip_password(name, password), required)
    return {f.stem: read_jsonl_file(f, required) for f in jsonl_files(path)}


def zip_jsonl(path: Path, password, required: tuple[str, ...] = ()) -> dict[str, list[dict]]:
    """{member stem: rows} for every .jsonl member of a zip, read in memory (never unzipped).
    `password`: the bytes, or a function giving them, called only for an encrypted zip."""
    if not path.is_file():
        raise UserError(f"task file not found: {path}")
    out = {}
    with zipfile.ZipFile(path) as z:
        members = sorted(n for n in z.namelist() if n.endswith(".jsonl"))
        if not members:
            raise UserError(f"no .jsonl files inside {path}")
        encrypted = any(z.getinfo(n).flag_bits & 0x1 for n in members)
        if not encrypted:
            password = None
        elif callable(password):
            password = password()
        for name in members:
            try:
                data = z.read(name, pwd=password)
            except RuntimeError as e:  # zipfile: "Bad password for file ..."
                raise UserError(f"wrong password for {path} ({e})") from None
            except (zipfile.BadZipFile, zlib.error) as e:
                # a wrong password can pass the zip's one-byte check and fail in inflate
                raise UserError(f"wrong password for {path}, or a damaged zip ({e})") from None
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise UserError(f"wrong password for {path}: {name} does not decode") from None
            out[Path(name).stem] = parse_jsonl(text, f"{path}:{name}", required)
    return out
