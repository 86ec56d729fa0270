"""Executors: stages side by side on one machine give the sequential run's bytes; one stage by
name (what every job runs); the Slurm section of a config and the job scripts it makes; locks
and temporary files that name their host (a shared filesystem seen by several nodes)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cdsynth.config import load_config
from cdsynth.errors import UserError
from cdsynth.executors import Parallel, stage_command, write_job_config
from cdsynth.graph import build_graph, experiment_status, run_experiment
from cdsynth.slurm import Job, describe, job_script

from .conftest import TINY, quiet, run_cli, tiny_config

ROOT = Path(__file__).resolve().parents[1]
# a small study: every kind of stage, two independent branches after the baseline
SMALL = [
    "study.conditions=[{name: no-contrast, strategy: ancestral}]",
    "generate.num_prefixes=4",
    "generate.completions=2",
    "generate.new_tokens=16",
    "generate.batch_size=8",
    "generate.dtype=fp32",
    "evaluate.tasks=[perplexity]",
    "evaluate.perplexity_documents=5",
    "study.bootstrap_samples=20",
    "study.diagnostics_samples=5",
]
# what a run writes that says when, where or how long it ran, not what it made
TIMING = ("stages/", "jobs/", "report/")
RATES = {"tok_s", "items_per_s", "seconds"}


def outputs(root: Path) -> dict[str, object]:
    """Every output file of a study folder by relative path, but the records of when and where
    it ran (stage records, job files, the report's wall times) and the lock files: bytes, or
    for JSON the data without its speeds and with the workdir's path as WORKDIR."""

    def plain(x):
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items() if k not in RATES}
        if isinstance(x, list):
            return [plain(v) for v in x]
        return x.replace(str(root), "WORKDIR") if isinstance(x, str) else x

    out: dict[str, object] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if not p.is_file() or rel.startswith(TIMING) or p.name.endswith(".lock"):
            continue
        if p.suffix == ".json":
            out[rel] = plain(json.loads(p.read_text()))
        elif p.suffix == ".jsonl" and p.parent.name != "corpus":
            out[rel] = [plain(json.loads(x)) for x in p.read_text().splitlines()]
        else:
            out[rel] = p.read_bytes()
    return out


def identities(root: Path) -> dict[str, str]:
    """Each stage's recorded identity and completeness."""
    return {
        p.name: (r["identity"], r["complete"])
        for p in sorted((root / "stages").glob("*.json"))
        if not p.name.endswith(".slurm.json") and (r := json.loads(p.read_text()))
    }


def assert_same_study(a: Path, b: Path) -> None:
    assert identities(a) == identities(b)
    left, right = outputs(a), outputs(b)
    assert sorted(left) == sorted(right)
    assert [k for k in left if left[k] != right[k]] == []
    table = lambda r: json.loads((r / "report" / "summary.json").read_text())["table"]  # noqa: E731
    assert table(a) == table(b)


def test_parallel_stages_give_the_sequential_bytes(tmp_path):
    seq = tiny_config(tmp_path / "seq", *SMALL)
    par = tiny_config(tmp_path / "par", *SMALL)
    first = run_experiment(seq, log=quiet)
    logs = []
    done = run_experiment(par, log=logs.append, executor=Parallel(2))
    assert [n for n, _ in done] == [n for n, _ in first]
    assert all(what == "ran" for _, what in done)
    assert_same_study(tmp_path / "seq", tmp_path / "par")
    # each stage ran in its own process, with its own log
    log = (tmp_path / "par" / "jobs" / "train__baseline-seed0-local.log").read_text()
    assert "[train/baseline-seed0] running" in log
    # the two branches after the baseline ran side by side: each started before the other
    # finished
    at = lambda event: next(i for i, x in enumerate(logs) if x.startswith(event))  # noqa: E731
    gen, ev = "[generate/no-contrast]", "[eval/baseline-seed0]"
    assert at(f"{gen} running") < at(f"{ev} done") and at(f"{ev} running") < at(f"{gen} done")
    assert all(what == "skipped" for _, what in run_experiment(par, executor=Parallel(2)))


