"""Prefix choice and token budgets: which documents give the prefixes, and how many.

    rows, path = prefix_documents(cfg, workdir)    # generate.prefix_source: a split or a file
    rows = seed_chunks(rows)                       # the paper's chunks of the seeds documents
    chosen, record = select_prefix_documents(cfg, rows, str(path), real_tokens)
    prefixes = encode_prefixes(tokenizer, [r["text"] for r in chosen], prefix_tokens, bos)
    items = work_items(len(prefixes), completions) # (prefix id, completion id), prefix-major

Where seed prefixes start (`seed_chunks`): whole documents, or the paper's chunks of them.
The paper (janulm/contrastive-decoding-for-language-modeling @cdddeb6, data/load_datasets.py,
`expand_seed_dataset`) does not take one prefix per seed document: it splits every document
of at least `min_words` words at sentence ends followed by a line break (`[.!?]\\n`) and
regroups the pieces into chunks of `min_words` to about `2 x min_words` words, each of which
then gives a prefix. Documents under `min_words` words stay whole; a document's tail under
`min_words` words is dropped. Its quirks are kept, so that prefixes start where the paper's
start: the pieces are rejoined with ".\\n" whatever the mark was, and the short documents come
first, then the chunks of the long ones, each group in document order.

How many prefixes (`select_prefix_documents`): all documents, `generate.num_prefixes`, or as
many as `generate.corpus_tokens` new tokens need (a number, or the real train split's size
under GOOD's tokenizer); a sample is seeded and stratified by the documents' source.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from ..config import GenerateConfig
from ..errors import UserError
from ..fileio import file_hash, parse_jsonl
from ..identity import is_current, read_record, real_tokens_identity
from ..tokenizer import BOS_ID
from ..workspace import SyntheticFiles, Workspace

SENTENCE_BREAK = re.compile(r"[.!?]\n")


def chunk_text(text: str, min_words: int = 100) -> list[str]:
    """The chunks of one document of >= `min_words` words (whitespace-separated), in order.
    A closing mark adds a "." word to the last chunk, as in the paper.

    >>> [len(c.split()) for c in chunk_text(("w " * 150 + ".\\n") * 3, 100)]
    [150, 150, 151]
    """
    chunks: list[str] = []
    current, words = "", 0
    for piece in SENTENCE_BREAK.split(text):
        n = len(piece.split())
        if words >= min_words and words + n > 2 * min_words:
            chunks.append(current)
            current, words = piece, n
        else:
            current = f"{current}.\n{piece}" if current else piece
            words += n
    if current and words >= min_words:
        chunks.append(current)
    return chunks


def seed_chunks(rows: list[dict], min_words: int = 100) -> list[dict]:
    """The paper's seed rows: documents under `min_words` words whole, then the chunks of the
    others. Each row keeps its document's other fields; its id is "<document id>/<chunk>"."""
    short = [r for r in rows if len(r["text"].split()) < min_words]
    out = [{**r, "id": f"{r['id']}/0"} for r in short]
    for r in rows:
        if len(r["text"].split()) >= min_words:
            chunks = chunk_text(r["text"], min_words)
            out += [{**r, "id": f"{r['id']}/{k}", "text": c} for k, c in enumerate(chunks)]
    return out


def encode_prefixes(
    tokenizer, texts: list[str], prefix_tokens: int, bos: int | None = BOS_ID
) -> list[list[int]]:
    """BOS (when the tokenizer has one) plus the first `prefix_tokens` tokens of each text."""
    enc = tokenizer(texts, add_special_tokens=False)["input_ids"]
    start = [] if bos is None else [bos]
    return [[*start, *ids[:prefix_tokens]] for ids in enc]


def load_prefixes(
    tokenizer, seeds_rows: list[dict], prefix_tokens: int, num_prefixes: int | None
) -> list[list[int]]:
    """<s> plus the first `prefix_tokens` tokens of the first `num_prefixes` documents (all
    when None). A helper for benches; `run_generation` samples documents (`choose_documents`)."""
    rows = seeds_rows[:num_prefixes] if num_prefixes else seeds_rows
    if not rows:
        raise UserError("the seeds split is empty: no prefixes to generate from")
    return encode_prefixes(tokenizer, [r["text"] for r in rows], prefix_tokens)


