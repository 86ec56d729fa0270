"""The rule objects: min-p, typical-p and the reasoning CD on hand-made logits and against
transformers' processors; what a rule says about itself (amateur, identity, paper variant,
titles), and the three additions used in a study condition, a sweep and a compiled step."""

import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch
from transformers.generation.logits_process import MinPLogitsWarper, TypicalLogitsWarper

from cdsynth.config import DecodingConfig, GenerateConfig, from_dict, load_config, to_dict
from cdsynth.decoding import choose, log_probs, plausible_mask, step_scores
from cdsynth.decoding_rules import (
    FILTERS,
    STRATEGIES,
    Contrastive,
    MinP,
    ReasoningCD,
    Typical,
    setting_is_off,
    setting_title,
)
from cdsynth.errors import UserError
from cdsynth.identity import identity

INF = math.inf


def logits_of(probs):
    p = torch.tensor(probs, dtype=torch.float64)
    return torch.log(p.clamp_min(1e-300))


def random_logits(seed, rows=6, vocab=300, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(rows, vocab, generator=g, dtype=torch.float64) * 3).to(dtype)


# ---- min-p ---------------------------------------------------------------------------------


def test_min_p_by_hand():
    """Keep p >= min_p * max p: with max 0.5 and min_p 0.5 the bar is 0.25."""
    scores = logits_of([[0.5, 0.3, 0.15, 0.05], [0.25, 0.25, 0.4, 0.1]])
    kept = torch.isfinite(MinP(0.5).apply(scores))
    assert kept.tolist() == [[True, True, False, False], [True, True, True, False]]
    # min_p 1 keeps the top token (and its ties) only
    assert torch.isfinite(MinP(1.0).apply(scores)).sum(-1).tolist() == [1, 1]
    # the rule: off at 0, on after the strategy; its cut tokens are -inf, the rest untouched
    rule = DecodingConfig("ancestral", min_p=0.5).rule
    st = rule.step(scores, None)
    assert torch.equal(torch.isfinite(st.scores), kept)
    assert torch.equal(st.scores[kept], st.good_logp[kept])
    assert DecodingConfig("ancestral").rule.filters == ()


@pytest.mark.parametrize("min_p", [0.05, 0.2, 0.7])
def test_min_p_equals_transformers(min_p):
    """transformers' MinPLogitsWarper (probabilities) and ours (log space) cut the same
    tokens, on scores that already hold -inf (after V_head)."""
    scores = random_logits(1)
    scores[:, :40] = -INF
    ref = MinPLogitsWarper(min_p)(None, scores.clone())
    assert torch.equal(MinP(min_p).apply(scores), ref)


# ---- typical-p -----------------------------------------------------------------------------


def test_typical_by_hand():
    """probs (0.5, 0.3, 0.2): entropy 1.0297 nats; |surprisal - entropy| is 0.337, 0.174,
    0.580, so the order is tokens 1, 0, 2 with cumulative mass 0.3, 0.8, 1.0: p = 0.5 keeps
    tokens 1 and 0 (the first past 0.5 included), p = 0.2 token 1 alone, p = 0.9 all."""
    scores = logits_of([[0.5, 0.3, 0.2]])
    for p, kept in [(0.5, [True, True, False]), (0.2, [False, True, False]), (0.9, [True] * 3)]:
        assert torch.isfinite(Typical(p).apply(scores))[0].tolist() == kept


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9, 0.99])
def test_typical_equals_transformers(dtype, p):
    """transformers' TypicalLogitsWarper is the reference: equal on the same scores, bit for
    bit, with and without -inf among them."""
    scores = random_logits(2, dtype=dtype)
    for s in (scores, scores.masked_fill(scores < -2, -INF)):
        ref = TypicalLogitsWarper(p)(None, s.clone())
        got = Typical(p).apply(s)
        assert torch.equal(torch.isinf(got), torch.isinf(ref))
        assert torch.equal(got, ref)


# ---- the reasoning CD ----------------------------------------------------------------------


