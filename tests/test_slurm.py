"""The study on a real Slurm (`make test-slurm` starts a single-node one as root on Debian:
scripts/slurm-single-node.sh): every stage its own job, in dependency order, with the bytes
and identities of a local run; a training job cancelled part way shows as failed, and the
next `experiment run` resumes it to the same bytes without a second job for what still runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from cdsynth.config import load_config, to_dict
from cdsynth.graph import experiment_status, run_experiment

from .conftest import TINY, quiet
from .test_executors import SMALL, assert_same_study

pytestmark = pytest.mark.slurm

SRC = Path(__file__).resolve().parents[1] / "src"
PASSWORD = "s3cret-slurm-test"
# one CPU, a little memory and no GPU per job: the single test node has 2 cores
SMALL_JOBS = [
    f"slurm.{kind}={{gpus: 0, cpus: 1, mem: 1G, time: '00:15:00'}}"
    for kind in ("corpus", "tokenizer", "train", "generate", "eval", "report")
]


def slurm_missing() -> str | None:
    """Why the Slurm tests cannot run here, or None."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "Slurm is not installed: `make test-slurm` (as root, Debian) installs and starts it"
    try:
        r = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer: start Slurm with `scripts/slurm-single-node.sh start`"
    if r.returncode != 0 or not {"idle", "mixed", "allocated"} & set(r.stdout.split()):
        return f"no Slurm node is up (sinfo: {r.stdout.strip() or r.stderr.strip()})"
    return None


@pytest.fixture(scope="module", autouse=True)
def slurm():
    if why := slurm_missing():
        pytest.skip(why)


def config_file(tmp_path: Path, workdir: Path, *overrides: str) -> Path:
    """The user's config, outside the workdir (it holds a zip password, as a user's may)."""
    cfg = load_config(None, [f"workdir={workdir}", *TINY, *SMALL_JOBS, *overrides])
    path = tmp_path / f"{workdir.name}.yaml"
    path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return path


