"""What generation calls on an engine: the `Engine` protocol, and the dropout an engine runs.

    caches = [e.new_cache(batch, max_len) for e in engines]
    logits = engine.forward(ids, positions, cache, start, key_valid, dropout)  # (M, B, vocab)
    step = engine.step(rule, vocab)       # one call per token, or None: forward + choose

Two engines implement it: `lean.LeanLlama` (LLaMA models of one shape stacked, our own
forward, cache and one-graph decode step) and `hf.HFEngine` (any `AutoModelForCausalLM`, one
model per engine, no step of its own). `generate.loop.generate_batch` sees only this protocol:
what an engine can do is a method here, never an attribute probed with `getattr`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from ..decoding import Pick
from ..decoding_rules import DecodingRule

DROPOUT_KINDS = ("attention", "residual")


@dataclass(frozen=True)
class Dropout:
    """Dropout with probability `p` on stacked model `model`; `row_keys` (batch, 2) are
    (prefix, completion) ids. Kept values are scaled by 1/(1-p).

    kind "attention" (the paper's amateur: GOOD with `config.attention_dropout = p` in train
    mode): on the attention probabilities after softmax, as HF Llama's eager attention does;
    a mask depends on (seed, row key, layer, head, query position, key position) only.
    kind "residual": on every attention output and MLP output; a mask depends on (seed, row
    key, position, layer, branch, unit) only."""

    p: float
    seed: int
    row_keys: np.ndarray
    model: int = 1
    kind: str = "attention"

    def __post_init__(self):
        if self.kind not in DROPOUT_KINDS:
            raise ValueError(f"unknown dropout kind '{self.kind}' (attention or residual)")


# (ids, positions, cache, valid, slot, uniforms) -> the rule's Pick for one new token per row:
# valid (B, the cache's length) marks the batch's real tokens, `slot` is where this one goes
StepFn = Callable[[torch.Tensor, torch.Tensor, Any, torch.Tensor, int, torch.Tensor], Pick]


@runtime_checkable
class Engine(Protocol):
    """Models that run in lock-step on left-padded rows, each engine with its own KV cache."""

    n_models: int  # models held (stacked): 1, or 2 for a lean GOOD+BAD or dropout pair
    device: torch.device

    def new_cache(self, batch: int, max_len: int) -> Any:
        """An empty KV cache for `batch` rows of up to `max_len` tokens."""
        ...

    def forward(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        cache: Any,
        start: int,
        key_valid: torch.Tensor,
        dropout: Dropout | None = None,
    ) -> torch.Tensor:
        """Run `ids` (B, T) at cache slots [start, start + T); positions (B, T) are RoPE /
        position ids, key_valid (B, start + T) bool marks real tokens (not padding). Returns
        last-position logits (n_models, B, vocab), float32 (float64 for a float64 model).
        `dropout` goes to stacked model `dropout.model` (engines without it refuse one)."""
        ...

    def step(self, rule: DecodingRule, vocab: int | None) -> StepFn | None:
        """The engine's own one-call token step for decoding rule `rule` with logits cut at
        `vocab` (forward, rule, sample and statistics of every model it holds), or None: the
        caller runs `forward` and `decoding.choose`."""
        ...
