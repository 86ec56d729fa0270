"""What a stage's output depends on, and whether a finished output is current: the one
identity rule of the study graph and the stages.

    identity("generate", to_dict(cfg))              # the config without output-neutral fields
    output_identity("train", to_dict(cfg), data)    # what an output records as its `identity`
    is_current(read_record(path), ident)            # the one freshness test

Every output records, under `identity`, the hash of exactly what changes it: the config fields
that matter (`identity`) and the fingerprints of its inputs. The stage's own skip check and
the study graph hash with these functions and compare with `is_current`; nothing else decides
whether an output is current, so a setting that does not change an output (batch sizes,
devices, file formats, the engine path, the scorer's packing, the settings of a corpus source
not used, where evaluation data lies) never makes finished work stale.

    output            identity of                                   recorded in
    corpus/           its config                                    manifest.json
    tokenizer/        its config, the train split                   manifest.json
    blocks/NAME-ID/   the tokenizer, the texts, block_len           the folder's name
    runs/RUN/         its config, the packed blocks' records        train_config.json,
                                                                    step_N/state.json
    synthetic/NAME/   its config, GOOD, BAD, the prefixes, dtype    generate_config.json
    real_tokens.json  the train split, GOOD's tokenizer files       real_tokens.json
    eval/step_N/T     the task's data and rule, the checkpoint      T.json
    stages/NAME.json  the stage's config, its inputs' identities    the record (the graph's)

Outputs written before this rule hold the same hashes under older names, or hashes made under
an older rule (`identities`, `OLDER_RULES`); `is_current` accepts both, so no finished output
is redone after an upgrade.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .decoding_rules import DecodingConfig
from .fileio import read_json, stable_hash

# The rule: a setting is part of an output's identity only if that output can read it, and
# settings that change an output only through float rounding (batching, the engine path, the
# scorer's packing, the training loss's chunking) count as not changing it, for every stage
# alike. Each stage records the values it ran with (its config); a change to one of these
# never makes finished work stale.
OUTPUT_NEUTRAL = {
    "generate": ("batch_size", "device", "formats", "engine", "step_shape"),
    "train": (
        "device",
        "micro_batch_size",
        "loss",
        "loss_chunk_rows",
        "trackers",
        "tracker_project",
    ),
    "eval": ("batch_tokens", "packing", "device"),
}

# The corpus settings each source reads (besides SPLIT_SETTINGS, which every source reads):
# the story world never reads a path or a text field, a text folder no column, ...
CORPUS_READS = {
    "storyworld": ("storyworld_words",),
    "text": ("path", "documents"),
    "jsonl": ("path", "text_field"),
    "parquet": ("path", "text_field"),
    "hf": ("path", "text_field", "hf_config", "hf_split"),
}
SPLIT_SETTINGS = ("source", "seed", "eval_fraction", "seeds_fraction", "max_words")

# The identity rule in force (2, above) and the older ones whose records stay current: rule 1
# put every corpus and evaluation setting and train.micro_batch_size into identities. An
# output recorded under rule 1 is current while its config is unchanged (`identities`).
RULE = 2
OLDER_RULES = (1,)


# Settings added after outputs existed, at the value that reproduces those outputs: left out
# of the identity at that value, so adding a setting never makes finished work stale. (The
# decoding rule says which of its settings count: `DecodingRule.identity_keys`.)
ADDED_AT: dict = {}


def _without_added(kind: str, config: dict) -> dict:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in config.items()}
    for path, value in ADDED_AT.get(kind, {}).items():
        *parents, leaf = path
        node = out
        for p in parents:
            node = node.get(p, {})
        if leaf in node and node[leaf] == value:
            del node[leaf]
    return out


def identity(kind: str, config: dict, version: int = RULE) -> dict:
    """What a stage's output depends on: its config without the output-neutral settings and
    without the settings the output cannot read: for generation the decoding settings its
    rule never reads (`DecodingRule.identity_keys`: alpha for No-Contrast, lambda, BAD's
    temperature and the amateur without an amateur, a filter that is off) and the dropout
    kind without dropout, for a corpus the settings of other sources, for an evaluation what
    its tasks read (`eval_reads`). `version`: an older rule (1), to recognise outputs
    recorded under it."""
    out = _without_added(kind, config)
    if kind == "eval" and version >= 2:
        return eval_reads(out)
    out.pop("reads", None)
    neutral = OUTPUT_NEUTRAL.get(kind, ())
    if version < 2:
        neutral = tuple(k for k in neutral if (kind, k) != ("train", "micro_batch_size"))
    out = {k: v for k, v in out.items() if k not in neutral}
    if kind == "corpus" and version >= 2:
        reads = (*SPLIT_SETTINGS, *CORPUS_READS.get(out.get("source"), ()), "files")
        out = {k: v for k, v in out.items() if k in reads}
    if kind == "generate":
        settings = DecodingConfig(**out["decoding"])  # a record leaves added settings out
        d = out["decoding"]  # at their defaults (config.to_dict): read those from `settings`
        rule = {k: d[k] if k in d else getattr(settings, k) for k in settings.rule.identity_keys}
        if not settings.rule.needs_amateur:
            out.pop("bad", None)
            out["bad_dropout"] = 0.0
        if not out.get("bad_dropout"):
            out.pop("bad_dropout_kind", None)
        out["decoding"] = rule
    return out


def eval_reads(config: dict) -> dict:
    """An evaluation stage's identity (rule 2): what it reads, `config["reads"]`, made by the
    graph: the checkpoint steps it scores (`study.scored_steps`) and each task's scoring rule
    and the settings that choose its items (`evaluate.runner.task_reads`); not the zip
    passwords, the settings of tasks it does not run, or the order of the lists."""
    return config["reads"]


def identities(kind: str, config: dict, inputs: Any, **extra: Any) -> tuple[str, ...]:
    """The identities a current output of this config may record: `output_identity` under the
    rule in force, then under each older rule (outputs recorded before it)."""
    return tuple(
        output_identity(kind, config, inputs, version=v, **extra) for v in (RULE, *OLDER_RULES)
    )


# How each kind's identity lays out its parts: the layout its first outputs were recorded
# with, kept so that they stay current.
_LAYOUT = {
    "corpus": ("config", "inputs"),
    "tokenizer": ("config", "inputs"),
    "train": ("train", "data"),
    "generate": ("generate", "inputs"),
}


def output_identity(kind: str, config: dict, inputs: Any, version: int = RULE, **extra: Any) -> str:
    """The identity a stage's output records: the hash of `identity(kind, config)` and the
    fingerprints of its inputs (`inputs`: file hashes, the packed blocks' records, ...) and
    any other setting that changes the output (`extra`, e.g. generation's resolved dtype)."""
    config_key, inputs_key = _LAYOUT[kind]
    return stable_hash({config_key: identity(kind, config, version), inputs_key: inputs, **extra})


def stage_identity(kind: str, config: dict, deps: list[str], version: int = RULE) -> str:
    """The identity of a stage of the study graph, known before it runs: its config's
    `identity` and the identities of the stages it reads (`deps`, under the same rule)."""
    return stable_hash({"kind": kind, "config": identity(kind, config, version), "deps": deps})


def blocks_identity(tokenizer: str, texts: list[str], block_len: int) -> str:
    """The identity of a packing: the tokenizer file's hash, the hashes of the text files
    packed, and the block length (it names the blocks folder, shared by runs)."""
    return stable_hash([tokenizer, texts, block_len])


def task_identity(task: str, data: Any, rule: dict) -> str:
    """What an evaluation task's results depend on besides the checkpoint: its name, its
    items (`data`) and its scoring rule (BOS rule, leading space, rule version)."""
    return stable_hash({"task": task, "data": data, "rule": rule})


def eval_identity(task: str, checkpoint: str) -> str:
    """The identity of one checkpoint's result on one task: `task_identity` and the
    checkpoint's fingerprint (a retrained checkpoint of the same name is scored again)."""
    return stable_hash([task, checkpoint])


def real_tokens_identity(train: str, tokenizer: list[str]) -> str:
    """The identity of the real train split's token count under a tokenizer: the split's
    file hash and the hashes of the tokenizer's files."""
    return stable_hash({"train": train, "tokenizer": tokenizer})


# The names records written before this rule gave their identity (graph records: hash;
# manifests, train and generation records: config_hash; evaluation results: fingerprint),
# and the real-token count's record, which held the hashed mapping itself (key).
_OLD_NAMES = ("hash", "config_hash", "fingerprint")


def recorded_identity(record: dict) -> str | None:
    """The identity a record holds (under its current or an older name), or None."""
    if "identity" in record:
        return record["identity"]
    for name in _OLD_NAMES:
        if name in record:
            return record[name]
    if isinstance(record.get("key"), dict):
        return stable_hash(record["key"])
    return None


def read_record(path: str | Path) -> dict:
    """A JSON record (a manifest, a state, a result), or {} where there is none."""
    path = Path(path)
    return read_json(path) if path.is_file() else {}


def is_current(record: dict, ident: str | tuple[str, ...]) -> bool:
    """Whether an output whose record is `record` is current for identity `ident` (or for
    any of `identities(...)`)."""
    accepted = (ident,) if isinstance(ident, str) else ident
    return recorded_identity(record) in accepted
