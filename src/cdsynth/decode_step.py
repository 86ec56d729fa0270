"""The lean engine's decode step as one compiled graph.

    step = decode_step(engine, rule, vocab)          # one per (engine, rule), made once
    choice = step(ids, positions, cache, key_valid, uniforms)

One call is one token for every row: the token through every stacked model
(`LeanLlama.decode_logits`: both models' layers, the KV-cache write, attention over the cache,
the output layer), then the decoding rule, truncation, the inverse-CDF sample and the per-row
statistics (`decoding.choose`, the function every engine's step uses). In bf16 and fp32 it is
one `torch.compile` graph entered once per token, with the cache length symbolic so that one
graph serves every step; float64 runs the same function eagerly. Nothing inside branches on
data: non-finite logits come out as `Choice.finite`, and the step raises after the graph.
Off the CPU the graph's cumulative sums (sample, top-p) run as an opaque ATen op
(`decoding.row_cumsum`): inductor's split scan crashed on them at vocabulary 32000 on CUDA.
`generate.generate_batch` uses it whenever one lean engine holds every model and no dropout
amateur runs.
"""

from __future__ import annotations

import weakref

import torch

from .decoding import Choice, choose, raise_if_not_finite
from .llama_forward import decode_logits


def _step(rule, vocab, weights, spec, ids, positions, keys, values, key_valid, uniforms):
    logits = decode_logits(weights, spec, ids, positions, keys, values, key_valid)
    if vocab is not None and logits.shape[-1] > vocab:
        logits = logits[..., :vocab]
    bad = logits[1] if rule.strategy == "cd" else None
    return choose(rule, logits[0], bad, uniforms)


# one compiled function for every engine: weights are inputs, so engines of one shape share
# graphs. A graph is specialized on the rule, the sizes and the dtypes; only the cache's
# length and the number of cached slots are symbolic (marked per call), so that one graph
# serves every step. (dynamic=True would make every size symbolic, the model's too: the
# generated loops were ~2x slower.)
_COMPILED = None
RECOMPILE_LIMIT = 64


def _compiled():
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = torch.compile(_step, dynamic=None)
    return _COMPILED


class DecodeStep:
    """`_step` for one engine, rule and vocabulary cut."""

    def __init__(self, engine, rule, vocab: int | None):
        self.engine, self.rule, self.vocab = engine, rule, vocab
        self.compiled = engine.compile_step
        self._fn = _compiled() if self.compiled else _step
        self._marked = None  # the cache whose lengths were last marked dynamic

    @torch.no_grad()
    def __call__(self, ids, positions, cache, key_valid, uniforms) -> Choice:
        """ids, positions, uniforms (B,); key_valid (B, slot + 1): see decode_logits."""
        # ~60 us a tensor: marked on a batch's first step only (a new cache); later steps
        # find the graph those marks made, whose lengths are symbolic
        if self.compiled and (self._marked is None or self._marked() is not cache):
            torch._dynamo.mark_dynamic(key_valid, 1)
            for t in (*cache.keys, *cache.values):
                torch._dynamo.mark_dynamic(t, 3)
            self._marked = weakref.ref(cache)
        # every rule, dtype and batch size is one more graph of the same function: a study's
        # sweeps can pass dynamo's default of 8 (past it, steps would silently run eagerly)
        with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT):
            choice = self._fn(
                self.rule,
                self.vocab,
                self.engine.decode_weights(),
                self.engine.decode_spec,
                ids,
                positions,
                cache.keys,
                cache.values,
                key_valid,
                uniforms,
            )
        raise_if_not_finite(choice.finite)
        return choice


def decode_step(engine, rule, vocab: int | None) -> DecodeStep:
    """The engine's step for `rule` and `vocab` (kept on the engine: compiled once)."""
    key = (rule, vocab)
    if key not in engine.steps:
        engine.steps[key] = DecodeStep(engine, rule, vocab)
    return engine.steps[key]
