"""Token blocks: documents wrapped in <s> ... </s>, concatenated and packed into fixed-length
rows of a numpy memmap; deterministic per-epoch shuffling; a real/synthetic mixture sampler.

    pack_texts(tokenizer, texts, block_len=256, out_dir="blocks/train")
    blocks = Blocks("blocks/train")              # blocks.rows([0, 5]) -> (2, 256) int64
    sampler = MixtureSampler(blocks, synth, ratio=0.3, batch_size=16, seed=0)
    rows, is_synth = sampler.batch(step)         # a pure function of `step`

The last block is filled with <pad>, which the trainer masks out of the loss, so every token
of the split appears exactly once per epoch.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow.parquet as pq

from .corpus import clean_text
from .errors import UserError
from .fileio import atomic_path, file_hash, parse_jsonl, read_json, write_json
from .identity import blocks_identity
from .locks import output_lock
from .tokenizer import BOS_ID, EOS_ID, PAD_ID
from .workspace import SyntheticFiles, Workspace


def synthetic_documents(path: str | Path) -> tuple[list[Path], list[str], dict]:
    """The documents of a synthetic corpus and what became of its text.

    `path`: a `cdsynth generate` folder (its synthetic.parquet), a .parquet/.jsonl file, or a
    folder of them. A row with a `segments` column (the EOS-separated pieces of one
    completion) gives one document per segment, as the paper's code splits generated text at
    <s>/</s>; a row without it is one document (`text`). Nothing is dropped silently: empty
    segments are the only ones left out and are counted, exact duplicates are kept and counted.
    Returns (files, documents, counts)."""
    p = Path(path)
    if p.is_dir() and SyntheticFiles(p).parquet.is_file():
        p = SyntheticFiles(p).parquet
    files = [p] if p.is_file() else sorted(p.glob("*.parquet")) or sorted(p.glob("*.jsonl"))
    if not files:
        raise UserError(f"no synthetic text (.parquet or .jsonl) found at {p}")
    docs: list[str] = []
    counts = {"rows": 0, "segments": 0, "empty_segments": 0, "duplicate_segments": 0}
    seen: set[str] = set()
    for f in files:
        if f.suffix == ".parquet":
            try:
                rows = pq.read_table(f).to_pylist()
            except Exception as e:  # pyarrow raises several types for a bad file
                raise UserError(f"{f} is not a readable Parquet file ({type(e).__name__})") from e
        else:
            rows = list(parse_jsonl(f.read_text(encoding="utf-8"), str(f)))
        for n, row in enumerate(rows, 1):
            pieces = row.get("segments")
            if pieces is None:
                if not isinstance(row.get("text"), str):
                    raise UserError(f"{f}: row {n}: no string field 'text' (or 'segments')")
                pieces = [row["text"]]
            counts["rows"] += 1
            for piece in pieces:
                text = clean_text(piece)
                if not text:
                    counts["empty_segments"] += 1
                    continue
                counts["segments"] += 1
                counts["duplicate_segments"] += text in seen
                seen.add(text)
                docs.append(text)
    if not docs:
        raise UserError(f"the synthetic corpus at {p} holds no text")
    return files, docs, counts


def blocks_folder(ws: Workspace, name: str, inputs: list[Path], block_len: int) -> Path:
    """Where the packing of the text files `inputs` with the workspace tokenizer into
    `block_len` lives: a folder named by the packing's identity (`blocks_identity`), shared
    by every run that packs the same."""
    key = blocks_identity(
        file_hash(ws.tokenizer / "tokenizer.json"), [file_hash(f) for f in inputs], block_len
    )
    return ws.blocks(name, key)


def pack_texts(
    tokenizer, texts: Sequence[str], block_len: int, out_dir: str | Path, extra: dict | None = None
) -> dict:
    """Tokenize `texts`, each wrapped in <s> ... </s>, pack into (n_blocks, block_len) rows and
    write them atomically. `extra` is recorded in blocks.json beside the counts."""
    if block_len < 2:
        raise UserError("block_len must be at least 2")
    chunks: list[np.ndarray] = []
    batch = 2048
    for start in range(0, len(texts), batch):
        enc = tokenizer(list(texts[start : start + batch]), add_special_tokens=False)["input_ids"]
        for ids in enc:
            chunks.append(np.asarray([BOS_ID, *ids, EOS_ID], dtype=np.int64))
    stream = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
    n_tokens = int(stream.size)
    if n_tokens < block_len:
        raise UserError(
            f"the text is too small for block_len={block_len}: only {n_tokens} tokens; "
            "use more text or a shorter train.block_len"
        )
    n_blocks = math.ceil(n_tokens / block_len)
    vocab = len(tokenizer)
    dtype = np.uint16 if vocab <= np.iinfo(np.uint16).max + 1 else np.uint32
    meta = {
        "n_blocks": n_blocks,
        "block_len": block_len,
        "n_tokens": n_tokens,
        "n_documents": len(texts),
        "dtype": np.dtype(dtype).name,
        "pad_id": PAD_ID,
        **(extra or {}),
    }
    # blocks are shared by runs: a second packer of the same folder waits, then writes the same
    with output_lock(out_dir, wait=True), atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        arr = np.lib.format.open_memmap(
            tmp / "blocks.npy", mode="w+", dtype=dtype, shape=(n_blocks, block_len)
        )
        flat = arr.reshape(-1)
        flat[:n_tokens] = stream
        flat[n_tokens:] = PAD_ID
        arr.flush()
        del arr, flat
        write_json(tmp / "blocks.json", meta)
    return meta


class Blocks:
    """Read-only view of a packed block folder."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        if not (folder / "blocks.json").is_file():
            raise UserError(f"no packed blocks in {folder}")
        self.folder = folder
        self.meta = read_json(folder / "blocks.json")
        self.array = np.load(folder / "blocks.npy", mmap_mode="r", allow_pickle=False)

    def __len__(self) -> int:
        return self.array.shape[0]

    @property
    def block_len(self) -> int:
        return self.array.shape[1]

    def rows(self, indices) -> np.ndarray:
        return np.asarray(self.array[np.asarray(indices, dtype=np.int64)], dtype=np.int64)


