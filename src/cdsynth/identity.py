"""What a stage's output depends on, and whether a finished output is current: the one
identity rule of the study graph and the stages.

    identity("generate", to_dict(cfg))              # the config without output-neutral fields
    output_identity("train", to_dict(cfg), data)    # what an output records as its `identity`
    is_current(read_record(path), ident)            # the one freshness test

Every output records, under `identity`, the hash of exactly what changes it: the config fields
that matter (`identity`) and the fingerprints of its inputs. The stage's own skip check and
the study graph hash with these functions and compare with `is_current`; nothing else decides
whether an output is current, so a setting that does not change an output (batch sizes,
devices, file formats, the engine path, the scorer's packing) never makes finished work stale.

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

Outputs written before this rule hold the same hashes under older names (`is_current` reads
them), so no finished output is redone after an upgrade.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .decoding_rules import DecodingConfig
from .fileio import read_json, stable_hash

# Settings that change how a stage runs but not what it writes (batching, device, file
# formats, the engine path, the scorer's packing): a change to one never makes a stage stale.
# Generation's batch size changes a corpus only through float rounding (exact in float64).
OUTPUT_NEUTRAL = {
    "generate": ("batch_size", "device", "formats", "engine"),
    "train": ("device",),
    "eval": ("batch_tokens", "packing", "device"),
}


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


def identity(kind: str, config: dict) -> dict:
    """What a stage's output depends on: its config without the output-neutral settings, and
    for generation only the decoding settings its rule reads (`DecodingRule.identity_keys`:
    no alpha for No-Contrast, no lambda, BAD's temperature or amateur without an amateur, no
    filter that is off), and no dropout kind without dropout."""
    out = _without_added(kind, config)
    out = {k: v for k, v in out.items() if k not in OUTPUT_NEUTRAL.get(kind, ())}
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


# How each kind's identity lays out its parts: the layout its first outputs were recorded
# with, kept so that they stay current.
_LAYOUT = {
    "corpus": ("config", "inputs"),
    "tokenizer": ("config", "inputs"),
    "train": ("train", "data"),
    "generate": ("generate", "inputs"),
}


def output_identity(kind: str, config: dict, inputs: Any, **extra: Any) -> str:
    """The identity a stage's output records: the hash of `identity(kind, config)` and the
    fingerprints of its inputs (`inputs`: file hashes, the packed blocks' records, ...) and
    any other setting that changes the output (`extra`, e.g. generation's resolved dtype)."""
    config_key, inputs_key = _LAYOUT[kind]
    return stable_hash({config_key: identity(kind, config), inputs_key: inputs, **extra})


def stage_identity(kind: str, config: dict, deps: list[str]) -> str:
    """The identity of a stage of the study graph, known before it runs: its config's
    `identity` and the identities of the stages it reads (`deps`)."""
    return stable_hash({"kind": kind, "config": identity(kind, config), "deps": deps})


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


def is_current(record: dict, ident: str) -> bool:
    """Whether an output whose record is `record` is current for identity `ident`."""
    return recorded_identity(record) == ident
