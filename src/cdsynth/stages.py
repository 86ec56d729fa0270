"""The pipeline's stages, each a function from a config and the folders before it to its own
folder (paths: `workspace`):

    run_corpus(cfg)      -> workdir/corpus/        cdsynth corpus
    run_tokenizer(cfg)   -> workdir/tokenizer/     cdsynth tokenizer
    run_train(cfg)       -> workdir/runs/NAME/     cdsynth train (packs its blocks first)
    run_generate(cfg)    -> workdir/synthetic/NAME cdsynth generate

A stage whose output records the identity it would have now (`identity.py`: its config's
fields that matter and its inputs' fingerprints) is skipped; one that died half way resumes.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch.distributed as dist

from .blocks import blocks_folder, pack_texts, synthetic_documents
from .config import ExperimentConfig
from .corpus import corpus_identities, read_split, write_corpus
from .distributed import env_rank
from .errors import UserError
from .fileio import file_hash
from .generate import run_generation
from .identity import is_current, read_record
from .locks import output_lock
from .tokenizer import load_tokenizer, save_tokenizer, tokenizer_identity, train_tokenizer
from .train import check_same_run, join_processes, train
from .workspace import Workspace


def run_corpus(cfg: ExperimentConfig, log=print, force: bool = False) -> Path:
    ws = Workspace(cfg.workdir)
    current = is_current(read_record(ws.corpus / "manifest.json"), corpus_identities(cfg.corpus))
    if not force and current:
        log(f"corpus: up to date in {ws.corpus}")
        return ws.corpus
    write_corpus(cfg.corpus, ws.corpus, log=log)
    return ws.corpus


def run_tokenizer(cfg: ExperimentConfig, log=print, force: bool = False) -> Path:
    ws = Workspace(cfg.workdir)
    train_file = ws.corpus / "train.jsonl"
    rows = read_split(ws.corpus, "train")
    inputs = {"train.jsonl": file_hash(train_file)}
    ident = tokenizer_identity(cfg.tokenizer, inputs)
    if not force and is_current(read_record(ws.tokenizer / "manifest.json"), ident):
        log(f"tokenizer: up to date in {ws.tokenizer}")
        return ws.tokenizer
    tok = train_tokenizer((r["text"] for r in rows), cfg.tokenizer)
    with output_lock(ws.tokenizer):
        save_tokenizer(tok, ws.tokenizer, cfg.tokenizer, inputs)
    log(f"tokenizer: {len(tok)} tokens -> {ws.tokenizer}")
    return ws.tokenizer


def ensure_blocks(
    ws: Workspace, name: str, inputs: list[Path], texts, block_len: int, log=print, extra=None
) -> Path:
    """Pack `texts` with the workspace tokenizer unless an identical packing exists (its
    folder is named by the packing's identity: finding blocks.json there is finding it)."""
    folder = blocks_folder(ws, name, inputs, block_len)
    if not (folder / "blocks.json").is_file():
        meta = pack_texts(load_tokenizer(ws.tokenizer), list(texts()), block_len, folder, extra)
        log(f"blocks: {name}: {meta['n_blocks']} blocks of {block_len} ({meta['n_tokens']} tokens)")
    return folder


def run_train(cfg: ExperimentConfig, log=print, progress: bool = True) -> Path:
    ws = Workspace(cfg.workdir)
    tc = cfg.train
    if not (ws.tokenizer / "tokenizer.json").is_file():
        raise UserError(f"no tokenizer in {ws.tokenizer} (run `cdsynth tokenizer` first)")
    dist_info = join_processes(tc)
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
            dist_info=dist_info,
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
