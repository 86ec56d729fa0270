"""The lean engine's decode step as one compiled graph.

    step = decode_step(engine, rule, vocab)          # one per (engine, rule), made once
    choice = step(ids, positions, cache, key_valid, uniforms)

One call is one token for every row: the token through every stacked model
(`LeanLlama.decode_logits`: both models' layers, the KV-cache write, attention over the cache,
the output layer), then the decoding rule, truncation, the inverse-CDF sample and the per-row
statistics (`decoding.choose`, the function every engine's step uses). In bf16 and fp32 it is
one `torch.compile` graph entered once per token, with the cache length symbolic so that one
graph serves every step; float64 runs the same function eagerly. Nothing inside branches on
data: non-finite logits come out as `Pick.finite`, and the step raises after the graph.
Off the CPU the graph's cumulative sums (sample, top-p) run as an opaque ATen op
(`decoding.row_cumsum`): inductor's split scan crashed on them at vocabulary 32000 on CUDA.
`LeanLlama.step` hands it out; `generate.loop.generate_batch` uses it whenever one lean engine
holds every model and no dropout amateur runs. `decode_logits`, the model part of the step,
lives here too: the lean engine's `forward` (lean.py) is the eager reference it is tested
against.
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..decoding import Pick, choose, raise_if_not_finite
from ..decoding_rules import DecodingConfig, DecodingRule, as_rule
from .llama_math import rms_norm, rope_tables, rotate


@dataclass(frozen=True)
class DecodeSpec:
    """The sizes and constants of a one-token step (what a compiled step specializes on)."""

    n_heads: int
    n_kv: int
    head_dim: int
    eps: float
    rope_scale: float


def decode_logits(w: dict, spec: DecodeSpec, ids, positions, keys, values, key_valid):
    """One new token per row through every stacked model, written at cache slot
    key_valid.shape[1] - 1. w: `LeanLlama.decode_weights()`; ids and positions (B,); keys and
    values: the cache's per-layer tensors; key_valid (B, slot + 1) bool. Returns (M, B, vocab)
    logits as `LeanLlama.forward` does for one token, from the same math (tests compare the
    two). Pure and free of branches on data: the function the compiled decode step traces."""
    from .cpu_attention import cached_attention
    from .kernels import linear

    M, B = w["embed"].shape[0], ids.shape[0]
    H, KV, D = spec.n_heads, spec.n_kv, spec.head_dim

    def per_model(h, weights, packed):  # h (M, B, in) -> (M, B, out)
        if isinstance(weights, torch.Tensor):  # stacked (M, in, out): one bmm
            return torch.bmm(h, weights)
        return torch.stack([linear(h[m], weights[m], packed) for m in range(M)])

    x = w["embed"][:, ids]  # (M, B, hidden)
    cos, sin = rope_tables(positions[:, None], w["inv_freq"], spec.rope_scale, x.dtype)
    cos, sin = cos[:, 0], sin[:, 0]  # (B, 1, D): broadcast over (M, B, heads, D)
    packed = w["packed"]
    for li, L in enumerate(w["layers"]):
        h = rms_norm(x, L["norm_in"], spec.eps)
        q, k, v = per_model(h, L["qkv"], packed).split([H * D, KV * D, KV * D], dim=-1)
        q = rotate(q.view(M, B, H, D), cos, sin)
        k = rotate(k.view(M, B, KV, D), cos, sin)
        # write the token's k, v at slot end - 1 and attend over the valid slots
        att = cached_attention(
            q, k, v.view(M, B, KV, D), keys[li], values[li], key_valid, w["attention_kernel"]
        )
        x = x + per_model(att.flatten(2), L["o"], packed)  # att (M, B, H, D)
        h = rms_norm(x, L["norm_post"], spec.eps)
        gate, up = per_model(h, L["gate_up"], packed).chunk(2, dim=-1)
        x = x + per_model(F.silu(gate) * up, L["down"], packed)
    h = rms_norm(x.to(w["norm"].dtype), w["norm"], spec.eps)  # (M, B, hidden)
    return per_model(h, w["head"], w["head_packed"])


def _step(rule, vocab, weights, spec, ids, positions, keys, values, key_valid, uniforms):
    logits = decode_logits(weights, spec, ids, positions, keys, values, key_valid)
    if vocab is not None and logits.shape[-1] > vocab:
        logits = logits[..., :vocab]
    rule = as_rule(rule)
    bad = logits[1] if rule.needs_amateur else None
    return choose(rule, logits[0], bad, uniforms)


# one compiled function for every engine: weights are inputs, so engines of one shape share
# graphs. A graph is specialized on the rule, the sizes and the dtypes; only the cache's
# length and the number of cached slots are symbolic (marked per call), so that one graph
# serves every step. (dynamic=True would make every size symbolic, the model's too: the
# generated loops were ~2x slower.) fullgraph: the composed rule is traced whole; a rule
# whose Python the compiler cannot trace fails at its first step, with torch's reason.
_COMPILED = None
RECOMPILE_LIMIT = 64


def _compiled():
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = torch.compile(_step, dynamic=None, fullgraph=True)
    return _COMPILED


class DecodeStep:
    """`_step` for one engine, rule and vocabulary cut."""

    def __init__(self, engine, rule: DecodingRule | DecodingConfig, vocab: int | None):
        self.engine, self.rule, self.vocab = engine, as_rule(rule), vocab
        self.compiled = engine.compile_step
        self._fn = _compiled() if self.compiled else _step
        self._marked = None  # the cache whose lengths were last marked dynamic

    @torch.no_grad()
    def __call__(self, ids, positions, cache, key_valid, uniforms) -> Pick:
        """ids, positions, uniforms (B,); key_valid (B, slot + 1): see decode_logits."""
        # ~60 us a tensor: marked on a batch's first step only (a new cache); later steps
        # find the graph those marks made, whose lengths are symbolic
        if self.compiled and (self._marked is None or self._marked() is not cache):
            torch._dynamo.mark_dynamic(key_valid, 1)
            for t in (*cache.keys, *cache.values):
                torch._dynamo.mark_dynamic(t, 3)
            self._marked = weakref.ref(cache)
        args = (
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
        if not self.compiled:
            pick = _step(*args)
        else:
            pick = self._compiled_call(args)
        raise_if_not_finite(pick.finite)
        return pick

    def _compiled_call(self, args) -> Pick:
        """The compiled step. Every rule, dtype and batch size is one more graph of the same
        function: a study's sweeps can pass dynamo's default of 8, so the limit is raised to
        RECOMPILE_LIMIT for the call; past it this step runs eagerly (the same numbers,
        slower) and says so once, never silently. (The two settings are set and restored
        directly: `torch._dynamo.config.patch` costs ~50 us a token.)"""
        cfg = torch._dynamo.config
        old = cfg.recompile_limit, cfg.fail_on_recompile_limit_hit
        cfg.recompile_limit, cfg.fail_on_recompile_limit_hit = RECOMPILE_LIMIT, True
        try:
            return self._fn(*args)
        except torch._dynamo.exc.FailOnRecompileLimitHit:
            warnings.warn(
                f"cdsynth: the compiled decode step reached {RECOMPILE_LIMIT} graphs (rules x "
                "dtypes x batch sizes in this process); this rule now decodes eagerly, slower",
                stacklevel=4,  # the caller of the step (past torch.no_grad's wrapper)
            )
            self.compiled, self._fn = False, _step
            return _step(*args)
        finally:
            cfg.recompile_limit, cfg.fail_on_recompile_limit_hit = old


def decode_step(engine, rule, vocab: int | None) -> DecodeStep:
    """The engine's step for `rule` and `vocab` (kept on the engine: compiled once)."""
    key = (rule, vocab)
    if key not in engine.steps:
        engine.steps[key] = DecodeStep(engine, rule, vocab)
    return engine.steps[key]
