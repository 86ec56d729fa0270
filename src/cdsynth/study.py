"""The study: a config's runs, amateurs, conditions and sweeps expanded into typed stage
configs. Pure: nothing here reads or writes files, so a study can be checked without running it.

    study_conditions(cfg)   # [Condition(name, generate config, ratio, amateur run)]
    train_config(cfg, "baseline", seed)
    study_methods(cfg)      # {method: [run per seed]}: the baseline and every condition
    method_roles(cfg)       # ({method: role}, main methods): what the paper's claims test
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .config import ExperimentConfig, GenerateConfig, TrainConfig, from_dict, to_dict
from .decoding_rules import DecodingConfig
from .errors import UserError


def _merge(base, overrides: dict, where: str):
    """A dataclass with `overrides` (a nested dict) applied, validated like a config file."""
    data = to_dict(base)
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k] = {**data[k], **v}
        else:
            data[k] = v
    return from_dict(type(base), data, where)


def train_config(cfg: ExperimentConfig, run: str, seed: int) -> TrainConfig:
    overrides = cfg.study.runs.get(run)
    if overrides is None:
        raise UserError(f"study.runs has no run named '{run}'")
    tc = _merge(cfg.train, overrides or {}, f"study.runs.{run}")
    return dataclasses.replace(tc, name=f"{run}-seed{seed}", seed=seed)


DECODING_KEYS = tuple(f.name for f in dataclasses.fields(DecodingConfig))
CONDITION_KEYS = ("name", "amateur", "ratio", *DECODING_KEYS)


@dataclass(frozen=True)
class Condition:
    name: str
    generate: GenerateConfig
    ratio: float
    amateur_run: str | None  # the run family of the amateur checkpoint, if any


def condition_specs(st) -> list[dict]:
    """The study's conditions as mappings, sweeps expanded into one condition per value."""
    conds = [dict(c) if isinstance(c, dict) else c for c in st.conditions]
    by_name = {c.get("name"): c for c in conds if isinstance(c, dict)}
    for i, sw in enumerate(st.sweeps):
        if not isinstance(sw, dict) or set(sw) != {"base", "key", "values"}:
            raise UserError(f"study.sweeps[{i}] must have exactly: base, key, values")
        if sw["base"] not in by_name:
            raise UserError(f"study.sweeps[{i}]: no condition named '{sw['base']}'")
        if sw["key"] not in CONDITION_KEYS or sw["key"] == "name":
            raise UserError(f"study.sweeps[{i}]: '{sw['key']}' cannot be swept")
        values = sw["values"]
        if not isinstance(values, list) or not values:
            raise UserError(
                f"study.sweeps[{i}].values must be a non-empty list, such as [0.5, 2]; "
                f"got {values!r}"
            )
        if len(set(map(str, values))) != len(values):
            raise UserError(f"study.sweeps[{i}].values repeats a value: {values}")
        for v in sw["values"]:
            conds.append(
                {**by_name[sw["base"]], sw["key"]: v, "name": f"{sw['base']}-{sw['key']}-{v}"}
            )
    return conds


def saved_steps(tc: TrainConfig) -> list[int]:
    """The steps a training run saves a checkpoint at: every `checkpoint_every` and the last."""
    return sorted({*range(tc.checkpoint_every, tc.steps + 1, tc.checkpoint_every), tc.steps})


def scored_steps(tc: TrainConfig, steps: list | None) -> list[int]:
    """The checkpoints an evaluation of the run `tc` scores: those of `evaluate.steps` it saves
    (all it saves when None), in order."""
    saved = saved_steps(tc)
    return saved if steps is None else sorted(set(saved) & {int(s) for s in steps})


def checkpoint_of(tc: TrainConfig, run: str, step: int | None, where: str) -> str:
    """The checkpoint folder (workdir-relative) of `run` (config `tc`) at `step` (its last step
    if None), refused before anything runs when the run never saves that step."""
    step = tc.steps if step is None else step
    saved = saved_steps(tc)
    if step not in saved:
        shown = ", ".join(map(str, saved[:8])) + (", ..." if len(saved) > 8 else "")
        raise UserError(
            f"{where}: step {step} is never saved by run '{run}' (it saves steps {shown}; "
            f"train.checkpoint_every {tc.checkpoint_every}, train.steps {tc.steps})"
        )
    return f"runs/{tc.name}/step_{step}"


