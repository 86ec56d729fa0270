"""The `cdsynth` command: thin typer commands over the stages.

Every command takes an experiment config (YAML) and `key=value` overrides, for example
`cdsynth train configs/demo.yaml train.lr=3e-4 train.steps=50`. Bad input ends with one line
on stderr and exit code 2.
"""

from __future__ import annotations

import os
import sys
from typing import List, Optional

import typer

from . import __version__
from .errors import UserError, os_error_line

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Synthetic pre-training text with contrastive decoding.",
)


def _version(value: bool) -> None:
    if value:
        print(f"cdsynth {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """Synthetic pre-training text with contrastive decoding."""


ConfigArg = typer.Argument(None, help="experiment config (YAML); defaults when omitted")
OverridesArg = typer.Argument(None, help="dotted overrides such as train.lr=3e-4")


def _config(config: Optional[str], overrides: Optional[List[str]]):
    from .config import load_config

    # allow `cdsynth train key=value` with no config file
    if config is not None and "=" in config and not config.endswith((".yaml", ".yml")):
        overrides = [config, *(overrides or [])]
        config = None
    return load_config(config, overrides or [])


@app.command()
def corpus(
    config: Optional[str] = ConfigArg,
    overrides: Optional[List[str]] = OverridesArg,
    force: bool = typer.Option(False, help="rebuild even if up to date"),
):
    """Read, clean and split the corpus into train / eval / seeds."""
    from .stages import run_corpus

    run_corpus(_config(config, overrides), force=force)


@app.command()
def tokenizer(
    config: Optional[str] = ConfigArg,
    overrides: Optional[List[str]] = OverridesArg,
    force: bool = typer.Option(False, help="retrain even if up to date"),
):
    """Train the byte-level BPE tokenizer on the train split."""
    from .stages import run_tokenizer

    run_tokenizer(_config(config, overrides), force=force)


@app.command()
def train(config: Optional[str] = ConfigArg, overrides: Optional[List[str]] = OverridesArg):
    """Train (or resume) a model; checkpoints go to WORKDIR/runs/NAME/step_N/."""
    from .distributed import env_rank
    from .stages import run_train

    cfg = _config(config, overrides)
    main_rank = env_rank().is_main
    run_train(cfg, log=print if main_rank else (lambda *a, **k: None), progress=sys.stderr.isatty())


@app.command()
def generate(
    config: Optional[str] = ConfigArg,
    overrides: Optional[List[str]] = OverridesArg,
    shard: Optional[str] = typer.Option(None, help="i/n: run only shard i of n"),
):
    """Generate a synthetic corpus (CD, No-Contrast or V_head) into WORKDIR/synthetic/NAME/."""
    from .distributed import env_rank
    from .generate import parse_shard
    from .stages import run_generate

    cfg = _config(config, overrides)
    main_rank = env_rank().is_main
    run_generate(
        cfg,
        parse_shard(shard) if shard else None,
        log=print if main_rank else (lambda *a, **k: None),
        progress=sys.stderr.isatty(),
    )


@app.command()
def merge(config: Optional[str] = ConfigArg, overrides: Optional[List[str]] = OverridesArg):
    """Check that every shard of a synthetic corpus finished and merge them."""
    from .generate import merge as merge_batches
    from .generate import output_dir
    from .workspace import SyntheticFiles

    cfg = _config(config, overrides)
    out = output_dir(cfg.generate, cfg.workdir)
    if not SyntheticFiles(out).config.is_file():
        raise UserError(f"no generation in {out} (run `cdsynth generate` first)")
    merge_batches(out, cfg.generate.formats)


@app.command(name="eval")
def eval_(
    path: str = typer.Argument(..., help="a run folder (every step_N) or a model folder"),
    overrides: Optional[List[str]] = OverridesArg,
    config: Optional[str] = typer.Option(None, help="experiment config (YAML)"),
    tasks: Optional[str] = typer.Option(None, help="comma-separated task names"),
    out: Optional[str] = typer.Option(None, help="results folder (default PATH/eval)"),
    format: str = typer.Option(
        "cdsynth", help="cdsynth, or lm-eval: also lm-eval's results layout in OUT/lm-eval/"
    ),
):
    """Evaluate checkpoints: perplexity, BLiMP, EWoK, entity tracking, WUG, reading, probes."""
    import dataclasses
    from pathlib import Path

    from .evaluate.runner import evaluate_checkpoints
    from .workspace import eval_dir

    if format not in ("cdsynth", "lm-eval"):
        raise UserError(f"--format must be cdsynth or lm-eval, got {format!r}")
    cfg = _config(config, overrides)
    ev = cfg.evaluate
    if tasks:
        ev = dataclasses.replace(ev, tasks=[t.strip() for t in tasks.split(",") if t.strip()])
    results = evaluate_checkpoints(path, ev, cfg.workdir, out=out, progress=sys.stderr.isatty())
    if format == "lm-eval":
        from .evaluate.lm_eval_format import write_lm_eval

        root = Path(out) if out else eval_dir(path)
        for checkpoint, per_task in results.items():
            written = write_lm_eval(root / checkpoint, root / "lm-eval", list(per_task))
            print(f"{checkpoint}: lm-eval results -> {written}")


export_app = typer.Typer(
    no_args_is_help=True,
    help="Hub-ready folders with cards: corpus, model, cd-generate; a run's revisions.",
)
app.add_typer(export_app, name="export")
PushOpt = typer.Option(None, "--push", help="upload the folder to this Hub repo (user/name)")
LicenseOpt = typer.Option("other", "--license", help="the card's license (a Hub license id)")
LanguageOpt = typer.Option("en", "--language", help="the card's language code")


def _push(folder, repo_id: Optional[str], repo_type: str) -> None:
    print(f"wrote {folder}")
    if repo_id:
        from .export import push

        print(f"uploaded to {push(folder, repo_id, repo_type)}")


@export_app.command("corpus")
def export_corpus_cmd(
    folder: str = typer.Argument(..., help="a merged synthetic corpus: WORKDIR/synthetic/NAME"),
    out: str = typer.Argument(..., help="the folder to write (README.md card + data/)"),
    push: Optional[str] = PushOpt,
    license: str = LicenseOpt,
    language: str = LanguageOpt,
):
    """A synthetic corpus as a Hub dataset folder that `datasets.load_dataset(OUT)` reads."""
    from .export import export_corpus

    _push(export_corpus(folder, out, license, language), push, "dataset")


@export_app.command("model")
def export_model_cmd(
    checkpoint: str = typer.Argument(..., help="a checkpoint: WORKDIR/runs/RUN/step_N"),
    out: str = typer.Argument(..., help="the folder to write (README.md card + weights)"),
    results: Optional[str] = typer.Option(
        None, help="its evaluation results folder (default RUN/eval/step_N)"
    ),
    push: Optional[str] = PushOpt,
    license: str = LicenseOpt,
    language: str = LanguageOpt,
):
    """A checkpoint as a Hub model folder with a model card (training config, data, results)."""
    from .export import export_model

    _push(export_model(checkpoint, out, results, license, language), push, "model")


@export_app.command("cd-generate")
def export_cd_generate_cmd(
    out: str = typer.Argument(..., help="the folder to write"),
    push: Optional[str] = PushOpt,
):
    """The custom_generate folder: contrastive decoding inside transformers' generate."""
    from .export import export_cd_generate

    _push(export_cd_generate(out), push, "model")


@export_app.command("revisions")
def export_revisions_cmd(
    run: str = typer.Argument(..., help="a training run: WORKDIR/runs/RUN"),
    cache: str = typer.Argument(..., help="the hub cache folder to write (HF_HUB_CACHE)"),
    repo_id: str = typer.Argument(..., help="the model id the revisions belong to: owner/name"),
):
    """A run as one model with a revision per checkpoint (main = its last step, chck_<N>M by
    words seen), written as a Hugging Face hub cache that the BabyLM pipeline's
    eval_zero_shot_fast_all_revisions.sh reads with HF_HUB_CACHE=CACHE HF_HUB_OFFLINE=1."""
    from .revisions import export_revisions

    for name, commit in export_revisions(run, cache, repo_id).items():
        print(f"{repo_id}@{name}: snapshot {commit}")


experiment_app = typer.Typer(no_args_is_help=True, help="The whole study: run, status, report.")
app.add_typer(experiment_app, name="experiment")


@experiment_app.command("run")
def experiment_run(
    config: str = typer.Argument(..., help="experiment config (YAML)"),
    overrides: Optional[List[str]] = OverridesArg,
    executor: str = typer.Option(
        "local", help="local (this machine) or slurm (one Slurm job a stage; returns at once)"
    ),
    parallel: int = typer.Option(
        1, help="local: stages side by side, one per slot (on a GPU machine, one per GPU)"
    ),
    launcher: str = typer.Option("local", help="local or torchrun (local, one at a time)"),
    nproc: int = typer.Option(2, help="processes per stage under torchrun"),
):
    """Run every stage that is not done yet (cached by config hash), then print the summary;
    with --executor slurm, submit them as jobs and return."""
    from .graph import run_experiment

    cfg = _config(config, overrides)
    run_experiment(
        cfg,
        launcher=launcher,
        nproc=nproc,
        progress=sys.stderr.isatty() and parallel == 1 and executor == "local",
        executor=_executor(executor, parallel, launcher),
    )


def _executor(name: str, parallel: int, launcher: str):
    """The executor `experiment run` asked for (None: one stage after another, here)."""
    if name not in ("local", "slurm"):
        raise UserError(f"--executor must be local or slurm, got {name!r}")
    if (name == "slurm" or parallel != 1) and launcher != "local":
        raise UserError("--launcher torchrun runs one stage at a time on this machine")
    if name == "slurm":
        if parallel != 1:
            raise UserError("--parallel is for --executor local (Slurm runs what it can)")
        from .slurm import SlurmExecutor

        return SlurmExecutor()
    if parallel == 1:
        return None
    from .executors import Parallel, local_gpus

    return Parallel(parallel, tuple(local_gpus()))


@experiment_app.command("run-stage", hidden=True)
def experiment_run_stage(
    config: str = typer.Argument(..., help="experiment config (YAML)"),
    stage: str = typer.Argument(..., help="a stage's name, as `experiment status` shows it"),
    overrides: Optional[List[str]] = OverridesArg,
    identity: Optional[str] = typer.Option(None, help="refuse if the stage's identity differs"),
    launcher: str = typer.Option("local", help="local or torchrun"),
    nproc: int = typer.Option(2, help="processes per node under torchrun"),
    nnodes: int = typer.Option(1, help="nodes under torchrun (inside a Slurm job)"),
    passwords_from_env: Optional[str] = typer.Option(
        None, help="zip passwords the study set, read from $CDSYNTH_<NAME>_PASSWORD"
    ),
):
    """Run one stage of the study (what each job of an executor runs): it resumes where it
    stopped and does nothing when done."""
    import dataclasses

    from .graph import run_named_stage

    if launcher not in ("local", "torchrun"):
        raise UserError("--launcher must be local or torchrun")
    cfg = _config(config, overrides)
    if passwords_from_env:
        pw = {}
        for name in passwords_from_env.split(","):
            value = os.environ.get(f"CDSYNTH_{name.upper()}_PASSWORD")
            if name not in ("ewok", "entity_tracking") or not value:
                raise UserError(
                    f"the study set evaluate.passwords.{name}: this job needs "
                    f"$CDSYNTH_{name.upper()}_PASSWORD in its environment"
                )
            pw[name] = value
        passwords = dataclasses.replace(cfg.evaluate.passwords, **pw)
        cfg = dataclasses.replace(
            cfg, evaluate=dataclasses.replace(cfg.evaluate, passwords=passwords)
        )
    run_named_stage(cfg, stage, identity, launcher, nproc, nnodes)


@experiment_app.command("status")
def experiment_status(
    config: str = typer.Argument(..., help="experiment config (YAML)"),
    overrides: Optional[List[str]] = OverridesArg,
):
    """A table of the study's stages: done, queued, running or failed (a Slurm job: its id,
    state and log), partial (how far), stale or to do; then what is left."""
    from .graph import status_lines
    from .slurm import stage_jobs

    cfg = _config(config, overrides)
    print("\n".join(status_lines(cfg, jobs=stage_jobs(cfg))))


@experiment_app.command("cancel")
def experiment_cancel(
    config: str = typer.Argument(..., help="experiment config (YAML)"),
    overrides: Optional[List[str]] = OverridesArg,
):
    """Cancel the study's queued and running Slurm jobs (the stages stay resumable)."""
    from .slurm import cancel_study

    cancelled = cancel_study(_config(config, overrides))
    for stage, job in cancelled:
        print(f"[{stage}] job {job} cancelled")
    print(f"{len(cancelled)} job(s) cancelled")


@experiment_app.command("report")
def experiment_report(
    config: str = typer.Argument(..., help="experiment config (YAML)"),
    overrides: Optional[List[str]] = OverridesArg,
):
    """Rewrite the report from the results on disk."""
    from .graph import write_study_report

    write_study_report(_config(config, overrides))


INTERRUPTED = "cdsynth: interrupted; run the same command again to resume"


def main() -> None:
    # no download progress bars (read when huggingface_hub loads); torch and transformers are
    # imported only by the commands that need them, so --help and --version stay fast
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        app()
    except UserError as e:
        print(f"cdsynth: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)
    except SystemExit as e:  # typer turns Ctrl-C inside a command into a silent exit 130
        if e.code == 130:
            print(INTERRUPTED, file=sys.stderr)
        raise
    except OSError as e:  # unreadable or missing files, a full disk, ...
        print(f"cdsynth: error: {os_error_line(e)}", file=sys.stderr)
        sys.exit(2)
    except Exception as e:  # a bug or an input we did not foresee: one line, traceback on demand
        if os.environ.get("CDSYNTH_DEBUG"):
            raise
        print(
            f"cdsynth: error: {type(e).__name__}: {e} (set CDSYNTH_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
