"""Corpus sources, cleaning and the deterministic train / eval / seeds split (by document).

    docs, stats = load_documents(cfg)          # cleaned, deduplicated documents
    splits = split_documents(docs, cfg)        # {"train": [...], "eval": [...], "seeds": [...]}
    write_corpus(cfg, out_dir)                 # both, plus JSONL files and a manifest

Each split file is JSONL with `{"id": int, "text": str, "source": str}`; `datasets` reads it
as is. `source` names where a document came from (see `source_of`), so that samples drawn
from a split (seed prefixes, perplexity documents) can be stratified by it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from .config import CorpusConfig, to_dict
from .errors import UserError
from .fileio import (
    atomic_path,
    file_hash,
    parse_jsonl,
    read_jsonl,
    stable_hash,
    warn,
    write_json,
    write_jsonl,
    write_manifest,
)
from .identity import identities, output_identity
from .locks import output_lock

SPLITS = ("train", "eval", "seeds")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BLANK_LINES = re.compile(r"\n[ \t]*\n+")


@dataclass
class SourceStats:
    files: int = 0
    raw_documents: int = 0
    empty_dropped: int = 0
    duplicates_dropped: int = 0
    invalid_utf8_files: list[str] = field(default_factory=list)


def clean_text(text: str) -> str:
    """NFC, no control characters (newlines and tabs kept), unified newlines, stripped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    return _CONTROL.sub("", text).strip()


