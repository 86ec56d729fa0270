"""The decoding math: logits in, next-token scores out. Pure, no I/O, no randomness.

Scores are log-probabilities up to a constant; -inf marks a token that can't be chosen. All
math runs in at least float32 (float64 stays float64), whatever the model's dtype.

The rules themselves are objects built once from their settings (`decoding_rules`: a
strategy, then filters, then a temperature); this module is the math they share, and one
step's pick:

    contrastive_scores(good, bad, alpha=0.1, lam=1.0)   # CD, from logits
    ancestral_scores(good)                              # No-Contrast
    vhead_scores(good, alpha=0.1)                       # No-Contrast-V_head (control)
    truncate(scores, top_k=200, top_p=1.0, temperature=1.0)
    sample(scores, uniforms)                            # inverse CDF, one uniform per row
    choose(rule, good, bad, uniforms)                   # a rule's step, the sample, stats

The functions from logits compose the same primitives the rule objects call (`log_probs`,
`plausible_mask`, `contrast`, `top_k_filter`, `top_p_filter`, the paper's processors), one
call each: the references the composed rule is tested against.

Example: with good probabilities (0.5, 0.3, 0.2, 0.0...) and alpha = 0.5, V_head is the tokens
with p >= 0.25: the first two. CD then ranks them by log p_good - lam * log p_bad.

`paper_compatible` (the paper's logits_processors.py, commit cdddeb6) is the other
composition of the same parts: V_head is p > alpha * max p (strict); in-mask scores are
log(p + 1e-10); tokens outside V_head *and* tokens cut by top-k / top-p get a finite -20, not
-inf; No-Contrast samples the raw logits. Its one `--temperature T` divides the logits of
both models in the CD and V_head processors and, again, the scores inside its top-k / top-p
processors (before the cut), and is ignored by No-Contrast without truncation. Ours are three
fields, each applied where the paper applies its T: `good_temperature` (and
`bad_temperature`) on the logits, and `temperature` on the scores: in ours last, after the
filters (top-p and typical-p see the scores before it); in paper mode first in its top-k /
top-p processors, before the cut, so cut tokens keep exactly -20. So the paper's
`contrastive` with T is good=bad=T, temperature=1; `contrast_with_top_k` / `_top_p` is
good=bad=temperature=T; `no_contrast_top_k` is temperature=T. Min-p, typical-p and the
reasoning CD have no paper variant: paper mode refuses them when the config loads.

`penalty` (`decoding.penalty`) is the score of the tokens left out (outside V_head, cut by a
filter). Unset, it is -inf (they can't be chosen), or the paper's -20 in paper mode; the
paper's `--penalty_value` ablation used -10000. Ours gives a finite penalty as the final
score, after the temperature; paper mode gives it where the paper's processors do (its top-p
then counts the penalized tokens' mass, as the paper's does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

PAPER_OUT_OF_MASK = -20.0  # the paper's code gives tokens outside V_head this finite score
PAPER_EPS = 1e-10  # and takes log(p + 1e-10)


def _float(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype == torch.float64 else x.float()


@torch.library.custom_op("cdsynth::row_cumsum", mutates_args=())
def _opaque_cumsum(x: torch.Tensor) -> torch.Tensor:
    """torch.cumsum(x, -1) as an op the compiler cannot see into (see `row_cumsum`)."""
    return torch.cumsum(x, dim=-1)


@_opaque_cumsum.register_fake
def _(x):
    return torch.empty_like(x)


def scans_in_graph(device: torch.device) -> bool:
    """Whether a compiled graph on `device` leaves its cumulative sums to inductor.

    Only on a CPU (where inductor hands them to ATen anyway). Elsewhere inductor's split
    scan (a scan dimension >= 129, e.g. [256, 32000] scores) crashed at compile time when the
    scan's input was an expression over a broadcast value, as a softmax is (torch 2.11:
    pytorch/pytorch#180221)."""
    return torch.device(device).type == "cpu"


def row_cumsum(x: torch.Tensor) -> torch.Tensor:
    """torch.cumsum(x, -1). Inside a compiled graph off the CPU (`scans_in_graph`) it runs as
    one opaque op (`_opaque_cumsum`): inductor writes the input to a buffer and calls ATen's
    cumsum on it, as eager torch does, instead of generating a scan kernel."""
    if torch.compiler.is_compiling() and not scans_in_graph(x.device):
        return _opaque_cumsum(x)
    return torch.cumsum(x, dim=-1)


def check_logits(logits: torch.Tensor, name: str = "logits") -> None:
    """Reject NaN or infinite logits: they mean a broken model, not a valid distribution.

    One sum per row: it is NaN or infinite iff some entry is (finite logits are far below the
    ~1e38 / vocab that could overflow it), and far cheaper than an elementwise test. Skipped
    inside a compiled graph, which cannot branch on data: `choose` returns the same test as
    `Choice.finite` and the compiled decode step raises after the step."""
    if torch.compiler.is_compiling():
        return
    if not all_finite(logits):
        raise ValueError(f"{name} contain NaN or infinite values")


