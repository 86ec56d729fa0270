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