def read_prompt_file(path: Path) -> list[dict]:
    """Prompts as documents: a .txt file has one per line (blank lines skipped), a .jsonl file
    (any other name: the config admits .txt and .jsonl only) one {"text": ...} object per
    line (optional "id" and "source"). Ids default to the prompt's index (0-based, blank
    lines not counted)."""
    if not path.is_file():
        raise UserError(f"generate.prefix_file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(
            f"generate.prefix_file {path} is not UTF-8 text (byte {e.start}); "
            "give a .txt or .jsonl file of prompts"
        ) from None
    if path.suffix == ".txt":
        rows = [{"text": line} for line in text.splitlines() if line.strip()]
    else:
        rows = parse_jsonl(text, str(path), required=("text",))
        for n, r in enumerate(rows):
            if not isinstance(r["text"], str):
                raise UserError(f"{path}: prompt {n} has a non-string 'text'")
        rows = [r for r in rows if r["text"].strip()]
    rows = [{**r, "id": r.get("id", n)} for n, r in enumerate(rows)]
    ids = [r["id"] for r in rows]
    kinds = {type(i) for i in ids}
    if not (kinds <= {int} or kinds <= {str}):  # the corpus's id column has one type
        n = next(n for n, i in enumerate(ids) if type(i) is not type(ids[0]))
        raise UserError(
            f"{path}: prompt ids must be all integers or all strings (prompt 0 has "
            f"{type(ids[0]).__name__} id {ids[0]!r}, prompt {n} {type(ids[n]).__name__} "
            f"{ids[n]!r}); an unset id is the prompt's index, an integer"
        )
    if len(set(map(str, ids))) != len(ids):
        raise UserError(f"{path}: prompt ids are not unique")
    if not rows:
        raise UserError(f"{path} holds no prompts")
    return rows


def prefix_documents(cfg: GenerateConfig, workdir: str | Path) -> tuple[list[dict], Path]:
    """The documents prefixes come from (`generate.prefix_source`), and their file."""
    from ..corpus import read_split

    ws = Workspace(workdir)
    if cfg.prefix_source == "file":
        path = ws.resolve(cfg.prefix_file)
        return read_prompt_file(path), path
    split = "seeds" if cfg.prefix_source == "seed_chunks" else str(cfg.prefix_source)
    rows = read_split(ws.corpus, split)
    if cfg.prefix_source == "seed_chunks":
        rows = seed_chunks(rows)
    if not rows:
        raise UserError(f"the {cfg.prefix_source} split is empty: no prefixes to generate from")
    return rows, ws.split(split)


def stratum_counts(sizes: list[int], n: int) -> list[int]:
    """How many of `n` draws each stratum gets: proportional to its size (largest remainder),
    at least one each when n >= the number of strata, never more than its size.

    >>> stratum_counts([60, 30, 10], 10), stratum_counts([98, 1, 1], 5)
    ([6, 3, 1], [3, 1, 1])
    """
    if not 0 <= n <= sum(sizes):
        raise ValueError(f"cannot draw {n} of {sum(sizes)}")
    quotas = [n * s / sum(sizes) for s in sizes]
    counts = [math.floor(q) for q in quotas]
    by_fraction = sorted(range(len(sizes)), key=lambda i: (counts[i] - quotas[i], i))
    for i in by_fraction[: n - sum(counts)]:
        counts[i] += 1
    if n >= len(sizes):  # one each: taken from the stratum furthest above its quota
        for i in [i for i, c in enumerate(counts) if c == 0 and sizes[i] > 0]:
            j = max((j for j, c in enumerate(counts) if c > 1), key=lambda j: counts[j] - quotas[j])
            counts[j] -= 1
            counts[i] += 1
    return counts


def choose_documents(rows: list[dict], n: int, seed: int) -> list[dict]:
    """A seeded random sample of `n` documents, stratified by their `source` field (missing:
    one stratum), sorted by document id. Each stratum's sample depends on (seed, its name,
    its documents) only."""
    strata: dict[str, list[dict]] = {}
    for r in rows:
        strata.setdefault(str(r.get("source", "")), []).append(r)
    names = sorted(strata)
    counts = stratum_counts([len(strata[s]) for s in names], n)
    chosen = []
    for name, k in zip(names, counts, strict=True):
        docs = sorted(strata[name], key=_doc_order)
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        chosen += [docs[i] for i in rng.choice(len(docs), size=k, replace=False)]
    return sorted(chosen, key=_doc_order)