def test_a_failed_stage_stops_its_readers_and_says_where_its_log_is(tmp_path):
    from cdsynth.locks import output_lock

    cfg = tiny_config(tmp_path / "ws", "study.conditions=[]", "evaluate.tasks=[nope]")
    with pytest.raises(UserError, match="unknown task 'nope'"):
        run_experiment(cfg, log=quiet, executor=Parallel(2))  # checked before any stage
    cfg = tiny_config(tmp_path / "ws", "study.conditions=[]", "evaluate.tasks=[perplexity]")
    with output_lock(tmp_path / "ws" / "runs" / "baseline-seed0"):  # another writer
        with pytest.raises(UserError) as e:
            run_experiment(cfg, log=quiet, executor=Parallel(2))
    log = tmp_path / "ws" / "jobs" / "train__baseline-seed0-local.log"
    assert f"train/baseline-seed0 (exit code 2, log {log})" in str(e.value)
    assert "eval/baseline-seed0 (not run: train/baseline-seed0 failed)" in str(e.value)
    assert "being written by another cdsynth process" in log.read_text()
    status = dict(experiment_status(cfg))
    assert status["tokenizer"] == "done" and status["report"] == "to do"


def test_run_stage_runs_one_stage_by_name_and_refuses_what_it_cannot(
    workspace, monkeypatch, capsys
):
    monkeypatch.delenv("CDSYNTH_EWOK_PASSWORD", raising=False)
    cfg = tiny_config(workspace, "study.conditions=[]", "evaluate.tasks=[perplexity]")
    path = write_job_config(cfg)
    stages = {s.name: s for s in build_graph(cfg, log=quiet)}
    train = stages["train/baseline-seed0"]

    def run(*args):
        return run_cli(monkeypatch, capsys, "experiment", "run-stage", path, *args)

    code, _, err = run("train/nope")
    assert code == 2 and err.count("\n") == 1 and "no stage named 'train/nope'" in err
    code, _, err = run(train.name, "--identity", "0" * 16)
    assert code == 2 and "was submitted for another config" in err
    code, _, err = run("eval/baseline-seed0")
    assert code == 2 and "reads train/baseline-seed0, not done yet" in err
    # the corpus and tokenizer of the fixture are not the graph's records: run them by name
    assert run("corpus")[0] == 0 and run("tokenizer")[0] == 0
    code, out, _ = run(train.name, "--identity", train.hash)
    assert code == 0 and "[train/baseline-seed0] running" in out
    assert dict(experiment_status(cfg))[train.name] == "done"
    code, out, _ = run(train.name, "--identity", train.hash)
    assert code == 0 and "done already" in out
    code, _, err = run("eval/baseline-seed0", "--passwords-from-env", "ewok")
    assert code == 2 and "needs $CDSYNTH_EWOK_PASSWORD" in err


