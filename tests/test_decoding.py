"""Decoding rules on hand-made logits with known answers."""

import math

import numpy as np
import pytest
import torch

from cdsynth.config import DecodingConfig
from cdsynth.decoding import (
    ancestral_scores,
    contrastive_scores,
    paper_contrastive_scores,
    plausible_mask,
    sample,
    step_scores,
    top_k_filter,
    top_p_filter,
    truncate,
    vhead_scores,
)

INF = math.inf


def logits_of(probs):
    """Logits whose softmax is `probs` (zeros become a very low logit)."""
    p = torch.tensor(probs, dtype=torch.float64)
    return torch.log(p.clamp_min(1e-300))


def test_cd_exact_scores():
    good = logits_of([[0.5, 0.3, 0.15, 0.05]])
    bad = logits_of([[0.7, 0.1, 0.1, 0.1]])
    s = contrastive_scores(good, bad, alpha=0.25, lam=1.0)
    # V_head: p >= 0.25 * 0.5 = 0.125 -> tokens 0, 1, 2
    expected = [math.log(0.5 / 0.7), math.log(0.3 / 0.1), math.log(0.15 / 0.1), -INF]
    assert s.dtype == torch.float64
    assert s[0].tolist() == pytest.approx(expected, abs=1e-12)
    # lambda scales the amateur's log-probability
    s2 = contrastive_scores(good, bad, alpha=0.25, lam=0.5)
    assert s2[0, 1].item() == pytest.approx(math.log(0.3) - 0.5 * math.log(0.1), abs=1e-12)
    # a token upweighted by CD: p_good 0.3 vs p_bad 0.1 beats the GOOD argmax
    assert int(torch.argmax(s)) == 1


def test_alpha_edges_and_ties():
    good = logits_of([[0.4, 0.4, 0.1, 0.1]])
    bad = logits_of([[0.25, 0.25, 0.25, 0.25]])
    # alpha = 1: only the (tied) maxima
    assert plausible_mask(torch.log_softmax(good, -1), 1.0)[0].tolist() == [
        True,
        True,
        False,
        False,
    ]
    s = contrastive_scores(good, bad, alpha=1.0, lam=1.0)
    assert torch.isinf(s[0, 2:]).all() and torch.isfinite(s[0, :2]).all()
    # alpha = 0: every token plausible
    assert torch.isfinite(contrastive_scores(good, bad, alpha=0.0, lam=1.0)).all()
    # exactly on the threshold is inside: 0.1 >= 0.25 * 0.4
    assert plausible_mask(torch.log_softmax(good, -1), 0.25)[0].tolist() == [True] * 4
    with pytest.raises(ValueError):
        plausible_mask(torch.log_softmax(good, -1), 1.5)


def test_lambda_zero_is_vhead_and_all_mass_on_one_token():
    good = logits_of([[0.6, 0.3, 0.1]])
    bad = logits_of([[0.1, 0.1, 0.8]])
    assert torch.equal(contrastive_scores(good, bad, 0.1, 0.0), vhead_scores(good, 0.1))
    # all of GOOD's mass on one token: V_head is that token alone, with a finite score
    spike = torch.tensor([[0.0, -1e4, -1e4]], dtype=torch.float64)
    s = contrastive_scores(spike, bad, alpha=0.1, lam=1.0)
    assert s[0, 0].item() == pytest.approx(-math.log(0.1), abs=1e-9)
    assert torch.isinf(s[0, 1:]).all()
    # even when BAD puts no mass at all there, nothing becomes NaN or -inf - -inf
    bad_spike = torch.tensor([[-1e4, 0.0, 0.0]], dtype=torch.float64)
    s = contrastive_scores(spike, bad_spike, alpha=0.1, lam=1.0)
    assert not torch.isnan(s).any() and s[0, 0].item() > 9000


