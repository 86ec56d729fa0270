"""The pipeline's stages over one experiment folder (`workdir`).

    workdir/corpus/{train,eval,seeds}.jsonl   cdsynth corpus
    workdir/tokenizer/                        cdsynth tokenizer
    workdir/blocks/<split>-<hash>/            packed on demand by training
    workdir/runs/<train.name>/step_N/         cdsynth train

Each stage reads what the stage before wrote; a stage whose output already exists with the
same config hash is skipped.
"""

from __future__ import annotations

from pathlib import Path

from .blocks import pack_texts
from .config import ExperimentConfig, to_dict
from .corpus import read_split, write_corpus
from .errors import UserError
from .fileio import file_hash, read_json, stable_hash


class Workspace:
    def __init__(self, workdir: str | Path):
        self.root = Path(workdir)

    @property
    def corpus(self) -> Path:
        return self.root / "corpus"

    @property
    def tokenizer(self) -> Path:
        return self.root / "tokenizer"

    def run(self, name: str) -> Path:
        return self.root / "runs" / name


def _done(folder: Path, config: dict) -> bool:
    m = folder / "manifest.json"
    return m.is_file() and read_json(m).get("config") == config


def run_corpus(cfg: ExperimentConfig, log=print, force: bool = False) -> Path:
    ws = Workspace(cfg.workdir)
    if not force and _done(ws.corpus, to_dict(cfg.corpus)):
        log(f"corpus: up to date in {ws.corpus}")
        return ws.corpus
    write_corpus(cfg.corpus, ws.corpus, log=log)
    return ws.corpus


def run_tokenizer(cfg: ExperimentConfig, log=print, force: bool = False) -> Path:
    from .tokenizer import save_tokenizer, train_tokenizer

    ws = Workspace(cfg.workdir)
    train_file = ws.corpus / "train.jsonl"
    rows = read_split(ws.corpus, "train")
    inputs = {"train.jsonl": file_hash(train_file)}
    m = ws.tokenizer / "manifest.json"
    if not force and m.is_file():
        old = read_json(m)
        if old.get("config") == to_dict(cfg.tokenizer) and old.get("inputs") == inputs:
            log(f"tokenizer: up to date in {ws.tokenizer}")
            return ws.tokenizer
    tok = train_tokenizer((r["text"] for r in rows), cfg.tokenizer)
    save_tokenizer(tok, ws.tokenizer, cfg.tokenizer, inputs)
    log(f"tokenizer: {len(tok)} tokens -> {ws.tokenizer}")
    return ws.tokenizer


def ensure_blocks(ws: Workspace, name: str, inputs: list[Path], texts, block_len: int,
                  log=print) -> Path:
    """Pack `texts` with the workspace tokenizer unless an identical packing exists."""
    from .tokenizer import load_tokenizer

    key = stable_hash(
        [file_hash(ws.tokenizer / "tokenizer.json"), [file_hash(f) for f in inputs], block_len]
    )
    folder = ws.root / "blocks" / f"{name}-{key}"
    if not (folder / "blocks.json").is_file():
        meta = pack_texts(load_tokenizer(ws.tokenizer), list(texts()), block_len, folder)
        log(f"blocks: {name}: {meta['n_blocks']} blocks of {block_len} ({meta['n_tokens']} tokens)")
    return folder


def synthetic_texts(path: str | Path) -> tuple[list[Path], list[str]]:
    """The text of a synthetic corpus: a .jsonl/.parquet file or a folder of them (`text`)."""
    from .config import CorpusConfig
    from .corpus import load_documents

    p = Path(path)
    if p.is_dir() and (p / "synthetic.parquet").is_file():  # a `cdsynth generate` output
        p = p / "synthetic.parquet"
    files = [p] if p.is_file() else sorted(p.glob("*.parquet")) or sorted(p.glob("*.jsonl"))
    if not files:
        raise UserError(f"no synthetic text (.parquet or .jsonl) found at {p}")
    source = "parquet" if files[0].suffix == ".parquet" else "jsonl"
    docs, _ = load_documents(CorpusConfig(source=source, path=str(p)))
    return files, docs


def run_train(cfg: ExperimentConfig, log=print, progress: bool = True) -> Path:
    from .distributed import init_distributed, pick_device
    from .train import check_train_config, train

    ws = Workspace(cfg.workdir)
    tc = cfg.train
    check_train_config(tc)
    if not (ws.tokenizer / "tokenizer.json").is_file():
        raise UserError(f"no tokenizer in {ws.tokenizer} (run `cdsynth tokenizer` first)")
    dist_info = init_distributed(pick_device(tc.device))
    folders = {}
    # rank 0 packs the blocks first; the others wait, then find them in place
    for turn in (0, 1):
        if (turn == 0) == dist_info.is_main:
            for split in ("train", "eval"):
                folders[split] = ensure_blocks(
                    ws, split, [ws.corpus / f"{split}.jsonl"],
                    lambda s=split: (r["text"] for r in read_split(ws.corpus, s)),
                    tc.block_len, log,
                )
            if tc.synthetic:
                syn = Path(tc.synthetic)
                files, docs = synthetic_texts(syn if syn.is_absolute() else ws.root / syn)
                folders["synthetic"] = ensure_blocks(
                    ws, "synthetic", files, lambda: docs, tc.block_len, log
                )
        if dist_info.world_size > 1:
            import torch.distributed as dist

            dist.barrier()
    out = ws.run(tc.name)
    train(
        tc,
        ws.tokenizer,
        folders["train"],
        out,
        eval_blocks=folders["eval"],
        synthetic_blocks=folders.get("synthetic"),
        log=log,
        progress=progress,
    )
    return out


def run_generate(cfg: ExperimentConfig, shard: tuple[int, int] | None = None, log=print,
                 progress: bool = True) -> Path:
    """Generate the synthetic corpus `generate.name`; under torchrun each rank is a shard."""
    import os

    from .generate import run_generation

    if shard is None:
        shard = (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)))
    return run_generation(cfg.generate, cfg.workdir, shard=shard, log=log, progress=progress)
