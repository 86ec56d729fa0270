"""The lean engine's decode step as one compiled graph.

    step = decode_step(engine, rule, vocab)          # one per (engine, rule), made once
    choice = step(ids, positions, cache, key_valid, uniforms)

One call is one token for every row: the token through every stacked model
(`LeanLlama.decode_logits`: both models' layers, the KV-cache write, attention over the cache,
the output layer), then the decoding rule, truncation, the inverse-CDF sample and the per-row
statistics (`decoding.choose`, the function every engine's step uses). In bf16 and fp32 it is
one `torch.compile` graph entered once per token, with the cache length symbolic so that one
graph serves every step; float64 runs the same function eagerly. In float32 arithmetic on a
CPU where our library loads (an AVX2-only CPU's auto dtype, or fp32), with a growing cache and
the compiled path on (`compile_decode`, `LeanLlama.models_op`), the models' part runs
instead as one C++ op, `cdsynth_cpu::decode_models` (csrc/decode_models.cpp): the same ATen
ops as `decode_logits` run eagerly, each model's whole forward on its own thread where the
threads are no more than the models (the compiled graph runs each op on every thread, with
Python between ops and a wait at each op's end; BENCHMARKS.md has the figures), and the rule
(`decoding.choose`) eagerly after it. Nothing inside branches on
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
from . import cpu_attention
from .llama_math import attend, rms_norm, rope_tables, rotate


@dataclass(frozen=True)
class DecodeSpec:
    """The sizes and constants of a one-token step (what a compiled step specializes on)."""

    n_heads: int
    n_kv: int
    head_dim: int
    eps: float
    rope_scale: float


def decode_logits(
    w: dict, spec: DecodeSpec, ids, positions, keys, values, key_valid, slot=None, stacked=True
):
    """One new token per row through every stacked model, written at cache slot
    key_valid.shape[1] - 1. w: `LeanLlama.decode_weights()`; ids and positions (B,); keys and
    values: the cache's per-layer tensors; key_valid (B, slot + 1) bool. Returns (M, B, vocab)
    logits as `LeanLlama.forward` does for one token, from the same math (tests compare the
    two). Pure and free of branches on data: the function the compiled decode step traces.
    With `slot` (a 0-dim int64 tensor), every shape is fixed: the token is written at `slot`
    and key_valid (B, the cache's length) masks the whole cache (`static_attention`).
    `stacked=False` (the step): the logits as one (B, vocab) tensor per model, where the
    models' products run apart (packed products: no copy of them into one tensor)."""
    from .cpu_attention import cached_attention
    from .kernels import linear

    M, B = w["embed"].shape[0], ids.shape[0]
    H, KV, D = spec.n_heads, spec.n_kv, spec.head_dim

    def each_model(h, weights, packed):  # h (M, B, in) -> M x (B, out), or (M, B, out)
        if isinstance(weights, torch.Tensor):  # stacked (M, in, out): one bmm
            return torch.bmm(h, weights)
        return [linear(h[m], weights[m], packed) for m in range(M)]

    def per_model(h, weights, packed):  # h (M, B, in) -> (M, B, out)
        out = each_model(h, weights, packed)
        return out if isinstance(out, torch.Tensor) else torch.stack(out)

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
        if slot is None:
            att = cached_attention(
                q, k, v.view(M, B, KV, D), keys[li], values[li], key_valid, w["cpu_kernels"]
            )
        else:
            att = static_attention(q, k, v.view(M, B, KV, D), keys[li], values[li], key_valid, slot)
        x = x + per_model(att.flatten(2), L["o"], packed)  # att (M, B, H, D)
        h = rms_norm(x, L["norm_post"], spec.eps)
        gate_up = each_model(h, L["gate_up"], packed)
        if isinstance(gate_up, torch.Tensor):  # (M, B, 2 I)
            gate, up = gate_up.chunk(2, dim=-1)
            act = F.silu(gate) * up
        else:  # each model's own activation: no stacked copy of the products
            act = [F.silu(gate) * up for gate, up in (y.chunk(2, dim=-1) for y in gate_up)]
        x = x + per_model(act, L["down"], packed)
    h = rms_norm(x.to(w["norm"].dtype), w["norm"], spec.eps)  # (M, B, hidden)
    logits = each_model(h, w["head"], w["head_packed"])
    if stacked and not isinstance(logits, torch.Tensor):
        return torch.stack(logits)
    return logits


def static_attention(q, k, v, k_cache, v_cache, mask, slot):
    """One-query attention with every shape fixed: the token's k, v (M, B, KV, D) written at
    `slot` (0-dim int64) of the whole preallocated cache (M, B, KV, L, D), attention over all L
    slots with `mask` (B, L) (the valid slots up to `slot`). The slots past `slot` hold zeros
    or earlier values and get weight exactly 0; in float64 the result equals the growing read
    of `reference_attention` up to the order of its sums (the corpus is the same: tested)."""
    at = slot.view(1)
    k_cache.index_copy_(3, at, k[:, :, :, None].to(k_cache.dtype))
    v_cache.index_copy_(3, at, v[:, :, :, None].to(v_cache.dtype))
    return attend(q[:, :, :, None], k_cache, v_cache, mask[:, None, None, :], fused=True)[
        :, :, :, 0
    ]


def _static_step(rule, vocab, weights, spec, ids, positions, keys, values, valid, slot, uniforms):
    """`_step` with every shape fixed (`static_attention`): valid (B, L) is the whole batch's
    mask, `slot` the 0-dim position written now; the mask is cut at `slot` inside."""
    upto = torch.arange(valid.shape[1], device=valid.device) <= slot
    logits = decode_logits(
        weights, spec, ids, positions, keys, values, valid & upto[None], slot=slot, stacked=False
    )
    return _pick(rule, vocab, logits, uniforms, weights["cpu_kernels"])


def _step(rule, vocab, weights, spec, ids, positions, keys, values, key_valid, uniforms):
    logits = decode_logits(weights, spec, ids, positions, keys, values, key_valid, stacked=False)
    return _pick(rule, vocab, logits, uniforms, weights["cpu_kernels"])


PRODUCTS = ("qkv", "o", "gate_up", "down")


def models_weights(w: dict) -> list[torch.Tensor]:
    """`decode_logits`' weights as the `cdsynth_cpu::decode_models` op takes them: per model
    its embedding, final norm and output layer, then per layer its input norm, q/k/v, o,
    post-attention norm, gate/up and down; a product's weight as its packed oneDNN copy where
    `decode_weights` packed it (csrc/decode_models.cpp)."""
    from .kernels import packed_copy

    def product(weights, m, packed):  # model m's (out, in) weight, or its packed copy
        if isinstance(weights, torch.Tensor):  # stacked (M, in, out)
            return weights[m].t()
        return packed_copy(weights[m]) if packed else weights[m]

    flat = []
    for m in range(w["embed"].shape[0]):
        flat += [w["embed"][m], w["norm"][m], product(w["head"], m, w["head_packed"])]
        for L in w["layers"]:
            qkv, o, gate_up, down = (product(L[n], m, w["packed"]) for n in PRODUCTS)
            flat += [L["norm_in"][m], qkv, o, L["norm_post"][m], gate_up, down]
    return flat


def models_logits(weights, spec, flat, ids, positions, keys, values, key_valid):
    """`decode_logits(..., stacked=False)` as one C++ op, each model on its own thread
    (`cdsynth_cpu::decode_models`, csrc/decode_models.cpp: the same ATen ops as
    `decode_logits` run eagerly); `flat`: `models_weights(weights)`."""
    dtype = weights["embed"].dtype
    cos, sin = rope_tables(positions[:, None], weights["inv_freq"], spec.rope_scale, dtype)
    return torch.ops.cdsynth_cpu.decode_models(
        flat,
        weights["embed"].shape[0],
        ids,
        cos[:, 0],
        sin[:, 0],
        keys,
        values,
        key_valid,
        spec.n_heads,
        spec.n_kv,
        spec.eps,
    )


def _models_step(
    rule, vocab, weights, spec, flat, ids, positions, keys, values, key_valid, uniforms
):
    """`_step` with the models' part as one C++ op (`models_logits`), then the same `_pick`."""
    logits = models_logits(weights, spec, flat, ids, positions, keys, values, key_valid)
    return _pick(rule, vocab, logits, uniforms, weights["cpu_kernels"])


def _pick(rule, vocab, logits, uniforms, kernel: bool) -> Pick:
    """Both steps' end: logits (M, B, vocab), or M x (B, vocab), cut at `vocab`, then the
    rule, GOOD's first; `kernel`: our CPU library is loaded (its attention op runs, and its
    sampling ops)."""
    if vocab is not None and logits[0].shape[-1] > vocab:
        logits = [x[..., :vocab] for x in logits]
    rule = as_rule(rule)
    bad = logits[1] if rule.needs_amateur else None
    return choose(rule, logits[0], bad, uniforms, kernel)


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


# the static step, per device kind: on CUDA compiled with mode="reduce-overhead", which
# captures the graph as a CUDA graph and replays it each token (the cache and the weights
# are marked as static addresses, so that nothing is copied into the graph's buffers and the
# cache's in-place writes are allowed); elsewhere the default mode. Not yet run on a GPU.
_STATIC: dict[str, object] = {}


def _static_compiled(device_type: str):
    if device_type not in _STATIC:
        mode = "reduce-overhead" if device_type == "cuda" else None
        _STATIC[device_type] = torch.compile(_static_step, dynamic=False, fullgraph=True, mode=mode)
    return _STATIC[device_type]


class DecodeStep:
    """`_step` (or `_static_step`, `static`) for one engine, rule and vocabulary cut; in float32
    arithmetic on a CPU with the compiled path on and a growing cache, `_models_step`."""

    def __init__(
        self, engine, rule: DecodingRule | DecodingConfig, vocab: int | None, static=False
    ):
        self.engine, self.rule, self.vocab = engine, as_rule(rule), vocab
        self.static = static
        self.compiled = engine.compile_step
        eager = _static_step if static else _step
        if not self.compiled:
            self._fn = eager
        else:
            self._fn = _static_compiled(engine.device.type) if static else _compiled()
        self._eager = eager
        # float32 arithmetic on a CPU, growing cache: the models' part as one C++ op
        # (`_models_step`); its weights are laid out once per decode_weights(). Read from the
        # engine when the step is made (engine.models_op: set it before the first step)
        self.models_op = (
            self.compiled
            and not static
            and engine.models_op
            and engine.dtype == torch.float32
            and cpu_attention.use_kernel(engine.device)
        )
        self._flat = None  # (decode_weights(), models_weights of it)
        self._marked = None  # the cache whose lengths were last marked dynamic (or static)
        self._slots = None  # static: 0-dim slot tensors on the device, one per slot

    @torch.no_grad()
    def __call__(self, ids, positions, cache, valid, slot: int, uniforms) -> Pick:
        """ids, positions, uniforms (B,); valid (B, the cache's length): the batch's mask;
        `slot`: the cache slot this token is written at (see decode_logits)."""
        if self.models_op:
            w = self.engine.decode_weights()
            if self._flat is None or self._flat[0] is not w:
                self._flat = (w, models_weights(w))
            # (the rule runs eagerly: it raises on non-finite logits itself)
            return _models_step(
                self.rule,
                self.vocab,
                w,
                self.engine.decode_spec,
                self._flat[1],
                ids,
                positions,
                cache.keys,
                cache.values,
                valid[:, : slot + 1],
                uniforms,
            )
        new_cache = self._marked is None or self._marked() is not cache
        if self.static:
            if new_cache:
                self._slots = torch.arange(valid.shape[1], device=valid.device)
                if self.compiled and self.engine.device.type == "cuda":
                    for t in (*cache.keys, *cache.values, *_weight_tensors(self.engine)):
                        torch._dynamo.mark_static_address(t, guard=False)
                self._marked = weakref.ref(cache)
            tail = (cache.keys, cache.values, valid, self._slots[slot], uniforms)
        else:
            key_valid = valid[:, : slot + 1]
            # ~60 us a tensor: marked on a batch's first step only (a new cache); later steps
            # find the graph those marks made, whose lengths are symbolic
            if self.compiled and new_cache:
                torch._dynamo.mark_dynamic(key_valid, 1)
                for t in (*cache.keys, *cache.values):
                    torch._dynamo.mark_dynamic(t, 3)
                self._marked = weakref.ref(cache)
            tail = (cache.keys, cache.values, key_valid, uniforms)
        args = (
            self.rule,
            self.vocab,
            self.engine.decode_weights(),
            self.engine.decode_spec,
            ids,
            positions,
            *tail,
        )
        if not self.compiled:
            pick = self._eager(*args)
        elif self.static and self.engine.device.type == "cuda":
            # a CUDA graph's outputs live in its pool and the next replay overwrites them: a
            # new step begins, and the pick the loop keeps is copied out (B-sized tensors)
            torch.compiler.cudagraph_mark_step_begin()
            pick = self._compiled_call(args)
            pick = Pick(*(x.clone() if isinstance(x, torch.Tensor) else x for x in pick))
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
            self.compiled, self._fn = False, self._eager
            return self._eager(*args)
        finally:
            cfg.recompile_limit, cfg.fail_on_recompile_limit_hit = old


def _weight_tensors(engine) -> list[torch.Tensor]:
    """Every tensor of the engine's `decode_weights()` (nested dicts and lists)."""
    out, todo = [], [engine.decode_weights()]
    while todo:
        x = todo.pop()
        if isinstance(x, torch.Tensor):
            out.append(x)
        elif isinstance(x, dict):
            todo.extend(x.values())
        elif isinstance(x, (list, tuple)):
            todo.extend(x)
    return out


def decode_step(engine, rule, vocab: int | None, static: bool = False) -> DecodeStep:
    """The engine's step for `rule` and `vocab`, growing or `static` (kept on the engine:
    compiled once)."""
    key = (rule, vocab, static)
    if key not in engine.steps:
        engine.steps[key] = DecodeStep(engine, rule, vocab, static)
    return engine.steps[key]
