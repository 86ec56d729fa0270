"""Decoding rules: logits in, next-token scores out. Pure, no I/O, no randomness.

Scores are log-probabilities up to a constant; -inf marks a token that can't be chosen. All
math runs in at least float32 (float64 stays float64), whatever the model's dtype.

A rule is objects built once from its settings (`DecodingConfig`, `generate.decoding` in a
config): a strategy, then filters, then a temperature, composed by `DecodingRule`:

    rule = DecodingConfig("cd", alpha=0.1, lam=1.0, top_p=0.9).rule   # checked, composed
    st = rule.step(good_logits, bad_logits)       # StepScores: scores, log-probs, V_head
    pick = choose(rule, good_logits, bad_logits, uniforms)   # + inverse-CDF sample, stats

    strategies  Contrastive (cd), Ancestral (No-Contrast), VHead (No-Contrast-V_head),
                ReasoningCD (O'Brien & Lewis 2023)
    filters     TopK, TopP, Typical, MinP, in that order
    functions   contrastive_scores(good, bad, alpha=0.1, lam=1.0), ancestral_scores(good),
                vhead_scores(good, alpha=0.1), truncate(scores, top_k, top_p, temperature),
                sample(scores, uniforms): the same math from logits, one call each

Each part says what it needs (the amateur or not), which settings are its corpus's identity,
its report titles and whether it has a paper variant; nothing outside this module tests a
strategy's name. A new rule is one class here and its name in STRATEGIES or FILTERS
(docs/method.md, "Adding a decoding rule").

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
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

import torch

from .config_checks import Choice, _choose, _finite, _require

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


def contrastive_scores(
    good_logits: torch.Tensor,
    bad_logits: torch.Tensor,
    alpha: float,
    lam: float,
    good_temperature: float = 1.0,
    bad_temperature: float = 1.0,
) -> torch.Tensor:
    """log p_good - lam * log p_bad on V_head, -inf elsewhere (`Contrastive` from logits).
    Shapes (..., vocab)."""
    if good_logits.shape != bad_logits.shape:
        raise ValueError(
            f"GOOD and BAD logits differ in shape: {good_logits.shape} vs {bad_logits.shape}"
        )
    check_logits(good_logits, "GOOD logits")
    check_logits(bad_logits, "BAD logits")
    good = log_probs(good_logits, good_temperature)
    bad = log_probs(bad_logits, bad_temperature).to(good.dtype)
    return Contrastive(lam).scores(good, bad, plausible_mask(good, alpha))


def ancestral_scores(good_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log p_good: No-Contrast (`Ancestral`) from logits."""
    check_logits(good_logits, "GOOD logits")
    good = log_probs(good_logits, temperature)
    return Ancestral().scores(good, None, None)


def vhead_scores(good_logits: torch.Tensor, alpha: float, temperature: float = 1.0) -> torch.Tensor:
    """log p_good restricted to V_head: the control that keeps the mask but drops the contrast
    (`VHead` from logits)."""
    check_logits(good_logits, "GOOD logits")
    good = log_probs(good_logits, temperature)
    return VHead().scores(good, None, plausible_mask(good, alpha))


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