def test_reasoning_cd_by_hand():
    """(1 + beta) log p_good - beta log p_bad on V_head (p_good >= alpha max p_good), -inf
    elsewhere (O'Brien & Lewis 2023, Algorithm 1)."""
    good = logits_of([[0.5, 0.3, 0.15, 0.05]])
    bad = logits_of([[0.7, 0.1, 0.1, 0.1]])
    s = step_scores(DecodingConfig("reasoning_cd", alpha=0.25, beta=0.5), good, bad).scores
    lg = [math.log(x) for x in (0.5, 0.3, 0.15)]
    lb = [math.log(x) for x in (0.7, 0.1, 0.1)]
    want = [1.5 * g - 0.5 * b for g, b in zip(lg, lb, strict=True)] + [-INF]
    assert s[0].tolist() == pytest.approx(want, abs=1e-12)
    # beta 0 is the V_head control; it needs the amateur all the same
    zero = step_scores(DecodingConfig("reasoning_cd", alpha=0.25, beta=0.0), good, bad).scores
    assert torch.equal(zero, step_scores(DecodingConfig("vhead", alpha=0.25), good, None).scores)
    with pytest.raises(ValueError, match="needs BAD logits"):
        step_scores(DecodingConfig("reasoning_cd"), good, None)


@pytest.mark.parametrize("beta", [0.1, 0.5, 1.0, 3.0])
def test_reasoning_cd_is_cd_with_lam_and_temperature(beta):
    """(1 + b) g - b a = (g - lam a) / T with lam = b / (1 + b), T = 1 / (1 + b): the same
    distribution as the standard CD at that lam and final temperature (scores equal up to
    rounding; over V_head the log-softmax of both is the same)."""
    good, bad = random_logits(3), random_logits(4)
    ours = step_scores(DecodingConfig("reasoning_cd", alpha=0.1, beta=beta), good, bad).scores
    lam, temperature = beta / (1 + beta), 1 / (1 + beta)
    cd = DecodingConfig("cd", alpha=0.1, lam=lam, temperature=temperature)
    std = step_scores(cd, good, bad).scores
    assert torch.equal(torch.isinf(ours), torch.isinf(std))
    inside = torch.isfinite(std)
    torch.testing.assert_close(ours[inside], std[inside], rtol=0, atol=1e-12)
    torch.testing.assert_close(
        torch.log_softmax(ours, -1)[inside], torch.log_softmax(std, -1)[inside], rtol=0, atol=1e-12
    )
    # their logits (not log-probs) give the same distribution: a per-row shift cancels
    logits = (1 + beta) * good - beta * bad
    logits = logits.masked_fill(~plausible_mask(log_probs(good), 0.1), -INF)
    torch.testing.assert_close(torch.log_softmax(logits, -1), torch.log_softmax(ours, -1))


# ---- what a rule says about itself -------------------------------------------------------


def test_rules_say_what_they_need():
    assert [s.name for s in STRATEGIES] == ["cd", "ancestral", "vhead", "reasoning_cd"]
    needs = {s.name: DecodingConfig(s.name).rule.needs_amateur for s in STRATEGIES}
    assert needs == {"cd": True, "ancestral": False, "vhead": False, "reasoning_cd": True}
    rule = DecodingConfig("reasoning_cd", top_k=5, typical_p=0.9, min_p=0.1).rule
    assert isinstance(rule.strategy, ReasoningCD) and rule.strategy.beta == 0.5
    assert [type(f).__name__ for f in rule.filters] == ["TopK", "Typical", "MinP"]
    assert rule.identity_keys == (
        "strategy",
        "good_temperature",
        "top_k",
        "top_p",
        "temperature",
        "paper_compatible",
        "alpha",
        "beta",
        "bad_temperature",
        "typical_p",
        "min_p",
    )
    assert isinstance(DecodingConfig("cd", lam=0.5).rule.strategy, Contrastive)
    assert setting_title("min_p") == "Min-p truncation"
    assert setting_title("typical_p") == "Typical-p truncation"
    assert setting_title("beta").startswith("Amateur penalty beta")
    assert setting_title("lam") == "Contrast strength lambda" and setting_title("x") is None
    assert {f.__name__ for f in FILTERS} == {"TopK", "TopP", "Typical", "MinP"}


