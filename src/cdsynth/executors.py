"""What every executor that runs stages outside this process shares, and the local one that
runs independent stages side by side (`cdsynth experiment run CONFIG --parallel N`).

    path = write_job_config(cfg)                   # workdir/jobs/config-<hash>.yaml
    stage_command(cfg, path, stage)                # python -m cdsynth.cli experiment run-stage ...
    run_experiment(cfg, executor=Parallel(2))      # two stages at a time, each in its own process

A stage outside this process is always the same command, `cdsynth experiment run-stage CONFIG
NAME --identity HASH`, so it takes the stage's own locks, writes its own record and resumes
where it stopped, whoever launched it. The config it reads is the resolved one, written once
per content; zip passwords are never written: the command names the ones the config set
(`--passwords-from-env ewok`) and the job reads them from $CDSYNTH_EWOK_PASSWORD, ...,
which the executor puts in the job's environment (`password_env`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import report
from .config import ExperimentConfig, to_dict
from .errors import UserError
from .fileio import stable_hash, write_text
from .graph import Stage, config_without_passwords, stage_state
from .workspace import Workspace


def write_job_config(cfg: ExperimentConfig) -> Path:
    """The resolved config, zip passwords blanked, as the file the jobs read (named by its
    content, so a job queued before the config changed still reads its own)."""
    data = config_without_passwords(cfg)
    path = Workspace(cfg.workdir).job_config(stable_hash(data)[:12]).resolve()
    if not path.is_file():
        write_text(path, yaml.safe_dump(data, sort_keys=False))
    return path


def set_passwords(cfg: ExperimentConfig) -> list[str]:
    """The zip passwords this config sets (their names)."""
    return [k for k, v in to_dict(cfg.evaluate.passwords).items() if v is not None]


def password_env(cfg: ExperimentConfig) -> dict[str, str]:
    """The passwords this config sets, as the environment variables a job reads them from."""
    pw = to_dict(cfg.evaluate.passwords)
    return {f"CDSYNTH_{k.upper()}_PASSWORD": pw[k] for k in set_passwords(cfg)}


def stage_command(
    cfg: ExperimentConfig, config_path: Path, stage: Stage, nproc: int = 1, nnodes: int = 1
) -> list[str]:
    """The command that runs `stage` in a process of its own: this Python, this cdsynth.
    `nproc` > 1 or `nnodes` > 1: under torchrun, nproc processes on each of nnodes nodes. An
    evaluation, and a stage that reads one (the report), names the zip passwords the config
    set, for the job to read from its environment: they are part of an evaluation's identity,
    so of its readers'."""
    command = [sys.executable, "-m", "cdsynth.cli", "experiment", "run-stage"]
    command += [str(config_path), stage.name, "--identity", stage.hash]
    if nproc > 1 or nnodes > 1:
        command += ["--launcher", "torchrun", "--nproc", str(nproc), "--nnodes", str(nnodes)]
    if _reads_evaluation(stage) and (names := set_passwords(cfg)):
        command += ["--passwords-from-env", ",".join(names)]
    return command


def code_path() -> str:
    """The folder this cdsynth is imported from: a stage's process puts it first on
    PYTHONPATH, so it runs this code whatever the console script or venv would import."""
    import cdsynth

    return str(Path(cdsynth.__file__).resolve().parents[1])


def _reads_evaluation(stage: Stage) -> bool:
    return stage.kind == "eval" or any(_reads_evaluation(d) for d in stage.deps)


def local_gpus() -> list[str]:
    """This machine's GPUs as CUDA_VISIBLE_DEVICES names them ([] without CUDA)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


@dataclass(frozen=True)
class Parallel:
    """Up to `slots` stages at a time on this machine, each in its own process, each as soon as
    the stages it reads are done; on a GPU machine slot i gets GPU `gpus[i]` alone. Each
    stage's output goes to workdir/jobs/<stage>-local.log. A failed stage stops only the
    stages that read it; the rest run, then the failures are one error."""

    slots: int
    gpus: tuple[str, ...] = ()  # () on a machine without GPUs

    def __post_init__(self):
        if self.slots < 1:
            raise UserError(f"--parallel must be >= 1, got {self.slots}")
        if self.gpus and self.slots > len(self.gpus):
            raise UserError(
                f"--parallel {self.slots} but this machine has {len(self.gpus)} GPU(s) "
                f"(CUDA_VISIBLE_DEVICES={','.join(self.gpus)}): one stage per GPU"
            )

    def run(self, cfg: ExperimentConfig, stages: list[Stage], log) -> list[tuple[str, str]]:
        ws = Workspace(cfg.workdir)
        config = write_job_config(cfg)
        path = os.pathsep.join(x for x in (code_path(), os.environ.get("PYTHONPATH")) if x)
        env = {**os.environ, **password_env(cfg), "PYTHONPATH": path}
        done = {s.name for s in stages if stage_state(cfg, s) == "done"}
        what = {name: "skipped" for name in done}
        waiting = [s for s in stages if s.name not in done]
        running: dict[str, tuple[subprocess.Popen, int]] = {}
        failed: dict[str, str] = {}
        free = list(range(self.slots))
        while waiting or running:
            for s in list(waiting):
                bad = [d.name for d in s.deps if d.name in failed]
                if bad:
                    failed[s.name] = f"not run: {bad[0]} failed"
                    waiting.remove(s)
                elif free and all(d.name in done for d in s.deps):
                    slot = free.pop(0)
                    running[s.name] = (self._start(cfg, config, s, slot, env, ws), slot)
                    waiting.remove(s)
                    log(f"[{s.name}] running (log: {ws.job_log(s.name, 'local')})")
            if not running:
                break
            time.sleep(0.1)
            for name, (proc, slot) in list(running.items()):
                code = proc.poll()
                if code is None:
                    continue
                del running[name]
                free.append(slot)
                if code == 0:
                    done.add(name)
                    what[name] = "ran"
                    log(f"[{name}] done")
                else:
                    failed[name] = f"exit code {code}, log {ws.job_log(name, 'local')}"
                    log(f"[{name}] failed ({failed[name]})")
        if failed:
            raise UserError(
                f"{len(failed)} stage(s) did not finish: "
                + "; ".join(f"{n} ({why})" for n, why in failed.items())
            )
        if stages and stages[-1].kind == "report":
            log(report.printed_summary(cfg))
        return [(s.name, what[s.name]) for s in stages]

    def _start(self, cfg, config, stage, slot, env, ws) -> subprocess.Popen:
        env = {**env, **({"CUDA_VISIBLE_DEVICES": self.gpus[slot]} if self.gpus else {})}
        path = ws.job_log(stage.name, "local")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            return subprocess.Popen(
                stage_command(cfg, config, stage),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
