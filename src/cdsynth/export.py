"""Hub-ready folders: cdsynth's outputs with the cards the Hugging Face Hub and `datasets` read.

    export_corpus(synthetic_dir, out)    # README.md dataset card + data/train-*.parquet
    export_model(checkpoint_dir, out)    # README.md model card + config, safetensors, tokenizer
    export_cd_generate(out)              # the custom_generate folder (CD in transformers' generate)
    push(out, "user/name", "dataset")    # upload with huggingface_hub

An exported corpus loads with `datasets.load_dataset(out)`, a model with
`AutoModelForCausalLM.from_pretrained(out)`. Each card's YAML metadata is built with
huggingface_hub's `DatasetCardData` / `ModelCardData` (the Hub's own schema: license,
language, size category, task, tags, model-index); its text records where the output came
from (models, steps, identity hashes, the rule and its settings, the training config, the
data shares, the evaluation results). The folder is written atomically; `cdsynth_export.json`
in it records what it was exported from (and marks it as ours: an existing folder without it
is never replaced).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from . import __version__
from .decoding_rules import DecodingConfig
from .errors import UserError
from .fileio import atomic_path, read_json, write_json
from .workspace import SyntheticFiles, checkpoint_state, eval_dir, step_of

# a custom_generate repo (README.md card + custom_generate/generate.py): pass it as
# `model.generate(custom_generate=str(CD_GENERATE_DIR), trust_remote_code=True, ...)`
CD_GENERATE_DIR = Path(__file__).resolve().parent / "transformers_cd"

MARKER = "cdsynth_export.json"
DATA_FILE = "data/train-00000-of-00001.parquet"
# what a checkpoint folder holds that a model repo needs (not the optimizer, RNG or state)
MODEL_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)

CITATION = """@inproceedings{ulm-etal-2025-contrastive,
  title     = {Contrastive Decoding for Synthetic Data Generation in Low-Resource
               Language Modeling},
  author    = {Ulm, Jannek and Du, Kevin and Sn{\\ae}bjarnarson, V{\\'e}steinn},
  booktitle = {Proceedings of the First BabyLM Workshop},
  year      = {2025},
  url       = {https://aclanthology.org/2025.babylm-main.2/},
  eprint    = {2510.08245},
  archivePrefix = {arXiv}
}"""


def size_category(n: int) -> str:
    """The Hub's `size_categories` value for n rows."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")]
    bounds += [(1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
    bounds += [(10**9, "100M<n<1B"), (10**10, "1B<n<10B"), (10**11, "10B<n<100B")]
    bounds += [(10**12, "100B<n<1T")]
    return next((label for bound, label in bounds if n < bound), "n>1T")


def _step(path: str | None) -> int | None:
    name = Path(path).name if path else ""
    return step_of(name) if name.startswith("step_") and name[5:].isdigit() else None


def card_text(data, lines: list[str]) -> str:
    """A card: YAML metadata (huggingface_hub's CardData) between --- lines, then Markdown."""
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines)


def _fence(obj) -> str:
    return "```json\n" + json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n```"


def rule_settings(settings: DecodingConfig) -> str:
    """The settings that make the rule's text (its identity keys, as the rule names them), in
    the config's order: "alpha 0.1, lam 1.0, ..."."""
    keys = settings.rule.identity_keys
    names = [f.name for f in dataclasses.fields(settings) if f.name in keys]
    return ", ".join(f"{k} {getattr(settings, k)}" for k in names if k != "strategy")


def corpus_card(manifest: dict, rows: int, columns: list[str], lic: str, language: str) -> str:
    """README.md of an exported synthetic corpus: YAML metadata, then its provenance."""
    from huggingface_hub import DatasetCardData

    cfg, inputs, totals = manifest["config"], manifest.get("inputs", {}), manifest["totals"]
    rule = cfg["decoding"]
    settings = DecodingConfig(**rule)  # the rule says whether it had an amateur
    data = DatasetCardData(
        license=lic,
        language=[language],
        size_categories=[size_category(rows)],
        task_categories=["text-generation"],
        tags=["synthetic", "cdsynth", f"decoding-{rule['strategy']}"],
        pretty_name=f"cdsynth synthetic corpus {cfg['name']}",
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": DATA_FILE}]}],
    )
    bad = cfg.get("bad")
    amateur = (
        f"`{bad}` (step {_step(bad)}, fingerprint `{inputs.get('bad')}`)"
        if bad
        else f"GOOD with dropout {cfg.get('bad_dropout')} ({cfg.get('bad_dropout_kind')})"
    )
    prefixes = manifest.get("prefixes") or {}
    lines = [
        f"# cdsynth synthetic corpus `{cfg['name']}`",
        "",
        "Synthetic pre-training text written by [cdsynth](https://arxiv.org/abs/2510.08245) "
        f"with the `{rule['strategy']}` rule (`cd`: contrastive decoding between GOOD and BAD).",
        "",
        "## Provenance",
        "",
        f"- GOOD (expert): `{cfg['good']}` (step {_step(cfg['good'])}, "
        f"fingerprint `{inputs.get('good')}`)",
        f"- BAD (amateur): {amateur}" if settings.rule.needs_amateur else "- BAD: none",
        f"- rule: `{rule['strategy']}`, {rule_settings(settings)}",
        f"- prefixes: {prefixes.get('chosen')} from `{prefixes.get('source')}` "
        f"({prefixes.get('method')}, seed {prefixes.get('seed')}), fingerprint "
        f"`{inputs.get('prefixes')}`; {cfg['completions']} completions each, "
        f"{cfg['new_tokens']} new tokens at most",
        f"- rows: {totals['rows']}; new tokens: {totals['new_tokens']}; words: "
        f"{totals['words']}; ended with EOS: {totals['ended_with_eos']}",
        f"- corpus identity: `{manifest['identity']}` (the hash of what changes the text)",
        f"- cdsynth {manifest.get('versions', {}).get('cdsynth', __version__)}, git commit "
        f"`{manifest.get('git_commit')}`; exported by cdsynth {__version__}",
        "",
        "## Columns",
        "",
        ", ".join(f"`{c}`" for c in columns),
        "",
        "`text` is the new text (`segments`: split at EOS); `token_ids` the new tokens, "
        "`prefix_token_ids` the prompt; `good`/`bad`/`*_step` and `config_hash` the provenance "
        "of each row; `mean_contrast` / `token_contrast` log p_good - log p_bad of the chosen "
        "tokens.",
        "",
        "## Generation config",
        "",
        _fence(cfg),
        "",
        "## Citation",
        "",
        "```bibtex",
        CITATION,
        "```",
        "",
    ]
    return card_text(data, lines)


def _writable_out(out: Path) -> None:
    """An existing folder is replaced only when it is an earlier export of ours."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise UserError(f"{out} exists and is not a cdsynth export; choose a new folder")


def export_corpus(folder: str | Path, out: str | Path, lic: str = "other", language="en") -> Path:
    """A merged synthetic corpus (workdir/synthetic/NAME) as a Hub dataset folder."""
    import pyarrow.parquet as pq

    files, out = SyntheticFiles(folder), Path(out)
    manifest_path = files.root / "manifest.json"
    if not files.parquet.is_file() or not manifest_path.is_file():
        raise UserError(
            f"no merged corpus in {files.root} (synthetic.parquet and manifest.json; "
            "run `cdsynth generate` then `cdsynth merge`)"
        )
    manifest = read_json(manifest_path)
    schema = pq.read_schema(files.parquet)
    rows = pq.ParquetFile(files.parquet).metadata.num_rows
    _writable_out(out)
    with atomic_path(out) as tmp:
        (tmp / "data").mkdir(parents=True)
        shutil.copyfile(files.parquet, tmp / DATA_FILE)
        card = corpus_card(manifest, rows, schema.names, lic, language)
        (tmp / "README.md").write_text(card, encoding="utf-8")
        shutil.copyfile(manifest_path, tmp / "manifest.json")
        write_json(tmp / MARKER, _marker("corpus", files.root, manifest["identity"]))
    return out


def _marker(kind: str, source: Path, identity: str | None) -> dict:
    return {"kind": kind, "source": str(source), "identity": identity, "cdsynth": __version__}


def checkpoint_results(checkpoint: Path, results_dir: Path | None = None) -> list[dict]:
    """The evaluation summaries of a checkpoint (RUN/eval/step_N/<task>.json), by task."""
    folder = results_dir or eval_dir(checkpoint.parent) / checkpoint.name
    return [read_json(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def _workdir(run: Path) -> Path | None:
    """The workdir of a run folder WORKDIR/runs/NAME, or None for a folder elsewhere."""
    return run.parent.parent if run.parent.name == "runs" else None


def real_corpus(run: Path) -> str:
    """The real corpus's train split, from WORKDIR/corpus/manifest.json when it is there."""
    workdir = _workdir(run)
    path = workdir / "corpus" / "manifest.json" if workdir else None
    if path is None or not path.is_file():
        return "the train split of the study's corpus (its manifest was not found)"
    m = read_json(path)
    train = m.get("counts", {}).get("train", {})
    return (
        f"the train split of corpus `{m['config'].get('source')}` ({train.get('documents')} "
        f"documents, {train.get('words')} words; identity `{m.get('identity')}`)"
    )


def synthetic_corpus(run: Path, cfg: dict) -> str:
    """The synthetic corpus mixed in (its identity when its manifest is there), or none."""
    if not cfg.get("synthetic"):
        return "none"
    workdir = _workdir(run)
    path = Path(cfg["synthetic"])
    if not path.is_absolute() and workdir is not None:
        path = workdir / path
    ident = (
        read_json(path / "manifest.json").get("identity")
        if (path / "manifest.json").is_file()
        else None
    )
    return f"`{cfg['synthetic']}` (identity `{ident}`) at ratio {cfg.get('synthetic_ratio')}"


def model_card(checkpoint: Path, results: list[dict], lic: str, language: str) -> str:
    """README.md of an exported checkpoint: metadata with the model-index, then the training
    config, the data and the evaluation results."""
    from huggingface_hub import EvalResult, ModelCardData

    run = checkpoint.parent
    record = run / "train_config.json"
    train = read_json(record) if record.is_file() else {}
    cfg = train.get("config", {})
    state = (
        read_json(checkpoint_state(checkpoint)) if checkpoint_state(checkpoint).is_file() else {}
    )
    name = f"{cfg.get('name', run.name)}-{checkpoint.name}"
    evals = [
        EvalResult(
            task_type="text-generation",
            dataset_type=r["task"],
            dataset_name=r["task"],
            metric_type=r["metric"],
            metric_value=r["score"],
        )
        for r in results
        if isinstance(r.get("score"), (int, float))
    ]
    data = ModelCardData(
        license=lic,
        language=[language],
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=["cdsynth", "synthetic-data", "llama"],
        model_name=name,
        eval_results=evals or None,
    )
    rows, synth = state.get("rows_total"), state.get("synthetic_rows_total")
    share = f"{synth / rows:.4f}" if rows and synth is not None else "unknown"
    lines = [
        f"# {name}",
        "",
        "A LLaMA-architecture causal LM trained from scratch by "
        "[cdsynth](https://arxiv.org/abs/2510.08245) (checkpoint "
        f"`{checkpoint.name}` of run `{run.name}`).",
        "",
        "## Data",
        "",
        f"- real text: {real_corpus(run)}",
        f"- synthetic text: {synthetic_corpus(run, cfg)}",
        f"- rows seen: {rows}, of them synthetic: {synth} (share {share}); tokens seen: "
        f"{state.get('tokens_seen')}",
        f"- step {state.get('step')}, train loss {state.get('train_loss')}, eval loss "
        f"{state.get('eval_loss')}; run identity `{train.get('identity')}`",
        "",
        "## Evaluation results",
        "",
    ]
    if results:
        lines += ["| task | metric | score | items |", "|---|---|---|---|"]
        lines += [
            f"| {r['task']} | {r['metric']} | {r['score']:.6g} | {r.get('n_items')} |"
            for r in results
        ]
    else:
        lines.append("None recorded (run `cdsynth eval` on the run, then export again).")
    lines += ["", "## Training config", "", _fence(cfg), "", "## Citation", "", "```bibtex"]
    lines += [CITATION, "```", ""]
    return card_text(data, lines)


def export_model(
    checkpoint: str | Path,
    out: str | Path,
    results_dir: str | Path | None = None,
    lic: str = "other",
    language: str = "en",
) -> Path:
    """A checkpoint (RUN/step_N) as a Hub model folder: weights, config, tokenizer, card."""
    checkpoint, out = Path(checkpoint), Path(out)
    if (
        not (checkpoint / "config.json").is_file()
        or not (checkpoint / "model.safetensors").is_file()
    ):
        raise UserError(f"no checkpoint in {checkpoint} (config.json and model.safetensors)")
    results = checkpoint_results(checkpoint, Path(results_dir) if results_dir else None)
    _writable_out(out)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        for name in MODEL_FILES:
            if (checkpoint / name).is_file():
                shutil.copyfile(checkpoint / name, tmp / name)
        card = model_card(checkpoint, results, lic, language)
        (tmp / "README.md").write_text(card, encoding="utf-8")
        state = checkpoint_state(checkpoint)
        ident = read_json(state).get("identity") if state.is_file() else None
        write_json(tmp / MARKER, _marker("model", checkpoint, ident))
    return out


def export_cd_generate(out: str | Path) -> Path:
    """The custom_generate folder (CD in transformers' generate), to push as a model repo."""
    out = Path(out)
    _writable_out(out)
    with atomic_path(out) as tmp:
        shutil.copytree(CD_GENERATE_DIR, tmp, ignore=shutil.ignore_patterns("__pycache__"))
        write_json(tmp / MARKER, _marker("custom_generate", CD_GENERATE_DIR, None))
    return out


def push(out: str | Path, repo_id: str, repo_type: str, private: bool = False) -> str:
    """Upload an exported folder to the Hub (creating the repo); returns its URL. Needs a login
    (`hf auth login` or $HF_TOKEN); failures are one line."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

    api = HfApi()
    try:
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(out), repo_id=repo_id, repo_type=repo_type)
    except (HfHubHTTPError, LocalTokenNotFoundError, OSError, ValueError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(
            f"cannot upload {out} to {repo_id}: {first} (log in: hf auth login)"
        ) from None
    return str(url)