def study_conditions(cfg: ExperimentConfig) -> list[Condition]:
    """The synthetic conditions of the study, with their generation configs resolved."""

    st = cfg.study
    if not st.seeds:
        raise UserError("study.seeds must list at least one seed")
    s0 = st.model_seed
    base = train_config(cfg, "baseline", s0)
    good = checkpoint_of(base, "baseline", st.good_step, "study.good_step")
    out = []
    names = set()
    for i, c in enumerate(condition_specs(st)):
        if not isinstance(c, dict) or "name" not in c:
            raise UserError(f"study.conditions[{i}] must be a mapping with a name")
        unknown = set(c) - set(CONDITION_KEYS)
        if unknown:
            raise UserError(f"unknown key 'study.conditions[{i}].{sorted(unknown)[0]}'")
        if c["name"] in names or c["name"] == "baseline":
            raise UserError(f"study.conditions: the name '{c['name']}' is used twice")
        names.add(c["name"])
        decoding = _merge(
            cfg.generate.decoding,
            {k: c[k] for k in DECODING_KEYS if k in c},
            f"study.conditions[{i}]",
        )
        bad, dropout, amateur_run = None, 0.0, None
        if decoding.rule.needs_amateur:
            am = st.amateurs.get(c.get("amateur"))
            if am is None:
                raise UserError(
                    f"study.conditions[{i}] ({c['name']}): amateur "
                    f"'{c.get('amateur')}' is not in study.amateurs"
                )
            if "dropout" in am:
                dropout = float(am["dropout"])
            else:
                amateur_run = am.get("run", "baseline")
                amc = train_config(cfg, amateur_run, s0)
                where = f"study.amateurs.{c.get('amateur')}.step"
                bad = checkpoint_of(amc, amateur_run, am.get("step"), where)
        gen = dataclasses.replace(
            cfg.generate, name=c["name"], good=good, bad=bad, bad_dropout=dropout, decoding=decoding
        )
        out.append(Condition(c["name"], gen, float(c.get("ratio", st.ratio)), amateur_run))
    return out


def study_methods(cfg: ExperimentConfig) -> dict[str, list[str]]:
    """{method: its training runs, one per seed}: "baseline" (runs `baseline-seed<N>`), then
    each condition in study order (runs `mix-<condition>-seed<N>`)."""
    methods = {"baseline": [f"baseline-seed{s}" for s in cfg.study.seeds]}
    for cond in study_conditions(cfg):
        methods[cond.name] = [f"mix-{cond.name}-seed{s}" for s in cfg.study.seeds]
    return methods


# the paper's name for each role a condition can play
ROLE_LABELS = {
    "no_contrast": "No-Contrast",
    "no_contrast_vhead": "No-Contrast-V_head",
    "cd_early": "CD-Early",
    "cd_small": "CD-Small",
    "cd_drop": "CD-Drop",
}


def method_roles(cfg: ExperimentConfig) -> tuple[dict[str, str], list[str]]:
    """({method: role}, main methods): roles from each condition's decoding strategy (its
    `role`: ancestral -> no_contrast, vhead -> no_contrast_vhead, ...) or, for cd, its
    amateur in the config (an earlier checkpoint of the baseline run -> cd_early, another run
    -> cd_small, dropout -> cd_drop); main = the baseline and the conditions that are not
    sweep copies."""
    roles = {"baseline": "baseline"}
    conds = study_conditions(cfg)
    for c in conds:
        role = c.generate.decoding.rule.strategy.role
        if role is not None:
            roles[c.name] = role
        elif c.generate.bad is None:
            roles[c.name] = "cd_drop"
        else:
            roles[c.name] = "cd_early" if c.amateur_run == "baseline" else "cd_small"
    main = ["baseline", *[c.name for c in conds[: len(cfg.study.conditions)]]]
    return roles, main
