"""The pipeline's stages, each a function from a config and the folders before it to its own
folder (paths: `workspace`):

    run_corpus(cfg)      -> workdir/corpus/        cdsynth corpus
    run_tokenizer(cfg)   -> workdir/tokenizer/     cdsynth tokenizer
    run_train(cfg)       -> workdir/runs/NAME/     cdsynth train (packs its blocks first)
    run_generate(cfg)    -> workdir/synthetic/NAME cdsynth generate

A stage whose output already exists with the same config and inputs is skipped; one that died
half way resumes.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch.distributed as dist

from .blocks import pack_texts, synthetic_documents
from .config import ExperimentConfig, to_dict
from .corpus import read_split, write_corpus
from .distributed import env_rank, init_distributed, pick_device
from .errors import UserError
from .fileio import file_hash, read_json, stable_hash
from .generate import run_generation
from .locks import output_lock
from .tokenizer import load_tokenizer, save_tokenizer, train_tokenizer
from .train import check_same_run, check_train_config, train
from .workspace import Workspace


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
    with output_lock(ws.tokenizer):
        save_tokenizer(tok, ws.tokenizer, cfg.tokenizer, inputs)
    log(f"tokenizer: {len(tok)} tokens -> {ws.tokenizer}")
    return ws.tokenizer


def blocks_folder(ws: Workspace, name: str, inputs: list[Path], block_len: int) -> Path:
    """Where the packing of `inputs` with the workspace tokenizer into `block_len` lives."""
    key = stable_hash(
        [file_hash(ws.tokenizer / "tokenizer.json"), [file_hash(f) for f in inputs], block_len]
    )
    return ws.blocks(name, key)


def ensure_blocks(
    ws: Workspace, name: str, inputs: list[Path], texts, block_len: int, log=print, extra=None
) -> Path:
    """Pack `texts` with the workspace tokenizer unless an identical packing exists."""
    folder = blocks_folder(ws, name, inputs, block_len)
    if not (folder / "blocks.json").is_file():
        meta = pack_texts(load_tokenizer(ws.tokenizer), list(texts()), block_len, folder, extra)
        log(f"blocks: {name}: {meta['n_blocks']} blocks of {block_len} ({meta['n_tokens']} tokens)")
    return folder
    with output_lock(folder, wait=True):  # shared by runs: wait for another packer, then reuse
        if not (folder / "blocks.json").is_file():
            meta = pack_texts(load_tokenizer(ws.tokenizer), list(texts()), block_len, folder, extra)
            log(
                f"blocks: {name}: {meta['n_blocks']} blocks of {block_len} "
                f"({meta['n_tokens']} tokens)"
            )
    return folder


def run_train(cfg: ExperimentConfig, log=print, progress: bool = True) -> Path:
    ws = Workspace(cfg.workdir)
    tc = cfg.train
    check_train_config(tc)
    if not (ws.tokenizer / "tokenizer.json").is_file():
        raise UserError(f"no tokenizer in {ws.tokenizer} (run `cdsynth tokenizer` first)")
    dist_info = init_distributed(pick_device(tc.device))
    if tc.batch_size % dist_info.world_size:
        raise UserError(
            f"train.batch_size {tc.batch_size} is not divisible by {dist_info.world_size} processes"
        )
    out = ws.run(tc.name)
    check_same_run(tc, out)
    for split in ("train", "eval"):
        if not (ws.corpus / f"{split}.jsonl").is_file():
            raise UserError(
                f"corpus split not found: {ws.corpus / split}.jsonl (run `cdsynth corpus` first)"
            )
    synthetic = None
    if tc.synthetic and dist_info.is_main:  # read (and so checked) before anything is written
        syn = Path(tc.synthetic)
        synthetic = synthetic_documents(syn if syn.is_absolute() else ws.root / syn)
    folders = {}
    # rank 0 packs the blocks first; the others wait, then find them in place
    for turn in (0, 1):
        if (turn == 0) == dist_info.is_main:
            for split in ("train", "eval"):
                folders[split] = ensure_blocks(
                    ws,
                    split,
                    [ws.corpus / f"{split}.jsonl"],
                    lambda s=split: (r["text"] for r in read_split(ws.corpus, s)),
                    tc.block_len,
                    log,
                )
            if synthetic is not None:
                files, docs, counts = synthetic
                log(
                    f"synthetic text: {counts['rows']} rows -> {counts['segments']} documents "
                    f"({counts['empty_segments']} empty segments left out, "
                    f"{counts['duplicate_segments']} exact duplicates kept)"
                )
                folders["synthetic"] = ensure_blocks(
                    ws, "synthetic", files, lambda: docs, tc.block_len, log, {"synthetic": counts}
                )
        if dist_info.world_size > 1:
            dist.barrier()
    # one writer per run: rank 0 writes, the other ranks follow it
    with output_lock(out) if dist_info.is_main else contextlib.nullcontext():
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


def run_generate(
    cfg: ExperimentConfig, shard: tuple[int, int] | None = None, log=print, progress: bool = True
) -> Path:
    """Generate the synthetic corpus `generate.name`; under torchrun each rank is a shard."""
    if shard is None:
        info = env_rank()
        shard = (info.rank, info.world_size)
    return run_generation(cfg.generate, cfg.workdir, shard=shard, log=log, progress=progress)
