"""Typed, frozen configs: one YAML file per experiment, dotted overrides from the CLI.

    cfg = load_config("configs/demo.yaml", ["train.lr=3e-4", "corpus.seed=1"])

Unknown keys and values of the wrong type raise `UserError` naming the key.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .checkpoint_words import schedule as word_schedule
from .config_checks import (
    BosRule,
    Checkpoints,
    Choice,
    Decay,
    Documents,
    DropoutKind,
    DType,
    EngineKind,
    Eos,
    EvalRules,
    EvalSet,
    Packing,
    Precision,
    PrefixSource,
    Resample,
    Source,
    StepShape,
    TrainLoss,
    _choose,
    _device,
    _finite,
    _require,
    check_finite,
    check_name,
    yaml_complaint,
)
from .config_slurm import SlurmConfig
from .decoding_rules import DecodingConfig
from .errors import UserError


@dataclass(frozen=True)
class CorpusConfig:
    """Where documents come from and how they are split (by document, deterministically)."""

    source: Source = Source.storyworld  # storyworld | text | jsonl | parquet | hf
    path: str | None = None  # folder or file (text/jsonl/parquet) or HF dataset id (hf)
    text_field: str = "text"  # jsonl / parquet / hf column
    documents: Documents = (
        Documents.blocks
    )  # text sources: "file" (one doc per file) or "blocks" (blank lines)
    hf_config: str | None = None
    hf_split: str = "train"
    storyworld_words: int = 200_000
    seed: int = 0
    eval_fraction: float = 0.05
    seeds_fraction: float = 0.05
    max_words: int | None = None  # a fixed subset: documents drawn at random, in proportion to
    #                               each source's words, until about this many words

    def __post_init__(self):
        _require(
            self.source in {c.value for c in Source},
            f"unknown corpus.source '{self.source}'; use one of {', '.join(Source)}",
        )
        _choose(self, "source", Source, "corpus.source")
        _choose(self, "documents", Documents, "corpus.documents")
        _require(self.storyworld_words > 0, "corpus.storyworld_words must be > 0")
        _require(
            self.max_words is None or self.max_words > 0,
            f"corpus.max_words must be > 0 (or unset: every document), got {self.max_words}",
        )
        ev, sd = self.eval_fraction, self.seeds_fraction
        _require(
            not (_finite(ev) and _finite(sd)) or (0 <= ev < 1 and 0 <= sd < 1 and ev + sd < 1),
            "corpus.eval_fraction and corpus.seeds_fraction must be in [0, 1), sum < 1",
        )


@dataclass(frozen=True)
class TokenizerConfig:
    vocab_size: int = 8192
    min_frequency: int = 2

    def __post_init__(self):
        _require(self.vocab_size >= 260, "tokenizer.vocab_size must be >= 260 (bytes + specials)")
        _require(self.min_frequency >= 1, "tokenizer.min_frequency must be >= 1")


@dataclass(frozen=True)
class ModelConfig:
    """A LLaMA shape. `preset` fills every field left as None (see PRESETS)."""

    preset: str = "cpu-small"
    n_layers: int | None = None
    hidden: int | None = None
    heads: int | None = None
    ffn: int | None = None
    context: int | None = None
    vocab_size: int | None = None  # None: the tokenizer's vocabulary size

    def resolved(self) -> "ModelConfig":
        if self.preset not in PRESETS:
            raise UserError(
                f"unknown model preset '{self.preset}'; choose one of {', '.join(PRESETS)}"
            )
        values = dict(PRESETS[self.preset])
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None:
                values[f.name] = v
        return ModelConfig(**values)


PRESETS: dict[str, dict[str, Any]] = {
    # the paper's GOOD model: ~100M parameters with a 32k vocabulary
    "paper-good": dict(n_layers=12, hidden=768, heads=12, ffn=3072, context=1024, vocab_size=32000),
    # the paper's smaller amateur (CD-Small)
    "paper-small-20": dict(
        n_layers=6, hidden=256, heads=4, ffn=1024, context=1024, vocab_size=32000
    ),
    # CPU presets for the demo and tests
    "cpu-small": dict(n_layers=4, hidden=256, heads=4, ffn=1024, context=256),
    "cpu-tiny": dict(n_layers=4, hidden=128, heads=4, ffn=512, context=256),
    # cpu-tiny at half the layers and width: the CPU study's smaller amateur (CD-Small)
    "cpu-tiny-half": dict(n_layers=2, hidden=64, heads=2, ffn=256, context=256),
    "test-micro": dict(n_layers=2, hidden=32, heads=2, ffn=64, context=128),
}


def _added(default):
    """A setting added after outputs were recorded: left out of records (`to_dict`) at its
    default, the old behaviour, so those records and the identities hashed from them stay."""
    return field(default=default, metadata={"left_out_at": default})


@dataclass(frozen=True)
class TrainConfig:
    """One training run. `batch_size` is the global number of rows per optimizer step."""

    name: str = "baseline"
    model: ModelConfig = field(default_factory=ModelConfig)
    seed: int = 0
    steps: int = 300
    batch_size: int = 16
    micro_batch_size: int = 16  # rows per forward per process; accumulation fills the rest
    block_len: int = 256
    lr: float = 1e-3
    min_lr: float = 0.0
    warmup_steps: int = 150
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    dropout: float = 0.0  # attention dropout (LlamaForCausalLM has no other dropout)
    precision: Precision = Precision.auto  # auto | fp32 | bf16
    compile: bool = False
    # the output layer and loss: `reference` (the whole logits, F.cross_entropy) or `chunked`
    # (chunked_loss.py: over chunks of loss_chunk_rows rows, 0 = Liger's rule); equal in float64
    loss: TrainLoss = TrainLoss.reference
    loss_chunk_rows: int = 0
    eval_every: int = 100
    eval_blocks: int = 64
    checkpoint_every: int = 100
    # chck_<N>M saved where the real words seen cross babylm-strict-small | babylm-strict | [N]
    checkpoint_words: str | list | None = _added(None)
    decay: Decay = (
        Decay.matrices
    )  # weight decay on: matrices (embeddings, projections) | all (paper)
    synthetic: str | None = (
        None  # synthetic text to mix in (relative to workdir), e.g. synthetic/cd
    )
    synthetic_ratio: float = 0.0
    device: str = "auto"  # auto | cpu | cuda
    trackers: list = field(default_factory=list)  # any of tensorboard, wandb, trackio (off: [])
    tracker_project: str = "cdsynth"  # the wandb / Trackio project

    def __post_init__(self):
        _choose(self, "precision", Precision, "train.precision")
        _require(
            isinstance(self.trackers, list)
            and all(t in ("tensorboard", "wandb", "trackio") for t in self.trackers)
            and len(set(self.trackers)) == len(self.trackers),
            "train.trackers must be a list of distinct names among tensorboard, wandb and "
            f"trackio, got {self.trackers!r}",
        )
        _choose(self, "decay", Decay, "train.decay")
        _choose(self, "loss", TrainLoss, "train.loss")
        _require(self.loss_chunk_rows >= 0, "train.loss_chunk_rows must be >= 0 (0: automatic)")
        if self.checkpoint_words is not None:  # a bad track name or list: one line
            word_schedule(self.checkpoint_words)
        _device(self.device, "train.device")
        _require(self.steps > 0, f"train.steps must be > 0, got {self.steps}")
        _require(_finite(self.lr) and self.lr > 0, f"train.lr must be > 0, got {self.lr}")
        _require(
            0 <= self.synthetic_ratio <= 1,
            f"train.synthetic_ratio must be in [0, 1], got {self.synthetic_ratio}",
        )
        _require(0 <= self.dropout < 1, f"train.dropout must be in [0, 1), got {self.dropout}")
        _require(self.warmup_steps >= 0, "train.warmup_steps must be >= 0")
        _require(
            self.batch_size >= 1 and self.micro_batch_size >= 1,
            "train.steps, train.batch_size and train.micro_batch_size must be >= 1",
        )
        _require(
            self.checkpoint_every >= 1 and self.eval_every >= 1,
            "train.checkpoint_every and train.eval_every must be >= 1",
        )
        # a NaN or an infinity is named by `check_finite` instead
        if all(_finite(x) for x in (self.min_lr, self.weight_decay, self.grad_clip)):
            _require(
                self.min_lr >= 0 and self.weight_decay >= 0 and self.grad_clip >= 0,
                "train.lr must be > 0; train.min_lr, weight_decay, grad_clip >= 0",
            )
        if all(_finite(x) for x in (self.beta1, self.beta2, self.eps)):
            _require(
                0 <= self.beta1 < 1 and 0 <= self.beta2 < 1 and self.eps > 0,
                "train.beta1 and train.beta2 must be in [0, 1), train.eps > 0",
            )
        _require(
            self.synthetic_ratio == 0 or self.synthetic is not None,
            "train.synthetic_ratio > 0 needs a synthetic corpus (train.synthetic)",
        )
        model = self.model.resolved()  # an unknown preset is refused here
        _require(
            model.hidden % model.heads == 0,
            f"model hidden size {model.hidden} is not divisible by {model.heads} heads",
        )
        _require(
            self.block_len <= model.context,
            f"train.block_len {self.block_len} exceeds the model context {model.context}",
        )


@dataclass(frozen=True)
class GenerateConfig:
    """One synthetic corpus. Relative model paths are resolved against `workdir`."""

    name: str = "cd"
    good: str = "runs/baseline/step_300"
    bad: str | None = (
        None  # another checkpoint (earlier step, smaller model); None: see bad_dropout
    )
    bad_dropout: float = 0.0  # > 0 with bad=None: GOOD itself with this dropout as the amateur
    bad_dropout_kind: DropoutKind = (
        DropoutKind.attention
    )  # attention (paper: dropout on attention probabilities)
    #                                      | residual (every attention and MLP output)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    prefix_tokens: int = 20
    completions: int = 8
    new_tokens: int = 400
    num_prefixes: int | None = None  # None: one prefix per source document; N: a seeded
    #                                  random sample, stratified by the documents' source
    prefix_source: PrefixSource = (
        PrefixSource.seeds
    )  # seeds | seed_chunks (the paper's) | train | eval (corpus splits) | file (prefix_file)
    prefix_file: str | None = None  # .txt (one prompt per line) or .jsonl ("text") of prompts
    corpus_tokens: int | str | None = None  # synthetic size in new tokens: N, or "real" (as
    #                                         many as the real train split); sets num_prefixes
    engine: EngineKind = EngineKind.auto  # auto (lean for LLaMA pairs) | lean | generic
    # the lean engine's one-graph step: growing (attention over the filled slots, the cache's
    # length symbolic) | static (every shape fixed, a masked read of the whole preallocated
    # cache: what a CUDA graph captures). The same corpus (exact in float64).
    step_shape: StepShape = field(default=StepShape.growing, metadata={"left_out_at": "growing"})
    batch_size: int = 64
    eos: Eos = Eos.stop  # stop | continue (a new document starts after </s>)
    keep_prefix: bool = True
    seed: int = 0
    dtype: DType = DType.auto  # auto (bf16 where supported) | bf16 | fp32 | fp64
    formats: list = field(default_factory=lambda: ["parquet"])  # parquet and/or jsonl
    device: str = "auto"

    def __post_init__(self):
        k = "generate"
        _choose(self, "eos", Eos, f"{k}.eos")
        _choose(self, "dtype", DType, f"{k}.dtype")
        _choose(self, "engine", EngineKind, f"{k}.engine")
        _choose(self, "step_shape", StepShape, f"{k}.step_shape")
        _choose(self, "prefix_source", PrefixSource, f"{k}.prefix_source")
        _choose(self, "bad_dropout_kind", DropoutKind, f"{k}.bad_dropout_kind")
        _device(self.device, f"{k}.device")
        _require(0 <= self.bad_dropout < 1, f"{k}.bad_dropout must be in [0, 1)")
        for name in ("prefix_tokens", "completions", "new_tokens", "batch_size"):
            _require(getattr(self, name) >= 1, f"{k}.{name} must be >= 1")
        _require(
            self.num_prefixes is None or self.num_prefixes >= 1,
            f"{k}.num_prefixes must be >= 1 (or unset: every document), got {self.num_prefixes}",
        )
        c = self.corpus_tokens
        _require(
            c is None or c == "real" or (isinstance(c, int) and c >= 1),
            f"{k}.corpus_tokens must be a number of tokens >= 1 or 'real', got {c!r}",
        )
        _require(
            c is None or self.num_prefixes is None,
            f"set {k}.corpus_tokens or {k}.num_prefixes, not both",
        )
        _require(
            (self.prefix_source == "file") == (self.prefix_file is not None),
            f"{k}.prefix_file goes with {k}.prefix_source=file (and needs it)",
        )
        _require(
            self.prefix_file is None or Path(self.prefix_file).suffix in (".txt", ".jsonl"),
            f"{k}.prefix_file must be a .txt or .jsonl file, got {self.prefix_file}",
        )
        bad = set(self.formats) - {"parquet", "jsonl"}
        _require(bool(self.formats) and not bad, f"{k}.formats must list parquet and/or jsonl")


@dataclass(frozen=True)
class Passwords:
    """Zip passwords of the evaluation data (or $CDSYNTH_EWOK_PASSWORD, ...)."""

    ewok: str | None = None
    entity_tracking: str | None = None


@dataclass(frozen=True)
class EvalConfig:
    """Which tasks to run on which checkpoints, and how to score them."""

    tasks: list = field(
        default_factory=lambda: ["perplexity", "probes_agreement", "probes_tracking"]
    )
    data_dir: str = "../shared/data"  # blimp/, ewok/, ... or BabyLM's evaluation_data (docs)
    eval_set: EvalSet = _added(EvalSet.full)  # full | fast: the set of evaluation_data
    rules: EvalRules = _added(EvalRules.babylm2025)  # babylm2025 | babylm2026: scoring rules
    passwords: Passwords = field(default_factory=Passwords)
    batch_tokens: int = 2048  # token positions per forward (prefix-tree nodes or padded)
    packing: Packing = (
        Packing.tree
    )  # tree (shared prefixes run once) | padded (one row per request)
    bos_rule: BosRule = BosRule.bos  # bos | eos | none: what the first token is conditioned on
    leading_space: bool = False  # " " before whole sentences (lm-eval's BLiMP convention)
    max_items: int | None = None  # per file/subtask, for quick runs
    perplexity_documents: int | None = 500  # eval-split documents used for perplexity
    perplexity_file: str | None = None  # JSONL with "text"; default workdir/corpus/eval.jsonl
    steps: list | None = None  # checkpoint steps to evaluate; None: all
    checkpoints: Checkpoints = _added(Checkpoints.steps)  # steps (step_N) | words (chck_<N>M)
    probe_seed: int = 0
    subset_seed: int = 0  # seeds the random stratified subsets (max_items, perplexity_documents)
    device: str = "auto"  # auto | cpu | cuda

    def __post_init__(self):
        _choose(self, "packing", Packing, "evaluate.packing")
        _choose(self, "bos_rule", BosRule, "evaluate.bos_rule")
        _choose(self, "eval_set", EvalSet, "evaluate.eval_set")
        _choose(self, "rules", EvalRules, "evaluate.rules")
        _choose(self, "checkpoints", Checkpoints, "evaluate.checkpoints")
        _device(self.device, "evaluate.device")
        _require(self.batch_tokens >= 1, "evaluate.batch_tokens must be >= 1")
        for name in ("max_items", "perplexity_documents"):
            v = getattr(self, name)
            _require(v is None or v >= 1, f"evaluate.{name} must be >= 1 (or unset: all)")


@dataclass(frozen=True)
class StudyConfig:
    """The paper's study as a graph of stages (see `cdsynth.study` and `cdsynth.graph`).

    runs:        {name: train overrides}; `baseline` trains for every seed, others (e.g. a
                 smaller amateur) for the first seed only.
    amateurs:    {name: {run: NAME, step: N} | {dropout: P}}
    conditions:  [{name, strategy, amateur, ratio, alpha, lam, top_k, top_p, temperature,
                   good_temperature, bad_temperature, paper_compatible, penalty}] - one synthetic
                 corpus and its mixed retraining runs (one per seed).
    sweeps:      [{base: NAME, key: KEY, values: [...]}] - a copy of condition NAME for each
                 value of KEY (lam, alpha, top_k, top_p, temperature, ratio, ...), named
                 NAME-KEY-VALUE: the ablation grids of the paper.
    """

    seeds: list = field(default_factory=lambda: [0])
    runs: dict = field(default_factory=lambda: {"baseline": {}})
    good_step: int | None = None  # None: the last step of the baseline run
    good_seed: int | None = None  # the baseline seed GOOD (and BAD) come from; None: seeds[0]
    amateurs: dict = field(default_factory=dict)
    conditions: list = field(default_factory=list)
    sweeps: list = field(default_factory=list)  # [{base: NAME, key: lam, values: [0.5, 2]}]
    ratio: float = 0.3  # default synthetic share of the mixed runs
    bootstrap_samples: int = 1000
    bootstrap_seed: int = 0
    resample: Resample = (
        Resample.seeds
    )  # seeds (a paired t over seeds; items with one seed) | hierarchical | items

    @property
    def model_seed(self) -> int:
        """The seed of the runs GOOD and the amateurs come from."""
        return self.seeds[0] if self.good_seed is None else self.good_seed

    def __post_init__(self):
        _choose(self, "resample", Resample, "study.resample")
        _require(
            self.good_seed is None or self.good_seed in self.seeds,
            f"study.good_seed must be one of study.seeds, got {self.good_seed}",
        )
        _require(bool(self.seeds), "study.seeds must list at least one seed")
        _require(
            len(set(self.seeds)) == len(self.seeds),
            f"study.seeds must not repeat a seed (a repeated seed trains the same run twice), "
            f"got {self.seeds}",
        )
        _require(0 <= self.ratio <= 1, f"study.ratio must be in [0, 1], got {self.ratio}")
        _require(self.bootstrap_samples >= 1, "study.bootstrap_samples must be >= 1")

    diagnostics_samples: int = 200  # synthetic documents used for self-BLEU and samples


@dataclass(frozen=True)
class ExperimentConfig:
    workdir: str = "runs/demo"
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)
    study: StudyConfig = field(default_factory=StudyConfig)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)  # where jobs go: config_slurm


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()):
    """Read a YAML config (or the defaults when `path` is None) and apply `key=value` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"config file not found: {p}")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError as e:
            raise UserError(f"config file {p} is not UTF-8 text (byte {e.start})") from None
        except yaml.YAMLError as e:
            raise UserError(f"config file {p} is not valid YAML: {yaml_complaint(e)}") from None
        if not isinstance(data, dict):
            raise UserError(f"config file {p} must hold a mapping at the top level")
    for item in overrides:
        apply_override(data, item)
    cfg = from_dict(ExperimentConfig, data)
    check_names(cfg)
    check_workdir_and_corpus(cfg)
    return cfg


