"""The study as a graph of stages: their order, their records, their state, and the launcher.

    stages = build_graph(cfg)        # corpus, tokenizer, train, generate, eval, report
    run_experiment(cfg)              # every stage not done (locally or under torchrun)
    run_experiment(cfg, executor=e)  # ... through an `Executor` (executors.py, slurm.py)
    run_named_stage(cfg, "train/x")  # one stage: what every executor's job runs
    experiment_status(cfg)           # done / partial / stale / to do per stage

A stage's identity (`identity.stage_identity`) is the hash of what changes its output (its
config without the output-neutral settings) and of the identities of the stages it reads; its
record in workdir/stages/ holds that identity, and `identity.is_current` alone decides
whether the output is current.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Protocol

import yaml

from . import report
from .config import ExperimentConfig, to_dict
from .corpora import corpus_inputs
from .corpus import source_fingerprint
from .errors import UserError
from .evaluate.runner import evaluate_checkpoints, task_reads
from .fileio import read_json, stable_hash, write_json, write_text
from .generate import check_generate_inputs
from .identity import OLDER_RULES, identity, is_current, read_record, stage_identity
from .locks import output_lock
from .stages import run_corpus, run_generate, run_tokenizer, run_train
from .study import scored_steps, study_conditions, study_methods, train_config
from .workspace import SyntheticFiles, Workspace, eval_dir, latest_checkpoint, step_of


@dataclass
class Stage:
    """One cached step of a study. Its `hash` is its identity: its config's and its inputs'."""

    name: str  # e.g. "train/baseline-seed0"
    kind: str  # corpus | tokenizer | train | generate | eval | report
    config: dict
    deps: list["Stage"]
    output: Path
    action: Callable[[], object]
    cli: tuple[str, ExperimentConfig] | None = None  # (command, config) for torchrun
    check: Callable[[], object] | None = None  # its checks that need files, before any write
    # its output records each part's identity and its action redoes only the parts that
    # changed (an evaluation's results): a stale one is not deleted first
    keeps_parts: bool = False
    hash: str = ""
    older: tuple[str, ...] = ()  # its identity under each older rule (identity.OLDER_RULES)

    def __post_init__(self):
        self.hash = stage_identity(self.kind, self.config, [d.hash for d in self.deps])
        self.older = tuple(
            stage_identity(self.kind, self.config, [d.older[i] for d in self.deps], rule)
            for i, rule in enumerate(OLDER_RULES)
        )

    @property
    def accepted(self) -> tuple[str, ...]:
        """The identities a current record of this stage may hold."""
        return (self.hash, *self.older)


def build_graph(cfg: ExperimentConfig, log=print, progress: bool = False) -> list[Stage]:
    """Every stage of the study, in an order where each stage follows its inputs."""
    ws = Workspace(cfg.workdir)
    st = cfg.study
    corpus = Stage(
        "corpus",
        "corpus",
        {**to_dict(cfg.corpus), "files": source_fingerprint(cfg.corpus)},
        [],
        ws.corpus,
        lambda: run_corpus(cfg, log=log, force=True),
    )
    tok = Stage(
        "tokenizer",
        "tokenizer",
        to_dict(cfg.tokenizer),
        [corpus],
        ws.tokenizer,
        lambda: run_tokenizer(cfg, log=log, force=True),
    )
    stages = [corpus, tok]
    trains: dict[str, Stage] = {}

    def train_stage(tc, deps):
        c = dataclasses.replace(cfg, train=tc)
        s = Stage(
            f"train/{tc.name}",
            "train",
            to_dict(tc),
            deps,
            ws.run(tc.name),
            lambda: run_train(c, log=log, progress=progress),
            cli=("train", c),
        )
        trains[tc.name] = s
        stages.append(s)
        return s

    evals: list[Stage] = []
    # what the evaluations read: each task's rule and the settings that choose its items
    tasks_read = task_reads(cfg.evaluate)

    def eval_stage(tc) -> None:
        """A method's run is scored right after it trains, so finished runs have results
        while the study goes on (the order changes no output)."""
        run = tc.name
        # what it reads: the checkpoints it scores, each task's rule and item settings
        reads = {"steps": scored_steps(tc, cfg.evaluate.steps), "tasks": tasks_read}
        if cfg.evaluate.checkpoints != "steps":  # the chck_<N>M folders (by words seen)
            reads["checkpoints"] = str(cfg.evaluate.checkpoints)
        ev = Stage(
            f"eval/{run}",
            "eval",
            {**to_dict(cfg.evaluate), "reads": reads},
            [trains[run]],
            eval_dir(ws.run(run)),
            lambda: evaluate_checkpoints(
                ws.run(run), cfg.evaluate, cfg.workdir, log=lambda *a: None, progress=progress
            ),
            keeps_parts=True,
        )
        stages.append(ev)
        evals.append(ev)

    for run in st.runs:
        for seed in st.seeds if run == "baseline" else [st.model_seed]:
            tc = train_config(cfg, run, seed)
            train_stage(tc, [tok])
            if run == "baseline":
                eval_stage(tc)
    corpora: dict[str, Stage] = {}  # conditions that differ only in ratio share a corpus
    for cond in study_conditions(cfg):
        s0 = st.model_seed
        key = stable_hash(
            {k: v for k, v in identity("generate", to_dict(cond.generate)).items() if k != "name"}
        )
        gen = corpora.get(key)
        if gen is None:
            deps = [trains[f"baseline-seed{s0}"]]
            if cond.amateur_run:
                deps.append(trains[f"{cond.amateur_run}-seed{s0}"])
            c = dataclasses.replace(cfg, generate=cond.generate)
            gen = Stage(
                f"generate/{cond.name}",
                "generate",
                to_dict(cond.generate),
                deps,
                ws.synthetic(cond.name),
                lambda c=c: run_generate(c, shard=(0, 1), log=log, progress=progress),
                cli=("generate", c),
                check=lambda c=c: check_generate_inputs(c.generate, c.workdir),
            )
            corpora[key] = gen
            stages.append(gen)
        for seed in st.seeds:
            tc = dataclasses.replace(
                train_config(cfg, "baseline", seed),
                name=f"mix-{cond.name}-seed{seed}",
                synthetic=f"synthetic/{gen.output.name}",
                synthetic_ratio=cond.ratio,
            )
            train_stage(tc, [tok, gen])
            eval_stage(tc)
    rep = Stage(
        "report",
        "report",
        {"study": to_dict(st), "methods": study_methods(cfg)},
        evals + [s for s in stages if s.kind == "generate"],
        ws.report,
        lambda: write_study_report(cfg, log=log),
    )
    stages.append(rep)
    return stages


def write_study_report(cfg: ExperimentConfig, log=print) -> Path:
    """The report stage: the study's methods and the corpora read for it, reported."""
    return report.write_report(cfg, study_methods(cfg), corpus_inputs(cfg), log=log)


