"""`cdsynth export`: Hub-ready folders whose cards parse with huggingface_hub, that `datasets`
and `transformers` load offline as they are, with the right columns and provenance."""

import json
import shutil

import pyarrow.parquet as pq
import pytest
import torch
import yaml

from cdsynth.decoding_rules import DecodingConfig
from cdsynth.errors import UserError
from cdsynth.evaluate.runner import evaluate_checkpoints
from cdsynth.export import (
    CD_GENERATE_DIR,
    DATA_FILE,
    export_cd_generate,
    export_corpus,
    export_model,
    size_category,
)
from cdsynth.stages import run_generate, run_train

from .conftest import quiet, run_cli, tiny_config

GEN = [
    "generate.good=runs/baseline/step_12",
    "generate.bad=runs/baseline/step_4",
    "generate.num_prefixes=5",
    "generate.completions=3",
    "generate.new_tokens=16",
    "generate.batch_size=8",
    "generate.dtype=fp64",
]
MIX = ["train.name=mixed", "train.synthetic=synthetic/cd", "train.synthetic_ratio=0.5"]


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny_workspace):
    """A baseline run, a CD corpus from it, a run on the mixture, and its last checkpoint's
    perplexity."""
    root = tmp_path_factory.mktemp("export") / "ws"
    shutil.copytree(tiny_workspace, root)
    run_train(tiny_config(root), log=quiet, progress=False)
    run_generate(tiny_config(root, *GEN), log=quiet, progress=False)
    run_train(tiny_config(root, *MIX), log=quiet, progress=False)
    cfg = tiny_config(root, "evaluate.tasks=[perplexity]", "evaluate.steps=[12]")
    evaluate_checkpoints(root / "runs" / "mixed", cfg.evaluate, root, log=quiet, progress=False)
    return root


def metadata(readme):
    text = readme.read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1]), text


def test_corpus_folder_loads_with_datasets_offline_and_its_card_says_where_it_came_from(
    study, tmp_path, monkeypatch
):
    import datasets
    from huggingface_hub import DatasetCard

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    src = study / "synthetic" / "cd"
    out = export_corpus(src, tmp_path / "corpus", lic="cc-by-4.0")
    manifest = json.loads((src / "manifest.json").read_text())
    ds = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))
    table = pq.read_table(src / "synthetic.parquet")
    assert ds.column_names == table.column_names and len(ds) == table.num_rows == 15
    assert ds["text"] == table.column("text").to_pylist()
    assert set(ds["good_step"]) == {12} and set(ds["bad_step"]) == {4}
    assert set(ds["config_hash"]) == {manifest["identity"]}
    meta, text = metadata(out / "README.md")
    assert meta["license"] == "cc-by-4.0" and meta["language"] == ["en"]
    assert meta["size_categories"] == ["n<1K"] and meta["task_categories"] == ["text-generation"]
    assert {"synthetic", "cdsynth", "decoding-cd"} <= set(meta["tags"])
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": DATA_FILE}]
    card = DatasetCard.load(out / "README.md")  # the Hub's own parser
    assert card.data.license == "cc-by-4.0"
    inputs, totals = manifest["inputs"], manifest["totals"]
    for fact in (
        f"`runs/baseline/step_12` (step 12, fingerprint `{inputs['good']}`)",
        f"`runs/baseline/step_4` (step 4, fingerprint `{inputs['bad']}`)",
        "rule: `cd`, alpha 0.1, lam 1.0, good_temperature 1.0, bad_temperature 1.0, top_k 0, "
        "top_p 1.0, temperature 1.0, paper_compatible False",
        f"fingerprint `{inputs['prefixes']}`; 3 completions each, 16 new tokens at most",
        "5 from `seeds` (stratified random by source, seed 0)",
        f"rows: 15; new tokens: {totals['new_tokens']}; words: {totals['words']}",
        f"corpus identity: `{manifest['identity']}`",
        "@inproceedings{ulm-etal-2025-contrastive",
    ):
        assert fact in text, fact
    assert json.loads((out / "cdsynth_export.json").read_text())["identity"] == manifest["identity"]