def sample(scores: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF sampling: row r picks the token where its CDF first exceeds uniforms[r].

    `scores` (rows, vocab), `uniforms` (rows,) in [0, 1). Tokens with score -inf have
    probability 0 and are never returned. Deterministic given the uniforms.
    """
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


# ---------------------------------------------------------------------------------------------
# The rules as objects. A strategy maps (GOOD log-probs, BAD log-probs or None, V_head) to
# scores; a filter maps scores to scores. Each is a small frozen dataclass built once from a
# `DecodingConfig` (`build`, None where the setting is off), and says about itself:
#   check(cfg)     its settings' ranges, one `UserError` line naming the key (run at load)
#   settings       the config fields it reads: part of a corpus's identity while it is on
#   titles         a report title for each setting a study may sweep
#   needs_amateur  whether it reads BAD's log-probs (strategies)
#   paper          whether it has a `paper_compatible` variant (`paper_scores` / `paper_apply`)
# `DecodingRule` composes them explicitly: strategy, then filters, then temperature (then a
# finite penalty); the paper's processors are the other composition of the same parts.

K = "generate.decoding"


class Part:
    """What every strategy and filter says about itself (see above); defaults: none."""

    settings: ClassVar[tuple[str, ...]] = ()
    titles: ClassVar[dict[str, str]] = {}
    paper: ClassVar[bool] = False

    @staticmethod
    def check(cfg) -> None:
        """Refuse out-of-range settings with one line naming the key."""


class Strategy(Part):
    """A strategy: the config's `strategy` value `name`, and the scores it gives."""

    name: ClassVar[str]
    needs_amateur: ClassVar[bool] = False
    role: ClassVar[str | None] = None  # the study's role (None: from its amateur, see study)

    @classmethod
    def build(cls, cfg) -> Strategy:
        return cls()

    def scores(
        self, good: torch.Tensor, bad: torch.Tensor | None, vhead: torch.Tensor
    ) -> torch.Tensor:
        """good, bad: log-probs (rows, vocab) at their temperatures; vhead: the bool V_head."""
        raise NotImplementedError

    def paper_scores(self, good_logits, bad_logits, rule: DecodingRule) -> torch.Tensor:
        """The paper's processor for this strategy (only where `paper`)."""
        raise NotImplementedError


class Filter(Part):
    """A filter: cuts tokens from scores (-inf), after the strategy, before the temperature."""

    @classmethod
    def build(cls, cfg) -> Filter | None:
        raise NotImplementedError

    def apply(self, scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def paper_apply(self, scores: torch.Tensor, penalty: float) -> torch.Tensor:
        """The paper's processor: cut tokens get the finite `penalty` (only where `paper`)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Contrastive(Strategy):
    """CD: log p_good - lam * log p_bad on V_head, -inf elsewhere.

    >>> Contrastive(lam=1.0).scores(log(0.5, 0.3, 0.2), log(0.7, 0.1, 0.2), V_head=(1, 1, 0))
    (log 0.5 - log 0.7, log 3, -inf)"""

    lam: float
    name = "cd"
    needs_amateur = True
    settings = ("alpha", "lam", "bad_temperature")
    titles = {"lam": "Contrast strength lambda"}
    paper = True

    @staticmethod
    def check(cfg) -> None:
        _require(
            _finite(cfg.lam) and cfg.lam >= 0, f"{K}.lam must be finite and >= 0, got {cfg.lam}"
        )

    @classmethod
    def build(cls, cfg) -> Contrastive:
        return cls(cfg.lam)

    def scores(self, good, bad, vhead):
        out = good.clone() if self.lam == 0 else good - self.lam * bad
        return out.masked_fill_(~vhead, -math.inf)

    def paper_scores(self, good_logits, bad_logits, rule):
        return paper_contrastive_scores(
            good_logits,
            bad_logits,
            rule.alpha,
            self.lam,
            rule.good_temperature,
            rule.bad_temperature,
            rule.penalty,
        )


@dataclass(frozen=True)
class Ancestral(Strategy):
    """No-Contrast: log p_good as it is (the paper's: GOOD's raw logits, no processor)."""

    name = "ancestral"
    role = "no_contrast"
    paper = True

    def scores(self, good, bad, vhead):
        return good

    def paper_scores(self, good_logits, bad_logits, rule):
        x = _float(good_logits)
        return x / rule.good_temperature if rule.good_temperature != 1.0 else x


@dataclass(frozen=True)
class VHead(Strategy):
    """No-Contrast-V_head: log p_good on V_head, -inf elsewhere (the mask without the
    contrast)."""

    name = "vhead"
    role = "no_contrast_vhead"
    settings = ("alpha",)
    paper = True

    def scores(self, good, bad, vhead):
        return good.masked_fill(~vhead, -math.inf)

    def paper_scores(self, good_logits, bad_logits, rule):
        return paper_vhead_scores(good_logits, rule.alpha, rule.good_temperature, rule.penalty)


@dataclass(frozen=True)
class ReasoningCD(Strategy):
    """The CD of O'Brien & Lewis 2023 ("Contrastive Decoding Improves Reasoning in Large
    Language Models", arXiv 2309.09117, Algorithm 1): (1 + beta) s_good - beta s_bad on the
    alpha-mask of GOOD (V_head), -inf elsewhere. Their s are logits; ours log-probs, which
    differ per row by a constant: the same distribution. It is the standard CD with
    lam = beta / (1 + beta) and temperature 1 / (1 + beta) (tests/test_decoding_rules.py).

    >>> ReasoningCD(beta=0.5).scores(good, bad, vhead) == 1.5 * good - 0.5 * bad on V_head"""

    beta: float
    name = "reasoning_cd"
    role = "reasoning_cd"
    needs_amateur = True
    settings = ("alpha", "beta", "bad_temperature")
    titles = {"beta": "Amateur penalty beta (reasoning CD)"}

    @staticmethod
    def check(cfg) -> None:
        _require(
            _finite(cfg.beta) and cfg.beta >= 0,
            f"{K}.beta must be finite and >= 0, got {cfg.beta}",
        )

    @classmethod
    def build(cls, cfg) -> ReasoningCD:
        return cls(cfg.beta)

    def scores(self, good, bad, vhead):
        out = (1 + self.beta) * good - self.beta * bad
        return out.masked_fill_(~vhead, -math.inf)


@dataclass(frozen=True)
class TopK(Filter):
    """Keep the k best scores (and any tied with the k-th)."""

    k: int
    settings = ("top_k",)
    titles = {"top_k": "Top-k truncation"}
    paper = True

    @staticmethod
    def check(cfg) -> None:
        _require(cfg.top_k >= 0, f"{K}.top_k must be >= 0 (0: off), got {cfg.top_k}")

    @classmethod
    def build(cls, cfg) -> TopK | None:
        return cls(cfg.top_k) if cfg.top_k > 0 else None

    def apply(self, scores):
        return top_k_filter(scores, self.k)

    def paper_apply(self, scores, penalty):
        return paper_top_k(scores, self.k, penalty)


@dataclass(frozen=True)
class TopP(Filter):
    """Keep the smallest set of best tokens whose probability reaches p (nucleus)."""

    p: float
    settings = ("top_p",)
    titles = {"top_p": "Top-p truncation"}
    paper = True

    @staticmethod
    def check(cfg) -> None:
        _require(0 < cfg.top_p <= 1, f"{K}.top_p must be in (0, 1], got {cfg.top_p}")

    @classmethod
    def build(cls, cfg) -> TopP | None:
        return cls(cfg.top_p) if cfg.top_p < 1.0 else None

    def apply(self, scores):
        return top_p_filter(scores, self.p)

    def paper_apply(self, scores, penalty):
        return paper_top_p(scores, self.p, penalty)


@dataclass(frozen=True)
class Typical(Filter):
    """Locally typical sampling (Meister et al. 2023): keep the tokens whose surprisal is
    closest to the entropy, in that order, until their probability reaches `p` (the first
    one past it included). The same operations as transformers' `TypicalLogitsWarper`
    (equal on the same scores: tests/test_decoding_rules.py), with the cumulative sum of
    `row_cumsum`.

    >>> probs (0.5, 0.3, 0.2), entropy 1.03 nats; |surprisal - entropy| = (0.34, 0.17, 0.58):
    >>> p = 0.5 keeps tokens 1 (0.3) and 0 (0.8 >= 0.5), cuts token 2"""

    p: float
    settings = ("typical_p",)
    titles = {"typical_p": "Typical-p truncation"}

    @staticmethod
    def check(cfg) -> None:
        p = cfg.typical_p
        _require(_finite(p) and 0 < p <= 1, f"{K}.typical_p must be in (0, 1] (1: off), got {p}")

    @classmethod
    def build(cls, cfg) -> Typical | None:
        return cls(cfg.typical_p) if cfg.typical_p < 1.0 else None

    def apply(self, scores):
        logp = torch.log_softmax(scores, dim=-1)
        entropy = -(logp * logp.exp()).nansum(-1, keepdim=True)
        shifted = (-logp - entropy).abs()
        sorted_shifted, order = torch.sort(shifted, dim=-1)
        cum = row_cumsum(scores.gather(-1, order).softmax(dim=-1))
        last = (cum < self.p).sum(-1, keepdim=True).clamp_(max=scores.shape[-1] - 1)
        drop_sorted = sorted_shifted > sorted_shifted.gather(-1, last)
        drop_sorted[..., :1] = False
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        return scores.masked_fill(drop, -math.inf)


@dataclass(frozen=True)
class MinP(Filter):
    """Min-p (Nguyen et al. 2024): keep the tokens with p >= min_p * max p, computed in log
    space (log p - log max p >= log min_p: the softmax's normalizer cancels).

    >>> probs (0.5, 0.3, 0.15, 0.05), min_p = 0.5: keeps tokens 0, 1 (0.3 >= 0.25)"""

    min_p: float
    settings = ("min_p",)
    titles = {"min_p": "Min-p truncation"}

    @staticmethod
    def check(cfg) -> None:
        p = cfg.min_p
        _require(_finite(p) and 0 <= p <= 1, f"{K}.min_p must be in [0, 1] (0: off), got {p}")

    @classmethod
    def build(cls, cfg) -> MinP | None:
        return cls(cfg.min_p) if cfg.min_p > 0 else None

    def apply(self, scores):
        top = scores.max(dim=-1, keepdim=True).values
        return scores.masked_fill(scores < top + math.log(self.min_p), -math.inf)


# Every strategy (its `name` is a `strategy` value) and every filter, in the order filters
# apply. A new rule is one class above and its name here.
STRATEGIES: tuple[type[Strategy], ...] = (Contrastive, Ancestral, VHead, ReasoningCD)
FILTERS: tuple[type[Filter], ...] = (TopK, TopP, Typical, MinP)

StrategyName = Choice("StrategyName", [s.name for s in STRATEGIES], module=__name__)
_STRATEGY = {s.name: s for s in STRATEGIES}

# Settings that every rule has recorded since the first corpus: part of its identity even
# when off (top_k 0, top_p 1), so that finished corpora stay current.
_ALWAYS = ("strategy", "good_temperature", "top_k", "top_p", "temperature", "paper_compatible")
# Titles of the settings every rule shares (the parts' own are on the parts)
_TITLES = {"alpha": "Plausibility threshold alpha", "temperature": "Temperature"}


def _added(default):
    """A setting added after corpora were recorded: left out of records (config.to_dict)
    at its default, the old behaviour, so those records stay byte for byte the same."""
    return field(default=default, metadata={"left_out_at": default})


@dataclass(frozen=True)
class DecodingConfig:
    """A decoding rule's settings (`generate.decoding`): a strategy, then filters, then a
    temperature. Each part checks its own settings; `rule` is the composed `DecodingRule`."""

    strategy: StrategyName = StrategyName.cd  # cd | ancestral | vhead | reasoning_cd
    alpha: float = 0.1  # V_head: p_good >= alpha * max p_good
    lam: float = 1.0  # cd
    good_temperature: float = 1.0  # on GOOD's logits, before the rule
    bad_temperature: float = 1.0  # on BAD's logits, before the rule
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1: off
    temperature: float = 1.0  # applied after the rule and the filters
    paper_compatible: bool = False  # the paper's code: -20 outside V_head, log(p + 1e-10)
    penalty: float | None = None  # the score of tokens left out; None: -inf (paper mode: -20)
    typical_p: float = _added(1.0)  # 1: off
    min_p: float = _added(0.0)  # 0: off
    beta: float = _added(0.5)  # reasoning_cd

    def __post_init__(self):
        _choose(self, "strategy", StrategyName, f"{K}.strategy")
        object.__setattr__(self, "_rule", DecodingRule.of(self))

    @property
    def rule(self) -> DecodingRule:
        """The composed rule, built (and checked) once when the config was made."""
        return self._rule


def setting_title(key: str) -> str | None:
    """The report's title for a swept decoding setting, or None where none is given."""
    for part in (*STRATEGIES, *FILTERS):
        if key in part.titles:
            return part.titles[key]
    return _TITLES.get(key)


@dataclass(frozen=True)
class StepScores:
    """One decoding step: the final scores to sample from and what the statistics need."""

    scores: torch.Tensor  # (rows, vocab) after the rule and truncation
    good_logp: torch.Tensor  # (rows, vocab) log p_good at good_temperature
    bad_logp: torch.Tensor | None  # (rows, vocab) log p_bad, None without an amateur
    vhead: torch.Tensor  # (rows, vocab) bool plausible set


@dataclass(frozen=True)
class DecodingRule:
    """A strategy, its filters and the settings the composition applies, built once from a
    `DecodingConfig` (`DecodingRule.of`, or `config.rule`). `step` is one decoding step:
    ours (strategy, filters, temperature, finite penalty) or, with `paper`, the paper's
    processors composed as its generation script composes them. Frozen and hashable: the
    compiled decode step is made once per rule."""

    strategy: Strategy
    filters: tuple[Filter, ...]
    alpha: float
    good_temperature: float
    bad_temperature: float
    temperature: float
    penalty: float  # the score of tokens left out: -inf, or finite
    paper: bool
    identity_keys: tuple[str, ...]  # the settings that are part of the corpus's identity

    @staticmethod
    def check(cfg) -> None:
        """The settings the composition itself applies."""
        _require(0 <= cfg.alpha <= 1, f"{K}.alpha must be in [0, 1], got {cfg.alpha}")
        p = cfg.penalty
        _require(
            p is None or (isinstance(p, (int, float)) and not math.isnan(p) and p < 0),
            f"{K}.penalty must be a number < 0 (-.inf: never chosen) or unset, got {p!r}",
        )
        for name in ("good_temperature", "bad_temperature", "temperature"):
            t = getattr(cfg, name)
            _require(_finite(t) and t > 0, f"{K}.{name} must be finite and > 0, got {t}")

    @classmethod
    def of(cls, cfg: DecodingConfig) -> DecodingRule:
        """Check every part's settings and compose the parts that are on."""
        cls.check(cfg)
        for part in (*STRATEGIES, *FILTERS):
            part.check(cfg)
        strategy = _STRATEGY[cfg.strategy].build(cfg)
        filters = tuple(f for f in (F.build(cfg) for F in FILTERS) if f is not None)
        if cfg.paper_compatible:
            for part in (strategy, *filters):
                _require(
                    part.paper,
                    f"{K}.paper_compatible: the paper's code has no "
                    f"{'strategy ' + cfg.strategy if part is strategy else part.settings[0]}; "
                    "turn one of the two off",
                )
        # the settings that change the corpus: those every rule records, the strategy's,
        # the filters' that are on, and the penalty where set
        keys = [*_ALWAYS, *strategy.settings]
        for f in filters:
            keys += [k for k in f.settings if k not in keys]
        if cfg.penalty is not None:
            keys.append("penalty")
        penalty = cfg.penalty
        if penalty is None:
            penalty = PAPER_OUT_OF_MASK if cfg.paper_compatible else -math.inf
        return cls(
            strategy,
            filters,
            cfg.alpha,
            cfg.good_temperature,
            cfg.bad_temperature,
            cfg.temperature,
            float(penalty),
            cfg.paper_compatible,
            tuple(keys),
        )

    @property
    def needs_amateur(self) -> bool:
        return self.strategy.needs_amateur

    def step(self, good_logits: torch.Tensor, bad_logits: torch.Tensor | None) -> StepScores:
        """Scores of one step from GOOD's and BAD's logits (rows, vocab); BAD's None unless
        the strategy needs the amateur. Computed once per step: the decoding hot path."""
        if self.strategy.needs_amateur and bad_logits is None:
            raise ValueError(f"strategy {self.strategy.name} needs BAD logits")
        if self.paper:
            return self._paper_step(good_logits, bad_logits)
        check_logits(good_logits, "GOOD logits")
        good = log_probs(good_logits, self.good_temperature)
        mask = plausible_mask(good, self.alpha)
        bad = None
        if self.strategy.needs_amateur:
            check_logits(bad_logits, "BAD logits")
            bad = log_probs(bad_logits, self.bad_temperature).to(good.dtype)
        scores = self.strategy.scores(good, bad, mask)
        for f in self.filters:
            scores = f.apply(scores)
        if self.temperature != 1.0:
            scores = scores / self.temperature
        if self.penalty != -math.inf:  # a finite score for every token left out
            scores = scores.masked_fill(torch.isneginf(scores), self.penalty)
        return StepScores(scores, good, bad, mask)

    def _paper_step(self, good_logits, bad_logits) -> StepScores:
        """`paper_compatible`: the paper's processors, as its generation script composes
        them (see the module docstring for how its one temperature maps onto ours)."""
        check_logits(good_logits, "GOOD logits")
        good = log_probs(good_logits, self.good_temperature)
        scores = self.strategy.paper_scores(good_logits, bad_logits, self)
        bad = None
        if self.strategy.needs_amateur:
            bad = log_probs(bad_logits, self.bad_temperature).to(good.dtype)
        if self.filters or self.temperature != 1.0:
            scores = scores / self.temperature
            for f in self.filters:
                scores = f.paper_apply(scores, self.penalty)
        mask = paper_vhead_mask(
            torch.softmax(_float(good_logits) / self.good_temperature, -1), self.alpha
        )
        return StepScores(scores, good, bad, mask)


def as_rule(rule: DecodingRule | DecodingConfig) -> DecodingRule:
    """The composed rule of a config (`config.rule`), or the rule itself."""
    return rule.rule if isinstance(rule, DecodingConfig) else rule


def step_scores(
    rule: DecodingRule | DecodingConfig,
    good_logits: torch.Tensor,
    bad_logits: torch.Tensor | None,
) -> StepScores:
    """One decoding step of `rule` (a `DecodingRule` or its config): `DecodingRule.step`."""
    return as_rule(rule).step(good_logits, bad_logits)


class Pick(NamedTuple):
    """One decoding step's pick for every row and the per-row statistics generate records."""

    tokens: torch.Tensor  # (rows,) int64
    contrast: torch.Tensor | None  # (rows,) log p_good - log p_bad of the pick (amateur only)
    differs: torch.Tensor  # (rows,) bool: the pick is not GOOD's argmax
    vhead_size: torch.Tensor  # (rows,) |V_head|
    finite: torch.Tensor  # (2,) bool: GOOD's and BAD's logits free of NaN / inf
    scores: torch.Tensor  # (rows, vocab) the scores sampled from


def choose(
    rule: DecodingRule | DecodingConfig,
    good_logits: torch.Tensor,
    bad_logits: torch.Tensor | None,
    uniforms: torch.Tensor,
) -> Pick:
    """Apply `rule` (step_scores), sample with `uniforms` (sample) and take the statistics:
    what one step of every engine does, eagerly or inside the lean engine's compiled step.
    Non-finite logits raise (check_logits) when run eagerly, so `finite` is then all true;
    inside a compiled graph, which cannot raise on data, they come out in `finite` (see
    `raise_if_not_finite`)."""
    st = as_rule(rule).step(good_logits, bad_logits)
    tok = sample(st.scores, uniforms)
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