def _record_path(cfg: ExperimentConfig, stage: Stage) -> Path:
    return Workspace(cfg.workdir).stage_file(stage.name)


def stage_state(cfg: ExperimentConfig, stage: Stage) -> str:
    """done | partial (started with this config) | stale (made with another config) | to do."""
    rec = _record_path(cfg, stage)
    if not rec.is_file():
        return "partial" if stage.output.exists() else "to do"
    r = read_json(rec)
    if not is_current(r, stage.accepted):
        return "stale"
    return "done" if r.get("complete") else "partial"


def refresh_record(cfg: ExperimentConfig, stage: Stage) -> None:
    """A done stage recorded under an older identity rule records this rule's identity (so a
    later change of a setting the older rule counted, and this one does not, keeps it)."""
    rec = _record_path(cfg, stage)
    r = read_record(rec)
    if r.get("identity") != stage.hash and is_current(r, stage.accepted):
        write_json(rec, {**r, "identity": stage.hash})


def run_stage(
    cfg: ExperimentConfig, stage: Stage, launcher: str = "local", nproc: int = 2, nnodes: int = 1
) -> None:
    """Run one stage (resuming it where it stopped, redoing it where stale) and record it.
    Its record's lock refuses a second launcher of the same stage, wherever it runs."""
    rec = _record_path(cfg, stage)
    with output_lock(rec):
        state = stage_state(cfg, stage)
        if stage.check is not None:  # a refused stage deletes and writes nothing
            stage.check()
        if state == "stale" and stage.output.exists() and not stage.keeps_parts:
            shutil.rmtree(stage.output)  # made from other inputs: redo from scratch
        write_json(rec, {"name": stage.name, "identity": stage.hash, "complete": False})
        start = time.monotonic()
        if launcher == "torchrun" and stage.cli is not None:
            _torchrun(cfg, stage, nproc, nnodes)
        else:
            stage.action()
        write_json(
            rec,
            {
                "name": stage.name,
                "identity": stage.hash,
                "complete": True,
                # this launch's wall time (a resumed stage: its last launch only) and where
                "seconds": round(time.monotonic() - start, 1),
                "machine": platform.node(),
                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
        )


def _torchrun(cfg: ExperimentConfig, stage: Stage, nproc: int, nnodes: int = 1) -> None:
    """The stage's own command under torchrun: `nproc` processes on this node, or on each of
    the `nnodes` nodes of a Slurm allocation (one torchrun per node through srun, meeting at
    this node)."""
    command, c = stage.cli
    path = Workspace(cfg.workdir).stage_file(stage.name, ".yaml")
    # train and generate never read the zip passwords: they stay out of files on disk
    write_text(path, yaml.safe_dump(config_without_passwords(c), sort_keys=False))
    where = ["--standalone"]
    if nnodes > 1:
        job = os.environ.get("SLURM_JOB_ID")
        if job is None:
            raise UserError(f"stage {stage.name}: --nnodes {nnodes} runs only inside a Slurm job")
        where = [
            f"--nnodes={nnodes}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint={platform.node()}:29500",
            f"--rdzv-id=cdsynth-{job}",
        ]
    launch = [sys.executable, "-m", "torch.distributed.run", *where]
    srun = ["srun", f"--nodes={nnodes}", "--ntasks-per-node=1"] if nnodes > 1 else []
    r = subprocess.run(
        [*srun, *launch, "--nproc_per_node", str(nproc), "-m", "cdsynth.cli", command, str(path)]
    )
    if r.returncode != 0:
        raise UserError(f"stage {stage.name} failed under torchrun (exit code {r.returncode})")


def config_without_passwords(cfg: ExperimentConfig) -> dict:
    """The resolved config as a dict, the zip passwords blanked: what files on disk hold."""
    data = to_dict(cfg)
    data["evaluate"]["passwords"] = {k: None for k in data["evaluate"]["passwords"]}
    return data


class Executor(Protocol):
    """Where a study's stages run: in this process (`InProcess`), side by side on this machine
    (`executors.Parallel`), as Slurm jobs (`slurm.SlurmExecutor`); a Ray backend would be one
    more class. `run` gets the whole graph, each stage after its inputs, and runs (or submits)
    every stage that is not done, each after the stages it reads; it returns [(stage, what
    happened)]. A stage always runs through `run_stage` (here) or `run_named_stage` (in a
    `cdsynth experiment run-stage` process), so its locks, records and resume rules are the
    same under every executor."""

    def run(self, cfg: ExperimentConfig, stages: list[Stage], log) -> list[tuple[str, str]]: ...


@dataclass(frozen=True)
class InProcess:
    """One stage after another in this process, or each under torchrun on this node."""

    launcher: str = "local"  # local | torchrun
    nproc: int = 2  # processes per stage under torchrun

    def run(self, cfg: ExperimentConfig, stages: list[Stage], log) -> list[tuple[str, str]]:
        done = []
        for stage in stages:
            state = stage_state(cfg, stage)
            if state == "done":
                refresh_record(cfg, stage)
                done.append((stage.name, "skipped"))
                if stage.kind == "report":  # the summary is printed on every run
                    log(report.printed_summary(cfg))
                continue
            log(f"[{stage.name}] {'resuming' if state == 'partial' else 'running'}")
            run_stage(cfg, stage, self.launcher, self.nproc)
            done.append((stage.name, "ran"))
        return done


def run_experiment(
    cfg: ExperimentConfig,
    launcher: str = "local",
    nproc: int = 2,
    log=print,
    progress: bool = False,
    executor: Executor | None = None,
) -> list[tuple[str, str]]:
    """Run every stage that is not done (through `executor`; by default in this process with
    `launcher`); returns [(stage, what happened)]."""
    if launcher not in ("local", "torchrun"):
        raise UserError("--launcher must be local or torchrun")
    stages = build_graph(cfg, log=log, progress=progress)
    check_stages(cfg, stages)
    # one study per workdir at a time (its stages lock their own outputs as well)
    with output_lock(Workspace(cfg.workdir).root / "experiment"):
        return (executor or InProcess(launcher, nproc)).run(cfg, stages, log)


def run_named_stage(
    cfg: ExperimentConfig,
    name: str,
    identity: str | None = None,
    launcher: str = "local",
    nproc: int = 2,
    nnodes: int = 1,
    log=print,
    progress: bool = False,
) -> str:
    """Run the stage called `name` of the study (`cdsynth experiment run-stage`): what an
    executor's job runs. Refused when the config no longer gives the stage the `identity` it
    was submitted with, or when a stage it reads is not done; a done stage is left alone.
    Returns "ran" or "skipped"."""
    stages = {s.name: s for s in build_graph(cfg, log=log, progress=progress)}
    stage = stages.get(name)
    if stage is None:
        raise UserError(f"no stage named '{name}' in this study; stages: {', '.join(stages)}")
    if identity is not None and identity != stage.hash:
        raise UserError(
            f"stage {name} was submitted for another config (identity {identity[:12]}, now "
            f"{stage.hash[:12]}); rerun `cdsynth experiment run` to submit it again"
        )
    waiting = [d.name for d in stage.deps if stage_state(cfg, d) != "done"]
    if waiting:
        raise UserError(f"stage {name} reads {', '.join(waiting)}, not done yet: run it first")
    if stage_state(cfg, stage) == "done":
        refresh_record(cfg, stage)
        log(f"[{name}] done already")
        return "skipped"
    check_stages(cfg, [stage])
    log(f"[{name}] {'resuming' if stage_state(cfg, stage) == 'partial' else 'running'}")
    run_stage(cfg, stage, launcher, nproc, nnodes)
    return "ran"


def check_stages(cfg: ExperimentConfig, stages: list[Stage]) -> None:
    """Every stage config of the study checked before the first stage runs (training
    configs, amateur and GOOD steps, sweeps, seeds and task names were checked when the graph
    was built): generation settings, prompt files, the evaluation tasks' data (all but
    perplexity, which reads the corpus the study makes)."""
    from .evaluate import PERPLEXITY, load_task
    from .generate import check_generate_config
    from .generate.prefixes import read_prompt_file

    for stage in stages:
        if stage.cli is not None and stage.cli[0] == "generate":
            gen = stage.cli[1].generate
            check_generate_config(gen)
            if gen.prefix_source == "file":  # readable, one id type: before the first stage
                read_prompt_file(Workspace(cfg.workdir).resolve(gen.prefix_file))
    if any(s.kind == "eval" for s in stages):
        for name in cfg.evaluate.tasks:  # (perplexity reads the corpus the study makes)
            if name not in PERPLEXITY:
                load_task(name, cfg.evaluate, cfg.workdir)


def experiment_status(cfg: ExperimentConfig) -> list[tuple[str, str]]:
    return [(s.name, stage_state(cfg, s)) for s in build_graph(cfg, log=lambda *a: None)]


def stage_progress(stage: Stage) -> str:
    """How far a started stage has come, read from its output: a training run's last
    checkpoint, a generation's finished batches, an evaluation's scored checkpoints."""
    out = stage.output
    if stage.kind == "train":
        last = latest_checkpoint(out)
        return f"step {step_of(last) if last else 0} of {stage.config['steps']}"
    if stage.kind == "generate":
        return f"{len(list(SyntheticFiles(out).batches.glob('*.parquet')))} batches written"
    if stage.kind == "eval":
        return f"{sum(1 for p in out.glob('step_*') if p.is_dir())} checkpoints scored"
    return ""


def status_lines(
    cfg: ExperimentConfig, jobs: Callable[[list[Stage]], dict[str, str]] | None = None
) -> list[str]:
    """`cdsynth experiment status`: each stage's state (with its progress where started) and
    a last line counting what is left. `jobs(stages)` may name, for stages that are not done,
    the state of the job an executor gave them ("queued (job 12)", "failed (job 12 ...)")."""
    stages = build_graph(cfg, log=lambda *a: None)
    states = [stage_state(cfg, s) for s in stages]
    todo = [s for s, state in zip(stages, states, strict=True) if state != "done"]
    by_job = jobs(todo) if jobs is not None and todo else {}
    width = max(len(s.name) for s in stages)
    lines = []
    for s, state in zip(stages, states, strict=True):
        more = stage_progress(s) if state == "partial" and s.output.exists() else ""
        shown = by_job.get(s.name, state)
        lines.append(f"{s.name:<{width}}  {shown}" + (f" ({more})" if more else ""))
    lines += wall_time_lines(cfg, stages)
    left = [s.kind for s, state in zip(stages, states, strict=True) if state != "done"]
    kinds = ", ".join(f"{left.count(k)} {k}" for k in dict.fromkeys(left))
    lines.append(
        f"{len(stages) - len(left)} of {len(stages)} stages done"
        + (f"; left: {kinds}" if left else "")
    )
    return lines


def wall_time_lines(cfg: ExperimentConfig, stages: list[Stage]) -> list[str]:
    """The wall time the finished stages recorded, summed by kind (one line; none if no
    stage recorded one)."""
    by_kind: dict[str, list[float]] = {}
    machines = set()
    for s in stages:
        r = read_record(_record_path(cfg, s))
        if r.get("complete") and is_current(r, s.accepted) and "seconds" in r:
            by_kind.setdefault(s.kind, []).append(float(r["seconds"]))
            machines.add(r.get("machine", "?"))
    if not by_kind:
        return []
    parts = [f"{k} {sum(v) / 60:.1f} min ({len(v)})" for k, v in by_kind.items()]
    total = sum(sum(v) for v in by_kind.values()) / 60
    on = ", ".join(sorted(machines))
    return [f"wall time recorded: {', '.join(parts)}; {total:.1f} min in all on {on}"]
