"""Perplexity and bits per byte on held-out documents (the eval split), two ways.

`score` (task "perplexity"), per document: each document is `<s>` + its tokens + `</s>` (EOS
only if the tokenizer has one), cut into windows of the model's context; every token after the
first of each window is predicted. Perplexity = exp(total NLL / predicted tokens); bits per
byte = total NLL / ln 2 / UTF-8 bytes of the documents, which does not depend on the tokenizer.

`score_packed` (task "perplexity_packed"), as the paper's code computes it
(janulm/contrastive-decoding-for-language-modeling, evals/evaluate_checkpoint.py with
data/data_processing.py): the same wrapped documents are concatenated in groups of 1000
(`group_texts_batch_size`), each group is cut into blocks of 1024 tokens (`seq_len`; here at
most the model's context) whose last, shorter block stands for the paper's padded one, and
every token after the first of each block is predicted. The score is exp(total NLL /
predicted tokens) over the blocks; the paper's own average (the mean over batches of 8 blocks
of each batch's mean loss, weighted by the blocks in the batch) is kept as
extra["paper_perplexity"]: the two differ only through the short last block of each group.
"""

from __future__ import annotations

import math

import numpy as np

from .result import TaskResult


def score(scorer, documents: list[dict], window: int = 1024) -> TaskResult:
    tok = scorer.tokenizer
    window = min(window, scorer.max_len)
    reqs, owners = [], []
    for d, doc in enumerate(documents):
        ids = scorer.start_ids + scorer.encode(doc["text"])
        if tok.eos_token_id is not None:
            ids.append(tok.eos_token_id)
        for start in range(0, len(ids) - 1, window - 1):
            chunk = ids[start : start + window]
            if len(chunk) >= 2:
                reqs.append((chunk[:1], chunk[1:]))
                owners.append(d)
    lps = scorer.token_logprobs(reqs)
    nll = np.zeros(len(documents))
    count = np.zeros(len(documents), dtype=np.int64)
    for d, lp in zip(owners, lps, strict=False):
        nll[d] -= lp.sum()
        count[d] += len(lp)
    n_bytes = sum(len(doc["text"].encode("utf-8")) for doc in documents)
    ppl = math.exp(nll.sum() / max(count.sum(), 1))
    bpb = nll.sum() / math.log(2) / max(n_bytes, 1)
    items = [
        {
            "id": str(doc.get("id", i)),
            "subtask": "eval",
            "nll": float(n),
            "tokens": int(c),
            "bytes": len(doc["text"].encode("utf-8")),
        }
        for i, (doc, n, c) in enumerate(zip(documents, nll, count, strict=False))
    ]
    return TaskResult(
        "perplexity",
        "perplexity",
        ppl,
        {"bits_per_byte": bpb},
        items,
        extra={"bits_per_byte": bpb, "tokens": int(count.sum())},
    )


def packed_blocks(documents: list[list[int]], block_len: int, group: int = 1000) -> list[list[int]]:
    """The paper's `group_texts`: per group of `group` documents, their token ids concatenated
    and cut into `block_len` blocks (the last one of a group may be shorter)."""
    blocks = []
    for g in range(0, len(documents), group):
        stream = [t for ids in documents[g : g + group] for t in ids]
        blocks += [stream[i : i + block_len] for i in range(0, len(stream), block_len)]
    return blocks


def batch_mean_loss(nll: np.ndarray, count: np.ndarray, batch_size: int = 8) -> float:
    """The paper's average: each batch's mean loss (HF: NLL / predicted tokens in the batch),
    repeated once per block of the batch, then the mean over blocks."""
    losses = []
    for b in range(0, len(nll), batch_size):
        n = count[b : b + batch_size].sum()
        size = len(nll[b : b + batch_size])
        losses += [nll[b : b + batch_size].sum() / n if n else float("nan")] * size
    return float(np.mean(losses)) if losses else float("nan")


def score_packed(
    scorer, documents: list[dict], block_len: int = 1024, group: int = 1000, batch_size: int = 8
) -> TaskResult:
    tok = scorer.tokenizer
    block_len = min(block_len, scorer.max_len)
    eos = [tok.eos_token_id] if tok.eos_token_id is not None else []
    ids = [scorer.start_ids + scorer.encode(doc["text"]) + eos for doc in documents]
    blocks = packed_blocks(ids, block_len, group)
    scored = [b for b, ids in enumerate(blocks) if len(ids) >= 2]
    lps = scorer.token_logprobs([(blocks[b][:1], blocks[b][1:]) for b in scored])
    nll = np.zeros(len(blocks))
    count = np.zeros(len(blocks), dtype=np.int64)
    for b, lp in zip(scored, lps, strict=True):
        nll[b], count[b] = -lp.sum(), len(lp)
    ppl = math.exp(nll.sum() / max(count.sum(), 1))
    items = [
        {"id": f"block/{b}", "subtask": "eval", "nll": float(n), "tokens": int(c)}
        for b, (n, c) in enumerate(zip(nll, count, strict=True))
    ]
    return TaskResult(
        "perplexity_packed",
        "perplexity",
        ppl,
        {},
        items,
        extra={
            "paper_perplexity": math.exp(batch_mean_loss(nll, count, batch_size)),
            "tokens": int(count.sum()),
            "blocks": len(blocks),
            "block_len": block_len,
            "group_documents": group,
            "batch_size": batch_size,
        },
    )