def cdsynth(*args) -> str:
    """`cdsynth ARGS` as a user runs it (this tree's code); returns stdout, fails on an error."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}:{os.environ.get('PYTHONPATH', '')}"}
    r = subprocess.run(
        [sys.executable, "-m", "cdsynth.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def jobs_of(workdir: Path) -> dict[str, dict]:
    """The job records: {stage record name: record}."""
    return {
        p.name.removesuffix(".slurm.json"): json.loads(p.read_text())
        for p in (workdir / "stages").glob("*.slurm.json")
    }


def scontrol(job: str) -> dict[str, str]:
    out = subprocess.run(
        ["scontrol", "show", "job", "--oneliner", job], capture_output=True, text=True
    ).stdout
    return dict(f.split("=", 1) for f in out.split() if "=" in f)


def live(jobs: list[str]) -> set[str]:
    out = subprocess.run(
        ["squeue", "-h", "-o", "%i", f"--jobs={','.join(jobs)}"], capture_output=True, text=True
    ).stdout
    return set(out.split())


def wait_until(done, timeout: float = 600, every: float = 0.5) -> None:
    end = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < end, "timed out waiting for Slurm"
        time.sleep(every)


def test_the_study_runs_as_one_job_a_stage_and_equals_a_local_run(tmp_path):
    study = [*SMALL, f"evaluate.passwords.ewok={PASSWORD}"]  # (part of eval's identity)
    local = tmp_path / "local"
    run_experiment(load_config(None, [f"workdir={local}", *TINY, *study]), log=quiet)
    ws = tmp_path / "ws"
    path = config_file(tmp_path, ws, *study)
    out = cdsynth("experiment", "run", path, "--executor", "slurm")
    cfg = load_config(path)
    names = [n for n, _ in experiment_status(cfg)]
    assert f"{len(names)} job(s) submitted, 0 already queued or running" in out
    jobs = jobs_of(ws)
    ids = [r["job"] for r in jobs.values()]
    assert len(set(ids)) == len(names) == len(jobs)  # one job a stage
    wait_until(lambda: not live(ids))
    status = cdsynth("experiment", "status", path)
    assert all(state == "done" for _, state in experiment_status(cfg)), status
    # each job waited (afterok) on its inputs' jobs and started after they ended
    from cdsynth.graph import build_graph

    times = {j: scontrol(j) for j in ids}
    at = lambda j, k: datetime.fromisoformat(times[j][k])  # noqa: E731
    for stage in build_graph(cfg, log=quiet):
        rec = jobs[stage.name.replace("/", "__")]
        after = [jobs[d.name.replace("/", "__")]["job"] for d in stage.deps]
        assert rec["after"] == after
        assert times[rec["job"]]["JobState"] == "COMPLETED"
        for dep in after:
            assert at(rec["job"], "StartTime") >= at(dep, "EndTime"), (stage.name, dep)
        log = Path(rec["log"]).read_text()
        assert f"[{stage.name}] running" in log
    assert_same_study(local, ws)
    # the password is in no job script, job config, log or record
    assert [p for p in ws.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()] == []
    script = (ws / "jobs" / "train__baseline-seed0.sh").read_text()
    assert "#SBATCH --cpus-per-task=1" in script and "experiment run-stage" in script
    # nothing finished runs again
    again = cdsynth("experiment", "run", path, "--executor", "slurm")
    assert "0 job(s) submitted, 0 already queued or running" in again
    assert {n: r["job"] for n, r in jobs_of(ws).items()} == {n: r["job"] for n, r in jobs.items()}


def test_a_cancelled_training_job_shows_as_failed_and_resumes_to_the_same_bytes(tmp_path):
    study = [
        "study.conditions=[]",
        "train.steps=120",
        "train.checkpoint_every=10",
        "train.eval_every=40",
        "evaluate.tasks=[perplexity]",
        "evaluate.perplexity_documents=3",
        "evaluate.steps=[120]",
    ]
    local = tmp_path / "local"
    run_experiment(load_config(None, [f"workdir={local}", *TINY, *study]), log=quiet)
    ws = tmp_path / "ws"
    path = config_file(tmp_path, ws, *study)
    cdsynth("experiment", "run", path, "--executor", "slurm")
    # `experiment cancel` cancels all the study queued; every stage stays resumable
    first = [r["job"] for r in jobs_of(ws).values()]
    assert "5 job(s) cancelled" in cdsynth("experiment", "cancel", path)
    wait_until(lambda: not live(first))
    lines = cdsynth("experiment", "status", path).splitlines()
    assert all("CANCELLED" in x for x in lines[:5] if not x.endswith("  done")), lines
    assert "0 job(s) cancelled" in cdsynth("experiment", "cancel", path)
    out = cdsynth("experiment", "run", path, "--executor", "slurm")
    assert "job(s) submitted, 0 already queued or running" in out
    train = jobs_of(ws)["train__baseline-seed0"]["job"]
    assert train not in first
    run = ws / "runs" / "baseline-seed0"
    wait_until(lambda: (run / "step_10" / "state.json").is_file(), every=0.1)
    # submitting again while it runs: no second job for anything queued or running
    again = cdsynth("experiment", "run", path, "--executor", "slurm")
    assert "0 job(s) submitted, 3 already queued or running" in again
    subprocess.run(["scancel", train], check=True)
    wait_until(lambda: train not in live([train]))
    assert not (run / "step_120").exists(), "the run finished before it was cancelled"
    lines = {x.split()[0]: x for x in cdsynth("experiment", "status", path).splitlines()}
    log = ws / "jobs" / f"train__baseline-seed0-{train}.log"
    assert f"failed (job {train} CANCELLED, log {log}) (step " in lines["train/baseline-seed0"]
    assert "queued (job" in lines["eval/baseline-seed0"]
    old_eval = jobs_of(ws)["eval__baseline-seed0"]["job"]
    # the next run resubmits the training and the stages waiting on it, and nothing else
    out = cdsynth("experiment", "run", path, "--executor", "slurm")
    assert "3 job(s) submitted, 0 already queued or running" in out
    jobs = jobs_of(ws)
    assert jobs["train__baseline-seed0"]["job"] != train
    assert jobs["eval__baseline-seed0"]["after"] == [jobs["train__baseline-seed0"]["job"]]
    wait_until(lambda: scontrol(old_eval).get("JobState") == "CANCELLED")
    ids = [r["job"] for r in jobs.values()]
    wait_until(lambda: not live(ids))
    assert all(state == "done" for _, state in experiment_status(load_config(path)))
    resumed = Path(jobs["train__baseline-seed0"]["log"]).read_text()
    assert "[train/baseline-seed0] resuming" in resumed
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 121))  # nothing lost, nothing twice
    assert_same_study(local, ws)