def read_text_file(path: Path, stats: SourceStats) -> str:
    data = path.read_bytes()
    if b"\x00" in data:
        raise UserError(
            f"{path} looks like a binary file (it has NUL bytes); remove it from the corpus"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        stats.invalid_utf8_files.append(str(path))
        return data.decode("utf-8", errors="replace")


def _files(path: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not path.exists():
        raise UserError(f"corpus path not found: {path}")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in suffixes)
    if not files:
        raise UserError(f"no {'/'.join(suffixes)} files under {path}")
    return files


SUFFIXES = {"text": (".txt",), "jsonl": (".jsonl", ".json"), "parquet": (".parquet",)}


def corpus_identity(cfg: CorpusConfig) -> str:
    """The identity the corpus records: the settings its source reads (the study graph adds
    the source files' fingerprint, `source_fingerprint`, to the corpus stage's)."""
    return output_identity("corpus", to_dict(cfg), {})


def corpus_identities(cfg: CorpusConfig) -> tuple[str, ...]:
    """The identities a current corpus may record (this rule's and older rules')."""
    return identities("corpus", to_dict(cfg), {})


def source_fingerprint(cfg: CorpusConfig) -> str | None:
    """A hash of the corpus's source files (names and contents), so that an edited corpus
    file makes the corpus stage stale; None for the built-in story world and Hub datasets
    (their config names them fully) or a path that does not exist (the stage reports it)."""
    if cfg.source not in SUFFIXES or not cfg.path or not Path(cfg.path).exists():
        return None
    root = Path(cfg.path)
    try:
        files = _files(root, SUFFIXES[cfg.source])
    except UserError:
        return None
    return stable_hash(
        [[str(f.relative_to(root)) if root.is_dir() else f.name, file_hash(f)] for f in files]
    )


def source_of(file: Path, root: Path) -> str:
    """A file's source: the first component of its path under the corpus root (a top-level
    file's name, or the folder holding it), or the file's own name when the root is a file."""
    if root.is_file():
        return file.name
    return file.relative_to(root).parts[0]


def _raw_documents(cfg: CorpusConfig, stats: SourceStats) -> list[tuple[str, str]]:
    """(text, source) of every document as read, before cleaning."""
    if cfg.source == "storyworld":
        from .storyworld import generate_stories

        return [(t, "storyworld") for t in generate_stories(cfg.seed, cfg.storyworld_words)]
    if cfg.source == "hf":
        if not cfg.path:
            raise UserError("corpus.path must name a Hugging Face dataset id when corpus.source=hf")
        import datasets

        ds = datasets.load_dataset(cfg.path, cfg.hf_config, split=cfg.hf_split)
        if cfg.text_field not in ds.column_names:
            raise UserError(
                f"dataset {cfg.path} has no column '{cfg.text_field}' (columns: "
                f"{', '.join(ds.column_names)}); set corpus.text_field to the text column"
            )
        return [(t, cfg.path) for t in ds[cfg.text_field]]
    if not cfg.path:
        raise UserError(f"corpus.path is required when corpus.source={cfg.source}")
    path = Path(cfg.path)
    docs: list[tuple[str, str]] = []
    if cfg.source == "text":
        for f in _files(path, SUFFIXES["text"]):
            stats.files += 1
            text = read_text_file(f, stats)
            parts = [text] if cfg.documents == "file" else _BLANK_LINES.split(text)
            docs.extend((t, source_of(f, path)) for t in parts)
    elif cfg.source == "jsonl":
        for f in _files(path, SUFFIXES["jsonl"]):
            stats.files += 1
            for n, row in enumerate(parse_jsonl(read_text_file(f, stats), str(f)), 1):
                if not isinstance(row.get(cfg.text_field), str):
                    raise UserError(
                        f"{f}: row {n}: no string field '{cfg.text_field}' (fields: "
                        f"{', '.join(map(str, row))}); set corpus.text_field to the text field"
                    )
                docs.append((row[cfg.text_field], source_of(f, path)))
    else:  # parquet
        import pyarrow.parquet as pq

        for f in _files(path, SUFFIXES["parquet"]):
            stats.files += 1
            try:
                table = pq.read_table(f)
            except Exception as e:  # pyarrow raises several types for a bad file
                raise UserError(f"{f} is not a readable Parquet file ({type(e).__name__})") from e
            if cfg.text_field not in table.column_names:
                raise UserError(
                    f"{f} has no column '{cfg.text_field}' (columns: "
                    f"{', '.join(table.column_names)}); set corpus.text_field to the text column"
                )
            for n, t in enumerate(table.column(cfg.text_field).to_pylist(), 1):
                if t is not None and not isinstance(t, str):
                    raise UserError(
                        f"{f}: row {n}: column '{cfg.text_field}' holds {type(t).__name__}, "
                        "not text; set corpus.text_field to the text column"
                    )
                docs.append((t or "", source_of(f, path)))  # a null: an empty document, counted
    return docs


def load_documents(cfg: CorpusConfig) -> tuple[list[str], SourceStats]:
    """Read the source, clean every document, drop empty and exact-duplicate ones."""
    docs, _, stats = load_sourced_documents(cfg)
    return docs, stats


def load_sourced_documents(cfg: CorpusConfig) -> tuple[list[str], list[str], SourceStats]:
    """As `load_documents`, with each document's source (a duplicate keeps the first's)."""
    stats = SourceStats()
    raw = _raw_documents(cfg, stats)
    stats.raw_documents = len(raw)
    seen: set[str] = set()
    docs: list[str] = []
    sources: list[str] = []
    for text, source in raw:
        text = clean_text(text)
        if not text:
            stats.empty_dropped += 1
        elif text in seen:
            stats.duplicates_dropped += 1
        else:
            seen.add(text)
            docs.append(text)
            sources.append(source)
    if not docs:
        raise UserError(f"the corpus is empty: no non-blank documents in {cfg.path or cfg.source}")
    return docs, sources, stats


def subset_documents(
    docs: list[str], sources: list[str], max_words: int, seed: int
) -> tuple[list[str], list[str]]:
    """A fixed subset of about `max_words` words drawn from every source: each source gets
    words in proportion to its share of the corpus, filled with its documents in a seeded
    random order (keyed by text, so independent of read order) while they fit, at least one
    document per source. Kept documents stay in their original order."""
    total = sum(len(d.split()) for d in docs)
    if max_words >= total:
        return docs, sources
    keep: set[int] = set()
    for source in sorted(set(sources)):
        idx = [i for i, s in enumerate(sources) if s == source]
        words = sum(len(docs[i].split()) for i in idx)
        budget = max_words * words / total
        order = sorted(idx, key=lambda i: hashlib.sha256(f"{seed}\x01{docs[i]}".encode()).digest())
        used = 0
        for i in order:
            n = len(docs[i].split())
            if used and used + n > budget:
                continue
            keep.add(i)
            used += n
    kept = sorted(keep)
    return [docs[i] for i in kept], [sources[i] for i in kept]


def split_documents(
    docs: list[str], cfg: CorpusConfig, sources: list[str] | None = None
) -> dict[str, list[dict]]:
    """Disjoint split by document. A document's split depends on its text and the seed only
    through a keyed hash order, so it does not depend on the order documents were read in.
    With `sources` (one per document) each row also carries its `source`."""
    fr_eval, fr_seeds = cfg.eval_fraction, cfg.seeds_fraction
    n = len(docs)
    n_eval, n_seeds = round(n * fr_eval), round(n * fr_seeds)
    if (fr_eval > 0 and n_eval == 0) or (fr_seeds > 0 and n_seeds == 0) or n - n_eval - n_seeds < 1:
        raise UserError(
            f"the corpus is too small to split: {n} documents for fractions "
            f"eval={fr_eval}, seeds={fr_seeds}; add text or change the fractions"
        )
    order = sorted(
        range(n), key=lambda i: hashlib.sha256(f"{cfg.seed}\x00{docs[i]}".encode()).digest()
    )
    parts = {
        "eval": sorted(order[:n_eval]),
        "seeds": sorted(order[n_eval : n_eval + n_seeds]),
        "train": sorted(order[n_eval + n_seeds :]),
    }

    def row(i: int) -> dict:
        return (
            {"id": i, "text": docs[i]}
            if sources is None
            else {
                "id": i,
                "text": docs[i],
                "source": sources[i],
            }
        )

    return {name: [row(i) for i in idx] for name, idx in parts.items()}


def count_words(rows: list[dict]) -> int:
    return sum(len(r["text"].split()) for r in rows)


def write_corpus(cfg: CorpusConfig, out_dir: str | Path, log=print) -> dict:
    """Load, clean, split and write `out_dir/{train,eval,seeds}.jsonl` atomically."""
    docs, sources, stats = load_sourced_documents(cfg)
    if cfg.max_words is not None:
        docs, sources = subset_documents(docs, sources, cfg.max_words, cfg.seed)
    splits = split_documents(docs, cfg, sources)
    counts = {
        name: {
            "documents": len(rows),
            "words": count_words(rows),
            "sources": {s: sum(r["source"] == s for r in rows) for s in sorted(set(sources))},
        }
        for name, rows in splits.items()
    }
    out_dir = Path(out_dir)
    with output_lock(out_dir), atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        for name in SPLITS:
            write_jsonl(tmp / f"{name}.jsonl", splits[name])
        write_json(tmp / "stats.json", {"counts": counts, "source": stats.__dict__})
        write_manifest(
            tmp, config=to_dict(cfg), inputs={}, identity=corpus_identity(cfg), counts=counts
        )
    if stats.invalid_utf8_files:
        warn(
            f"{len(stats.invalid_utf8_files)} file(s) had invalid UTF-8, decoded with "
            f"replacement characters (first: {stats.invalid_utf8_files[0]})"
        )
    log(
        f"corpus: {stats.raw_documents} documents read, {stats.empty_dropped} empty and "
        f"{stats.duplicates_dropped} duplicate dropped"
    )
    for name in SPLITS:
        log(
            f"  {name:5s} {counts[name]['documents']:>8d} documents "
            f"{counts[name]['words']:>10d} words"
        )
    return counts


def read_split(corpus_dir: str | Path, name: str) -> list[dict]:
    path = Path(corpus_dir) / f"{name}.jsonl"
    if not path.is_file():
        raise UserError(f"corpus split not found: {path} (run `cdsynth corpus` first)")
    return read_jsonl(path)
