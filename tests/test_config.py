import pytest

from cdsynth.config import ExperimentConfig, ModelConfig, TrainConfig, load_config
from cdsynth.errors import UserError


def test_yaml_and_dotted_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("workdir: w\ntrain:\n  lr: 0.002\n  model: cpu-tiny\n")
    cfg = load_config(p, ["train.lr=3e-4", "train.steps=7", "train.model.n_layers=2"])
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.workdir == "w"
    assert cfg.train.lr == pytest.approx(3e-4)
    assert cfg.train.steps == 7
    m = cfg.train.model.resolved()
    assert (m.n_layers, m.hidden, m.heads, m.ffn) == (2, 128, 4, 512)


def test_configs_are_frozen():
    cfg = TrainConfig()
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lrr=1", "unknown config key 'train.lrr'"),
        ("nope=1", "unknown config key 'nope'"),
        ("train.steps=abc", "config key 'train.steps' must be int"),
        ("train.steps=true", "config key 'train.steps' must be int"),
        ("train.lr", "must look like key=value"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(UserError, match=message):
        load_config(None, [override])


def test_presets():
    assert ModelConfig("paper-good").resolved() == ModelConfig(
        "paper-good", 12, 768, 12, 3072, 1024, 32000
    )
    small = ModelConfig("paper-small-20").resolved()
    assert (small.n_layers, small.hidden, small.heads, small.ffn) == (6, 256, 4, 1024)
    with pytest.raises(UserError, match="unknown model preset 'huge'"):
        ModelConfig("huge").resolved()


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(bad)


def test_shipped_configs_load():
    from pathlib import Path

    for p in sorted(Path(__file__).parents[1].glob("configs/*.yaml")):
        cfg = load_config(p)
        cfg.train.model.resolved()