def test_model_folder_loads_with_transformers_and_its_card_has_config_data_and_results(
    study, tmp_path
):
    from huggingface_hub import ModelCard
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ckpt = study / "runs" / "mixed" / "step_12"
    out = export_model(ckpt, tmp_path / "model")
    assert not (out / "optimizer.safetensors").exists() and not (out / "rng.safetensors").exists()
    ids = torch.tensor([[1, 40, 41, 42]])
    mine = AutoModelForCausalLM.from_pretrained(out).eval()
    theirs = AutoModelForCausalLM.from_pretrained(ckpt).eval()
    torch.testing.assert_close(mine(ids).logits, theirs(ids).logits, rtol=0, atol=0)
    assert AutoTokenizer.from_pretrained(out)("a story").input_ids
    card = ModelCard.load(out / "README.md")
    ppl = json.loads((study / "runs/mixed/eval/step_12/perplexity.json").read_text())
    [result] = card.data.eval_results
    assert (result.dataset_type, result.metric_type) == ("perplexity", "perplexity")
    assert result.metric_value == ppl["score"]
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "text-generation"
    state = json.loads((ckpt / "state.json").read_text())
    corpus = json.loads((study / "synthetic/cd/manifest.json").read_text())
    share = state["synthetic_rows_total"] / state["rows_total"]
    assert 0 < share < 1
    text = card.text
    assert f"synthetic text: `synthetic/cd` (identity `{corpus['identity']}`) at ratio 0.5" in text
    assert f"of them synthetic: {state['synthetic_rows_total']} (share {share:.4f})" in text
    assert "the train split of corpus `storyworld`" in text
    assert f"| perplexity | perplexity | {ppl['score']:.6g} | {ppl['n_items']} |" in text
    assert '"synthetic_ratio": 0.5' in text and '"preset": "test-micro"' in text


def test_an_existing_folder_is_replaced_only_when_it_is_an_export(study, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="exists and is not a cdsynth export"):
        export_model(study / "runs" / "mixed" / "step_12", mine)
    assert (mine / "notes.txt").read_text() == "keep me"
    out = export_model(study / "runs" / "baseline" / "step_4", tmp_path / "m")
    export_model(study / "runs" / "baseline" / "step_8", out)  # again: replaced
    assert "step_8" in (out / "README.md").read_text()
    assert "None recorded" in (out / "README.md").read_text()  # no results for step 8


def test_cd_generate_folder_is_the_shipped_one(tmp_path):
    out = export_cd_generate(tmp_path / "cd")
    for name in ("README.md", "custom_generate/generate.py"):
        assert (out / name).read_bytes() == (CD_GENERATE_DIR / name).read_bytes()


def test_cli_export_and_push(study, tmp_path, monkeypatch, capsys):
    """`cdsynth export corpus ... --push` builds the folder, then uploads it with
    huggingface_hub (stood in for here); a missing corpus is one line and exit 2."""
    import huggingface_hub

    calls = []

    class FakeApi:
        def create_repo(self, repo_id, **kw):
            calls.append(("create", repo_id, kw["repo_type"]))
            return f"https://huggingface.co/datasets/{repo_id}"

        def upload_folder(self, **kw):
            calls.append(("upload", kw["repo_id"], kw["folder_path"]))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    out = tmp_path / "c"
    code, stdout, err = run_cli(
        monkeypatch, capsys, "export", "corpus", study / "synthetic/cd", out, "--push", "me/cd"
    )
    assert code == 0, err
    assert calls == [("create", "me/cd", "dataset"), ("upload", "me/cd", str(out))]
    assert (out / DATA_FILE).is_file() and "uploaded to https://huggingface.co" in stdout
    code, _, err = run_cli(monkeypatch, capsys, "export", "corpus", tmp_path / "none", out)
    assert code == 2 and err.count("\n") == 1 and "no merged corpus in" in err


def test_size_categories():
    assert [size_category(n) for n in (0, 999, 1000, 54_321, 2 * 10**9, 10**12)] == [
        "n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "1B<n<10B", "n>1T",
    ]  # fmt: skip


def test_the_cards_rule_line_names_the_rules_own_settings():
    """The rule line lists what the rule reads (its identity keys): beta for the reasoning
    CD, no lam; no amateur settings for No-Contrast."""
    from cdsynth.export import rule_settings

    line = rule_settings(DecodingConfig("reasoning_cd", beta=0.7))
    assert "beta 0.7" in line and "lam" not in line
    line = rule_settings(DecodingConfig("ancestral", top_p=0.9))
    assert line.startswith("good_temperature 1.0") and "top_p 0.9" in line
    assert "alpha" not in line and "lam" not in line and "bad_temperature" not in line
