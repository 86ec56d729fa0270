"""The lock-step decoding loop: GOOD and BAD engines step together, each with its own cache.

    engines = make_engines(good_hf, bad_hf, torch.bfloat16)   # lean: LLaMA, stacked if same shape
    engines = [HFEngine(good_hf), HFEngine(bad_hf)]           # generic: any two causal LMs
    result = generate_batch(engines, prefixes, keys, rule, new_tokens, seed)

The engines (`engine.Engine`) give last-position logits per model; the rule (built once from
the `DecodingConfig`: `decoding.DecodingRule`), sampling and statistics are one code path for
both (`decoding.choose`). When one engine holds every model
and no dropout amateur runs, a token is one call of the engine's own `step` where it has one
(the lean engine: the forward, the rule, the sample and the statistics as one compiled
graph); otherwise the engines' `forward` and `choose` run op by op.

The token picked for completion j of prefix i at step t uses the uniform
keyed_uniform(seed, STREAM_SAMPLE, i, j, t), so a row's text does not depend on the batch it
landed in or its batch mates (except through floating-point rounding), nor on the shard or
process that ran it (shards.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..config import DecodingConfig
from ..decoding import choose
from ..engine import cpu_attention
from ..engine.keyed_random import STREAM_SAMPLE, keyed_uniform
from ..engine.protocol import Dropout, Engine
from ..errors import UserError
from ..tokenizer import BOS_ID, EOS_ID, PAD_ID


@dataclass(frozen=True)
class SpecialTokens:
    """The token ids generation needs. Ours: <s>=1, </s>=2, <pad>=3; others come from the
    tokenizer (`special_tokens`)."""

    bos: int | None  # starts every prefix; None: a prefix is the prompt's own tokens
    eos: int | None  # ends a row under eos=stop and separates segments; None: never
    pad: int  # left padding; masked out, so any id the models accept
    vocab: int | None = None  # logits past this many (padded embedding rows) are cut off


OUR_TOKENS = SpecialTokens(BOS_ID, EOS_ID, PAD_ID)


def special_tokens(tokenizer) -> SpecialTokens:
    """BOS, EOS and pad of any HF tokenizer. Without a pad token, EOS pads (or id 0: padding
    is masked, its id never matters); `vocab` is `len(tokenizer)`, the real tokens."""
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    if pad is None:
        pad = eos if eos is not None else 0
    return SpecialTokens(tokenizer.bos_token_id, eos, pad, len(tokenizer))


@dataclass
class BatchResult:
    """What `generate_batch` returns: per row, its new tokens and statistics."""

    tokens: list[list[int]]  # new tokens per row (up to and including EOS under eos=stop)
    ended_with_eos: list[bool]
    mean_contrast: list[float | None]  # mean log p_good - log p_bad of the chosen tokens
    token_contrast: list[list[float] | None]  # that contrast per chosen token (CD only)
    differs_from_good_argmax: list[float]  # share of steps where the pick != GOOD's argmax
    mean_vhead_size: list[float]
    step_scores: list[torch.Tensor] | None = None  # per step (rows, vocab), when recorded


def left_pad(prefixes: list[list[int]], pad: int = PAD_ID) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids (B, P) left-padded with `pad`, pad counts (B,))."""
    P = max(len(p) for p in prefixes)
    ids = torch.full((len(prefixes), P), pad, dtype=torch.long)
    pads = torch.tensor([P - len(p) for p in prefixes])
    for r, p in enumerate(prefixes):
        ids[r, P - len(p) :] = torch.tensor(p, dtype=torch.long)
    return ids, pads


