"""Where seed prefixes start: whole documents, or the paper's chunks of them.

    seed_chunks(rows)   # the paper's expand_seed_dataset: one row per chunk of a seed document

The paper (janulm/contrastive-decoding-for-language-modeling @cdddeb6, data/load_datasets.py,
`expand_seed_dataset`) does not take one prefix per seed document: it splits every document
of at least `min_words` words at sentence ends followed by a line break (`[.!?]\\n`) and
regroups the pieces into chunks of `min_words` to about `2 x min_words` words, each of which
then gives a prefix. Documents under `min_words` words stay whole; a document's tail under
`min_words` words is dropped. Its quirks are kept, so that prefixes start where the paper's
start: the pieces are rejoined with ".\\n" whatever the mark was, and the short documents come
first, then the chunks of the long ones, each group in document order.
"""

from __future__ import annotations

import re

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
