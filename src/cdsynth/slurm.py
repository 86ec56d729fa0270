"""The study as Slurm jobs: one job a stage, its inputs' jobs as `afterok` dependencies.

    run_experiment(cfg, executor=SlurmExecutor())   # `cdsynth experiment run --executor slurm`
    status_lines(cfg, jobs=stage_jobs(cfg))         # `cdsynth experiment status`
    cancel_study(cfg)                               # `cdsynth experiment cancel`

A stage's job runs `executors.stage_command` (`cdsynth experiment run-stage`), so it locks,
records and resumes the stage as a local run does. The job script is workdir/jobs/<stage>.sh
(readable, and runnable by hand with `bash` or `sbatch`), its output workdir/jobs/<stage>-<job
id>.log, and the job last submitted for the stage is recorded in stages/<stage>.slurm.json.
Submitting again skips done stages, leaves a stage's queued or running job alone, and submits
the rest (failed, cancelled, timed out, never submitted), resubmitting a queued job only when
a stage it waits on got a new job. Job states come from squeue, then scontrol (recently ended
jobs), then sacct where accounting runs; a job none of them knows has ended.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .config import ExperimentConfig
from .errors import UserError
from .executors import code_path, password_env, stage_command, write_job_config
from .fileio import write_json, write_text
from .graph import Stage, build_graph, stage_state
from .identity import read_record
from .workspace import Workspace

# Job states in which a job may still run (squeue's long names)
LIVE = {
    "PENDING",
    "RUNNING",
    "CONFIGURING",
    "COMPLETING",
    "SUSPENDED",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
    "RESV_DEL_HOLD",
}


@dataclass(frozen=True)
class Job:
    """A Slurm job's state (squeue's long name, or ENDED where Slurm no longer knows it)."""

    id: str
    state: str
    reason: str = ""

    @property
    def live(self) -> bool:
        return self.state in LIVE


def _slurm(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    if shutil.which(args[0]) is None:
        raise UserError(
            f"{args[0]} not found: the Slurm executor needs Slurm's commands on the PATH "
            "(run on a login node of the cluster)"
        )
    return subprocess.run(args, capture_output=True, text=True, env=env)


def job_states(ids: list[str]) -> dict[str, Job]:
    """The state of each job id: live ones from squeue, ended ones from scontrol (or sacct)."""
    out: dict[str, Job] = {}
    if not ids:
        return out
    r = _slurm("squeue", "--noheader", "--format=%i|%T|%r", f"--jobs={','.join(ids)}")
    if r.returncode != 0 and "Invalid job id" not in r.stderr:
        raise UserError(f"squeue failed: {r.stderr.strip() or r.returncode}")
    for line in r.stdout.splitlines() if r.returncode == 0 else []:
        job, state, reason = (line.split("|") + ["", ""])[:3]
        out[job.strip()] = Job(job.strip(), state.strip(), reason.strip())
    for job in ids:
        if job not in out:
            out[job] = _ended_job(job)
    return out


def _ended_job(job: str) -> Job:
    r = _slurm("scontrol", "show", "job", "--oneliner", job)
    if r.returncode == 0:
        fields = dict(f.split("=", 1) for f in r.stdout.split() if "=" in f)
        return Job(job, fields.get("JobState", "ENDED"), fields.get("Reason", ""))
    if shutil.which("sacct"):
        r = _slurm("sacct", "--noheader", "--allocations", "--parsable2", "-o", "State", "-j", job)
        states = r.stdout.split()
        if r.returncode == 0 and states:
            return Job(job, states[0].split()[0])
    return Job(job, "ENDED")


def _job_record(cfg: ExperimentConfig, stage: Stage) -> dict:
    """The job last submitted for `stage` with its current identity ({} if none)."""
    r = read_record(Workspace(cfg.workdir).stage_file(stage.name, ".slurm.json"))
    return r if r.get("identity") == stage.hash else {}


def job_script(cfg: ExperimentConfig, config_path: Path, stage: Stage) -> str:
    """The bash script of a stage's job: #SBATCH lines from cfg.slurm, then the stage."""
    res = cfg.slurm.resources(stage.kind)
    ws = Workspace(cfg.workdir)
    here = Path.cwd()
    lines = [
        "#!/bin/bash",
        f"# cdsynth stage {stage.name} (identity {stage.hash[:12]}), written by `cdsynth "
        "experiment run --executor slurm`.",
        "# Submit it again with `sbatch THIS_FILE` or run it here with `bash THIS_FILE`: the "
        "stage resumes where it",
        "# stopped and does nothing when done. Zip passwords come from $CDSYNTH_*_PASSWORD.",
        f"#SBATCH --job-name=cdsynth-{stage.name}",
        f"#SBATCH --output={ws.job_log(stage.name, '%j').resolve()}",
        f"#SBATCH --chdir={here}",
        f"#SBATCH --nodes={res.nodes}",
        "#SBATCH --ntasks-per-node=1",
        f"#SBATCH --cpus-per-task={res.cpus}",
        f"#SBATCH --mem={res.mem}",
        f"#SBATCH --time={res.time}",
    ]
    if res.gpus:
        lines.append(f"#SBATCH --gres=gpu:{res.gpus}")
    for key in ("partition", "account"):
        if getattr(res, key):
            lines.append(f"#SBATCH --{key}={getattr(res, key)}")
    lines += [f"#SBATCH {x.removeprefix('#SBATCH').strip()}" for x in res.sbatch]
    command = stage_command(cfg, config_path, stage, nproc=max(res.gpus, 1), nnodes=res.nodes)
    lines += [
        "set -euo pipefail",
        f"cd {shlex.quote(str(here))}",
        f'export PYTHONPATH={shlex.quote(code_path())}"${{PYTHONPATH:+:$PYTHONPATH}}"',
        *cfg.slurm.setup,
        f"exec {shlex.join(command)}",
    ]
    return "\n".join(lines) + "\n"