def apply_override(data: dict, item: str) -> None:
    """Apply one `a.b.c=value` override in place; the value is parsed as YAML."""
    if "=" not in item:
        raise UserError(f"override '{item}' must look like key=value (for example train.lr=3e-4)")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if isinstance(child, str) and part == "model":  # `model: cpu-small` shorthand
            child = {"preset": child}
        if not isinstance(child, dict):
            child = {}
        node[part] = child
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(raw)
    except yaml.YAMLError:
        node[parts[-1]] = raw


def from_dict(cls, data: Any, prefix: str = ""):
    """Build dataclass `cls` from a mapping, checking keys and value types."""
    if cls is ModelConfig and isinstance(data, str):
        data = {"preset": data}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"config key '{prefix or 'top level'}' must be a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else key
            close = difflib.get_close_matches(str(key), sorted(names), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise UserError(f"unknown config key '{where}'{hint}")
    kwargs = {}
    for key, value in data.items():
        where = f"{prefix}.{key}" if prefix else key
        kwargs[key] = _coerce(hints[key], value, where)
    obj = cls(**kwargs)
    check_finite(obj, prefix)
    return obj


def _coerce(tp, value, where):
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options[:-1]:
            try:
                return _coerce(option, value, where)
            except UserError:
                pass
        tp = options[-1]
    if isinstance(tp, type) and issubclass(tp, Choice) and isinstance(value, str):
        return value  # the config's __post_init__ turns it into the Choice, or fails
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if typing.get_origin(tp) is list and isinstance(value, list):
        return list(value)
    if tp is dict and isinstance(value, dict):
        return dict(value)
    if (
        isinstance(tp, type)
        and isinstance(value, tp)
        and not (tp is int and isinstance(value, bool))
    ):
        return value
    raise UserError(f"config key '{where}' must be {getattr(tp, '__name__', tp)}, got {value!r}")


def to_dict(cfg) -> dict:
    """A config as plain data (Choices as their string values, for JSON and YAML). A setting
    added after outputs were recorded (field metadata `left_out_at`) is left out at that
    value, its old behaviour, so that the records of those outputs stay the same bytes."""
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if "left_out_at" in f.metadata and v == f.metadata["left_out_at"]:
            continue
        if dataclasses.is_dataclass(v):
            v = to_dict(v)
        out[f.name] = v.value if isinstance(v, Choice) else copy.deepcopy(v)
    return out


# ---------------------------------------------------------------------------------------------
# Checks at load that span a whole config: names that stay in their folder, a workdir apart
# from the corpus (finite numbers, plain names and YAML complaints: config_checks)


def check_names(cfg: ExperimentConfig) -> None:
    """train.name, generate.name, the study's run and condition names (and the names its
    sweeps make) name folders under the workdir: none may lead out of it."""
    check_name(cfg.train.name, "train.name")
    check_name(cfg.generate.name, "generate.name")
    st = cfg.study
    for run in st.runs:
        check_name(run, f"study.runs.{run}")
    for i, c in enumerate(st.conditions):
        if isinstance(c, dict) and "name" in c:
            check_name(c["name"], f"study.conditions[{i}].name")
    for i, sw in enumerate(st.sweeps):
        if isinstance(sw, dict) and isinstance(sw.get("values"), list):
            for v in sw["values"]:
                check_name(f"{sw.get('base')}-{sw.get('key')}-{v}", f"study.sweeps[{i}] name")


def check_workdir_and_corpus(cfg: ExperimentConfig) -> None:
    """The workdir may not lie inside a local corpus path (its reader would take the study's
    own files for text), nor the corpus path inside the workdir, but for the workdir's own
    corpus/ folder."""
    c = cfg.corpus
    if c.source not in (Source.text, Source.jsonl, Source.parquet) or not c.path:
        return
    if not Path(c.path).exists():
        return  # the corpus stage says so, naming the path
    corpus, workdir = Path(c.path).resolve(), Path(cfg.workdir).resolve()
    if workdir == corpus or corpus in workdir.parents:
        raise UserError(
            f"workdir {workdir} lies inside corpus.path {corpus}; the corpus would read the "
            "study's own files: choose a workdir outside the corpus"
        )
    own = workdir / "corpus"
    if workdir in corpus.parents and not (corpus == own or own in corpus.parents):
        raise UserError(
            f"corpus.path {corpus} lies inside workdir {workdir}; move the corpus out of the "
            "workdir (only its own corpus/ folder may be read)"
        )
