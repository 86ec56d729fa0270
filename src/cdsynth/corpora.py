"""What the report needs from the corpora on disk, read with the corpus and tokenizer modules
(which the report, the summary and the renderer do not import): the real train split, each
synthetic corpus's diagnosed rows decoded, three samples per condition with the per-token
contrast generation recorded, the segment counts generation recorded, and the blocks in one
epoch of the real train split. The report stage (`graph`) calls it and passes the result on.

    write_report(cfg, methods, corpus_inputs(cfg))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from .analysis import diagnostic_rows, sample_rows
from .blocks import blocks_folder
from .config import ExperimentConfig
from .corpus import read_split
from .fileio import read_json
from .report.summary import CorpusInputs
from .study import study_conditions
from .tokenizer import load_tokenizer
from .workspace import SyntheticFiles, Workspace

SYNTHETIC_TOTALS = ("segments", "empty_segments", "duplicate_segments")


def synthetic_totals(out_dir: Path) -> dict:
    """The corpus manifest's segment counts (those present) for the diagnostics table."""
    m = out_dir / "manifest.json"
    totals = read_json(m).get("totals", {}) if m.is_file() else {}
    return {k: totals[k] for k in SYNTHETIC_TOTALS if k in totals}


def train_blocks(cfg: ExperimentConfig) -> int | None:
    """Blocks in one epoch of the real train split, as the trainer packed it (None: not
    packed)."""
    ws = Workspace(cfg.workdir)
    f = blocks_folder(ws, "train", [ws.corpus / "train.jsonl"], cfg.train.block_len)
    return read_json(f / "blocks.json")["n_blocks"] if (f / "blocks.json").is_file() else None


def _sample(name: str, row: dict, source: str, tok) -> dict:
    """One sample as the report shows it: where it comes from, its prefix and generated text,
    and its per-token contrast where generation recorded it (the report loads no model)."""
    contrast = None
    if row.get("token_contrast") is not None:
        contrast = [
            [piece, float(c)]
            for t, c in zip(row["token_ids"], row["token_contrast"], strict=True)
            if (piece := tok.decode([t], skip_special_tokens=True))  # specials hidden
        ]
    return {
        "condition": name,
        "where": f"source {source}, prefix {row['prefix_id']}, completion {row['completion_id']}",
        "prefix": tok.decode(list(row["prefix_token_ids"]), skip_special_tokens=True),
        "generated": tok.decode(list(row["token_ids"]), skip_special_tokens=True),
        "contrast": contrast,
    }


def corpus_inputs(cfg: ExperimentConfig) -> CorpusInputs:
    """Every corpus sampled at one size n (the real row: n random train documents; each
    synthetic corpus: one completion of each of n prefixes, without the prefix), three
    samples per condition, and the train split's block count."""
    ws = Workspace(cfg.workdir)
    train_docs = [r["text"] for r in read_split(ws.corpus, "train")]
    synthetic_rows = {}
    for cond in study_conditions(cfg):
        path = SyntheticFiles(ws.synthetic(cond.name)).parquet
        if path.is_file():
            synthetic_rows[cond.name] = pq.read_table(path).to_pylist()
    n = min(
        [cfg.study.diagnostics_samples, len(train_docs)]
        + [len({r["prefix_id"] for r in rows}) for rows in synthetic_rows.values()]
    )
    rng = np.random.default_rng(0)
    real_sample = [train_docs[i] for i in sorted(rng.permutation(len(train_docs))[:n])]
    tok = load_tokenizer(ws.tokenizer)
    synthetic: dict = {}
    samples: list[dict] = []
    for name, rows in synthetic_rows.items():
        diag = [rows[i] for i in diagnostic_rows(rows, n)]
        synthetic[name] = {
            "texts": [tok.decode(r["token_ids"], skip_special_tokens=True) for r in diag],
            "ended_with_eos": [r["ended_with_eos"] for r in diag],
            "totals": synthetic_totals(ws.synthetic(name)),
        }
        sources = [str(r.get("source") or "corpus") for r in rows]  # recorded by generate
        for i in sample_rows(sources, [r["prefix_id"] for r in rows], 3, seed=0):
            samples.append(_sample(name, rows[i], sources[i], tok))
    return CorpusInputs(train_docs, real_sample, synthetic, samples, train_blocks(cfg))