def test_each_filter_knows_its_off_value():
    # the value at which the filter's own build makes none: top_k 0, top_p 1, typical_p 1, min_p 0
    for key, off, on in (("top_k", 0, 50), ("top_p", 1.0, 0.9), ("typical_p", 1.0, 0.5)):
        assert setting_is_off(key, off) and not setting_is_off(key, on)
    assert setting_is_off("top_p", 1) and setting_is_off("min_p", 0.0)
    assert not setting_is_off("min_p", 0.05)
    assert [
        DecodingConfig(**{k: v}).rule.filters
        for k, v in (("top_k", 0), ("top_p", 1.0), ("typical_p", 1.0), ("min_p", 0.0))
    ] == [()] * 4
    # a strategy's setting or a study setting has no off value (lam 0 is not "off")
    assert not setting_is_off("lam", 0) and not setting_is_off("alpha", 0)
    assert not setting_is_off("ratio", 0.3)
    with pytest.raises(UserError, match="top_p must be in"):
        setting_is_off("top_p", 0)


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(min_p=1.5), "generate.decoding.min_p must be in [0, 1]"),
        (dict(min_p=-0.1), "generate.decoding.min_p must be in [0, 1]"),
        (dict(typical_p=0.0), "generate.decoding.typical_p must be in (0, 1]"),
        (dict(beta=-1.0), "generate.decoding.beta must be finite and >= 0"),
        (dict(strategy="reasoning_cd", paper_compatible=True), "has no strategy reasoning_cd"),
        (dict(min_p=0.1, paper_compatible=True), "has no min_p"),
        (dict(typical_p=0.9, paper_compatible=True), "has no typical_p"),
        (dict(strategy="dola"), "generate.decoding.strategy must be one of"),
    ],
)
def test_rules_check_their_settings(settings, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("[", r"\[")):
        from_dict(DecodingConfig, settings, "generate.decoding")


def test_added_settings_leave_records_and_identities_as_they_were():
    """min_p, typical_p and beta were added after corpora existed: at their defaults a
    config's record (to_dict) and identity are what they were; set, they are recorded and,
    where the rule reads them, change the identity."""
    plain = to_dict(GenerateConfig())
    assert not {"min_p", "typical_p", "beta"} & set(plain["decoding"])

    def ident(**kw):
        return identity("generate", to_dict(GenerateConfig(decoding=DecodingConfig(**kw))))

    assert ident() == identity("generate", plain)
    assert ident(min_p=0.1) != ident() and ident(typical_p=0.9) != ident()
    assert ident(beta=2.0) == ident()  # CD never reads beta
    rcd = ident(strategy="reasoning_cd")
    assert rcd != ident() and ident(strategy="reasoning_cd", beta=2.0) != rcd
    assert ident(strategy="reasoning_cd", lam=3.0) == rcd  # nor the reasoning CD lam
    back = from_dict(DecodingConfig, to_dict(DecodingConfig(min_p=0.1)), "d")
    assert back == DecodingConfig(min_p=0.1)


# ---- in a study, a sweep and the compiled step ----------------------------------------------

STUDY = [
    "study.seeds=[0]",
    "study.amateurs={early: {run: baseline, step: 100}}",
    "study.conditions=[{name: minp, strategy: ancestral, min_p: 0.1}, "
    "{name: typical, strategy: ancestral, typical_p: 0.9}, "
    "{name: rcd, strategy: reasoning_cd, amateur: early, beta: 0.5}]",
    "study.sweeps=[{base: minp, key: min_p, values: [0.05, 0.2]}, "
    "{base: typical, key: typical_p, values: [0.5]}, {base: rcd, key: beta, values: [1.0]}]",
]


def test_the_additions_in_a_study_condition_and_a_sweep(tmp_path):
    from cdsynth.report.study_facts import sweep_specs
    from cdsynth.study import method_roles, study_conditions

    cfg = load_config(None, [f"workdir={tmp_path}", *STUDY])
    conds = {c.name: c.generate for c in study_conditions(cfg)}
    assert conds["minp"].decoding.min_p == 0.1 and conds["minp-min_p-0.2"].decoding.min_p == 0.2
    assert conds["typical-typical_p-0.5"].decoding.typical_p == 0.5
    assert conds["rcd"].bad is not None and conds["minp"].bad is None  # the amateur: asked
    assert conds["rcd-beta-1.0"].decoding.beta == 1.0
    roles, _ = method_roles(cfg)
    assert roles["minp"] == "no_contrast" and roles["rcd"] == "reasoning_cd"
    titles = {s["key"]: s["title"] for s in sweep_specs(cfg)}
    assert titles == {
        "min_p": "Min-p truncation",
        "typical_p": "Typical-p truncation",
        "beta": "Amateur penalty beta (reasoning CD)",
    }
    xs = [p["x"] for s in sweep_specs(cfg) if s["key"] == "min_p" for p in s["points"]]
    assert xs == [0.05, 0.1, 0.2]


