"""Perplexity and bits per byte on held-out documents (the eval split).

Each document is `<s>` + its tokens + `</s>` (EOS only if the tokenizer has one), cut into
windows of the model's context; every token after the first of each window is predicted.
Perplexity = exp(total NLL / predicted tokens); bits per byte = total NLL / ln 2 / UTF-8 bytes
of the documents, which does not depend on the tokenizer.
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
