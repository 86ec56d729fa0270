"""The pipeline's stages over one experiment folder (`workdir`).

    workdir/corpus/{train,eval,seeds}.jsonl   cdsynth corpus
    workdir/tokenizer/                        cdsynth tokenizer
    workdir/blocks/<split>-<hash>/            packed on demand by training
    workdir/runs/<train.name>/step_N/         cdsynth train

Each stage reads what the stage before wrote; a stage whose output already exists with the
same config hash is skipped.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from .blocks import pack_texts, synthetic_documents
from .config import ExperimentConfig, GenerateConfig, TrainConfig, to_dict
from .corpus import read_split, write_corpus
from .distributed import env_rank
from .errors import UserError
from .fileio import file_hash, read_json, stable_hash


class Workspace:
    def __init__(self, workdir: str | Path):
        self.root = Path(workdir)

    @property
    def corpus(self) -> Path:
        return self.root / "corpus"

    @property
    def tokenizer(self) -> Path:
        return self.root / "tokenizer"

    def run(self, name: str) -> Path:
        return self.root / "runs" / name


def _done(folder: Path, config: dict) -> bool:
    m = folder / "manifest.json"
    return m.is_file() and read_json(m).get("config") == config


def run_corpus(cfg: ExperimentConfig, log=print, force: bool = False) -> Path:
    ws = Workspace(cfg.workdir)
    if not force and _done(ws.corpus, to_dict(cfg.corpus)):
        log(f"corpus: up to date in {ws.corpus}")
        return ws.corpus
    write_corpus(cfg.corpus, ws.corpus, log=log)
    return ws.corpus


def run_tokenizer(cfg: ExperimentConfig, log=print, force: bool = False) -> Path:
    from .tokenizer import save_tokenizer, train_tokenizer

    ws = Workspace(cfg.workdir)
    train_file = ws.corpus / "train.jsonl"
    rows = read_split(ws.corpus, "train")
    inputs = {"train.jsonl": file_hash(train_file)}
    m = ws.tokenizer / "manifest.json"
    if not force and m.is_file():
        old = read_json(m)
        if old.get("config") == to_dict(cfg.tokenizer) and old.get("inputs") == inputs:
            log(f"tokenizer: up to date in {ws.tokenizer}")
            return ws.tokenizer
    tok = train_tokenizer((r["text"] for r in rows), cfg.tokenizer)
    save_tokenizer(tok, ws.tokenizer, cfg.tokenizer, inputs)
    log(f"tokenizer: {len(tok)} tokens -> {ws.tokenizer}")
    return ws.tokenizer


def ensure_blocks(
    ws: Workspace, name: str, inputs: list[Path], texts, block_len: int, log=print, extra=None
) -> Path:
    """Pack `texts` with the workspace tokenizer unless an identical packing exists."""
    from .tokenizer import load_tokenizer

    key = stable_hash(
        [file_hash(ws.tokenizer / "tokenizer.json"), [file_hash(f) for f in inputs], block_len]
    )
    folder = ws.root / "blocks" / f"{name}-{key}"
    if not (folder / "blocks.json").is_file():
        meta = pack_texts(load_tokenizer(ws.tokenizer), list(texts()), block_len, folder, extra)
        log(f"blocks: {name}: {meta['n_blocks']} blocks of {block_len} ({meta['n_tokens']} tokens)")
    return folder


def run_train(cfg: ExperimentConfig, log=print, progress: bool = True) -> Path:
    from .distributed import init_distributed, pick_device
    from .train import check_train_config, train

    ws = Workspace(cfg.workdir)
    tc = cfg.train
    check_train_config(tc)
    if not (ws.tokenizer / "tokenizer.json").is_file():
        raise UserError(f"no tokenizer in {ws.tokenizer} (run `cdsynth tokenizer` first)")
    dist_info = init_distributed(pick_device(tc.device))
    folders = {}
    # rank 0 packs the blocks first; the others wait, then find them in place
    for turn in (0, 1):
        if (turn == 0) == dist_info.is_main:
            for split in ("train", "eval"):
                folders[split] = ensure_blocks(
                    ws,
                    split,
                    [ws.corpus / f"{split}.jsonl"],
                    lambda s=split: (r["text"] for r in read_split(ws.corpus, s)),
                    tc.block_len,
                    log,
                )
            if tc.synthetic:
                syn = Path(tc.synthetic)
                files, docs, counts = synthetic_documents(
                    syn if syn.is_absolute() else ws.root / syn
                )
                log(
                    f"synthetic text: {counts['rows']} rows -> {counts['segments']} documents "
                    f"({counts['empty_segments']} empty segments left out, "
                    f"{counts['duplicate_segments']} exact duplicates kept)"
                )
                folders["synthetic"] = ensure_blocks(
                    ws, "synthetic", files, lambda: docs, tc.block_len, log, {"synthetic": counts}
                )
        if dist_info.world_size > 1:
            import torch.distributed as dist

            dist.barrier()
    out = ws.run(tc.name)
    train(
        tc,
        ws.tokenizer,
        folders["train"],
        out,
        eval_blocks=folders["eval"],
        synthetic_blocks=folders.get("synthetic"),
        log=log,
        progress=progress,
    )
    return out


def run_generate(
    cfg: ExperimentConfig, shard: tuple[int, int] | None = None, log=print, progress: bool = True
) -> Path:
    """Generate the synthetic corpus `generate.name`; under torchrun each rank is a shard."""
    from .generate import run_generation

    if shard is None:
        info = env_rank()
        shard = (info.rank, info.world_size)
    return run_generation(cfg.generate, cfg.workdir, shard=shard, log=log, progress=progress)


# ---------------------------------------------------------------------------------------------
# The study as a graph of stages


@dataclass
class Stage:
    """One cached step of a study. Its hash covers its config and the hashes of its inputs."""

    name: str  # e.g. "train/baseline-seed0"
    kind: str  # corpus | tokenizer | train | generate | eval | report
    config: dict
    deps: list["Stage"]
    output: Path
    action: Callable[[], object]
    cli: tuple[str, ExperimentConfig] | None = None  # (command, config) for torchrun
    hash: str = ""

    def __post_init__(self):
        self.hash = stable_hash(
            {
                "kind": self.kind,
                "config": identity(self.kind, self.config),
                "deps": [d.hash for d in self.deps],
            }
        )


# Settings that change how a stage runs but not what it writes (batching, device, file
# formats, the engine path, the scorer's packing): a change to one never makes a stage stale.
# Generation's batch size changes a corpus only through float rounding (exact in float64).
OUTPUT_NEUTRAL = {
    "generate": ("batch_size", "device", "formats", "engine"),
    "train": ("device",),
    "eval": ("batch_tokens", "packing", "device"),
}


def identity(kind: str, config: dict) -> dict:
    """What a stage's output depends on: its config without the output-neutral settings, and
    for generation without the decoding settings its strategy never reads (alpha for
    No-Contrast, lambda and BAD's temperature without an amateur, the dropout kind without
    dropout)."""
    out = {k: v for k, v in config.items() if k not in OUTPUT_NEUTRAL.get(kind, ())}
    if kind == "generate":
        rule = dict(out["decoding"])
        if rule["strategy"] != "cd":
            for k in ("lam", "bad_temperature"):
                rule.pop(k)
            out.pop("bad", None)
            out["bad_dropout"] = 0.0
        if rule["strategy"] == "ancestral":
            rule.pop("alpha")
        if not out.get("bad_dropout"):
            out.pop("bad_dropout_kind", None)
        out["decoding"] = rule
    return out


def _merge(base, overrides: dict, where: str):
    """A dataclass with `overrides` (a nested dict) applied, validated like a config file."""
    from .config import from_dict

    data = to_dict(base)
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k] = {**data[k], **v}
        else:
            data[k] = v
    return from_dict(type(base), data, where)


def _train_config(cfg: ExperimentConfig, run: str, seed: int) -> "TrainConfig":
    overrides = cfg.study.runs.get(run)
    if overrides is None:
        raise UserError(f"study.runs has no run named '{run}'")
    tc = _merge(cfg.train, overrides or {}, f"study.runs.{run}")
    return dataclasses.replace(tc, name=f"{run}-seed{seed}", seed=seed)


DECODING_KEYS = (
    "strategy",
    "alpha",
    "lam",
    "top_k",
    "top_p",
    "temperature",
    "good_temperature",
    "bad_temperature",
    "paper_compatible",
)
CONDITION_KEYS = ("name", "amateur", "ratio", *DECODING_KEYS)


@dataclass(frozen=True)
class Condition:
    name: str
    generate: "GenerateConfig"
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
        for v in sw["values"]:
            conds.append(
                {**by_name[sw["base"]], sw["key"]: v, "name": f"{sw['base']}-{sw['key']}-{v}"}
            )
    return conds


def study_conditions(cfg: ExperimentConfig) -> list[Condition]:
    """The synthetic conditions of the study, with their generation configs resolved."""

    st = cfg.study
    if not st.seeds:
        raise UserError("study.seeds must list at least one seed")
    s0 = st.seeds[0]
    base = _train_config(cfg, "baseline", s0)
    good_step = st.good_step or base.steps
    good = f"runs/baseline-seed{s0}/step_{good_step}"
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
        if decoding.strategy == "cd":
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
                amc = _train_config(cfg, amateur_run, s0)
                bad = f"runs/{amateur_run}-seed{s0}/step_{am.get('step', amc.steps)}"
        gen = dataclasses.replace(
            cfg.generate, name=c["name"], good=good, bad=bad, bad_dropout=dropout, decoding=decoding
        )
        out.append(Condition(c["name"], gen, float(c.get("ratio", st.ratio)), amateur_run))
    return out


def build_graph(cfg: ExperimentConfig, log=print, progress: bool = False) -> list[Stage]:
    """Every stage of the study, in an order where each stage follows its inputs."""
    from .evaluate.runner import evaluate_checkpoints

    ws = Workspace(cfg.workdir)
    st = cfg.study
    corpus = Stage(
        "corpus",
        "corpus",
        to_dict(cfg.corpus),
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

    for run in st.runs:
        for seed in st.seeds if run == "baseline" else st.seeds[:1]:
            train_stage(_train_config(cfg, run, seed), [tok])
    evals: list[Stage] = []
    methods = {"baseline": [f"baseline-seed{s}" for s in st.seeds]}
    corpora: dict[str, Stage] = {}  # conditions that differ only in ratio share a corpus
    for cond in study_conditions(cfg):
        s0 = st.seeds[0]
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
                Path(cfg.workdir) / "synthetic" / cond.name,
                lambda c=c: run_generate(c, shard=(0, 1), log=log, progress=progress),
                cli=("generate", c),
            )
            corpora[key] = gen
            stages.append(gen)
        methods[cond.name] = []
        for seed in st.seeds:
            tc = dataclasses.replace(
                _train_config(cfg, "baseline", seed),
                name=f"mix-{cond.name}-seed{seed}",
                synthetic=f"synthetic/{gen.output.name}",
                synthetic_ratio=cond.ratio,
            )
            train_stage(tc, [tok, gen])
            methods[cond.name].append(tc.name)
    for runs in methods.values():
        for run in runs:
            ev = Stage(
                f"eval/{run}",
                "eval",
                to_dict(cfg.evaluate),
                [trains[run]],
                ws.run(run) / "eval",
                lambda run=run: evaluate_checkpoints(
                    ws.run(run), cfg.evaluate, cfg.workdir, log=lambda *a: None, progress=progress
                ),
            )
            stages.append(ev)
            evals.append(ev)
    from . import report

    rep = Stage(
        "report",
        "report",
        {"study": to_dict(st), "methods": methods},
        evals + [s for s in stages if s.kind == "generate"],
        Path(cfg.workdir) / "report",
        lambda: report.write_report(cfg, methods, log=log),
    )
    stages.append(rep)
    return stages


def _record_path(cfg: ExperimentConfig, stage: Stage) -> Path:
    return Path(cfg.workdir) / "stages" / (stage.name.replace("/", "__") + ".json")


def stage_state(cfg: ExperimentConfig, stage: Stage) -> str:
    """done | partial (started with this config) | stale (made with another config) | to do."""
    rec = _record_path(cfg, stage)
    if not rec.is_file():
        return "partial" if stage.output.exists() else "to do"
    r = read_json(rec)
    if r.get("hash") != stage.hash:
        return "stale"
    return "done" if r.get("complete") else "partial"


def run_stage(cfg: ExperimentConfig, stage: Stage, launcher: str = "local", nproc: int = 2) -> None:
    from .fileio import write_json

    state = stage_state(cfg, stage)
    if state == "stale" and stage.output.exists():
        shutil.rmtree(stage.output)  # made from other inputs: redo from scratch
    rec = _record_path(cfg, stage)
    write_json(rec, {"name": stage.name, "hash": stage.hash, "complete": False})
    if launcher == "torchrun" and stage.cli is not None:
        _torchrun(cfg, stage, nproc)
    else:
        stage.action()
    write_json(rec, {"name": stage.name, "hash": stage.hash, "complete": True})


def _torchrun(cfg: ExperimentConfig, stage: Stage, nproc: int) -> None:
    from .fileio import write_text

    command, c = stage.cli
    path = Path(cfg.workdir) / "stages" / (stage.name.replace("/", "__") + ".yaml")
    data = to_dict(c)
    # train and generate never read the zip passwords: they stay out of files on disk
    data["evaluate"]["passwords"] = {k: None for k in data["evaluate"]["passwords"]}
    write_text(path, yaml.safe_dump(data, sort_keys=False))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            str(nproc),
            "-m",
            "cdsynth.cli",
            command,
            str(path),
        ]
    )
    if r.returncode != 0:
        raise UserError(f"stage {stage.name} failed under torchrun (exit code {r.returncode})")


def run_experiment(
    cfg: ExperimentConfig,
    launcher: str = "local",
    nproc: int = 2,
    log=print,
    progress: bool = False,
) -> list[tuple[str, str]]:
    """Run every stage that is not done; returns [(stage, what happened)]."""
    if launcher not in ("local", "torchrun"):
        raise UserError("--launcher must be local or torchrun")
    done = []
    for stage in build_graph(cfg, log=log, progress=progress):
        state = stage_state(cfg, stage)
        if state == "done":
            done.append((stage.name, "skipped"))
            continue
        log(f"[{stage.name}] {'resuming' if state == 'partial' else 'running'}")
        run_stage(cfg, stage, launcher, nproc)
        done.append((stage.name, "ran"))
    return done


def experiment_status(cfg: ExperimentConfig) -> list[tuple[str, str]]:
    return [(s.name, stage_state(cfg, s)) for s in build_graph(cfg, log=lambda *a: None)]