def generate_batch(
    engines: list[Engine],
    prefixes: list[list[int]],
    keys: np.ndarray,
    rule: DecodingConfig,
    new_tokens: int,
    seed: int,
    eos: str = "stop",
    bad_dropout: float = 0.0,
    record_scores: bool = False,
    tokens: SpecialTokens = OUR_TOKENS,
    bad_dropout_kind: str = "attention",
) -> BatchResult:
    """Decode `new_tokens` after each prefix. keys (B, 2): (prefix id, completion id) per row.

    `engines` (`make_engines`, or one `engine.hf.HFEngine` per model) give GOOD's logits and,
    for CD, BAD's. With `bad_dropout` > 0, model 1 (a copy of GOOD) runs with that dropout.
    Rows that reached `tokens.eos` under eos="stop" keep stepping (lock-step) but their later
    tokens are discarded; logits past `tokens.vocab` are cut off.
    """
    settings, rule = rule, rule.rule  # the composed rule, built once with its config
    n_models = sum(e.n_models for e in engines)
    if rule.needs_amateur and n_models != 2:
        raise UserError(
            f"strategy {settings.strategy} needs an amateur: generate.bad or generate.bad_dropout"
        )
    B = len(prefixes)
    ids, pads = left_pad(prefixes, tokens.pad)
    P = ids.shape[1]
    total = P + new_tokens
    dev = engines[0].device
    ids, pads = ids.to(dev), pads.to(dev)
    valid = torch.ones(B, total, dtype=torch.bool, device=dev)
    valid[:, :P] = torch.arange(P, device=dev)[None] >= pads[:, None]
    positions = (torch.arange(P, device=dev)[None] - pads[:, None]).clamp_min(0)
    drop = (
        Dropout(bad_dropout, seed, keys, model=1, kind=bad_dropout_kind)
        if bad_dropout > 0
        else None
    )
    caches = [e.new_cache(B, total) for e in engines]
    V = tokens.vocab

    def run(step_ids, pos, slot, upto):
        logits = [
            e.forward(step_ids, pos, c, slot, valid[:, :upto], drop if e.n_models == 2 else None)
            for e, c in zip(engines, caches, strict=False)
        ]
        logits = [x[..., :V] if V is not None and x.shape[-1] > V else x for x in logits]
        logits = torch.cat(logits) if len(logits) > 1 else logits[0]
        return logits[0], (logits[1] if rule.needs_amateur else None)

    # the keyed uniforms of every step, drawn up front: (new_tokens, B)
    steps = np.arange(new_tokens)[:, None]
    u_all = torch.from_numpy(keyed_uniform(seed, STREAM_SAMPLE, keys[:, 0], keys[:, 1], steps))
    u_all = u_all.to(dev)
    # one engine holding every model, no dropout: the engine's own step where it has one
    # (the lean engine's: one compiled graph)
    step = engines[0].step(rule, V) if len(engines) == 1 and drop is None else None
    stop = eos == "stop" and tokens.eos is not None
    check_every = 1 if dev.type == "cpu" else 32  # `done.all()` waits for the device
    kernel = cpu_attention.use_kernel(dev)  # our CPU rule and sampling ops: same numbers, faster
    done = torch.zeros(B, dtype=torch.bool, device=dev)
    picks = []  # per step: decoding.Pick

    g_logits, b_logits = run(ids, positions, 0, P)
    pick = choose(rule, g_logits, b_logits, u_all[0], kernel)  # eagerly: raises on bad logits
    for t in range(new_tokens):
        picks.append(pick if record_scores else pick._replace(scores=None))
        if stop:
            done |= pick.tokens == tokens.eos
            if (t + 1) % check_every == 0 and bool(done.all()):
                break
        if t == new_tokens - 1:
            break
        slot = P + t
        if step is not None:
            pick = step(
                pick.tokens, positions[:, -1] + (t + 1), caches[0], valid, slot, u_all[t + 1]
            )
        else:
            g_logits, b_logits = run(
                pick.tokens[:, None], positions[:, -1:] + (t + 1), slot, slot + 1
            )
            pick = choose(rule, g_logits, b_logits, u_all[t + 1], kernel)
    return _batch_result(picks, rule.needs_amateur, tokens.eos if stop else None)


def _batch_result(picks: list, amateur: bool, eos: int | None) -> BatchResult:
    """BatchResult from the per-step picks (with `amateur`, their contrast too). A row is
    live up to and including its first `eos` (None: every step); its statistics are over its
    live steps only."""
    out = torch.stack([c.tokens for c in picks], 1).cpu()  # (B, steps)
    B, T = out.shape
    if eos is None:
        n_steps = torch.full((B,), T)
    else:
        is_eos = out == eos
        n_steps = torch.where(is_eos.any(1), is_eos.int().argmax(1) + 1, T)
    live = torch.arange(T)[None] < n_steps[:, None]
    differs = (torch.stack([c.differs for c in picks], 1).cpu() & live).sum(1)
    vhead = torch.stack([c.vhead_size for c in picks], 1).cpu().double()
    vhead = torch.where(live, vhead, 0.0).sum(1)
    seqs = [out[r, : int(n_steps[r])].tolist() for r in range(B)]
    if amateur:
        contrast = torch.stack([c.contrast for c in picks], 1).cpu().double()
        per_token = [contrast[r, : int(n_steps[r])].tolist() for r in range(B)]
    else:
        per_token = [None] * B
    steps = n_steps.clamp_min(1).double()
    recorded = [c.scores.cpu() for c in picks] if picks[0].scores is not None else None
    return BatchResult(
        tokens=seqs,
        ended_with_eos=[bool(seq) and seq[-1] == eos for seq in seqs],
        mean_contrast=[sum(c) / max(len(c), 1) for c in per_token] if amateur else [None] * B,
        token_contrast=per_token,
        differs_from_good_argmax=(differs / steps).tolist(),
        mean_vhead_size=(vhead / steps).tolist(),
        step_scores=recorded,
    )
