"""Decoding rules on hand-made logits with known answers."""

import dataclasses
import math

import pytest
import torch

from cdsynth.config import DecodingConfig
from cdsynth.decoding import (
    ancestral_scores,
    contrastive_scores,
    paper_contrastive_scores,
    paper_vhead_mask,
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


# The paper's processors, op for op, as a reference (not imported: written out here so that a
# change to cdsynth.decoding can't change the reference too). Source:
# janulm/contrastive-decoding-for-language-modeling, commit cdddeb6; line numbers are those of
# logits_processors.py unless another file is named. Left out: torch.compile (the paper
# compiled every processor with inductor, which may round differently), asserts, prints, and
# the [B, T, V] variant (a decoding step is [B, V]: unsqueezed to [B, 1, V], squeezed back).
PAPER_PENALTY = -20.0  # the default of --penalty_value, generate_synthetic_data_better.py


class PaperTopK:  # TopKLogitsProcessor, :6-83
    def __init__(self, top_k, temperature=1.0, penalty=-1000.0):
        self.top_k, self.temperature, self.penalty = top_k, temperature, penalty

    def __call__(self, input_ids, scores):
        scores = scores / self.temperature  # :26
        scores = scores.unsqueeze(1)  # :34-36
        vocab_size = scores.shape[-1]
        filtered_scores = scores.clone()  # :67
        top_k_values, _ = torch.topk(scores, k=min(self.top_k, vocab_size), dim=-1)  # :71
        thresholds = top_k_values[:, :, -1].unsqueeze(-1)  # :75
        mask = scores < thresholds  # :78
        filtered_scores = torch.where(mask, torch.full_like(scores, self.penalty), filtered_scores)
        return filtered_scores[:, -1, :]  # :81, :42-43


class PaperTopP:  # TopPLogitsProcessor, :87-173
    def __init__(self, top_p, temperature=1.0, penalty=-1000.0):
        self.top_p, self.temperature, self.penalty = top_p, temperature, penalty

    def __call__(self, input_ids, scores):
        scores = scores / self.temperature  # :96
        scores = scores.unsqueeze(1)  # :100-102
        batch_size, seq_len, vocab_size = scores.shape
        new_scores = scores.clone()  # :132
        for b in range(batch_size):  # :135-171
            probs = torch.nn.functional.softmax(scores[b], dim=-1)
            keep_masks = torch.zeros(seq_len, vocab_size, dtype=torch.bool)
            for t in range(seq_len):
                sorted_probs, sorted_indices = torch.sort(probs[t], descending=True)
                cumulative_probs = torch.cumsum(sorted_probs, dim=-1)
                mask = cumulative_probs <= self.top_p  # :152
                if not mask.any():  # :155-156: at least one token
                    mask[0] = True
                else:  # :157-161: and the first one past p
                    idx = torch.where(cumulative_probs > self.top_p)[0]
                    if len(idx) > 0:
                        mask[idx[0]] = True
                keep_masks[t, sorted_indices[mask]] = True
            penalty_tensor = torch.full_like(scores[b], self.penalty)
            new_scores[b] = torch.where(keep_masks, scores[b], penalty_tensor)  # :170-171
        return new_scores[:, -1, :]


class PaperVHead:  # NoContrastVHeadLogitsProcessor, :192-209
    def __init__(self, temperature=1.0, alpha=0.1, penalty=-20.0):
        self.temperature, self.alpha, self.penalty = temperature, alpha, penalty

    def __call__(self, input_ids, scores):
        logits = scores / self.temperature
        probs = torch.nn.functional.softmax(logits, dim=-1)
        max_probs, _ = probs.max(dim=-1, keepdim=True)
        v_head_mask = probs > (self.alpha * max_probs)  # :205, strict
        log_probs = torch.log(probs + 1e-10)
        penalty_tensor = torch.full_like(scores, self.penalty)
        return torch.where(v_head_mask, log_probs, penalty_tensor)


class PaperCD:  # ContrastiveLogitsProcessor, :212-284
    def __init__(self, contrast_strength=0.1, alpha=0.1, temperature=1.0, penalty=-1000.0):
        self.contrast_strength, self.alpha = contrast_strength, alpha
        self.temperature, self.penalty = temperature, penalty

    def __call__(self, input_ids, good_logits, bad_logits):
        good_logits = good_logits / self.temperature  # :258
        bad_logits = bad_logits / self.temperature  # :259
        good_probs = torch.nn.functional.softmax(good_logits, dim=-1)
        bad_probs = torch.nn.functional.softmax(bad_logits, dim=-1)
        max_good_probs, _ = good_probs.max(dim=-1, keepdim=True)
        v_head_mask = good_probs > (self.alpha * max_good_probs)  # :269, strict
        log_good_probs = torch.log(good_probs + 1e-10)  # :272
        log_bad_probs = torch.log(bad_probs + 1e-10)  # :273
        contrast_scores = log_good_probs - self.contrast_strength * log_bad_probs
        penalty_tensor = torch.full_like(good_logits, self.penalty)
        return torch.where(v_head_mask, contrast_scores, penalty_tensor)  # :282


class PaperCDThen:  # ContrastiveWithTopK :517-530 and ContrastiveWithTopP :500-514
    def __init__(self, cut, top, lam, alpha, temperature, penalty):
        self.cd = PaperCD(lam, alpha, temperature, penalty)
        self.cut = cut(top, temperature, penalty)  # the same temperature, again

    def __call__(self, input_ids, good_logits, bad_logits):
        return self.cut(input_ids, self.cd(input_ids, good_logits, bad_logits))


def paper_processor(
    strategy, alpha=0.1, lam=1.0, temperature=1.0, top_k=10, top_p=0.9, pen=PAPER_PENALTY
):
    """get_logits_processor, generate_synthetic_data_better.py:70-94 (None: raw logits);
    `pen` is its --penalty_value."""
    return {
        "no_contrast": None,
        "no_contrast_top_p": lambda: PaperTopP(top_p, temperature, pen),
        "no_contrast_top_k": lambda: PaperTopK(top_k, temperature, pen),
        "contrast_with_top_p": lambda: PaperCDThen(PaperTopP, top_p, lam, alpha, temperature, pen),
        "contrast_with_top_k": lambda: PaperCDThen(PaperTopK, top_k, lam, alpha, temperature, pen),
        "contrastive": lambda: PaperCD(lam, alpha, temperature, pen),
        "no_contrast_v_head": lambda: PaperVHead(temperature, alpha, pen),
    }[strategy]


def paper_next_token_logits(strategy, good, bad, **kw):
    """ensemble_generation.py:96-127: float32 logits through the processor (or none)."""
    make = paper_processor(strategy, **kw)
    if make is None:
        return good
    proc = make()
    return proc(None, good, bad) if strategy.startswith("contrast") else proc(None, good)


def our_rule(strategy, alpha=0.1, lam=1.0, temperature=1.0, top_k=10, top_p=0.9, pen=None):
    """The DecodingConfig that the module docstring maps each paper strategy to."""
    if pen is not None:
        return dataclasses.replace(
            our_rule(strategy, alpha, lam, temperature, top_k, top_p), penalty=pen
        )
    T = temperature
    kind = {"no": "ancestral", "contrast": "cd", "contrastive": "cd"}[strategy.split("_")[0]]
    if strategy == "no_contrast_v_head":
        return DecodingConfig("vhead", alpha=alpha, good_temperature=T, paper_compatible=True)
    kw = dict(alpha=alpha, lam=lam, paper_compatible=True)
    if kind == "cd":
        kw.update(good_temperature=T, bad_temperature=T)
    if strategy.endswith("top_k"):
        kw.update(top_k=top_k, temperature=T)
    if strategy.endswith("top_p"):
        kw.update(top_p=top_p, temperature=T)
    return DecodingConfig(kind, **kw)


def test_decoding_penalty_paper_values_and_ours():
    """`decoding.penalty`: the paper's --penalty_value -10000 ablation (top-k 50) and -20,
    bit-exact in paper mode; in ours a finite penalty replaces exactly the -inf scores."""
    g = torch.Generator().manual_seed(2)
    good = torch.randn(5, 300, generator=g, dtype=torch.float64) * 3
    bad = torch.randn(5, 300, generator=g, dtype=torch.float64) * 3
    for strategy in ("contrast_with_top_k", "contrastive", "no_contrast_v_head"):
        for pen in (-10000.0, -20.0):
            kw = dict(top_k=50, pen=pen)
            ref = paper_next_token_logits(strategy, good, bad, **kw)
            rule = our_rule(strategy, **kw)
            ours = step_scores(rule, good, bad if rule.strategy == "cd" else None).scores
            torch.testing.assert_close(ours, ref, rtol=0, atol=0)
            assert (ours == pen).any()
    rule = DecodingConfig("cd", alpha=0.1, top_k=20, temperature=0.5)
    plain = step_scores(rule, good, bad).scores
    finite = step_scores(dataclasses.replace(rule, penalty=-30.0), good, bad).scores
    out = torch.isneginf(plain)
    assert out.any() and (~out).any()
    assert torch.equal(finite[~out], plain[~out]) and (finite[out] == -30.0).all()


PAPER_STRATEGIES = [
    "contrastive",
    "contrast_with_top_k",
    "contrast_with_top_p",
    "no_contrast_v_head",
    "no_contrast",
    "no_contrast_top_k",
    "no_contrast_top_p",
]


@pytest.mark.parametrize("strategy", PAPER_STRATEGIES)
@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_paper_compatible_equals_the_papers_processors(strategy, temperature, dtype):
    g = torch.Generator().manual_seed(1)
    good = (torch.randn(6, 300, generator=g, dtype=torch.float64) * 3).to(dtype)
    bad = (torch.randn(6, 300, generator=g, dtype=torch.float64) * 3).to(dtype)
    for alpha, lam, top_k, top_p in [(0.1, 1.0, 10, 0.9), (0.02, 0.5, 50, 0.97)]:
        kw = dict(alpha=alpha, lam=lam, temperature=temperature, top_k=top_k, top_p=top_p)
        ref = paper_next_token_logits(strategy, good, bad, **kw)
        rule = our_rule(strategy, **kw)
        ours = step_scores(rule, good, bad if rule.strategy == "cd" else None).scores
        assert ours.dtype == dtype
        torch.testing.assert_close(ours, ref, rtol=0, atol=0)
        if strategy != "no_contrast":  # the penalty is in play (V_head's is divided by T
            # again when a top-k / top-p processor follows)
            pen = torch.tensor([PAPER_PENALTY, PAPER_PENALTY / temperature], dtype=dtype)
            assert torch.isin(ours, pen).any()


def test_paper_compatible_by_hand():
    good = logits_of([[0.5, 0.3, 0.15, 0.05]])
    bad = logits_of([[0.7, 0.1, 0.1, 0.1]])
    # V_head: p > 0.25 * 0.5 -> tokens 0, 1, 2; top-2 of the CD scores: tokens 1, 2. Token 0
    # (in V_head but cut by top-k) and token 3 (outside V_head) both get -20, not -inf.
    rule = DecodingConfig("cd", alpha=0.25, top_k=2, paper_compatible=True)
    s = step_scores(rule, good, bad).scores[0].tolist()
    eps = 1e-10
    cd = [math.log(0.3 + eps) - math.log(0.1 + eps), math.log(0.15 + eps) - math.log(0.1 + eps)]
    assert s == pytest.approx([-20.0, *cd, -20.0], abs=1e-9)
    # the truncation's temperature divides the scores before the cut, so cut tokens keep -20
    rule = DecodingConfig("cd", alpha=0.25, top_k=2, temperature=0.5, paper_compatible=True)
    s = step_scores(rule, good, bad).scores[0].tolist()
    assert s == pytest.approx([-20.0, cd[0] / 0.5, cd[1] / 0.5, -20.0], abs=1e-9)
    # V_head is strict: exactly alpha * max is outside
    probs = torch.tensor([[0.4, 0.1, 0.5]], dtype=torch.float64)
    assert paper_vhead_mask(probs, 0.2)[0].tolist() == [True, False, True]
    # the V_head-only control gets -20 outside V_head too
    vh = step_scores(DecodingConfig("vhead", alpha=0.25, paper_compatible=True), good, None)
    assert vh.scores[0, 3] == -20.0 and vh.vhead[0].tolist() == [True, True, True, False]
    # No-Contrast samples the raw logits; top-p keeps the first token past p, cuts get -20
    anc = DecodingConfig("ancestral", top_p=0.6, paper_compatible=True)
    s = step_scores(anc, good, None).scores[0]
    assert s[:2].tolist() == good[0, :2].tolist() and s[2:].tolist() == [-20.0, -20.0]


def test_paper_and_our_presets_differ_only_where_documented():
    g = torch.Generator().manual_seed(1)
    good = torch.randn(6, 50, generator=g, dtype=torch.float64) * 3
    bad = torch.randn(6, 50, generator=g, dtype=torch.float64) * 3
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