@pytest.mark.parametrize("bad_value", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_input_rejected(bad_value):
    ok = torch.zeros(1, 4)
    broken = torch.tensor([[0.0, bad_value, 0.0, 0.0]])
    with pytest.raises(ValueError, match="NaN or infinite"):
        contrastive_scores(ok, broken, 0.1, 1.0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        contrastive_scores(broken, ok, 0.1, 1.0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        ancestral_scores(broken)


def test_shape_mismatch_rejected():
    with pytest.raises(ValueError, match="differ in shape"):
        contrastive_scores(torch.zeros(1, 4), torch.zeros(1, 5), 0.1, 1.0)


def test_temperatures():
    good = logits_of([[0.5, 0.3, 0.2]])
    s = ancestral_scores(good, temperature=2.0)
    expected = torch.log_softmax(good / 2.0, -1)
    assert torch.allclose(s, expected)
    bad = logits_of([[0.2, 0.3, 0.5]])
    s = contrastive_scores(good, bad, 0.0, 1.0, good_temperature=0.5, bad_temperature=2.0)
    exp = torch.log_softmax(good / 0.5, -1) - torch.log_softmax(bad / 2.0, -1)
    assert torch.allclose(s, exp)


def test_top_k_and_top_p():
    s = torch.log(torch.tensor([[0.1, 0.4, 0.2, 0.3]], dtype=torch.float64))
    assert torch.isfinite(top_k_filter(s, 2))[0].tolist() == [False, True, False, True]
    # ties at the k-th value are kept
    t = torch.tensor([[1.0, 2.0, 2.0, 0.0]])
    assert torch.isfinite(top_k_filter(t, 2))[0].tolist() == [False, True, True, False]
    # top-p 0.6: 0.4 + 0.3 reaches it -> two tokens; 0.7 exactly -> two; 0.71 -> three
    assert torch.isfinite(top_p_filter(s, 0.6))[0].tolist() == [False, True, False, True]
    assert torch.isfinite(top_p_filter(s, 0.7))[0].tolist() == [False, True, False, True]
    assert torch.isfinite(top_p_filter(s, 0.71))[0].tolist() == [False, True, True, True]
    assert torch.isfinite(top_p_filter(s, 0.01))[0].tolist() == [False, True, False, False]
    # truncation keeps -inf of the rule and then applies the final temperature
    out = truncate(torch.tensor([[-INF, 1.0, 2.0, 0.5]]), top_k=2, temperature=0.5)
    assert out[0].tolist() == [-INF, 2.0, 4.0, -INF]


def test_sample_inverse_cdf():
    s = torch.log(torch.tensor([[0.0, 0.25, 0.5, 0.25]] * 5, dtype=torch.float64))
    u = torch.tensor([0.0, 0.2499, 0.25, 0.7499, 0.99999])
    assert sample(s, u).tolist() == [1, 1, 2, 2, 3]
    # a -inf token is never picked, even with u = 0 or just under 1
    s = torch.tensor([[-INF, 0.0, -INF], [0.0, -INF, -INF]])
    assert sample(s, torch.tensor([0.0, 1 - 1e-16])).tolist() == [1, 0]
    # frequencies follow the distribution
    g = torch.Generator().manual_seed(0)
    probs = torch.tensor([0.1, 0.6, 0.3], dtype=torch.float64)
    u = torch.rand(20000, generator=g, dtype=torch.float64)
    picks = sample(torch.log(probs).expand(20000, 3), u)
    freq = torch.bincount(picks, minlength=3).double() / 20000
    assert torch.allclose(freq, probs, atol=0.01)


def paper_formula_literal(good_logits, bad_logits, alpha, lam, top_k):
    """A line-by-line transcription of the paper's CD step, in plain numpy."""
    out = []
    for g, b in zip(
        np.asarray(good_logits, dtype=np.float64),
        np.asarray(bad_logits, dtype=np.float64),
        strict=False,
    ):
        p_g = np.exp(g - g.max()) / np.exp(g - g.max()).sum()
        p_b = np.exp(b - b.max()) / np.exp(b - b.max()).sum()
        cd = np.log(p_g + 1e-10) - lam * np.log(p_b + 1e-10)
        cd[p_g < alpha * p_g.max()] = -20.0
        if top_k:
            kth = np.sort(cd)[::-1][top_k - 1]
            cd[cd < kth] = -np.inf
        out.append(cd)
    return np.stack(out)


def test_paper_compatible_preset_matches_literal_transcription():
    g = torch.Generator().manual_seed(1)
    good = torch.randn(6, 50, generator=g, dtype=torch.float64) * 3
    bad = torch.randn(6, 50, generator=g, dtype=torch.float64) * 3
    for top_k in (0, 5, 20):
        rule = DecodingConfig(strategy="cd", alpha=0.1, lam=1.0, top_k=top_k, paper_compatible=True)
        ours = step_scores(rule, good, bad).scores.numpy()
        ref = paper_formula_literal(good, bad, 0.1, 1.0, top_k)
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)
    # where the two presets differ: out-of-mask tokens keep a finite -20 in the paper's code
    paper = paper_contrastive_scores(good, bad, 0.1, 1.0)
    ours = contrastive_scores(good, bad, 0.1, 1.0)
    outside = torch.isinf(ours)
    assert outside.any() and (paper[outside] == -20.0).all()
    inside = ~outside
    assert torch.allclose(paper[inside], ours[inside], atol=1e-6)


def test_step_scores_strategies():
    good = logits_of([[0.5, 0.3, 0.15, 0.05]])
    bad = logits_of([[0.7, 0.1, 0.1, 0.1]])
    cd = step_scores(DecodingConfig("cd", alpha=0.25), good, bad)
    assert torch.equal(cd.scores, contrastive_scores(good, bad, 0.25, 1.0))
    assert cd.vhead[0].tolist() == [True, True, True, False]
    anc = step_scores(DecodingConfig("ancestral", top_k=2), good, None)
    assert torch.isfinite(anc.scores)[0].tolist() == [True, True, False, False]
    vh = step_scores(DecodingConfig("vhead", alpha=0.25), good, None)
    assert torch.equal(vh.scores, vhead_scores(good, 0.25))
    with pytest.raises(ValueError, match="needs BAD logits"):
        step_scores(DecodingConfig("cd"), good, None)


@pytest.mark.parametrize("strategy", ["cd", "ancestral", "vhead"])
@pytest.mark.parametrize("top_k, top_p, temp", [(0, 1.0, 1.0), (5, 0.9, 0.7)])
def test_step_scores_equals_composed_rules(strategy, top_k, top_p, temp):
    g = torch.Generator().manual_seed(3)
    good = torch.randn(4, 40, generator=g) * 2
    bad = torch.randn(4, 40, generator=g) * 2
    rule = DecodingConfig(
        strategy,
        alpha=0.2,
        lam=0.7,
        good_temperature=0.9,
        bad_temperature=1.3,
        top_k=top_k,
        top_p=top_p,
        temperature=temp,
    )
    if strategy == "cd":
        base = contrastive_scores(good, bad, 0.2, 0.7, 0.9, 1.3)
    elif strategy == "vhead":
        base = vhead_scores(good, 0.2, 0.9)
    else:
        base = ancestral_scores(good, 0.9)
    expected = truncate(base, top_k, top_p, temp)
    got = step_scores(rule, good, bad if strategy == "cd" else None).scores
    assert torch.equal(torch.isinf(got), torch.isinf(expected))
    torch.testing.assert_close(got[torch.isfinite(got)], expected[torch.isfinite(expected)])
