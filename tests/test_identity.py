"""The one identity rule: what makes a finished output stale, and what never does."""

import dataclasses
import json

import pytest

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


def test_records_written_before_the_one_rule_read_as_current():
    """Each record kept its identity under an older name (or, for the real-token count, the
    hashed mapping itself); `is_current` reads them all, and generation's identity is the
    hash generate_config.json held."""
    from cdsynth.fileio import stable_hash
    from cdsynth.identity import is_current, output_identity, real_tokens_identity

    cfg = to_dict(GenerateConfig())
    inputs = {"good": "g", "bad": None, "prefixes": "p"}
    old = stable_hash({"generate": identity("generate", cfg), "inputs": inputs, "dtype": "fp32"})
    assert output_identity("generate", cfg, inputs, dtype="fp32") == old
    assert is_current({"config_hash": old, "n_batches": 3}, old)
    key = {"train": "t", "tokenizer": ["a", "b"]}
    assert is_current({"key": key, "tokens": 7}, real_tokens_identity("t", ["a", "b"]))
    assert not is_current({"key": key, "tokens": 7}, real_tokens_identity("t", ["a"]))
    assert is_current({"hash": "h"}, "h") and is_current({"fingerprint": "f"}, "f")
    assert not is_current({}, "h") and is_current({"identity": "i", "hash": "h"}, "i")


# The demo study's stage identities as released (2026-12-04), under identity rule 1. They must
# stay accepted (`Stage.older`): a change here makes every finished study stale, its outputs
# recomputed from scratch. If the change is meant to change outputs, update the tables; if it
# adds a setting, leave the identity unchanged at the setting's old behaviour
# (identity.ADDED_AT); if it changes the rule, add the old rule to identity.OLDER_RULES.
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
    released = {s.name: s.older[0][:16] for s in stages if s.kind != "report"}
    assert released == DEMO_IDENTITIES
    now = {s.name: s.hash[:16] for s in stages if s.kind != "report"}
    assert now == DEMO_IDENTITIES_RULE_2
    assert all(s.accepted == (s.hash, s.older[0]) for s in stages)


# The same under identity rule 2 (2026-12-07: only what an output reads; issue 39).
DEMO_IDENTITIES_RULE_2 = {
    "corpus": "1f4a247fae3cca5a",
    "tokenizer": "a6bf28c980340d0f",
    "train/baseline-seed0": "3600c83ad18fe535",
    "eval/baseline-seed0": "f71272a612495529",
    "generate/no-contrast": "1ee32c77a88b86ba",
    "train/mix-no-contrast-seed0": "be87fe3318d297fe",
    "eval/mix-no-contrast-seed0": "3a0f3001217bfeb5",
    "generate/no-contrast-vhead": "994945743f666c0b",
    "train/mix-no-contrast-vhead-seed0": "5931c6d31963cc8b",
    "eval/mix-no-contrast-vhead-seed0": "6b2c81d29a55ce68",
    "generate/cd-early": "12360b158b006968",
    "train/mix-cd-early-seed0": "8feccc62827f0f73",
    "eval/mix-cd-early-seed0": "044f65e37f7cd129",
}


# The last commit before identity.py held every freshness rule. A study it finished must stay
# finished under today's code: no stage, nor any stage's own skip check, redoes its work.
BEFORE_ONE_RULE = "ece0e4f"
OLD_STUDY = [
    "study.seeds=[0]",
    "study.good_step=12",
    "study.amateurs={early: {run: baseline, step: 4}}",
    "study.conditions=[{name: no-contrast, strategy: ancestral}, "
    "{name: cd-early, strategy: cd, amateur: early}]",
    "study.bootstrap_samples=20",
    "study.diagnostics_samples=5",
    "generate.num_prefixes=4",
    "generate.completions=2",
    "generate.new_tokens=8",
    "generate.batch_size=8",
    "generate.dtype=fp32",
    "evaluate.tasks=[perplexity, probes_agreement]",
    "evaluate.max_items=8",
    "evaluate.perplexity_documents=5",
]


@pytest.fixture(scope="module")
def old_study(tmp_path_factory):
    """A tiny study run to the end by the code of BEFORE_ONE_RULE (from this clone's history;
    skipped where the clone lacks it)."""
    import io
    import subprocess
    import sys
    import tarfile
    from pathlib import Path

    from .conftest import TINY

    repo = Path(__file__).resolve().parents[1]
    got = subprocess.run(
        ["git", "-C", str(repo), "archive", BEFORE_ONE_RULE, "src"], capture_output=True
    )
    if got.returncode != 0:
        pytest.skip(f"commit {BEFORE_ONE_RULE} is not in this clone")
    root = tmp_path_factory.mktemp("upgrade")
    with tarfile.open(fileobj=io.BytesIO(got.stdout)) as tar:
        tar.extractall(root / "old", filter="data")
    overrides = [f"workdir={root / 'ws'}", *TINY, *OLD_STUDY]
    script = (
        "import sys\n"
        "from cdsynth.config import load_config\n"
        "from cdsynth.graph import run_experiment\n"
        "run_experiment(load_config(None, sys.argv[1:]), log=lambda *a: None)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root / "old" / "src"), "HOME": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", script, *overrides], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "ws", overrides


def _contents(root):
    """Every file under `root` with its bytes' hash, the lock files aside."""
    from cdsynth.fileio import file_hash

    return {p: file_hash(p) for p in root.rglob("*") if p.is_file() and p.suffix != ".lock"}


def test_a_study_finished_before_the_one_rule_stays_finished(old_study, monkeypatch):
    from cdsynth import stages
    from cdsynth.config import load_config
    from cdsynth.evaluate import runner
    from cdsynth.graph import build_graph, experiment_status, run_experiment

    root, overrides = old_study
    cfg = load_config(None, overrides)
    assert all(state == "done" for _, state in experiment_status(cfg))
    before = _contents(root)
    assert all(what == "skipped" for _, what in run_experiment(cfg, log=lambda *a: None))
    # each stage's own skip check, as `cdsynth corpus|tokenizer|train|eval` run it
    logs = []
    stages.run_corpus(cfg, log=logs.append)
    stages.run_tokenizer(cfg, log=logs.append)
    assert logs == [
        f"corpus: up to date in {root}/corpus",
        f"tokenizer: up to date in {root}/tokenizer",
    ]

    def no_scoring(*a, **k):
        raise AssertionError("a finished evaluation was scored again")

    monkeypatch.setattr(runner.Scorer, "from_pretrained", no_scoring)
    for stage in build_graph(cfg, log=lambda *a: None):
        if stage.kind == "train":
            c = stage.cli[1]
            stages.run_train(c, log=logs.append, progress=False)
        elif stage.kind == "eval":
            runner.evaluate_checkpoints(
                stage.output.parent, cfg.evaluate, cfg.workdir, log=lambda *a: None, progress=False
            )
    assert not any(line.startswith(("training ", "blocks: ")) for line in logs), logs
    # nothing added, nothing changed, but the graph's records: they now hold rule 2's identity
    after = _contents(root)
    records = {p for p in after if p.parent == root / "stages" and p.suffix == ".json"}
    assert {p: h for p, h in after.items() if p not in records} == {
        p: h for p, h in before.items() if p not in records
    }
    for stage in build_graph(cfg, log=lambda *a: None):
        record = json.loads((root / "stages" / f"{stage.name.replace('/', '__')}.json").read_text())
        assert record["identity"] == stage.hash and stage.hash != stage.older[0]
