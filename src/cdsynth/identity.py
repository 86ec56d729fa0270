"""What a stage's output depends on: the one identity rule of the study graph and the stages.

    identity("generate", to_dict(generate_config))   # the config without output-neutral fields

A stage's skip check (train's resume check, generation's corpus check) and the study graph's
records hash the same `identity`, so a setting that does not change an output (batch sizes,
devices, file formats, the engine path, the scorer's packing) never makes finished work stale.
"""

from __future__ import annotations

# Settings that change how a stage runs but not what it writes (batching, device, file
# formats, the engine path, the scorer's packing): a change to one never makes a stage stale.
# Generation's batch size changes a corpus only through float rounding (exact in float64).
OUTPUT_NEUTRAL = {
    "generate": ("batch_size", "device", "formats", "engine"),
    "train": ("device",),
    "eval": ("batch_tokens", "packing", "device"),
}


# Settings added after outputs existed, at the value that reproduces those outputs: left out
# of the identity at that value, so adding a setting never makes finished work stale.
ADDED_AT = {
    "generate": {("decoding", "penalty"): None},
}


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
    for generation without the decoding settings its strategy never reads (alpha for
    No-Contrast, lambda and BAD's temperature without an amateur, the dropout kind without
    dropout)."""
    out = _without_added(kind, config)
    out = {k: v for k, v in out.items() if k not in OUTPUT_NEUTRAL.get(kind, ())}
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