def test_the_additions_compile_whole_and_equal_the_eager_step():
    """reasoning CD with top-k, typical-p and min-p through the lean engine's compiled fp32
    step (fullgraph: a rule the compiler cannot trace would fail here) and eagerly: the same
    picks and statistics, scores within float32 rounding; and the generic path's eager
    `choose` on the same logits."""
    from cdsynth.engine.lean import LeanLlama
    from cdsynth.generate import generate_batch

    from .test_generate import prefixes_of, random_model

    models = [random_model(3, torch.float32), random_model(4, torch.float32)]
    cfg = DecodingConfig("reasoning_cd", alpha=0.05, beta=0.7, top_k=40, typical_p=0.95)
    cfg = dataclasses.replace(cfg, min_p=0.02)
    prefixes = prefixes_of([3, 7, 5, 6])
    keys = np.array([[i, 1] for i in range(4)])
    runs = []
    for compile_decode in (False, True):
        lean = LeanLlama(models, torch.float32, compile_decode=compile_decode)
        lean.models_op = False  # the whole compiled graph (float32 would run the models' op)
        runs.append(generate_batch([lean], prefixes, keys, cfg, 24, 3, "continue", 0.0, True))
        assert next(iter(lean.steps.values())).compiled == compile_decode
    eager, compiled = runs
    assert compiled.tokens == eager.tokens
    for a, b in zip(compiled.step_scores, eager.step_scores, strict=True):
        assert torch.equal(torch.isinf(a), torch.isinf(b))
        torch.testing.assert_close(a[torch.isfinite(b)], b[torch.isfinite(b)], atol=1e-4, rtol=0)
    assert compiled.mean_vhead_size == eager.mean_vhead_size
    assert eager.mean_contrast[0] is not None  # the amateur's contrast is recorded
    u = torch.tensor([0.3, 0.8], dtype=torch.float64)
    pick = choose(cfg, random_logits(5, 2, 50), random_logits(6, 2, 50), u)
    assert torch.isfinite(pick.scores).sum(-1).max() <= 40


def test_a_step_past_the_recompile_limit_says_so_and_decodes_eagerly(monkeypatch):
    """Past RECOMPILE_LIMIT graphs the compiled step would fall back to eager silently:
    ours warns once, then runs the same function eagerly (the same tokens)."""
    from cdsynth.engine import decode_step
    from cdsynth.engine.lean import LeanLlama
    from cdsynth.generate import generate_batch

    from .test_generate import prefixes_of, random_model

    monkeypatch.setattr(decode_step, "RECOMPILE_LIMIT", 1)  # one graph of _step, at most
    models = [random_model(3, torch.float32), random_model(4, torch.float32)]
    prefixes, keys = prefixes_of([3, 5]), np.array([[0, 1], [1, 1]])
    lean = LeanLlama(models, torch.float32)
    lean.models_op = False  # the compiled graph (in float32 the models' op runs instead)
    # two rules of another structure: two graphs (or more, with earlier tests' graphs, when
    # the first may already be past the limit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        generate_batch([lean], prefixes, keys, DecodingConfig("ancestral"), 4, 0, "continue")
    with pytest.warns(UserWarning, match="reached 1 graphs"):
        got = generate_batch([lean], prefixes, keys, DecodingConfig("vhead", top_k=7), 6, 0)
    step = lean.steps[(DecodingConfig("vhead", top_k=7).rule, None, False)]
    assert not step.compiled
    eager = LeanLlama(models, torch.float32, compile_decode=False)
    want = generate_batch([eager], prefixes, keys, DecodingConfig("vhead", top_k=7), 6, 0)
    assert got.tokens == want.tokens
