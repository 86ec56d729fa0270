"""The checks and choices a config makes when it loads: one-line `UserError`s naming the key.
(`config` builds the dataclasses from YAML and runs these; the checks that span a whole
config, its names and its workdir, live there.)

    _choose(cfg, "precision", Precision, "train.precision")   # "bf16" -> Precision.bf16
    _require(cfg.steps > 0, f"train.steps must be > 0, got {cfg.steps}")

Choices are `StrEnum`s, so a checked config still compares equal to (and serialises as) its
plain string values.
"""

from __future__ import annotations

import dataclasses
import math
from enum import StrEnum
from typing import Any

import yaml

from .errors import UserError


def _require(ok: bool, message: str) -> None:
    """Validation at load: a config that fails it never reaches a stage."""
    if not ok:
        raise UserError(message)


def _device(value: str, key: str) -> None:
    _require(
        value in ("auto", "cpu", "cuda") or value.startswith("cuda:"),
        f"{key} must be auto, cpu, cuda or cuda:N, got {value!r}",
    )


def _finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


class Choice(StrEnum):
    """A config choice: compares equal to its string value, validated when a config loads."""


# Each choice's values (an `Eos.continue_` stands for "continue", a Python keyword).
Source = Choice("Source", "storyworld text jsonl parquet hf", module=__name__)
Documents = Choice("Documents", "file blocks", module=__name__)
Precision = Choice("Precision", "auto fp32 bf16", module=__name__)
Decay = Choice("Decay", "matrices all", module=__name__)
TrainLoss = Choice("TrainLoss", "reference chunked", module=__name__)
DropoutKind = Choice("DropoutKind", "attention residual", module=__name__)
# seed_chunks, the paper's: seeds documents cut into chunks of >= 100 words
PrefixSource = Choice("PrefixSource", "seeds seed_chunks train eval file", module=__name__)
EngineKind = Choice("EngineKind", "auto lean generic", module=__name__)
# the lean engine's compiled step: the cache's length symbolic (growing), or every shape fixed
StepShape = Choice("StepShape", "growing static", module=__name__)
Eos = Choice("Eos", [("stop", "stop"), ("continue_", "continue")], module=__name__)
DType = Choice("DType", "auto bf16 fp32 fp64", module=__name__)
Packing = Choice("Packing", "tree padded", module=__name__)
BosRule = Choice("BosRule", "bos eos none", module=__name__)
Resample = Choice("Resample", "seeds hierarchical items", module=__name__)
EvalSet = Choice("EvalSet", "full fast", module=__name__)
EvalRules = Choice("EvalRules", "babylm2025 babylm2026", module=__name__)
Checkpoints = Choice("Checkpoints", "steps words", module=__name__)


def _choose(obj, name: str, kind: type[Choice], key: str) -> None:
    """Turn field `name` of a frozen config into its Choice, or fail with one line."""
    value = getattr(obj, name)
    try:
        object.__setattr__(obj, name, kind(value))
    except ValueError:
        raise UserError(
            f"{key} must be one of {', '.join(c.value for c in kind)}, got {value!r}"
        ) from None


def yaml_complaint(e: yaml.YAMLError) -> str:
    """`line L, column C: what is wrong` of a YAML error (1-based, as editors count)."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    if mark is None:
        return problem
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


def check_finite(value: Any, where: str) -> None:
    """Every float in a config (fields, and numbers in its lists and mappings) is finite."""
    never_chosen = value == -math.inf and where.endswith("penalty")  # decoding.penalty: -inf
    if isinstance(value, float) and not math.isfinite(value) and not never_chosen:
        raise UserError(f"config key '{where}' must be a finite number, got {value}")
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            check_finite(getattr(value, f.name), f"{where}.{f.name}" if where else f.name)
    elif isinstance(value, dict):
        for k, v in value.items():
            check_finite(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_finite(v, f"{where}[{i}]")


def check_name(name: Any, key: str) -> None:
    """A name that becomes a folder under the workdir: one plain path component."""
    ok = (
        isinstance(name, str)
        and name.strip() == name != ""
        and not any(c in name for c in ("/", "\\", "\0"))
        and ".." not in name
        and not name.startswith(".")
    )
    if not ok:
        raise UserError(
            f"{key} must be a plain folder name (no '/', '\\', '..', not starting with '.'), "
            f"got {name!r}"
        )
