"""Experiment trackers for training: TensorBoard, Weights & Biases, Trackio. Optional and off by
default (`train.trackers: [tensorboard, wandb, trackio]`, any subset); only rank 0 logs.

    check_trackers(["wandb"])              # one clear line when a package or a login is missing
    run = open_trackers(names, out_dir, config, start_step, project)
    run.log(row)                           # a metrics.jsonl row: {"step": N, "loss": ..., ...}
    run.checkpoint(step)                   # a checkpoint was written at `step`
    run.close()

Each row is logged at its step as `train/loss`, `train/lr`, `train/grad_norm`, `train/tok_s`,
`train/tokens`, `train/synthetic_rows` and, at eval steps, `eval/loss`; the resolved training
config (and the run's identity) once. A run is named by `train.name` (the study names its runs
by method and seed: `baseline-seed0`, `mix-cd-seed1`), grouped by the study (the workdir's name
of WORKDIR/runs/RUN) in project `train.tracker_project`.

Resume: RUN/trackers.json keeps the wandb run id and the last step logged (written at every
checkpoint and when training stops), so a resumed run continues the same tracker run and logs
no step twice: steps up to that one are skipped (a resumed run repeats them exactly), and
TensorBoard drops any event past it left by a killed process (`purge_step`). After a kill -9
between checkpoints, wandb keeps the first values of the steps the resumed run repeats.

Trackers change no output: `train.trackers` and `train.tracker_project` are in no identity
(identity.OUTPUT_NEUTRAL).
"""

from __future__ import annotations

import importlib.util
import json
import netrc
import os
import secrets
from pathlib import Path

from .errors import UserError
from .fileio import read_json, write_json

TRACKERS = ("tensorboard", "wandb", "trackio")
PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "trackio": "trackio"}
RECORD = "trackers.json"
WANDB_OFFLINE = ("offline", "disabled", "dryrun")


def wandb_logged_in() -> bool:
    """Whether wandb can log without asking: offline or disabled mode, an API key in the
    environment, or `wandb login`'s entry in ~/.netrc."""
    if os.environ.get("WANDB_MODE", "").lower() in WANDB_OFFLINE or os.environ.get("WANDB_API_KEY"):
        return True
    host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("://")[-1].rstrip("/")
    try:
        return netrc.netrc().authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def check_trackers(names: list[str]) -> None:
    """One clear line for a tracker whose package is not installed or, for wandb, that has
    no login: called before training starts."""
    for name in names:
        if importlib.util.find_spec(PACKAGES[name]) is None:
            raise UserError(
                f"train.trackers has {name} but the {PACKAGES[name]} package is not installed: "
                f"pip install 'cdsynth[{name}]' (or remove it from train.trackers)"
            )
    if "wandb" in names and not wandb_logged_in():
        raise UserError(
            "train.trackers has wandb but wandb is not logged in: run `wandb login`, set "
            "WANDB_API_KEY, or set WANDB_MODE=offline to keep the run on disk"
        )


def metric_name(key: str) -> str:
    """A metrics.jsonl key as the trackers show it: eval_loss -> eval/loss, loss -> train/loss."""
    return "eval/loss" if key == "eval_loss" else f"train/{key}"


class TensorBoard:
    """Scalars in RUN/tensorboard/ (event files), the config as text."""

    def __init__(self, folder: Path, config: dict, purge_step: int | None):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(folder / "tensorboard"), purge_step=purge_step)
        if purge_step is None:
            text = json.dumps(config, indent=2, sort_keys=True, default=str)
            self.writer.add_text("config", f"```\n{text}\n```", 0)

    def log(self, metrics: dict, step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandB:
    """A wandb run in RUN/wandb/, resumed by its id."""

    def __init__(self, folder: Path, run_id: str, name: str, group, project: str, config: dict):
        import wandb

        self.run = wandb.init(
            project=project,
            name=name,
            group=group,
            id=run_id,
            resume="allow",
            dir=str(folder),
            config=config,
            reinit="create_new",
            settings=wandb.Settings(silent=True, console="off"),
        )

    def log(self, metrics: dict, step: int) -> None:
        self.run.log(metrics, step=step)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.run.finish()


class Trackio:
    """A Trackio run (local-first), resumed by its name."""

    def __init__(self, name: str, group, project: str, config: dict):
        import trackio

        self.trackio = trackio
        self.run = trackio.init(
            project=project, name=name, group=group, config=config, resume="allow"
        )

    def log(self, metrics: dict, step: int) -> None:
        self.trackio.log(metrics, step=step)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.trackio.finish()


class Trackers:
    """The trackers of one training run; with none, every call does nothing."""

    def __init__(self, backends: list, record: Path | None, state: dict):
        self.backends, self.record, self.state = backends, record, state

    def log(self, row: dict) -> None:
        step = row["step"]
        if not self.backends or step <= self.state.get("last_step", 0):
            return
        metrics = {metric_name(k): v for k, v in row.items() if k != "step"}
        for backend in self.backends:
            backend.log(metrics, step)
        self.state["logged"] = step

    def checkpoint(self, step: int) -> None:
        """Record the last step logged (a checkpoint was written: its steps are final)."""
        if self.backends:
            for backend in self.backends:
                backend.flush()
            self._save()

    def _save(self) -> None:
        last = max(self.state.get("last_step", 0), self.state.pop("logged", 0))
        self.state["last_step"] = last
        write_json(self.record, self.state)

    def close(self) -> None:
        if self.backends:
            for backend in self.backends:
                backend.close()
            self._save()
            self.backends = []


def run_group(out_dir: Path) -> str | None:
    """The study a run belongs to: the workdir's name of WORKDIR/runs/RUN (None elsewhere)."""
    return out_dir.resolve().parent.parent.name if out_dir.resolve().parent.name == "runs" else None


def open_trackers(
    names: list[str], out_dir: str | Path, config: dict, start_step: int, project: str
) -> Trackers:
    """Start (or resume) the trackers `names` of the run in `out_dir`, at `start_step`.
    A backend that cannot start is one clear line."""
    if not names:
        return Trackers([], None, {})
    check_trackers(names)
    out_dir = Path(out_dir)
    record = out_dir / RECORD
    state = read_json(record) if record.is_file() else {}
    resuming = bool(state)
    state.setdefault("wandb_id", secrets.token_hex(8))
    state.setdefault("last_step", 0)
    name, group = config.get("name", out_dir.name), run_group(out_dir)
    # a fresh run starts at 0; a resumed one drops TensorBoard events past the last step logged
    purge = max(state["last_step"], start_step) + 1 if resuming else None
    backends = []
    try:
        for tracker in names:
            if tracker == "tensorboard":
                backends.append(TensorBoard(out_dir, config, purge))
            elif tracker == "wandb":
                backends.append(WandB(out_dir, state["wandb_id"], name, group, project, config))
            else:
                backends.append(Trackio(name, group, project, config))
    except Exception as e:  # a library's own error (network, permissions): one line
        for b in backends:
            b.close()
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"train.trackers: {tracker} could not start: {first}") from None
    trackers = Trackers(backends, record, state)
    trackers._save()
    return trackers
