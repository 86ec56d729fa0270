"""A run as one model with a revision per checkpoint, the way the BabyLM pipeline loads it.

    export_revisions("runs/demo/runs/baseline", "hub", "cdsynth/baseline")
    # -> hub/models--cdsynth--baseline/refs/{main, chck_1M, chck_2M, ...} and snapshots/<commit>/

The official `scripts/eval_zero_shot_fast_all_revisions.sh` (babylm-eval `strict/`) loads
`from_pretrained(MODEL, revision="chck_<N>M")` for every revision name; a local folder has no
revisions, so the export is written as a Hugging Face hub cache: one snapshot per revision
(the chck_<N>M folder's model and tokenizer files; `main` is the run's last step_N), each
named by a ref of the revision's name. The script then runs as it is:

    HF_HUB_CACHE=hub HF_HUB_OFFLINE=1 \\
        ./scripts/eval_zero_shot_fast_all_revisions.sh cdsynth/baseline causal strict-small

and each snapshot folder is itself an HF model folder, ready to upload to a branch of the same
name (`huggingface_hub.upload_folder(..., revision="chck_1M")`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from .checkpoint_words import word_checkpoints
from .errors import UserError
from .fileio import file_hash, write_text
from .workspace import latest_checkpoint

REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
TRAINING_ONLY = ("optimizer.safetensors", "rng.safetensors")  # resume state, not the model


def revisions(run_dir: str | Path) -> dict[str, Path]:
    """{revision name: model folder}: main (the last step_N) and every chck_<N>M."""
    last = latest_checkpoint(run_dir)
    out = {"main": last} if last is not None else {}
    out |= {p.name: p for p in word_checkpoints(run_dir)}
    return out


def export_revisions(run_dir: str | Path, cache_dir: str | Path, repo_id: str) -> dict[str, str]:
    """Write the run's revisions into a hub cache as `repo_id`; returns {revision: commit}.
    The commit is a hash of the snapshot's file names and contents, so an unchanged revision
    keeps its commit and its snapshot is not written again."""
    if not REPO_ID.fullmatch(repo_id):
        raise UserError(f"the repository id must look like owner/name, got {repo_id!r}")
    found = revisions(run_dir)
    if not found:
        raise UserError(f"no checkpoints (step_N or chck_<N>M folders) to export in {run_dir}")
    repo = Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))
    commits = {}
    for name, folder in found.items():
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.name not in TRAINING_ONLY)
        digest = hashlib.sha1()
        for p in files:
            digest.update(f"{p.name}\0{file_hash(p)}\0".encode())
        commit = digest.hexdigest()
        snapshot = repo / "snapshots" / commit
        if not snapshot.is_dir():
            tmp = snapshot.with_name(f".{commit}.tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            for p in files:
                try:
                    os.link(p, tmp / p.name)  # no copy of the weights where the disk allows
                except OSError:
                    shutil.copy2(p, tmp / p.name)
            tmp.rename(snapshot)
        write_text(repo / "refs" / name, commit)
        commits[name] = commit
    return commits