def _doc_order(row: dict):
    i = row["id"]
    return (0, i, "") if isinstance(i, int) else (1, 0, str(i))


def prefixes_needed(corpus_tokens: int, completions: int, new_tokens: int) -> int:
    """Prefixes for a corpus of `corpus_tokens` new tokens: ceil(tokens / (completions x new))."""
    return math.ceil(corpus_tokens / (completions * new_tokens))


def count_tokens(tokenizer, texts: list[str], chunk: int = 2000) -> int:
    """Tokens of `texts` under `tokenizer`, without special tokens."""
    n = 0
    for i in range(0, len(texts), chunk):
        n += sum(
            len(x) for x in tokenizer(texts[i : i + chunk], add_special_tokens=False)["input_ids"]
        )
    return n


def real_train_tokens(
    tokenizer, tokenizer_path: Path, workdir: str | Path, out: Path
) -> tuple[int, dict | None]:
    """Tokens of the real train split (workdir/corpus/train.jsonl) under GOOD's tokenizer,
    cached in `out/real_tokens.json` by the split's and the tokenizer's hashes; the record
    to write there when counted afresh (None when read from it)."""
    from ..corpus import read_split

    train = Workspace(workdir).split("train")
    if not train.is_file():
        raise UserError(f"generate.corpus_tokens=real needs the train split {train}")
    tok_files = sorted(tokenizer_path.glob("tokenizer*")) + sorted(tokenizer_path.glob("*.txt"))
    ident = real_tokens_identity(file_hash(train), [file_hash(f) for f in tok_files])
    cached = read_record(SyntheticFiles(out).real_tokens)
    if is_current(cached, ident):
        return int(cached["tokens"]), None
    n = count_tokens(tokenizer, [r["text"] for r in read_split(train.parent, "train")])
    return n, {"identity": ident, "tokens": n}


def select_prefix_documents(
    cfg: GenerateConfig, rows: list[dict], where: str, real_tokens: int | None
) -> tuple[list[dict], dict]:
    """The documents to take prefixes from, and a record of how they were chosen."""
    wanted, why = cfg.num_prefixes, f"generate.num_prefixes={cfg.num_prefixes}"
    if cfg.corpus_tokens is not None:
        tokens = real_tokens if cfg.corpus_tokens == "real" else int(cfg.corpus_tokens)
        wanted = prefixes_needed(tokens, cfg.completions, cfg.new_tokens)
        why = (
            f"generate.corpus_tokens={cfg.corpus_tokens} ({tokens} tokens) needs {wanted} "
            f"prefixes at {cfg.completions} completions x {cfg.new_tokens} new tokens"
        )
    if wanted is not None and wanted > len(rows):
        raise UserError(
            f"{why}, but {where} has only {len(rows)} documents; use fewer, or a larger "
            "generate.prefix_source"
        )
    if wanted is None or wanted == len(rows):
        chosen, method = rows, "all documents"
    else:
        chosen, method = choose_documents(rows, wanted, cfg.seed), "stratified random by source"
    strata = Counter(str(r.get("source", "")) for r in chosen)
    record = {
        "source": cfg.prefix_source,
        "file": where,
        "method": method,
        "seed": cfg.seed,
        "available": len(rows),
        "chosen": len(chosen),
        "per_source": dict(strata),
        "document_ids": [r["id"] for r in chosen],
    }
    if cfg.corpus_tokens is not None:
        record["corpus_tokens"] = real_tokens if cfg.corpus_tokens == "real" else cfg.corpus_tokens
    return chosen, record


def work_items(n_prefixes: int, completions: int) -> np.ndarray:
    """All (prefix id, completion id) pairs, prefix-major: (n_prefixes * completions, 2)."""
    i, j = np.meshgrid(np.arange(n_prefixes), np.arange(completions), indexing="ij")
    return np.stack([i.ravel(), j.ravel()], axis=1)
