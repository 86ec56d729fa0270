"""Every path of a study's folder (`workdir`), and checkpoint listing: the one place both live.

workdir/corpus/{train,eval,seeds}.jsonl      cdsynth corpus
workdir/tokenizer/                           cdsynth tokenizer
workdir/blocks/<split>-<hash>/               packed on demand by training
workdir/runs/<run>/step_N/                   cdsynth train (checkpoints)
workdir/runs/<run>/eval/step_N/<task>.json   cdsynth eval
workdir/synthetic/<name>/                    cdsynth generate (files: `SyntheticFiles`)
  generate_config.json, real_tokens.json       the corpus's config record, token count cache
  batches/batch_<b>.parquet                    one per batch, written by the shards (each
                                                 records its machine: generate/shards.py)
  synthetic.parquet, synthetic.jsonl           merged, with manifest.json
workdir/report/                              cdsynth experiment report
workdir/stages/<stage>.json                  the study graph's records
workdir/stages/<stage>.slurm.json            the Slurm job last submitted for the stage
workdir/jobs/config-<hash>.yaml              the resolved config the jobs read (no passwords)
workdir/jobs/<stage>.sh                      a stage's job script (runnable by hand)
workdir/jobs/<stage>-<job id>.log            a job's output (`<stage>-local.log`: --parallel)
"""

from __future__ import annotations

from pathlib import Path


def file_stem(stage_name: str) -> str:
    """A stage's name as the start of a file name: "train/baseline" -> "train__baseline"."""
    return stage_name.replace("/", "__")


class Workspace:
    def __init__(self, workdir: str | Path):
        self.root = Path(workdir)

    @property
    def corpus(self) -> Path:
        return self.root / "corpus"

    def split(self, name: str) -> Path:
        """A corpus split's file: corpus/<name>.jsonl."""
        return self.corpus / f"{name}.jsonl"

    def resolve(self, path: str | Path) -> Path:
        """A path from a config: absolute as it is, else relative to the workdir."""
        p = Path(path)
        return p if p.is_absolute() else self.root / p

    @property
    def tokenizer(self) -> Path:
        return self.root / "tokenizer"

    def blocks(self, name: str, key: str) -> Path:
        return self.root / "blocks" / f"{name}-{key}"

    def run(self, name: str) -> Path:
        return self.root / "runs" / name

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def synthetic(self, name: str) -> Path:
        return self.root / "synthetic" / name

    @property
    def report(self) -> Path:
        return self.root / "report"

    def stage_file(self, stage_name: str, suffix: str = ".json") -> Path:
        return self.root / "stages" / (file_stem(stage_name) + suffix)

    @property
    def jobs(self) -> Path:
        """Job scripts, their logs and the config they read."""
        return self.root / "jobs"

    def job_config(self, key: str) -> Path:
        return self.jobs / f"config-{key}.yaml"

    def job_script(self, stage_name: str) -> Path:
        return self.jobs / (file_stem(stage_name) + ".sh")

    def job_log(self, stage_name: str, job: str) -> Path:
        """A stage's job output: `job` is a Slurm job id (or %j in a script), or "local"."""
        return self.jobs / f"{file_stem(stage_name)}-{job}.log"


class SyntheticFiles:
    """The files of one synthetic corpus folder (workdir/synthetic/<name>/)."""

    def __init__(self, folder: str | Path):
        self.root = Path(folder)
        self.config = self.root / "generate_config.json"  # the shards' shared record
        self.real_tokens = self.root / "real_tokens.json"  # the real train split's size
        self.batches = self.root / "batches"
        self.parquet = self.root / "synthetic.parquet"
        self.jsonl = self.root / "synthetic.jsonl"

    def batch(self, b: int) -> Path:
        """Batch b's rows: batches/batch_<b, 6 digits>.parquet."""
        return self.batches / f"batch_{b:06d}.parquet"


def eval_dir(run_dir: str | Path) -> Path:
    """Where the evaluation of a run's checkpoints goes: RUN/eval/step_N/."""
    return Path(run_dir) / "eval"


def step_of(path: str | Path) -> int:
    """The step of a `step_N` checkpoint folder."""
    return int(Path(path).name[len("step_") :])


def checkpoint_state(path: str | Path) -> Path:
    """A checkpoint's state.json (its step, written last: a checkpoint without it is partial;
    a Hub or foreign checkpoint has none)."""
    return Path(path) / "state.json"


def _is_checkpoint(p: Path) -> bool:
    return p.is_dir() and p.name[len("step_") :].isdigit() and checkpoint_state(p).is_file()


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """The complete checkpoints (a `step_N` folder with its state.json) of a run, by step."""
    return sorted((p for p in Path(run_dir).glob("step_*") if _is_checkpoint(p)), key=step_of)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The highest complete `step_N` folder, or None."""
    ckpts = list_checkpoints(run_dir)
    return ckpts[-1] if ckpts else None