@lru_cache(maxsize=8)
def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order blocks are visited in during `epoch`: a permutation keyed by (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def stream_indices(n: int, seed: int, start: int, count: int) -> np.ndarray:
    """Block indices at positions [start, start + count) of an endless shuffled stream."""
    pos = np.arange(start, start + count, dtype=np.int64)
    out = np.empty(count, dtype=np.int64)
    for epoch in np.unique(pos // n):
        sel = pos // n == epoch
        out[sel] = epoch_order(n, seed, int(epoch))[pos[sel] % n]
    return out


def synthetic_rows_before(step: int, ratio: float, batch_size: int) -> int:
    """Synthetic rows in all batches before `step`: round(ratio * batch_size * step).

    Rounding the running total (not each batch) keeps the realised share within one row of
    `ratio` at every step; the paper's int(16 * 0.3) = 4 rows per batch gives 25%, not 30%.
    """
    return math.floor(ratio * batch_size * step + 0.5)


class MixtureSampler:
    """Batches of `batch_size` rows, a share `ratio` of them synthetic, as a function of step
    (`ratio` in [0, 1], > 0 only with `synthetic`: the training config checks both)."""

    def __init__(
        self, real: Blocks, synthetic: Blocks | None, ratio: float, batch_size: int, seed: int
    ):
        if synthetic is not None and synthetic.block_len != real.block_len:
            raise UserError("real and synthetic blocks have different block lengths")
        self.real, self.synthetic = real, synthetic
        self.ratio, self.batch_size, self.seed = ratio, batch_size, seed

    def counts(self, step: int) -> tuple[int, int]:
        """(real, synthetic) rows in the batch of `step`."""
        s0 = synthetic_rows_before(step, self.ratio, self.batch_size)
        s1 = synthetic_rows_before(step + 1, self.ratio, self.batch_size)
        return self.batch_size - (s1 - s0), s1 - s0

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows (batch_size, block_len) and a bool mask of which rows are synthetic."""
        n_real, n_syn = self.counts(step)
        s0 = synthetic_rows_before(step, self.ratio, self.batch_size)
        r0 = self.batch_size * step - s0
        parts = [self.real.rows(stream_indices(len(self.real), self.seed, r0, n_real))]
        if n_syn:
            idx = stream_indices(len(self.synthetic), self.seed + 1, s0, n_syn)
            parts.append(self.synthetic.rows(idx))
        rows = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return rows, np.arange(self.batch_size) >= n_real