def test_passwords_stay_out_of_the_job_config_and_travel_in_the_environment(tmp_path):
    cfg = tiny_config(tmp_path / "ws", "evaluate.passwords.ewok=s3cret", "study.conditions=[]")
    path = write_job_config(cfg)
    assert "s3cret" not in path.read_text()
    ev = next(s for s in build_graph(cfg, log=quiet) if s.kind == "eval")
    command = stage_command(cfg, path, ev)
    assert "s3cret" not in " ".join(command) and command[-2:] == ["--passwords-from-env", "ewok"]
    # the job's config and the password from its environment give the submitter's identity
    from cdsynth.cli import experiment_run_stage  # noqa: F401 (the command the job runs)

    code = (
        "import sys, dataclasses; from cdsynth.config import load_config;"
        "from cdsynth.graph import build_graph; c = load_config(sys.argv[1]);"
        "p = dataclasses.replace(c.evaluate.passwords, ewok='s3cret');"
        "c = dataclasses.replace(c, evaluate=dataclasses.replace(c.evaluate, passwords=p));"
        "print([s.hash for s in build_graph(c, log=lambda *a: None) if s.kind == 'eval'][0])"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert out.stdout.strip() == ev.hash, out.stderr


def test_slurm_settings_default_to_the_paper_and_merge_per_kind(monkeypatch, capsys):
    paper = load_config(ROOT / "configs" / "paper.yaml")
    train = paper.slurm.resources("train")
    assert (train.nodes, train.gpus, train.cpus, train.mem, train.time) == (
        1,
        1,
        8,
        "64G",
        "08:00:00",
    )
    assert paper.slurm.resources("corpus").gpus == 0
    cfg = load_config(
        None,
        [
            "slurm.partition=gpu",
            "slurm.sbatch=['--qos=normal']",
            "slurm.train.gpus=4",
            "slurm.train.sbatch=['--constraint=h200']",
            "slurm.eval.partition=small",
        ],
    )
    train = cfg.slurm.resources("train")
    assert (train.gpus, train.time, train.partition) == (4, "08:00:00", "gpu")
    assert train.sbatch == ["--qos=normal", "--constraint=h200"]
    assert cfg.slurm.resources("eval").partition == "small"
    for bad, says in (
        ("slurm.train.time=soon", "slurm.train.time must be a Slurm time"),
        ("slurm.eval.gpus=2", "slurm.eval.gpus must be 0 or 1"),
        ("slurm.eval.nodes=2", "slurm.eval.nodes must be 1"),
        ("slurm.train.mem=lots", "slurm.train.mem must be a size"),
        ("slurm.trian.gpus=1", "unknown config key 'slurm.trian'"),
        ('slurm.sbatch=["--a\\nrm -rf /"]', "slurm.sbatch must list one-line strings"),
    ):
        code, _, err = run_cli(monkeypatch, capsys, "experiment", "status", bad)
        assert code == 2 and err.count("\n") == 1 and says in err, (bad, err)


def test_a_job_script_is_readable_runnable_and_asks_for_its_kinds_resources(tmp_path):
    cfg = tiny_config(
        tmp_path / "ws",
        "study.conditions=[]",
        "evaluate.passwords.entity_tracking=pw2",
        "slurm.account=lab",
        "slurm.setup=['module load cuda/12.4']",
        "slurm.train={gpus: 4, nodes: 2, time: '1-00:00:00', partition: h200}",
    )
    path = write_job_config(cfg)
    stages = {s.name: s for s in build_graph(cfg, log=quiet)}
    script = job_script(cfg, path, stages["train/baseline-seed0"])
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash" and "pw2" not in script
    for want in (
        "#SBATCH --nodes=2",
        "#SBATCH --gres=gpu:4",
        "#SBATCH --time=1-00:00:00",
        "#SBATCH --partition=h200",
        "#SBATCH --account=lab",
        "module load cuda/12.4",
    ):
        assert want in lines, want
    run = lines[-1]
    assert run.startswith(f"exec {sys.executable} -m cdsynth.cli experiment run-stage {path}")
    assert "--launcher torchrun --nproc 4 --nnodes 2" in run
    assert "--passwords-from-env" not in run  # training never reads them
    for name in ("eval/baseline-seed0", "report"):  # the report's identity holds eval's
        last = job_script(cfg, path, stages[name]).splitlines()[-1]
        assert last.endswith("--passwords-from-env entity_tracking"), name
    corpus = job_script(cfg, path, stages["corpus"])
    assert "--gres" not in corpus and "torchrun" not in corpus
    assert "#SBATCH --cpus-per-task=8" in corpus.splitlines()
    scripts = tmp_path / "train.sh"
    scripts.write_text(script)
    assert subprocess.run(["bash", "-n", str(scripts)]).returncode == 0


def test_a_jobs_state_reads_as_queued_running_or_failed():
    assert describe(Job("7", "PENDING", "Dependency"), "x.log") == "queued (job 7, Dependency)"
    assert "will not start: a stage it reads failed" in describe(
        Job("7", "PENDING", "DependencyNeverSatisfied"), "x.log"
    )
    assert describe(Job("7", "RUNNING"), "x.log") == "running (job 7 RUNNING, log x.log)"
    assert describe(Job("7", "TIMEOUT"), "x.log") == "failed (job 7 TIMEOUT, log x.log)"


def test_a_lock_names_its_holders_host_and_pid(tmp_path):
    from cdsynth.locks import output_lock

    code = (
        "import sys, time; from cdsynth.locks import output_lock\n"
        "with output_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "out")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError) as e:
            with output_lock(tmp_path / "out"):
                pass
        assert f"(pid {holder.pid}) on host {socket.gethostname()};" in str(e.value)
    finally:
        holder.kill()
        holder.wait()


def test_temporary_files_of_another_host_are_not_taken_for_orphans(tmp_path):
    from cdsynth.fileio import remove_orphans

    target = tmp_path / "record.json"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], text=True, capture_output=True
    ).stdout.strip()
    mine = tmp_path / f".record.json.tmp{dead}@{socket.gethostname()}"
    theirs = tmp_path / f".record.json.tmp{os.getpid()}@another-node"
    for p in (mine, theirs):
        p.write_text("x")
    assert remove_orphans(target) == [mine]
    assert theirs.exists()


def test_the_executor_options_are_checked(monkeypatch, capsys, tmp_path):
    args = ("experiment", "run", "configs/demo.yaml", f"workdir={tmp_path}", *TINY)
    for extra, says in (
        (["--executor", "ray"], "--executor must be local or slurm"),
        (["--executor", "slurm", "--parallel", "2"], "--parallel is for --executor local"),
        (["--parallel", "2", "--launcher", "torchrun"], "--launcher torchrun runs one stage"),
        (["--parallel", "0"], "--parallel must be >= 1"),
    ):
        code, _, err = run_cli(monkeypatch, capsys, *args, *extra)
        assert code == 2 and err.count("\n") == 1 and says in err, (extra, err)
