"""The one identity rule: what makes a finished output stale, and what never does."""

import dataclasses

from cdsynth.config import DecodingConfig, GenerateConfig, to_dict
from cdsynth.identity import identity


def test_a_setting_added_at_its_old_behaviour_keeps_finished_work():
    """A corpus made before `decoding.penalty` existed (its record has no such key) has the
    identity of one made now with the penalty unset; setting it changes the identity."""
    now = to_dict(GenerateConfig())
    before = {**now, "decoding": {k: v for k, v in now["decoding"].items() if k != "penalty"}}
    assert identity("generate", before) == identity("generate", now)
    pen = to_dict(GenerateConfig(decoding=DecodingConfig(penalty=-20.0)))
    assert identity("generate", pen) != identity("generate", now)
    # output-neutral settings never count; what a strategy never reads does not either
    fast = to_dict(dataclasses.replace(GenerateConfig(), batch_size=7, engine="generic"))
    assert identity("generate", fast) == identity("generate", now)
    nc = to_dict(GenerateConfig(decoding=DecodingConfig("ancestral", alpha=0.3, lam=2.0)))
    assert identity("generate", nc) == identity(
        "generate", to_dict(GenerateConfig(decoding=DecodingConfig("ancestral")))
    )


# The demo study's stage identities as released (2026-12-04). A change here makes every
# finished study stale: its outputs are recomputed from scratch. If the change is meant to
# change outputs, update the table; if it adds a setting, leave the identity unchanged at the
# setting's old behaviour (identity.ADDED_AT).
DEMO_IDENTITIES = {
    "corpus": "b0c2402871b8b26c",
    "tokenizer": "39f0e33116da237f",
    "train/baseline-seed0": "7257d0a6b0d23e15",
    "eval/baseline-seed0": "2798957ff78bba38",
    "generate/no-contrast": "b65f9de2ee9522cd",
    "train/mix-no-contrast-seed0": "474824a621dfc925",
    "eval/mix-no-contrast-seed0": "4d9516411670304a",
    "generate/no-contrast-vhead": "f13c7cfd1942a09b",
    "train/mix-no-contrast-vhead-seed0": "cfaa63db5111eb1e",
    "eval/mix-no-contrast-vhead-seed0": "8a91c4a8ef16b2e0",
    "generate/cd-early": "4d640132783cd5a9",
    "train/mix-cd-early-seed0": "2137fcd8fb7233a4",
    "eval/mix-cd-early-seed0": "a37e633db8ce1e3b",
}


def test_finished_work_stays_current_across_versions():
    from pathlib import Path

    from cdsynth.config import load_config
    from cdsynth.graph import build_graph

    demo = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
    stages = build_graph(load_config(demo), log=lambda *a: None)
    now = {s.name: s.hash[:16] for s in stages if s.kind != "report"}
    assert now == DEMO_IDENTITIES
