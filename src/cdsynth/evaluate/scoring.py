"""One batched log-prob scorer that every task uses.

    scorer = Scorer.from_pretrained("runs/demo/runs/baseline/step_300")
    scorer.sentence_logprobs(["The cat sleeps.", "The cat sleep."])       # whole sentences
    scorer.continuation_logprobs([("Box 1 contains ", "the hat.")])        # context + continuation

A request is (context, continuation); its score is the summed log-probability (natural log)
of the continuation's tokens given everything before them. Requests are sorted by length,
right-padded into batches, and results come back in input order.

Where the first token of a whole sentence gets its probability from (`bos_rule`):
- "bos" (default, the BabyLM 2025 causal rule): every input starts with the tokenizer's BOS
  token (`<s>`), so the first word is scored as p(w1 | <s>);
- "eos": the EOS token is the context of an empty prefix, as lm-evaluation-harness does;
- "none": nothing is prepended; the first token of an input has no probability and is left
  out of the sum (so a one-token sentence scores 0).
`leading_space=True` puts a space before every whole sentence, as lm-eval's BLiMP task does
(`target_delimiter: " "`); with a byte-level BPE without prefix space this changes the first
token, so compare scorers only under the same rule.

Tokenization follows lm-eval: trailing spaces of the context move to the continuation, and
the continuation's tokens are those of tokenize(context + continuation) after the tokens of
tokenize(context), so merges across the boundary count for the continuation. An item
longer than the model's context loses the start of its context
(as in lm-eval).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import UserError

BOS_RULES = ("bos", "eos", "none")


class Scorer:
    def __init__(
        self,
        model,
        tokenizer,
        batch_size: int = 64,
        bos_rule: str = "bos",
        leading_space: bool = False,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ):
        if bos_rule not in BOS_RULES:
            raise UserError(f"bos_rule must be one of {', '.join(BOS_RULES)}, got '{bos_rule}'")
        self.model = model.to(device, dtype).eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.bos_rule = bos_rule
        self.leading_space = leading_space
        self.device = torch.device(device)
        start = {"bos": tokenizer.bos_token_id, "eos": tokenizer.eos_token_id, "none": None}
        self.start_ids = [] if start[bos_rule] is None else [start[bos_rule]]
        if bos_rule != "none" and not self.start_ids:
            raise UserError(f"the tokenizer has no {bos_rule.upper()} token; use bos_rule=none")
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.max_len = getattr(model.config, "max_position_embeddings", None) or 1 << 30

    @classmethod
    def from_pretrained(cls, path: str | Path, **kwargs) -> "Scorer":
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").is_file():
            raise UserError(f"no model at {path} (expected config.json)")
        if not any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")):
            raise UserError(f"the checkpoint {path} has no tokenizer (tokenizer.json)")
        tok = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
        return cls(model, tok, **kwargs)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def request(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Token ids of (context, continuation), with the start token of the bos_rule. Trailing
        spaces of the context move to the continuation (as in lm-eval)."""
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        ctx = self.encode(context) if context else []
        whole = self.encode(context + continuation)
        if whole[: len(ctx)] != ctx:  # a merge across the boundary: fall back to separate
            whole = ctx + self.encode(continuation)
        return self.start_ids + ctx, whole[len(ctx) :]

    def sentence_logprobs(self, sentences: Sequence[str]) -> np.ndarray:
        prefix = " " if self.leading_space else ""
        return self.score_ids([self.request("", prefix + s) for s in sentences])

    def continuation_logprobs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        return self.score_ids([self.request(c, x) for c, x in pairs])

    def token_logprobs(self, requests: Sequence[tuple[list[int], list[int]]]) -> list[np.ndarray]:
        """Per-token log-probabilities of each continuation (float64 arrays), in input order.

        Requests that share a context of more than one token (EWoK's two targets, the five
        entity-tracking options) run that context once and reuse its KV cache."""
        out: list[np.ndarray | None] = [None] * len(requests)
        by_context: dict[tuple, list[int]] = {}
        for i, (ctx, _) in enumerate(requests):
            by_context.setdefault(tuple(ctx), []).append(i)
        groups, single = [], []
        for ctx, idx in by_context.items():
            fits = len(ctx) + max(len(requests[i][1]) for i in idx) <= self.max_len
            if len(idx) > 1 and len(ctx) > 1 and fits:
                groups.append((list(ctx), idx))
            else:
                single.extend(idx)
        single.sort(key=lambda i: -len(requests[i][0]) - len(requests[i][1]))
        for start in range(0, len(single), self.batch_size):
            idx = single[start : start + self.batch_size]
            for i, lp in zip(idx, self._batch([requests[i] for i in idx]), strict=True):
                out[i] = lp
        groups.sort(key=lambda g: -len(g[0]))
        start = 0
        while start < len(groups):  # batches of about batch_size continuations
            end, rows = start, 0
            while end < len(groups) and (
                end == start or rows + len(groups[end][1]) <= self.batch_size
            ):
                rows += len(groups[end][1])
                end += 1
            for i, lp in self._shared_batch(groups[start:end], requests):
                out[i] = lp
            start = end
        return out  # type: ignore[return-value]

    @torch.no_grad()
    def _shared_batch(self, groups, requests):
        """Contexts once with a cache, then every continuation of each context after it."""
        dev = self.device
        Lc = max(len(c) for c, _ in groups)
        ctx_ids = torch.full((len(groups), Lc), self.pad_id, dtype=torch.long)
        ctx_mask = torch.zeros((len(groups), Lc), dtype=torch.long)
        for g, (c, _) in enumerate(groups):
            ctx_ids[g, : len(c)] = torch.tensor(c)
            ctx_mask[g, : len(c)] = 1
        first = self.model(
            input_ids=ctx_ids.to(dev), attention_mask=ctx_mask.to(dev), use_cache=True
        )
        last = torch.stack([first.logits[g, len(c) - 1] for g, (c, _) in enumerate(groups)])
        last = torch.log_softmax(last.float(), dim=-1)
        rows = [(g, i) for g, (_, idx) in enumerate(groups) for i in idx]
        Lo = max(1, max(len(requests[i][1]) for _, i in rows))
        cont_ids = torch.full((len(rows), Lo), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), Lc + Lo), dtype=torch.long)
        pos = torch.zeros((len(rows), Lo), dtype=torch.long)
        for r, (g, i) in enumerate(rows):
            cont = requests[i][1]
            cont_ids[r, : len(cont)] = torch.tensor(cont, dtype=torch.long)
            mask[r, :Lc] = ctx_mask[g]
            mask[r, Lc : Lc + len(cont)] = 1
            pos[r] = len(groups[g][0]) + torch.arange(Lo)
        cache = first.past_key_values
        cache.reorder_cache(torch.tensor([g for g, _ in rows], device=dev))
        logits = self.model(
            input_ids=cont_ids.to(dev),
            attention_mask=mask.to(dev),
            position_ids=pos.to(dev),
            past_key_values=cache,
        ).logits
        for r, (g, i) in enumerate(rows):
            cont = requests[i][1]
            if not cont:
                yield i, np.zeros(0)
                continue
            lp0 = last[g, cont[0]].reshape(1)
            rest = torch.log_softmax(logits[r, : len(cont) - 1].float(), dim=-1)
            tail = rest.gather(1, torch.tensor(cont[1:], device=dev)[:, None])[:, 0]
            yield i, torch.cat([lp0, tail]).double().cpu().numpy()

    def score_ids(self, requests: Sequence[tuple[list[int], list[int]]]) -> np.ndarray:
        """Summed continuation log-probabilities, in input order."""
        return np.array([float(lp.sum()) for lp in self.token_logprobs(requests)])

    @torch.no_grad()
    def _batch(self, reqs: list[tuple[list[int], list[int]]]) -> list[np.ndarray]:
        seqs, fitted = [], []
        for ctx, cont in reqs:
            if len(cont) >= self.max_len:
                raise UserError(
                    f"a continuation of {len(cont)} tokens exceeds the model context "
                    f"({self.max_len})"
                )
            ctx = ctx[max(0, len(ctx) + len(cont) - self.max_len) :]  # drop the oldest context
            fitted.append((ctx, cont))
            seqs.append(ctx + cont)
        reqs = fitted
        L = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), L), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), L), dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, : len(s)] = torch.tensor(s)
            mask[r, : len(s)] = 1
        logits = self.model(
            input_ids=ids.to(self.device), attention_mask=mask.to(self.device)
        ).logits
        out = []
        for r, (ctx, cont) in enumerate(reqs):
            # token at position p is predicted by the logits at p - 1; a token at position 0
            # (bos_rule=none, empty context) has no prediction and is skipped
            first = max(len(ctx), 1)
            end = len(ctx) + len(cont)
            if end <= first:
                out.append(np.zeros(0))
                continue
            rows = logits[r, first - 1 : end - 1].float()
            lp = torch.log_softmax(rows, dim=-1)
            targets = ids[r, first:end].to(lp.device)
            out.append(lp.gather(1, targets[:, None])[:, 0].double().cpu().numpy())
        return out
