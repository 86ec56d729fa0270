"""One batched log-prob scorer that every task uses.

    scorer = Scorer.from_pretrained("runs/demo/runs/baseline/step_300")
    scorer.sentence_logprobs(["The cat sleeps.", "The cat sleep."])       # whole sentences
    scorer.continuation_logprobs([("Box 1 contains ", "the hat.")])        # context + continuation

A request is (context, continuation); its score is the summed log-probability (natural log)
of the continuation's tokens given everything before them; results come back in input order.

How requests are batched (`packing`):
- "tree" (default): requests are packed into prefix trees (`prefix_tree`), so a prefix that
  several requests share (`<s>`, "The", an EWoK context, an entity-tracking prefix) runs
  once; each row is a chunk of the tree under an ancestor-only attention mask with depths as
  position ids, and the output layer and its log-softmax run once per distinct prefix. On
  BLiMP this computes about half the positions of padded batches. At construction the
  scorer checks that the model honours this (position_ids and a 4D mask; a few sequences
  scored both ways must agree) and, if not, says so and uses "padded";
- "padded": the plain way, as lm-eval does: requests sorted by length, right-padded, one
  full forward per batch.
`batch_tokens` bounds the positions per forward in both. On a CPU, a LLaMA model's body and
output layer run on a copy of its weights packed for oneDNN (`packed_llama`), made when the
scorer is made: build a new scorer after changing the weights.

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

from ..engine.hf import load_causal_lm
from ..engine.kernels import can_pack
from ..engine.packed_llama import PackedLlama, packed_output_layer
from ..errors import UserError
from .prefix_tree import model_inputs, pack

BOS_RULES = ("bos", "eos", "none")
PACKINGS = ("tree", "padded")
CHUNK_TOKENS = 128  # nodes per prefix-tree row: longer rows spend more on masked attention
HEAD_ROWS = 512  # nodes per output-layer product: the logits stay in cache for the softmax


class Scorer:
    def __init__(
        self,
        model,
        tokenizer,
        batch_tokens: int = 2048,
        bos_rule: str = "bos",
        leading_space: bool = False,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        packing: str = "tree",
        log=print,
    ):
        if bos_rule not in BOS_RULES:
            raise UserError(f"bos_rule must be one of {', '.join(BOS_RULES)}, got '{bos_rule}'")
        if packing not in PACKINGS:
            raise UserError(f"packing must be one of {', '.join(PACKINGS)}, got '{packing}'")
        if batch_tokens < 1:
            raise UserError(f"batch_tokens must be >= 1, got {batch_tokens}")
        self.model = model.to(device, dtype).eval()
        self.tokenizer = tokenizer
        self._backend = getattr(tokenizer, "backend_tokenizer", None)  # a fast tokenizer's own
        self.batch_tokens = batch_tokens
        self.bos_rule = bos_rule
        self.leading_space = leading_space
        self.dtype = dtype
        self.device = torch.device(device)
        start = {"bos": tokenizer.bos_token_id, "eos": tokenizer.eos_token_id, "none": None}
        self.start_ids = [] if start[bos_rule] is None else [start[bos_rule]]
        if bos_rule != "none" and not self.start_ids:
            raise UserError(f"the tokenizer has no {bos_rule.upper()} token; use bos_rule=none")
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.max_len = getattr(model.config, "max_position_embeddings", None) or 1 << 30
        self.body, self.head = self._body_and_head()
        self.packing = packing
        if packing == "tree" and not self._tree_matches_padded():
            log(
                f"{type(model).__name__}: scores under a tree attention mask differ from a plain "
                "forward (the model ignores position_ids or 4D masks, or changes its logits "
                "after the output layer); scoring in padded batches instead"
            )
            self.packing = "padded"

    @classmethod
    def from_pretrained(cls, path: str | Path, **kwargs) -> "Scorer":
        from transformers import AutoTokenizer

        path = Path(path)
        if not (path / "config.json").is_file():
            raise UserError(f"no model at {path} (expected config.json)")
        if not any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")):
            raise UserError(f"the checkpoint {path} has no tokenizer (tokenizer.json)")
        tok = AutoTokenizer.from_pretrained(str(path))
        # safetensors only (a pickled .bin is refused in one line), no silently random weights
        model = load_causal_lm(path, torch.float32)
        return cls(model, tok, **kwargs)

    def encode(self, text: str) -> list[int]:
        if self._backend is not None:  # the same ids as tokenizer(text), ~3x faster per call
            return self._backend.encode(text, add_special_tokens=False).ids
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
        """Per-token log-probabilities of each continuation (float64 arrays), in input order."""
        seqs, first = [], []
        for ctx, cont in requests:
            if len(cont) >= self.max_len:
                raise UserError(
                    f"a continuation of {len(cont)} tokens exceeds the model context "
                    f"({self.max_len})"
                )
            ctx = ctx[max(0, len(ctx) + len(cont) - self.max_len) :]  # drop the oldest context
            seqs.append(list(ctx) + list(cont))
            # the token at position 0 (bos_rule=none, empty context) has no prediction
            first.append(max(len(ctx), 1))
        run = self._tree_batch if self.packing == "tree" else self._padded_batch
        return self._collect(run, seqs, first)

    @staticmethod
    def _collect(run, seqs, first) -> list[np.ndarray]:
        """Each sequence's scored log-probs (positions first[i] ..) from the (sequence ids,
        positions, log-probs) that `run(seqs, first)` yields in any order."""
        sizes = np.array([max(0, len(s) - f) for s, f in zip(seqs, first, strict=True)])
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        start = offsets[:-1] - np.array(first, dtype=np.int64)  # flat index = start[i] + j
        flat = np.zeros(offsets[-1])
        for seq_ids, positions, lp in run(seqs, first):
            seq_ids = np.asarray(seq_ids, dtype=np.int64)
            flat[start[seq_ids] + np.asarray(positions, dtype=np.int64)] = lp
        return np.split(flat, offsets[1:-1])

    def score_ids(self, requests: Sequence[tuple[list[int], list[int]]]) -> np.ndarray:
        """Summed continuation log-probabilities, in input order."""
        return np.array([float(lp.sum()) for lp in self.token_logprobs(requests)])

    def _body_and_head(self):
        """(ids, positions, 4D mask) -> final hidden states, and hidden -> logits: the packed
        LLaMA forward on a CPU (see `packed_llama`), else the model's own modules."""
        base, head = self.model.base_model, self.model.get_output_embeddings()

        def body(ids, positions, mask):
            return base(
                input_ids=ids, position_ids=positions, attention_mask=mask
            ).last_hidden_state

        if not can_pack(self.device, self.dtype):
            return body, head
        if PackedLlama.supports(self.model):
            body = PackedLlama(self.model)
        return body, packed_output_layer(head, HEAD_ROWS)

    def _tree_matches_padded(self) -> bool:
        """Score a few sequences that share prefixes both ways (a model whose forward ignores
        position_ids or a 4D mask, or post-processes its logits, fails this)."""
        vocab = self.model.get_output_embeddings().weight.shape[0]
        a, b, c, d, e = (k % vocab for k in (5, 6, 7, 8, 9))
        seqs = [[a, b, c, d, e], [a, b, e, c], [a, d], [a, b, c, d, e, a, b]]
        first = [1, 2, 1, 3]
        tree = self._collect(self._tree_batch, seqs, first)
        padded = self._collect(self._padded_batch, seqs, first)
        tol = 1e-4 if self.dtype in (torch.float32, torch.float64) else 5e-2
        return all(np.abs(t - p).max() <= tol for t, p in zip(tree, padded, strict=True))

    @torch.no_grad()
    def _tree_batch(self, seqs, first):
        """Prefix-tree chunks (see `prefix_tree`), `batch_tokens` nodes per forward; yields
        (sequence ids, positions, log-probs) of the scored tokens."""
        chunks = pack(seqs, first, min(CHUNK_TOKENS, self.batch_tokens))
        start = 0
        while start < len(chunks):
            length = len(chunks[start].tokens)
            end = start + 1
            while end < len(chunks):
                wider = max(length, len(chunks[end].tokens))
                if wider * (end + 1 - start) > self.batch_tokens:
                    break
                length, end = wider, end + 1
            yield self._run_chunks(chunks[start:end], length)
            start = end

    def _run_chunks(self, chunks, length):
        ids, pos, mask = model_inputs(chunks, length, self.pad_id)
        additive = torch.zeros(mask.shape, dtype=self.dtype)
        additive.masked_fill_(torch.from_numpy(~mask), torch.finfo(self.dtype).min)
        hidden = self.body(
            torch.from_numpy(ids).to(self.device),
            torch.from_numpy(pos).to(self.device),
            additive.to(self.device),
        )
        edges = []
        for r, c in enumerate(chunks):
            e = np.array(c.edges, dtype=np.int64).reshape(-1, 4)
            e[:, 0] += r * length  # node -> row of the flattened batch
            edges.append(e)
        edges = np.concatenate(edges)
        return edges[:, 2], edges[:, 3], self._head_logprobs(hidden.flatten(0, 1), edges[:, :2])

    def _head_logprobs(self, hidden, edges):
        """log p(target | node) for (node, target) rows, in float32 (float64 for a float64
        model): the output layer runs once per distinct node, HEAD_ROWS nodes at a time.
        Index bookkeeping stays in numpy; only index tensors go to the model's device, and
        the result comes back once (so the same code runs on a CPU and on CUDA)."""
        nodes, row = np.unique(edges[:, 0], return_inverse=True)
        order = np.argsort(row, kind="stable")
        bounds = np.searchsorted(row[order], np.arange(0, len(nodes) + HEAD_ROWS, HEAD_ROWS))
        parts = []
        for k, s in enumerate(range(0, len(nodes), HEAD_ROWS)):
            h = hidden[torch.from_numpy(nodes[s : s + HEAD_ROWS]).to(self.device)]
            logits = self.head(h)
            logits = logits if logits.dtype == torch.float64 else logits.float()
            lp = torch.log_softmax(logits, dim=-1)  # one fused pass; 2x torch.logsumexp here
            sel = order[bounds[k] : bounds[k + 1]]
            r = torch.from_numpy(row[sel] - s).to(self.device)
            t = torch.from_numpy(edges[sel, 1]).to(self.device)
            parts.append(lp[r, t].double())
        out = np.empty(len(edges), dtype=np.float64)
        out[order] = torch.cat(parts).cpu().numpy() if parts else []
        return out

    @torch.no_grad()
    def _padded_batch(self, seqs, first):
        """The plain way (the reference for the tree): right-padded rows sorted by length, one
        full forward each; yields (sequence ids, positions, log-probs)."""
        order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
        start = 0
        while start < len(order):
            rows = max(1, self.batch_tokens // max(len(seqs[order[start]]), 1))
            idx = order[start : start + rows]
            start += rows
            L = max(len(seqs[i]) for i in idx)
            ids = torch.full((len(idx), L), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), L), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, : len(seqs[i])] = torch.tensor(seqs[i])
                mask[r, : len(seqs[i])] = 1
            logits = self.model(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device)
            ).logits
            for r, i in enumerate(idx):
                js = np.arange(first[i], len(seqs[i]))
                lp = torch.log_softmax(logits[r, js - 1].float(), dim=-1)
                lp = lp.gather(1, ids[r, js, None].to(lp.device))[:, 0]
                yield [i] * len(js), js, lp.double().cpu().numpy()
