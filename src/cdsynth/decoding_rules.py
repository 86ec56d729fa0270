"""The decoding rules as objects, and their settings: one file for a new rule.

    cfg = DecodingConfig("cd", alpha=0.1, lam=1.0, top_p=0.9)   # `generate.decoding`
    rule = cfg.rule                                   # DecodingRule: checked, composed once
    st = rule.step(good_logits, bad_logits)           # decoding.StepScores
    pick = decoding.choose(rule, good_logits, bad_logits, uniforms)

A rule is a strategy, then filters, then a temperature (then a finite penalty, where set):

    strategies  Contrastive (cd), Ancestral (No-Contrast), VHead (No-Contrast-V_head),
                ReasoningCD (reasoning_cd: O'Brien & Lewis 2023)
    filters     TopK, TopP, Typical (typical_p), MinP (min_p), in that order

Each part is a small frozen dataclass built once from a `DecodingConfig` (`build`, None where
the setting is off: `setting_is_off` asks it), and says about itself:

    check(cfg)     its settings' ranges, one `UserError` line naming the key (at load)
    settings       the config fields it reads: part of a corpus's identity while it is on
    titles         a report title for each setting a study may sweep
    needs_amateur  whether it reads BAD's log-probs (strategies)
    role           the study's role of a condition that uses it (strategies; None: cd's,
                   from its amateur)
    paper          whether it has a `paper_compatible` variant (`paper_scores` /
                   `paper_apply`: the paper's processors, decoding.paper_*)

`DecodingRule` composes them explicitly; `paper_compatible` is the other composition of the
same parts (the `decoding` module docstring maps the paper's one temperature onto ours).
Nothing outside this module tests a strategy's name: the engines, the loop, the stage, the
study, the identity and the report ask the rule. A new rule is one class here and its name in
STRATEGIES or FILTERS (docs/method.md, "Adding a decoding rule"); the math it shares with
others lives in `decoding`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import ClassVar

import torch

from .config_checks import Choice, _choose, _finite, _require
from .decoding import (
    PAPER_OUT_OF_MASK,
    StepScores,
    _float,
    check_logits,
    contrast,
    log_probs,
    paper_contrastive_scores,
    paper_top_k,
    paper_top_p,
    paper_vhead_mask,
    paper_vhead_scores,
    plausible_mask,
    row_cumsum,
    top_k_filter,
    top_p_filter,
)

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
        return contrast(good, bad, self.lam, vhead)

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

    def step(self, good_logits: torch.Tensor, bad_logits: torch.Tensor | None) -> StepScores:
        """`self.rule.step`: so that a config serves where a rule does (tests, benches)."""
        return self._rule.step(good_logits, bad_logits)


def setting_title(key: str) -> str | None:
    """The report's title for a swept decoding setting, or None where none is given."""
    for part in (*STRATEGIES, *FILTERS):
        if key in part.titles:
            return part.titles[key]
    return _TITLES.get(key)


def setting_is_off(key: str, value) -> bool:
    """Whether `value` of the decoding setting `key` turns its filter off (top_k 0, top_p 1,
    typical_p 1, min_p 0): the filter's own `build` makes none from it. False for a setting
    that is no filter's (a strategy's setting, or not a decoding setting); a value out of the
    setting's range is a `UserError`."""
    for f in FILTERS:
        if key in f.settings:
            return f.build(replace(DecodingConfig(), **{key: value})) is None
    return False


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