def submit(cfg: ExperimentConfig, config_path: Path, stage: Stage, after: list[str]) -> str:
    """Write the stage's job script, sbatch it after the jobs `after`, record the job id."""
    ws = Workspace(cfg.workdir)
    script = ws.job_script(stage.name)
    write_text(script, job_script(cfg, config_path, stage))
    script.chmod(0o755)
    args = ["sbatch", "--parsable"]
    if after:
        args.append(f"--dependency=afterok:{':'.join(after)}")
    # the passwords travel in the job's environment (sbatch exports it), never in a file
    r = _slurm(*args, str(script.resolve()), env={**os.environ, **password_env(cfg)})
    if r.returncode != 0:
        raise UserError(f"sbatch refused {script}: {r.stderr.strip() or r.returncode}")
    job = r.stdout.strip().split(";")[0]  # "id" or "id;cluster"
    write_json(
        ws.stage_file(stage.name, ".slurm.json"),
        {
            "name": stage.name,
            "identity": stage.hash,
            "job": job,
            "after": after,
            "script": str(script),
            "log": str(ws.job_log(stage.name, job)),
            "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )
    return job


@dataclass(frozen=True)
class SlurmExecutor:
    """Every stage that is not done as a Slurm job, after its inputs' jobs; returns at once."""

    def run(self, cfg: ExperimentConfig, stages: list[Stage], log) -> list[tuple[str, str]]:
        ws = Workspace(cfg.workdir)
        config = write_job_config(cfg)
        todo = [s for s in stages if stage_state(cfg, s) != "done"]
        records = {s.name: read_record(ws.stage_file(s.name, ".slurm.json")) for s in todo}
        states = job_states([r["job"] for r in records.values() if r])
        for s in todo:  # a job still queued for another config would run that config's stage
            rec = records[s.name]
            if rec and rec["identity"] != s.hash and states[rec["job"]].live:
                raise UserError(
                    f"stage {s.name} has job {rec['job']} {states[rec['job']].state} for another "
                    "config; wait for it or cancel it (`cdsynth experiment cancel`), then rerun"
                )
        jobs: dict[str, str] = {}  # stage -> the job that makes it, for its readers' afterok
        out = []
        for s in stages:
            if s not in todo:
                out.append((s.name, "skipped"))
                continue
            rec = records[s.name]
            job = states.get(rec.get("job", ""))
            # a queued job keeps its place unless a stage it waits on got a new job since
            stays = job is not None and job.live
            if stays and job.state == "PENDING":
                stays = all(jobs[d.name] in rec["after"] for d in s.deps if d.name in jobs)
                if not stays:
                    _slurm("scancel", job.id)
            if stays:
                jobs[s.name] = job.id
                out.append((s.name, "queued" if job.state == "PENDING" else "running"))
                continue
            after = [jobs[d.name] for d in s.deps if d.name in jobs]
            jobs[s.name] = submit(cfg, config, s, after)
            out.append((s.name, "submitted"))
            waits = f" after job(s) {', '.join(after)}" if after else ""
            log(f"[{s.name}] submitted as job {jobs[s.name]}{waits}")
        new = sum(1 for _, what in out if what == "submitted")
        kept = sum(1 for _, what in out if what in ("queued", "running"))
        log(
            f"{new} job(s) submitted, {kept} already queued or running; follow them with "
            f"`cdsynth experiment status`, logs in {ws.jobs}"
        )
        return out


def stage_jobs(cfg: ExperimentConfig) -> Callable[[list[Stage]], dict[str, str]]:
    """For `status_lines`: the state of the job of each given stage that has one."""

    def states(stages: list[Stage]) -> dict[str, str]:
        records = {s.name: r for s in stages if (r := _job_record(cfg, s))}
        if not records:
            return {}
        try:
            found = job_states([r["job"] for r in records.values()])
        except UserError as e:  # no Slurm here: say what was submitted
            return {n: f"submitted as job {r['job']} ({e})" for n, r in records.items()}
        return {n: describe(found[r["job"]], r["log"]) for n, r in records.items()}

    return states


def describe(job: Job, log: str) -> str:
    """A stage's state from its job: queued, running or failed, with the job id and log."""
    if job.state == "PENDING":
        if job.reason == "DependencyNeverSatisfied":
            return f"queued (job {job.id}; will not start: a stage it reads failed)"
        return f"queued (job {job.id}" + (f", {job.reason}" if job.reason else "") + ")"
    if job.live:
        return f"running (job {job.id} {job.state}, log {log})"
    return f"failed (job {job.id} {job.state}, log {log})"


def cancel_study(cfg: ExperimentConfig) -> list[tuple[str, str]]:
    """scancel every queued or running job of the study; returns [(stage, job id)]."""
    records = {}
    for s in build_graph(cfg, log=lambda *a: None):
        r = read_record(Workspace(cfg.workdir).stage_file(s.name, ".slurm.json"))
        if r.get("job"):
            records[s.name] = r["job"]
    found = job_states(list(records.values()))
    live = [(n, job) for n, job in records.items() if found[job].live]
    if live:
        r = _slurm("scancel", *[job for _, job in live])
        if r.returncode != 0:
            raise UserError(f"scancel failed: {r.stderr.strip() or r.returncode}")
    return live