def all_finite(logits: torch.Tensor) -> torch.Tensor:
    """0-d bool: no NaN or infinite value in `logits` (one sum per row, see check_logits)."""
    return torch.isfinite(logits.sum(-1)).all()


def log_probs(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    x = _float(logits)
    return torch.log_softmax(x if temperature == 1.0 else x / temperature, dim=-1)


def plausible_mask(good_logp: torch.Tensor, alpha: float) -> torch.Tensor:
    """V_head = {x : p_good(x) >= alpha * max p_good}, computed in log space (ties included)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be in [0, 1]")
    if alpha == 0.0:
        return torch.ones_like(good_logp, dtype=torch.bool)
    top = good_logp.max(dim=-1, keepdim=True).values
    return good_logp >= top + math.log(alpha)


def contrast(
    good_logp: torch.Tensor, bad_logp: torch.Tensor, lam: float, vhead: torch.Tensor
) -> torch.Tensor:
    """log p_good - lam * log p_bad on V_head (bool `vhead`), -inf elsewhere: CD from
    log-probs (the `Contrastive` rule's scores)."""
    out = good_logp.clone() if lam == 0 else good_logp - lam * bad_logp
    return out.masked_fill_(~vhead, -math.inf)


def contrastive_scores(
    good_logits: torch.Tensor,
    bad_logits: torch.Tensor,
    alpha: float,
    lam: float,
    good_temperature: float = 1.0,
    bad_temperature: float = 1.0,
) -> torch.Tensor:
    """log p_good - lam * log p_bad on V_head, -inf elsewhere, from logits. Shapes
    (..., vocab)."""
    if good_logits.shape != bad_logits.shape:
        raise ValueError(
            f"GOOD and BAD logits differ in shape: {good_logits.shape} vs {bad_logits.shape}"
        )
    check_logits(good_logits, "GOOD logits")
    check_logits(bad_logits, "BAD logits")
    good = log_probs(good_logits, good_temperature)
    bad = log_probs(bad_logits, bad_temperature).to(good.dtype)
    return contrast(good, bad, lam, plausible_mask(good, alpha))


def ancestral_scores(good_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log p_good: No-Contrast from logits."""
    check_logits(good_logits, "GOOD logits")
    return log_probs(good_logits, temperature)


def vhead_scores(good_logits: torch.Tensor, alpha: float, temperature: float = 1.0) -> torch.Tensor:
    """log p_good restricted to V_head: the control that keeps the mask but drops the contrast."""
    check_logits(good_logits, "GOOD logits")
    good = log_probs(good_logits, temperature)
    return good.masked_fill(~plausible_mask(good, alpha), -math.inf)


def paper_vhead_mask(good_probs: torch.Tensor, alpha: float) -> torch.Tensor:
    """The paper's V_head: p_good > alpha * max p_good, strictly, in probability space."""
    return good_probs > alpha * good_probs.max(dim=-1, keepdim=True).values


def paper_contrastive_scores(
    good_logits: torch.Tensor,
    bad_logits: torch.Tensor,
    alpha: float,
    lam: float,
    good_temperature: float = 1.0,
    bad_temperature: float = 1.0,
    penalty: float = PAPER_OUT_OF_MASK,
) -> torch.Tensor:
    """The paper's CD processor: logits divided by the temperature, softmax, then
    log(p_good + 1e-10) - lam * log(p_bad + 1e-10) on V_head and a finite `penalty` (-20)
    elsewhere, so out-of-mask tokens keep a small chance of being sampled."""
    check_logits(good_logits, "GOOD logits")
    check_logits(bad_logits, "BAD logits")
    pg = torch.softmax(_float(good_logits) / good_temperature, dim=-1)
    pb = torch.softmax(_float(bad_logits).to(pg.dtype) / bad_temperature, dim=-1)
    scores = torch.log(pg + PAPER_EPS) - lam * torch.log(pb + PAPER_EPS)
    return torch.where(paper_vhead_mask(pg, alpha), scores, penalty)


def paper_vhead_scores(
    good_logits: torch.Tensor,
    alpha: float,
    temperature: float = 1.0,
    penalty: float = PAPER_OUT_OF_MASK,
) -> torch.Tensor:
    """The paper's V_head-only control: log(p_good + 1e-10) on V_head, `penalty` elsewhere."""
    check_logits(good_logits, "GOOD logits")
    pg = torch.softmax(_float(good_logits) / temperature, dim=-1)
    return torch.where(paper_vhead_mask(pg, alpha), torch.log(pg + PAPER_EPS), penalty)


def paper_top_k(scores: torch.Tensor, k: int, penalty: float) -> torch.Tensor:
    """The paper's top-k processor after its temperature: scores below the k-th get the
    finite `penalty` (not -inf)."""
    kth = torch.topk(scores, min(k, scores.shape[-1]), dim=-1).values[..., -1:]
    return torch.where(scores < kth, penalty, scores)


def paper_top_p(scores: torch.Tensor, p: float, penalty: float) -> torch.Tensor:
    """The paper's top-p processor after its temperature: keeps, in descending probability
    order, the tokens whose cumulative probability is <= p and the first one past it; the
    others get the finite `penalty` (their mass counted, as the paper's is)."""
    if p <= 0:
        raise ValueError("top_p must be > 0")
    sorted_probs, order = torch.sort(torch.softmax(scores, dim=-1), dim=-1, descending=True)
    n_within = (row_cumsum(sorted_probs) <= p).sum(-1, keepdim=True)
    keep_sorted = torch.arange(scores.shape[-1], device=scores.device) <= n_within
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return torch.where(keep, scores, penalty)


def paper_truncate(
    scores: torch.Tensor,
    top_k: int = 0,
    top_p: float = 1.0,
    temperature: float = 1.0,
    penalty: float = PAPER_OUT_OF_MASK,
) -> torch.Tensor:
    """The paper's top-k / top-p processors: scores divided by the temperature first, then
    the tokens cut get the finite `penalty` (not -inf). With both on (the paper never
    combines them) the temperature divides once, then top-k, then top-p."""
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    scores = scores / temperature
    if 0 < top_k:
        scores = paper_top_k(scores, top_k, penalty)
    if top_p < 1.0:
        scores = paper_top_p(scores, top_p, penalty)
    return scores


def top_k_filter(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k best scores (and any tied with the k-th); k <= 0 keeps all."""
    if k <= 0 or k >= scores.shape[-1]:
        return scores
    kth = torch.topk(scores, k, dim=-1).values[..., -1:]
    return scores.masked_fill(scores < kth, -math.inf)


def top_p_filter(scores: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of best tokens whose probability reaches p; p >= 1 keeps all."""
    if p >= 1.0:
        return scores
    if p <= 0:
        raise ValueError("top_p must be > 0")
    sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
    probs = torch.softmax(sorted_scores, dim=-1)
    before = row_cumsum(probs) - probs  # mass of strictly better tokens
    drop_sorted = before >= p
    drop_sorted[..., 0] = False
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return scores.masked_fill(drop, -math.inf)


def truncate(
    scores: torch.Tensor, top_k: int = 0, top_p: float = 1.0, temperature: float = 1.0
) -> torch.Tensor:
    """Truncation applied after a rule: top-k, then top-p, then a final temperature (as a
    `DecodingRule` applies `TopK`, `TopP` and its temperature)."""
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    scores = top_p_filter(top_k_filter(scores, top_k), top_p)
    return scores / temperature if temperature != 1.0 else scores


def sample(scores: torch.Tensor, uniforms: torch.Tensor, kernel: bool = False) -> torch.Tensor:
    """Inverse-CDF sampling: row r picks the token where its CDF first exceeds uniforms[r].

    `scores` (rows, vocab), `uniforms` (rows,) in [0, 1). Tokens with score -inf have
    probability 0 and are never returned. Deterministic given the uniforms.

    `kernel` (a CPU with our C++ library loaded: `engine.cpu_attention.use_kernel`, decided
    before any graph is traced): the softmax, cumulative sum and search run as one op,
    `cdsynth_cpu::inverse_cdf` (csrc/inverse_cdf.cpp), which computes no exp for a -inf
    score (most of a V_head cut) and skips the division: the same float64 numbers as the
    torch ops below, its reference, up to rounding (tests compare the tokens).
    """
    if kernel:
        x = _float(scores)
        return torch.ops.cdsynth_cpu.inverse_cdf(x, x.amax(-1).double(), uniforms.double())
    probs = torch.softmax(scores.double(), dim=-1)
    cdf = row_cumsum(probs)
    target = (uniforms.double() * cdf[:, -1]).unsqueeze(-1)
    idx = torch.searchsorted(cdf, target, right=True).squeeze(-1)
    # rounding at the very top of the CDF: take the last token with mass (no branch on data,
    # so that the same function runs inside a compiled graph; NaN scores, which a compiled
    # step reports after the step, give token 0 rather than an index out of range)
    vocab = torch.arange(scores.shape[-1], device=scores.device)
    last = torch.where(probs > 0, vocab, 0).amax(-1)
    return torch.where(idx >= scores.shape[-1], last, idx)


@dataclass(frozen=True)
class StepScores:
    """One decoding step: the final scores to sample from and what the statistics need."""

    scores: torch.Tensor  # (rows, vocab) after the rule and truncation
    good_logp: torch.Tensor  # (rows, vocab) log p_good at good_temperature
    bad_logp: torch.Tensor | None  # (rows, vocab) log p_bad, None without an amateur
    vhead: torch.Tensor  # (rows, vocab) bool plausible set


def step_scores(rule, good_logits: torch.Tensor, bad_logits: torch.Tensor | None) -> StepScores:
    """One decoding step of `rule`: a `decoding_rules.DecodingRule`, or the `DecodingConfig`
    it is built from (`rule.step`)."""
    return rule.step(good_logits, bad_logits)


class Pick(NamedTuple):
    """One decoding step's pick for every row and the per-row statistics generate records."""

    tokens: torch.Tensor  # (rows,) int64
    contrast: torch.Tensor | None  # (rows,) log p_good - log p_bad of the pick (amateur only)
    differs: torch.Tensor  # (rows,) bool: the pick is not GOOD's argmax
    vhead_size: torch.Tensor  # (rows,) |V_head|
    finite: torch.Tensor  # (2,) bool: GOOD's and BAD's logits free of NaN / inf
    scores: torch.Tensor  # (rows, vocab) the scores sampled from


# the strategies `cdsynth_cpu::choose` computes (csrc/choose.cpp), by the codes it takes
FUSED_STRATEGIES = {"ancestral": 0, "vhead": 1, "cd": 2}


def fused_strategy(rule) -> int | None:
    """The `cdsynth_cpu::choose` code of `rule`'s strategy when that op computes the rule's
    whole step: CD, No-Contrast or No-Contrast-V_head, not paper mode, no filter, every
    temperature 1, no finite penalty. None for any other rule (its parts run as torch ops)."""
    rule = getattr(rule, "rule", rule)  # a DecodingConfig's composed rule
    plain = (
        not rule.paper
        and len(rule.filters) == 0
        and rule.good_temperature == rule.bad_temperature == rule.temperature == 1.0
        and rule.penalty == -math.inf
    )
    return FUSED_STRATEGIES.get(rule.strategy.name) if plain else None


def choose(
    rule,
    good_logits: torch.Tensor,
    bad_logits: torch.Tensor | None,
    uniforms: torch.Tensor,
    kernel: bool = False,
) -> Pick:
    """Apply `rule` (step_scores), sample with `uniforms` (sample) and take the statistics:
    what one step of every engine does, eagerly or inside the lean engine's compiled step.
    Non-finite logits raise (check_logits) when run eagerly, so `finite` is then all true;
    inside a compiled graph, which cannot raise on data, they come out in `finite` (see
    `raise_if_not_finite`). `kernel`: see `sample`; with it, a rule `fused_strategy` names on
    float32 logits runs as one op, `cdsynth_cpu::choose` (csrc/choose.cpp: the same numbers
    up to the order of its sums, which can move a token only where a uniform falls on a step
    of the CDF or a log-probability sits within rounding of V_head's threshold; the code below
    is its reference, and tests compare them)."""
    code = fused_strategy(rule) if kernel and good_logits.dtype == torch.float32 else None
    cd = code == FUSED_STRATEGIES["cd"]
    if cd and (bad_logits is None or bad_logits.dtype != torch.float32):
        code = None  # the torch ops (which raise where BAD's logits are missing)
    if code is not None:
        bad = bad_logits if cd else None
        rule = getattr(rule, "rule", rule)
        lam = rule.strategy.lam if cd else 0.0
        tok, contrast, differs, vhead, finite, scores = torch.ops.cdsynth_cpu.choose(
            good_logits, bad, uniforms.double(), code, rule.alpha, lam
        )
        if not torch.compiler.is_compiling():
            raise_if_not_finite(finite)
        return Pick(tok, contrast if cd else None, differs, vhead, finite, scores)
    st = rule.step(good_logits, bad_logits)
    tok = sample(st.scores, uniforms, kernel)
    contrast = None
    if st.bad_logp is not None:
        pick = tok[:, None]
        contrast = (st.good_logp.gather(1, pick) - st.bad_logp.gather(1, pick))[:, 0]
    finite = torch.ones(2, dtype=torch.bool, device=tok.device)
    if torch.compiler.is_compiling():  # eagerly, the rule has checked both already
        bad_ok = all_finite(bad_logits) if bad_logits is not None else finite[1]
        finite = torch.stack([all_finite(good_logits), bad_ok])
    return Pick(tok, contrast, tok != good_logits.argmax(-1), st.vhead.sum(-1), finite, st.scores)


def raise_if_not_finite(finite: torch.Tensor) -> None:
    """check_logits' error for a `Pick.finite` that is not all true."""
    for ok, name in zip(finite.tolist(), ("GOOD logits", "BAD logits"), strict=True):
        if not ok:
            raise ValueError(f"{name} contain NaN or infinite values")
