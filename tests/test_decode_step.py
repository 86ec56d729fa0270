"""The one-graph decode step against its references: F.linear for the packed products,
LeanLlama.forward for the one-token forward, uncached HF forwards in float64 for whole runs,
the eager step for the compiled one."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cdsynth.config import DecodingConfig
from cdsynth.decoding import choose, step_scores
from cdsynth.engine.cpu_attention import kernel_available, reference_attention
from cdsynth.engine.decode_step import decode_step
from cdsynth.engine.kernels import can_pack, linear, pack_weights, release
from cdsynth.engine.lean import LeanLlama
from cdsynth.generate import generate_batch, make_engines

from .test_generate import prefixes_of, random_model


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_packed_linear_equals_f_linear(dtype):
    if not can_pack(torch.device("cpu"), dtype):  # bf16 needs avx512bw or avx_ne_convert
        pytest.skip(f"this CPU has no packed oneDNN products in {dtype}")
    g = torch.Generator().manual_seed(0)
    w = torch.randn(96, 40, generator=g).to(dtype)
    x = torch.randn(7, 40, generator=g).to(dtype)
    ref = F.linear(x.double(), w.double())
    tol = 1e-5 if dtype == torch.float32 else 0.1
    keys = pack_weights([w], rows=8)
    torch.testing.assert_close(linear(x, w, packed=True).double(), ref, rtol=0, atol=tol)
    compiled = torch.compile(lambda x, w: linear(x, w, packed=True) * 2)
    torch.testing.assert_close(compiled(x, w).double(), 2 * ref, rtol=0, atol=2 * tol)
    release(keys)
    # a weight not packed ahead is packed on the spot: same numbers
    torch.testing.assert_close(linear(x, w, packed=True).double(), ref, rtol=0, atol=tol)


@pytest.mark.parametrize(
    "dtype, cache_dtype, atol",
    [
        (torch.float64, torch.float64, 1e-12),
        (torch.float32, torch.float32, 2e-6),
        (torch.bfloat16, torch.bfloat16, None),  # bf16 outputs: within one rounding step
        (torch.float32, torch.bfloat16, 2e-6),  # bf16 storage, float32 arithmetic
    ],
)
# 16: the AVX-512 (or AVX2) path; 40: the AVX2 path, or the plain loops under AVX-512;
# 12: the plain loops
@pytest.mark.parametrize("head_dim", [16, 40, 12])
def test_attention_kernel_equals_reference(dtype, cache_dtype, atol, head_dim):
    """Our C++ one-query attention == the torch reference: same cache write, same output
    (bf16 outputs within one bf16 rounding step: float32 sums in another order may round to
    the neighbouring bf16 number), with grouped-query heads and left padding."""
    if not kernel_available():
        pytest.skip("the CPU attention kernel could not be built here")
    g = torch.Generator().manual_seed(0)

    def rand(*shape, dtype=dtype):
        return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype)

    M, B, H, KV, L = 2, 3, 4, 2, 37
    q, k, v = rand(M, B, H, head_dim), rand(M, B, KV, head_dim), rand(M, B, KV, head_dim)
    caches = [rand(M, B, KV, L, head_dim, dtype=cache_dtype) for _ in range(2)]
    valid = torch.ones(B, L, dtype=torch.bool)
    valid[1, :5] = False  # left padding
    valid[2, :1] = False
    for end in (1 + 5 + 1, 23, L):  # below, across and at the 4-key blocks, the full cache
        ours = [c.clone() for c in caches]
        ref = [c.clone() for c in caches]
        got = torch.ops.cdsynth_cpu.decode_attention_(q, k, v, *ours, valid[:, :end])
        want = reference_attention(q, k, v, *ref, valid[:, :end])
        assert got.dtype == want.dtype and got.shape == want.shape == (M, B, H, head_dim)
        # (values of order 1: an output near 0 after cancellation keeps an absolute error)
        tol = dict(rtol=0, atol=atol) if atol is not None else dict(rtol=2**-8, atol=1e-6)
        torch.testing.assert_close(got.double(), want.double(), **tol)
        assert all(torch.equal(a, b) for a, b in zip(ours, ref, strict=True))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_inverse_cdf_kernel_picks_the_tokens_of_sample(dtype):
    """Our C++ sampling op == decoding.sample's torch ops, token for token: full softmaxes, a
    V_head cut (mostly -inf), one token with all the mass, mass on the last tokens only (and
    on the last alone), a finite penalty in place of -inf (the paper's -20), uniforms at 0
    and just below 1, vocabularies that are not a multiple of the vector width, a compiled
    graph. (The numbers agree up to float64 rounding, so a uniform within ~1e-16 of a step
    of the CDF could pick the neighbour: random uniforms never do.)"""
    if not kernel_available():
        pytest.skip("the CPU kernel library could not be built here")
    from cdsynth.decoding import sample

    g = torch.Generator().manual_seed(0)
    R = 64
    for V in (1000, 1003):
        full = (torch.randn(R, V, generator=g, dtype=torch.float64) * 3).to(dtype)
        cut = full.masked_fill(full < full.amax(-1, keepdim=True) - 2.0, -torch.inf)
        one = torch.full((R, V), -torch.inf, dtype=dtype)
        one[torch.arange(R), torch.randint(V, (R,), generator=g)] = 0.0
        last = torch.full((R, V), -torch.inf, dtype=dtype)
        last[:, -3:] = torch.randn(R, 3, generator=g, dtype=dtype)
        last[::2, -3:-1] = -torch.inf  # half the rows: mass on the last token only
        penalty = cut.masked_fill(cut == -torch.inf, -20.0)
        u = torch.rand(R, generator=g, dtype=torch.float64)
        u[:2] = torch.tensor([0.0, 1 - 2**-53])
        for scores in (full, cut, one, last, penalty):
            got = sample(scores, u, kernel=True)
            assert got.dtype == torch.int64 and torch.equal(got, sample(scores, u))
        first = (cut > -torch.inf).int().argmax(-1)  # u = 0: the first token with mass
        assert torch.equal(sample(cut, torch.zeros(R, dtype=torch.float64), kernel=True), first)
        assert sample(cut, u).unique().numel() > 10  # the rows do differ
    compiled = torch.compile(lambda s, u: sample(s, u, kernel=True) + 0, fullgraph=True)
    assert torch.equal(compiled(cut, u), sample(cut, u))


@pytest.mark.parametrize("strategy", ["cd", "vhead", "ancestral"])
def test_choose_kernel_equals_the_torch_step(strategy):
    """Our C++ op for a plain rule's whole step (cdsynth_cpu::choose) == decoding.choose's
    torch ops: the same tokens, |V_head|, argmax flags and finite flags, scores and contrasts
    within a few float32 steps of a log-probability of size ~log(V) (its sums of exps run in
    another order), over alpha 0, 0.1 and 1, lam 0, 0.5 and 1, flat and peaked logits (V_head
    of every token and of a few), a tie at the max (the first one is the argmax), vocabularies
    that are not a multiple of the vector width, eagerly and in a compiled graph."""
    if not kernel_available():
        pytest.skip("the CPU kernel library could not be built here")
    from cdsynth.decoding import fused_strategy

    g = torch.Generator().manual_seed(0)
    R = 48
    for V, alpha, lam, spread in [
        (1003, 0.1, 1.0, 3.0),
        (1000, 0.1, 0.5, 0.05),
        (1003, 0.0, 1.0, 3.0),
        (1000, 1.0, 0.0, 3.0),
        (8192, 0.1, 1.0, 0.05),
    ]:
        rule = DecodingConfig(strategy, alpha, lam).rule
        assert fused_strategy(rule) is not None
        good, bad = (torch.randn(R, V, generator=g) * spread for _ in range(2))
        good[0, 5] = good[0, 9] = good[0].max() + 1  # a tie at the max
        u = torch.rand(R, generator=g, dtype=torch.float64)
        u[:2] = torch.tensor([0.0, 1 - 2**-53])
        bad = bad if strategy == "cd" else None
        got, want = (choose(rule, good, bad, u, kernel=k) for k in (True, False))
        assert torch.equal(got.tokens, want.tokens)
        assert torch.equal(got.vhead_size, want.vhead_size)
        assert torch.equal(got.differs, want.differs) and torch.equal(got.finite, want.finite)
        assert torch.equal(torch.isinf(got.scores), torch.isinf(want.scores))
        torch.testing.assert_close(got.scores, want.scores, rtol=0, atol=4e-6)
        if strategy == "cd":
            torch.testing.assert_close(got.contrast, want.contrast, rtol=0, atol=4e-6)
        else:
            assert got.contrast is None and want.contrast is None
        assert got.tokens.unique().numel() > 10  # the rows do differ
    compiled = torch.compile(lambda G, B, u: choose(rule, G, B, u, kernel=True), fullgraph=True)
    assert torch.equal(compiled(good, bad, u).tokens, want.tokens)


def test_choose_kernel_leaves_other_rules_to_the_torch_ops_and_raises_on_nan():
    """Filters, temperatures, a finite penalty, paper mode and the reasoning CD run as torch
    ops (`fused_strategy` None); NaN logits raise eagerly with the op too, and CD without
    BAD's logits raises the reference's error."""
    import dataclasses

    from cdsynth.decoding import fused_strategy
    from cdsynth.decoding_rules import DecodingRule

    # fused_strategy reads these fields: a new one may change a step the op does not know
    assert {f.name for f in dataclasses.fields(DecodingRule)} == {
        *("strategy", "filters", "alpha", "good_temperature", "bad_temperature"),
        *("temperature", "penalty", "paper", "identity_keys"),
    }, "a new DecodingRule field: does cdsynth_cpu::choose (decoding.fused_strategy) apply it?"

    for other in [
        dict(top_k=5),
        dict(top_p=0.9),
        dict(temperature=0.7),
        dict(good_temperature=2.0),
        dict(penalty=-20.0),
        dict(paper_compatible=True),
    ]:
        assert fused_strategy(DecodingConfig("cd", 0.1, 1.0, **other)) is None, other
    assert fused_strategy(DecodingConfig("reasoning_cd", 0.1, 1.0)) is None
    if not kernel_available():
        pytest.skip("the CPU kernel library could not be built here")
    good = torch.zeros(2, 10)
    bad = good.clone()
    bad[1, 3] = torch.nan
    u = torch.rand(2, dtype=torch.float64)
    with pytest.raises(ValueError, match="BAD logits contain NaN"):
        choose(DecodingConfig("cd", 0.1, 1.0), good, bad, u, kernel=True)
    with pytest.raises(ValueError, match="needs BAD logits"):
        choose(DecodingConfig("cd", 0.1, 1.0), good, None, u, kernel=True)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_decode_logits_equal_forward_with_left_padding(dtype):
    lean = LeanLlama([random_model(1, dtype=torch.float32), random_model(2, torch.float32)], dtype)
    ids = torch.tensor([[3, 1, 7, 9, 11], [1, 5, 6, 8, 13]])
    pos = torch.tensor([[0, 0, 1, 2, 3], [0, 1, 2, 3, 4]])
    valid = torch.ones(2, 8, dtype=torch.bool)
    valid[0, 0] = False
    out = []
    for one_token in (lean.forward, lean.decode_logits):
        cache = lean.new_cache(2, 8)
        lean.forward(ids, pos, cache, 0, valid[:, :5])
        tok, p = torch.tensor([20, 30]), pos[:, -1] + 1
        if one_token == lean.forward:
            out.append(lean.forward(tok[:, None], p[:, None], cache, 5, valid[:, :6]))
        else:
            out.append(lean.decode_logits(tok, p, cache, valid[:, :6]))
        out.append(cache.keys[1][:, :, :, 5].clone())
    atol = 1e-12 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(out[2], out[0], rtol=0, atol=atol)  # logits
    torch.testing.assert_close(out[3], out[1], rtol=0, atol=atol)  # the cache slot written


def test_fused_engine_scores_equal_brute_force_without_cache():
    """Stacked same-shape GOOD and BAD take the one-graph step: 200 steps of CD with top-k
    still equal full HF forwards over the whole text (float64)."""
    good_hf, bad_hf = random_model(1), random_model(2)
    engines = make_engines(good_hf, bad_hf, torch.float64)
    assert len(engines) == 1 and engines[0].n_models == 2
    rule = DecodingConfig("cd", alpha=0.1, lam=1.0, top_k=20)
    prefixes = prefixes_of([5, 9, 2])
    keys = np.array([[0, 0], [1, 0], [2, 3]])
    n = 200
    res = generate_batch(engines, prefixes, keys, rule, n, 0, "continue", record_scores=True)
    assert engines[0].steps  # the step ran through decode_step
    for r, p in enumerate(prefixes):
        full = torch.tensor([p + res.tokens[r]])
        g = good_hf(input_ids=full).logits[0, len(p) - 1 : -1]
        b = bad_hf(input_ids=full).logits[0, len(p) - 1 : -1]
        ref = step_scores(rule, g, b).scores
        ours = torch.stack([s[r] for s in res.step_scores])
        assert torch.equal(torch.isinf(ours), torch.isinf(ref))
        fin = torch.isfinite(ref)
        torch.testing.assert_close(ours[fin], ref[fin], rtol=0, atol=1e-6)
        contrast = (g.log_softmax(-1) - b.log_softmax(-1))[torch.arange(n), res.tokens[r]]
        torch.testing.assert_close(
            torch.tensor(res.token_contrast[r], dtype=torch.float64), contrast, rtol=0, atol=1e-6
        )


@pytest.mark.parametrize("strategy", ["cd", "vhead", "ancestral"])
@pytest.mark.parametrize("models_op", [False, True], ids=["graph", "models-op"])
def test_compiled_step_equals_eager_step(strategy, models_op):
    """The compiled fp32 graph (or the models' C++ op and the rule eagerly, `models_op`) and
    the same function run eagerly: same picks, scores within float32 rounding, same
    statistics, over 40 steps with left padding."""
    if models_op and not kernel_available():
        pytest.skip("the CPU kernels could not be built here")
    models = [random_model(3, torch.float32), random_model(4, torch.float32)]
    rule = DecodingConfig(strategy, alpha=0.1, top_p=0.95)
    prefixes = prefixes_of([3, 7, 5, 6])
    keys = np.array([[i, 1] for i in range(4)])
    runs = []
    for compile_decode in (False, True):
        lean = LeanLlama(models, torch.float32, compile_decode=compile_decode)
        lean.models_op = models_op
        runs.append(generate_batch([lean], prefixes, keys, rule, 40, 3, "continue", 0.0, True))
        step = next(iter(lean.steps.values()))
        assert (step.compiled, step.models_op) == (compile_decode, compile_decode and models_op)
    eager, compiled = runs
    assert compiled.tokens == eager.tokens
    for a, b in zip(compiled.step_scores, eager.step_scores, strict=True):
        assert torch.equal(torch.isinf(a), torch.isinf(b))
        torch.testing.assert_close(a[torch.isfinite(b)], b[torch.isfinite(b)], atol=1e-4, rtol=0)
    assert compiled.mean_vhead_size == eager.mean_vhead_size
    assert compiled.differs_from_good_argmax == eager.differs_from_good_argmax


def test_step_reports_non_finite_logits():
    good, bad = torch.zeros(2, 5), torch.zeros(2, 5)
    bad[1, 3] = float("nan")
    u = torch.tensor([0.1, 0.9], dtype=torch.float64)
    with pytest.raises(ValueError, match="BAD logits contain NaN"):
        choose(DecodingConfig("cd"), good, bad, u)  # eager: raises at once
    with torch.compiler.set_stance("default"):
        compiled = torch.compile(lambda g, b, u: choose(DecodingConfig("cd"), g, b, u).finite)
        assert compiled(good, bad, u).tolist() == [True, False]  # compiled: reported
    lean = LeanLlama([random_model(5, torch.float32)] * 2, torch.float32)
    with torch.no_grad():
        lean.lm_head[1, 0, 0] = float("inf")  # BAD's output layer: inf logits
    lean._decode_weights = None
    step = decode_step(lean, DecodingConfig("cd"), None)
    cache = lean.new_cache(1, 4)
    valid = torch.ones(1, 4, dtype=torch.bool)
    lean.forward(torch.tensor([[1, 5]]), torch.tensor([[0, 1]]), cache, 0, valid[:, :2])
    u = torch.tensor([0.5], dtype=torch.float64)
    with pytest.raises(ValueError, match="BAD logits contain NaN or infinite values"):
        step(torch.tensor([7]), torch.tensor([2]), cache, valid, 2, u)


def test_kernel_that_cannot_be_built_warns_and_the_reference_runs(monkeypatch):
    from cdsynth.engine import cpu_attention

    def broken():
        raise RuntimeError("g++ failed: no compiler here")

    monkeypatch.setattr(cpu_attention, "_build", broken)
    with pytest.warns(UserWarning, match="could not be built .*no compiler here"):
        assert cpu_attention.kernel_available.__wrapped__() is False
    q = torch.zeros(1, 1, 2, 4, dtype=torch.float64)
    kv = torch.ones(1, 1, 2, 4, dtype=torch.float64)
    caches = [torch.zeros(1, 1, 2, 3, 4, dtype=torch.float64) for _ in range(2)]
    out = cpu_attention.cached_attention(q, kv, kv, *caches, torch.ones(1, 2, dtype=bool), False)
    assert torch.equal(out, torch.full((1, 1, 2, 4), 0.5, dtype=torch.float64))  # mean of 0, 1
    assert torch.equal(caches[0][:, :, :, 1], kv)  # the slot was written


SCANS = ("aten.cumsum", "aten.cumprod", "aten.logcumsumexp", "aten._cummax", "aten._cummin")


def scans_over_expressions(rule, lean, steps=3):
    """The scan nodes in the ATen graph of the compiled decode step (what inductor lowers)
    whose input is computed inside the graph rather than read from a graph input. Without
    our CPU ops (as off the CPU): the sampling op holds the sample's cumulative sum."""
    from torch._dynamo.backends.common import aot_autograd

    from cdsynth.engine.decode_step import RECOMPILE_LIMIT, _step

    graphs = []

    def record(gm, example_inputs):
        graphs.append(gm)
        return gm

    compiled = torch.compile(_step, backend=aot_autograd(fw_compiler=record))
    cache = lean.new_cache(2, 3 + steps)
    valid = torch.ones(2, 3 + steps, dtype=torch.bool)
    with torch.no_grad(), torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT):
        lean.forward(
            torch.tensor([[1, 5, 6], [1, 7, 8]]),
            torch.tensor([[0, 1, 2]] * 2),
            cache,
            0,
            valid[:, :3],
        )
        for t in range(steps):
            ids, pos = torch.tensor([9, 10]), torch.tensor([3 + t] * 2)
            u = torch.tensor([0.3, 0.8], dtype=torch.float64)
            compiled(
                rule,
                None,
                {**lean.decode_weights(), "cpu_kernels": False},
                lean.decode_spec,
                ids,
                pos,
                cache.keys,
                cache.values,
                valid[:, : 4 + t],
                u,
            )
    assert graphs
    return [
        n
        for gm in graphs
        for n in gm.graph.nodes
        if n.op == "call_function"
        and str(n.target).startswith(SCANS)
        and n.args[0].op != "placeholder"
    ]


@pytest.mark.parametrize(
    "rule",
    [
        DecodingConfig("cd", alpha=0.1, top_k=20),
        DecodingConfig("cd", alpha=0.1, top_p=0.9),
        DecodingConfig("cd", alpha=0.1, top_p=0.9, paper_compatible=True),
    ],
    ids=["cd-top-k", "cd-top-p", "paper-top-p"],
)
def test_compiled_step_off_the_cpu_leaves_no_scan_over_an_expression_to_inductor(rule, monkeypatch):
    """pytorch/pytorch#180221: on CUDA (torch 2.11) inductor's split scan (a scan dimension
    >= 129, as [256, 32000] scores) fails to compile when the scan's input is an expression
    over a broadcast value, as the softmax before the sample's and top-p's cumulative sums is.
    Off the CPU the decode step hands every such scan to ATen (decoding.row_cumsum).

    What a CPU can check: the ATen graph that inductor would lower, traced here with the rule
    for devices other than the CPU (`scans_in_graph` patched to say so), holds no scan over an
    expression; with the CPU's rule the same graph holds them (so the check can fail). The
    crash itself is in inductor's Triton code generation, which needs a CUDA device and
    Triton: tests/test_cuda.py compiles the step at vocabulary 32000 and batch 256 there."""
    from cdsynth import decoding

    lean = LeanLlama(
        [random_model(7, torch.float32), random_model(8, torch.float32)], torch.float32
    )
    assert scans_over_expressions(rule, lean)  # the CPU's graph: inductor gets the scans
    monkeypatch.setattr(decoding, "scans_in_graph", lambda device: False)
    assert scans_over_expressions(rule, lean) == []


def test_step_with_scans_outside_the_graph_gives_the_same_corpus(monkeypatch):
    """The opaque cumulative sum (the path off the CPU) run on the CPU: the same tokens,
    scores and statistics as the default compiled step, with top-p and the paper's top-p (the
    CPU's inductor hands scans to ATen too, so here the numbers are the same bits)."""
    from cdsynth import decoding

    models = [random_model(3, torch.float32), random_model(4, torch.float32)]
    prefixes = prefixes_of([3, 7, 5, 6])
    keys = np.array([[i, 1] for i in range(4)])
    for rule in (
        DecodingConfig("cd", alpha=0.1, top_p=0.9),
        DecodingConfig("cd", alpha=0.1, top_p=0.9, paper_compatible=True),
    ):
        runs = []
        for inside in (True, False):
            monkeypatch.setattr(decoding, "scans_in_graph", lambda device, inside=inside: inside)
            lean = LeanLlama(models, torch.float32)
            lean.models_op = False  # the graph's rule (the models' op runs the rule eagerly)
            with torch.profiler.profile() as prof:
                runs.append(
                    generate_batch([lean], prefixes, keys, rule, 30, 5, "continue", 0.0, True)
                )
            ops = {e.key for e in prof.key_averages()}
            assert ("cdsynth::row_cumsum" in ops) == (not inside)  # the path asked for ran
        a, b = runs
        assert a.tokens == b.tokens
        assert a.mean_contrast == b.mean_contrast
        assert a.mean_vhead_size == b.mean_vhead_size
        for x, y in zip(a.step_scores, b.step_scores, strict=True):
            assert torch.equal(x, y)


def test_kernel_is_built_for_the_vector_units_torch_uses(monkeypatch):
    """Torch held to AVX2 (ATEN_CPU_CAPABILITY=avx2, as `make test-avx2` does) holds our
    kernel to AVX2 too, so that the AVX2 run tests what an AVX2-only CPU runs."""
    import platform

    from cdsynth.engine import cpu_attention

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("x86-64 only")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert "-mno-avx512f" in cpu_attention.compiler_flags()
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert cpu_attention.compiler_flags() == cpu_attention.FLAGS


def test_bf16_without_bf16_arithmetic_stores_bf16_and_computes_in_float32(monkeypatch):
    """bf16 on a CPU without bf16 arithmetic (forced here; natural under `make test-avx2`):
    weights rounded to bf16 and held in float32, a bf16 cache, float32 arithmetic. Its logits
    equal float32 arithmetic on the bf16-rounded weights with K and V rounded to bf16 (the
    float64 reference below), and its compiled step's tokens equal its eager forward's."""
    from cdsynth import distributed

    monkeypatch.setattr(distributed, "bf16_supported", lambda device: False)
    hf = random_model(9, torch.float32)
    lean = LeanLlama([hf], torch.bfloat16)
    assert (lean.dtype, lean.cache_dtype) == (torch.float32, torch.bfloat16)
    assert lean.layers[0]["qkv"].dtype == torch.float32
    assert torch.equal(lean.layers[0]["qkv"], lean.layers[0]["qkv"].bfloat16().float())
    assert lean.lm_head.dtype == torch.float32  # the output layer is never rounded
    assert lean.new_cache(2, 7).keys[0].dtype == torch.bfloat16
    # the reference: a float64 engine on the same rounded weights, its cache rounded to bf16
    ref = LeanLlama([hf], torch.float64)
    for name in ("norm_in", "qkv", "o", "norm_post", "gate_up", "down"):
        for L, R in zip(lean.layers, ref.layers, strict=True):
            R[name] = L[name].double()
    ref.embed = lean.embed.double()
    pre = prefixes_of([5, 5])
    ids, pos = torch.tensor(pre), torch.arange(5)[None].expand(2, 5)
    valid = torch.ones(2, 7, dtype=torch.bool)
    caches = lean.new_cache(2, 7), ref.new_cache(2, 7)
    lean.forward(ids, pos, caches[0], 0, valid[:, :5])
    ref.forward(ids, pos, caches[1], 0, valid[:, :5])
    for c in caches[1].keys + caches[1].values:
        c.copy_(c.bfloat16().double())
    tok, p = torch.tensor([9, 9]), torch.tensor([5, 5])
    got = lean.decode_logits(tok, p, caches[0], valid[:, :6])
    want = ref.forward(tok[:, None], p[:, None], caches[1], 5, valid[:, :6])
    # (6e-4 seen, on logits up to 2.3: the reference keeps the new token's own K and V
    # unrounded; float32 against float64 arithmetic alone moves them by ~1e-6)
    torch.testing.assert_close(got.double(), want, rtol=0, atol=2e-3)
    # whole runs: the compiled one-graph step and the eager per-op loop give the same tokens
    engines = make_engines(hf, random_model(10, torch.float32), torch.bfloat16)
    keys = np.array([[0, 0], [1, 0], [2, 1]])
    rule = DecodingConfig("cd", alpha=0.1, lam=1.0)
    runs = []
    for fused in (True, False):
        engines[0].fused_step = fused
        runs.append(generate_batch(engines, prefixes_of([3, 7, 5]), keys, rule, 24, seed=4))
    assert runs[0].tokens == runs[1].tokens


def test_auto_dtype_per_engine_and_cpu(monkeypatch):
    """generate.dtype=auto: bf16 where the CPU has bf16 arithmetic; without it, bf16 storage
    for the lean engine and float32 for the generic one; bf16 asked of the generic engine
    there says in one line that it is emulated."""
    from cdsynth import distributed
    from cdsynth.generate.run import dtype_note, resolve_dtype

    cpu = torch.device("cpu")
    for has_bf16 in (True, False):
        monkeypatch.setattr(distributed, "bf16_supported", lambda device, v=has_bf16: v)
        assert resolve_dtype("auto", cpu, "lean") == torch.bfloat16
        assert resolve_dtype("auto", cpu, "generic") == (
            torch.bfloat16 if has_bf16 else torch.float32
        )
        assert resolve_dtype("fp32", cpu, "lean") == torch.float32
        assert dtype_note(torch.float32, cpu, "generic") is None
    assert "emulated" in dtype_note(torch.bfloat16, cpu, "generic")
    assert "float32 arithmetic" in dtype_note(torch.bfloat16, cpu, "lean")


@pytest.mark.slow
def test_kernel_compiles_for_aarch64(tmp_path):
    """The kernel's source builds for 64-bit ARM (Graviton, Ampere, Apple silicon under Linux):
    cross-compiled to an object file by Debian's aarch64-linux-gnu-g++ (package
    g++-aarch64-linux-gnu; .ci/run installs it) with the flags of a native build there, armv8-a
    in place of -march=native. Nothing is linked or run: no ARM machine has run the kernel
    (where it cannot be built, decoding runs the torch formulation: test_generate.py checks
    that it makes the same corpus)."""
    import shutil
    import subprocess

    from cdsynth.engine import cpu_attention

    cxx = shutil.which("aarch64-linux-gnu-g++")
    if cxx is None:
        pytest.skip("no aarch64 cross compiler (apt-get install g++-aarch64-linux-gnu)")
    flags = [f for f in cpu_attention.FLAGS if f not in ("-march=native", "-shared")]
    cmd = [cxx, *flags, "-march=armv8-a", *cpu_attention.header_flags()]
    for source in cpu_attention.SOURCES:
        obj = tmp_path / f"{source.stem}.o"
        done = subprocess.run(
            [*cmd, "-c", str(source), "-o", str(obj)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-3000:]
        header = obj.read_bytes()[:20]
        assert header[:4] == b"\x7fELF"
        assert int.from_bytes(header[18:20], "little") == 183  # AArch64


@pytest.mark.parametrize("strategy", ["cd", "vhead", "ancestral"])
def test_the_static_step_gives_the_growing_steps_corpus_in_float64(strategy):
    """generate.step_shape=static (every shape fixed, a masked read of the whole cache: what a
    CUDA graph captures) against the growing step: the same tokens and statistics over 120
    steps with left padding and EOS, float64 (eager)."""
    models = [random_model(3), random_model(4)]
    rule = DecodingConfig(strategy, alpha=0.1, lam=0.5, top_p=0.95)
    prefixes = prefixes_of([3, 7, 5, 6])
    keys = np.array([[i, 1] for i in range(4)])
    runs = []
    for static in (False, True):
        lean = LeanLlama(models, torch.float64)
        lean.static_step = static
        runs.append(generate_batch([lean], prefixes, keys, rule, 120, 3, "continue", 0.0, True))
        (step,) = lean.steps.values()
        assert step.static == static and not step.compiled
    growing, static = runs
    assert static.tokens == growing.tokens
    np.testing.assert_allclose(static.mean_vhead_size, growing.mean_vhead_size, rtol=0)
    np.testing.assert_allclose(
        static.differs_from_good_argmax, growing.differs_from_good_argmax, rtol=0
    )
    if strategy == "cd":
        np.testing.assert_allclose(static.mean_contrast, growing.mean_contrast, rtol=1e-12)
    for a, b in zip(static.step_scores, growing.step_scores, strict=True):
        assert torch.equal(torch.isinf(a), torch.isinf(b))
        torch.testing.assert_close(a[torch.isfinite(b)], b[torch.isfinite(b)], atol=1e-12, rtol=0)


def test_the_static_step_compiles_once_for_every_token_and_equals_the_growing_one():
    """fp32, compiled: one graph serves every token of a batch (no recompile as the cache
    fills: the shapes never change) and the picks equal the growing step's."""
    from torch._dynamo.utils import counters

    models = [random_model(3, torch.float32), random_model(4, torch.float32)]
    rule = DecodingConfig("cd", alpha=0.1, lam=1.0, top_k=20)
    prefixes = prefixes_of([3, 7, 5, 6])
    keys = np.array([[i, 0] for i in range(4)])
    runs = []
    for static in (False, True):
        lean = LeanLlama(models, torch.float32)
        lean.static_step = static
        counters.clear()
        runs.append(generate_batch([lean], prefixes, keys, rule, 30, 1, "continue"))
        if static:
            assert counters["stats"]["unique_graphs"] == 1
            assert not counters["graph_break"]
    assert runs[1].tokens == runs[0].tokens


def test_step_shape_is_a_setting_that_changes_no_identity():
    from cdsynth.config import GenerateConfig, load_config, to_dict
    from cdsynth.identity import identity

    cfg = load_config(None, ["generate.step_shape=static"]).generate
    assert cfg.step_shape == "static"
    assert identity("generate", to_dict(cfg)) == identity("generate", to_dict(GenerateConfig()))
    assert "step_shape" not in to_dict(GenerateConfig())  # records of today's corpora unchanged


def test_the_static_step_reuses_its_cache_and_a_second_batch_is_unchanged():
    """The static step keeps one cache per shape (a CUDA graph over it is replayed, not captured
    again): a second batch of the same shape, after a first, gives what it gives alone."""
    models = [random_model(3), random_model(4)]
    rule = DecodingConfig("cd", alpha=0.1, lam=0.5)
    first, second = prefixes_of([3, 7, 5], seed=1), prefixes_of([6, 2, 7], seed=2)
    keys = np.array([[i, 0] for i in range(3)])
    lean = LeanLlama(models, torch.float64)
    lean.static_step = True
    generate_batch([lean], first, keys, rule, 30, 1, "continue")
    cache = lean._static_cache
    after = generate_batch([lean], second, keys, rule, 30, 1, "continue")
    assert lean._static_cache is cache  # the same tensors
    alone = LeanLlama(models, torch.float64)
    alone.static_step = True
    assert after.tokens == generate_batch([alone], second, keys, rule, 30, 1, "continue").tokens


@pytest.mark.parametrize("storage", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("threads", [1, 2, 3])  # side by side (<= 2 models) or one by one
@pytest.mark.parametrize("shape", ["micro", "gqa"])
def test_models_op_equals_decode_logits(monkeypatch, storage, packed, threads, shape):
    """The step's models as one C++ op (`cdsynth_cpu::decode_models`) == `decode_logits` run
    eagerly on the same weights and cache: the same logits and the same cache slot written,
    with left padding, on packed and plain weights, float32 arithmetic over a float32 or a
    bf16 cache (bf16 storage forced as on a CPU without bf16 arithmetic); `gqa`: 4 query
    heads on 2 kv heads, head size 12 set apart from hidden / heads."""
    from cdsynth import distributed
    from cdsynth.engine import kernels
    from cdsynth.engine.decode_step import models_logits, models_weights

    from .test_dropout import hf_model

    if not kernel_available():
        pytest.skip("the CPU kernels could not be built here")
    if packed and not can_pack(torch.device("cpu"), torch.float32):
        pytest.skip("this CPU has no packed oneDNN products in float32")
    monkeypatch.setattr(distributed, "bf16_supported", lambda device: False)
    monkeypatch.setattr(kernels, "can_pack", lambda device, dtype: packed)
    if shape == "micro":
        models = [random_model(11, torch.float32), random_model(12, torch.float32)]
    else:
        models = [hf_model(s, head_dim=12) for s in (11, 12)]
    lean = LeanLlama(models, storage)
    assert lean.dtype == torch.float32 and lean.decode_weights()["packed"] == packed
    ids = torch.tensor([[3, 1, 7, 9, 11], [1, 5, 6, 8, 13], [2, 2, 4, 4, 6]])
    pos = torch.tensor([[0, 0, 1, 2, 3], [0, 1, 2, 3, 4], [0, 0, 0, 1, 2]])
    valid = torch.ones(3, 8, dtype=torch.bool)
    valid[0, 0], valid[2, :2] = False, False
    cache = lean.new_cache(3, 8)
    lean.forward(ids, pos, cache, 0, valid[:, :5])
    ours = type(cache)([c.clone() for c in cache.keys], [c.clone() for c in cache.values])
    tok, p = torch.tensor([20, 30, 40]), pos[:, -1] + 1
    want = lean.decode_logits(tok, p, cache, valid[:, :6])
    w = lean.decode_weights()
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        flat = models_weights(w)
        got = models_logits(w, lean.decode_spec, flat, tok, p, ours.keys, ours.values, valid[:, :6])
    finally:
        torch.set_num_threads(old)
    torch.testing.assert_close(torch.stack(got), want, rtol=0, atol=1e-5)
    for a, b in zip(ours.keys + ours.values, cache.keys + cache.values, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5 if storage == torch.float32 else 0)
