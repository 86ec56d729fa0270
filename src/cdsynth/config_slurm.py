"""The `slurm:` section of an experiment config: what each kind of stage asks Slurm for.

    slurm:
      partition: gpu
      account: my-lab
      sbatch: ["--qos=normal"]            # extra #SBATCH lines for every job
      setup: ["module load cuda/12.4"]    # shell lines each job runs before its stage
      train: {gpus: 4, time: "12:00:00"}  # one kind's settings; the rest keep their defaults

A kind's unset settings take `KIND_DEFAULTS` (sized for configs/paper.yaml on one H200 per
run: ~1.4 h of training); `SlurmConfig.resources(kind)` is the resolved set. None of it is
part of any stage's identity: where a stage runs never changes what it writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields

from .config_checks import _require

KINDS = ("corpus", "tokenizer", "train", "generate", "eval", "report")

# gpus are per node; cpus per task (one task per node); mem per node; time as Slurm reads it
KIND_DEFAULTS = {
    "corpus": dict(nodes=1, gpus=0, cpus=8, mem="64G", time="04:00:00"),
    "tokenizer": dict(nodes=1, gpus=0, cpus=8, mem="64G", time="04:00:00"),
    "train": dict(nodes=1, gpus=1, cpus=8, mem="64G", time="08:00:00"),
    "generate": dict(nodes=1, gpus=1, cpus=8, mem="64G", time="24:00:00"),
    "eval": dict(nodes=1, gpus=1, cpus=8, mem="64G", time="04:00:00"),
    "report": dict(nodes=1, gpus=0, cpus=4, mem="32G", time="01:00:00"),
}

_TIME = re.compile(r"^\d+(-\d+)?(:\d+){0,2}$")  # minutes, H:M:S, D-H, D-H:M:S, ...
_MEM = re.compile(r"^\d+[KMGT]?$")


@dataclass(frozen=True)
class SlurmResources:
    """One kind of stage's job: unset (None) settings take the kind's default."""

    nodes: int | None = None  # > 1: training only, torchrun across the nodes
    gpus: int | None = None  # per node; > 1: the stage runs under torchrun, one process a GPU
    cpus: int | None = None  # per task (--cpus-per-task)
    mem: str | None = None  # per node, e.g. 64G; "0": Slurm's "all of the node"
    time: str | None = None  # e.g. 08:00:00 or 1-12:00:00; a job past it resumes when resubmitted
    partition: str | None = None  # overrides slurm.partition for this kind
    account: str | None = None  # overrides slurm.account for this kind
    sbatch: list = field(default_factory=list)  # extra #SBATCH lines for this kind's jobs


@dataclass(frozen=True)
class SlurmConfig:
    """Where the study's jobs go (`cdsynth experiment run CONFIG --executor slurm`)."""

    partition: str | None = None
    account: str | None = None
    sbatch: list = field(default_factory=list)  # extra #SBATCH lines, e.g. "--qos=normal"
    setup: list = field(default_factory=list)  # shell lines before the stage, e.g. module load
    corpus: SlurmResources = field(default_factory=SlurmResources)
    tokenizer: SlurmResources = field(default_factory=SlurmResources)
    train: SlurmResources = field(default_factory=SlurmResources)
    generate: SlurmResources = field(default_factory=SlurmResources)
    eval: SlurmResources = field(default_factory=SlurmResources)
    report: SlurmResources = field(default_factory=SlurmResources)

    def __post_init__(self):
        for key in ("sbatch", "setup"):
            _lines(getattr(self, key), f"slurm.{key}")
        for kind in KINDS:
            _check_resources(self.resources(kind), kind)

    def resources(self, kind: str) -> SlurmResources:
        """The job settings of one kind of stage, every one set (the kind's defaults, this
        config's partition and account, the common sbatch lines then the kind's)."""
        own: SlurmResources = getattr(self, kind)
        values = {
            f.name: getattr(own, f.name)
            for f in fields(own)
            if getattr(own, f.name) is not None and f.name != "sbatch"
        }
        return SlurmResources(
            **{
                **KIND_DEFAULTS[kind],
                "partition": self.partition,
                "account": self.account,
                **values,
                "sbatch": [*self.sbatch, *own.sbatch],
            }
        )


def _lines(lines: list, key: str) -> None:
    for line in lines:
        _require(
            isinstance(line, str) and "\n" not in line and line.strip() != "",
            f"{key} must list one-line strings, got {line!r}",
        )


def _check_resources(r: SlurmResources, kind: str) -> None:
    key = f"slurm.{kind}"
    _require(r.nodes >= 1, f"{key}.nodes must be >= 1, got {r.nodes}")
    _require(
        r.nodes == 1 or kind == "train",
        f"{key}.nodes must be 1: only training spans nodes, got {r.nodes}",
    )
    _require(r.gpus >= 0, f"{key}.gpus must be >= 0, got {r.gpus}")
    _require(
        r.gpus <= 1 or kind in ("train", "generate"),
        f"{key}.gpus must be 0 or 1: only training and generation use several GPUs, got {r.gpus}",
    )
    _require(r.cpus >= 1, f"{key}.cpus must be >= 1, got {r.cpus}")
    _require(
        _MEM.match(str(r.mem)) is not None,
        f"{key}.mem must be a size such as 64G or 4000M, got {r.mem!r}",
    )
    _require(
        _TIME.match(str(r.time)) is not None,
        f"{key}.time must be a Slurm time such as 08:00:00 or 1-12:00:00, got {r.time!r}",
    )
    for name in ("partition", "account"):
        value = getattr(r, name)
        _require(
            value is None or re.fullmatch(r"[\w.,@+-]+", value) is not None,
            f"{key}.{name} must be a plain Slurm name, got {value!r}",
        )
    _lines(r.sbatch, f"{key}.sbatch")
