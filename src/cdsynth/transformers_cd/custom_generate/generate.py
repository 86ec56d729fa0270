"""Contrastive decoding (Li et al., 2023) as a transformers `custom_generate` method.

    out = good.generate(**inputs, custom_generate=PATH, trust_remote_code=True,
                        amateur_model=bad, alpha=0.1, lam=1.0, do_sample=True, top_k=0)

Each step scores every token x by log p_good(x) - lam * log p_bad(x) on V_head = {x :
p_good(x) >= alpha * max p_good}, and -inf outside it (cdsynth's `decoding.contrastive_scores`);
then top-k, top-p and the temperature (cdsynth's `decoding.truncate`: in that order); then the
token is the argmax (`do_sample=False`) or a sample. GOOD (`model`) and the amateur each run with
their own KV cache on the same left-padded rows, with the position ids transformers' own
`generate` computes from the attention mask. Rows stop at EOS (then pad); generation stops
when every row has stopped or after `max_new_tokens`. `output_scores=True` returns the
contrastive scores each token was chosen from (after truncation and temperature).

This file is self-contained (torch and transformers only) so it runs from the Hub without
cdsynth; cdsynth's tests check that its functions equal cdsynth's `decoding` and that its greedy
tokens equal cdsynth's own contrastive decoding on the same pair.
"""

from __future__ import annotations

import copy
import inspect
import math

import torch
from transformers.generation.utils import GenerateDecoderOnlyOutput

# `generate` arguments this method cannot honour: refused with one clear line when set
UNSUPPORTED = (
    "logits_processor",
    "stopping_criteria",
    "prefix_allowed_tokens_fn",
    "assistant_model",
    "streamer",
    "negative_prompt_ids",
    "negative_prompt_attention_mask",
)
# generate's own arguments that are fine unset or at these values
IGNORED = ("synced_gpus", "use_cache", "tokenizer")


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    x = logits if logits.dtype == torch.float64 else logits.float()
    return torch.log_softmax(x, dim=-1)


def contrastive_scores(
    good_logits: torch.Tensor, bad_logits: torch.Tensor, alpha: float, lam: float
) -> torch.Tensor:
    """log p_good - lam * log p_bad on V_head, -inf elsewhere. Shapes (..., vocab)."""
    good = log_softmax(good_logits)
    keep = torch.ones_like(good, dtype=torch.bool)
    if alpha > 0:
        keep = good >= good.max(dim=-1, keepdim=True).values + math.log(alpha)
    scores = good if lam == 0 else good - lam * log_softmax(bad_logits).to(good.dtype)
    return scores.masked_fill(~keep, -math.inf)


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
    sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
    probs = torch.softmax(sorted_scores, dim=-1)
    drop_sorted = torch.cumsum(probs, dim=-1) - probs >= p  # mass of strictly better tokens
    drop_sorted[..., 0] = False
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return scores.masked_fill(drop, -math.inf)


def truncate(scores: torch.Tensor, top_k: int, top_p: float, temperature: float) -> torch.Tensor:
    """Top-k, then top-p, then the temperature (cdsynth's order)."""
    scores = top_p_filter(top_k_filter(scores, top_k), top_p)
    return scores / temperature if temperature != 1.0 else scores


def output_size(model) -> int:
    """Logits per position: the output embedding's rows (else `config.vocab_size`)."""
    head = model.get_output_embeddings()
    weight = getattr(head, "weight", None) if head is not None else None
    return int(weight.shape[0]) if weight is not None else int(model.config.vocab_size)


class CachedModel:
    """One causal LM and its own KV cache, fed left-padded rows with explicit position ids."""

    def __init__(self, model):
        self.model = model
        params = inspect.signature(model.forward).parameters
        # transformers 5 calls the cache argument `cache` (`past_key_values` before)
        self.cache_arg = "cache" if "cache" in params else "past_key_values"
        self.keep = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        self.past = None

    def next_logits(self, ids, attention_mask, position_ids) -> torch.Tensor:
        """Logits (rows, vocab) of the position after `ids`, on the caller's device."""
        dev = self.model.device
        out = self.model(
            input_ids=ids.to(dev),
            attention_mask=attention_mask.to(dev),
            position_ids=position_ids.to(dev),
            use_cache=True,
            **{self.cache_arg: self.past},
            **self.keep,
        )
        self.past = getattr(out, "cache", None) or out.past_key_values
        return out.logits[:, -1].to(ids.device)


def _settings(model, generation_config, kwargs: dict):
    """The generation config (`generation_config`, else the model's, updated by `kwargs`) and
    the model inputs left over. Unknown arguments are an error, not ignored."""
    for name in UNSUPPORTED:
        if kwargs.pop(name, None) is not None:
            raise ValueError(f"contrastive decoding (cdsynth) does not support `{name}`")
    for name in IGNORED:
        kwargs.pop(name, None)
    config = copy.deepcopy(generation_config or model.generation_config)
    rest = config.update(**kwargs)
    inputs = {k: rest.pop(k) for k in ("input_ids", "attention_mask", "inputs") if k in rest}
    if rest:
        raise ValueError(f"contrastive decoding (cdsynth): unknown arguments {sorted(rest)}")
    if (config.num_beams or 1) > 1:
        raise ValueError("contrastive decoding (cdsynth) does not run beam search (num_beams=1)")
    return config, inputs


def _eos_ids(config) -> list[int]:
    eos = config.eos_token_id
    return [] if eos is None else [eos] if isinstance(eos, int) else list(eos)


@torch.no_grad()
def generate(
    model,
    amateur_model=None,
    alpha: float = 0.1,
    lam: float = 1.0,
    generation_config=None,
    **kwargs,
):
    """Contrastive decoding with `model` as GOOD (the expert) and `amateur_model` as BAD.

    alpha in [0, 1]: the plausibility cut (V_head); lam >= 0: the weight of the amateur.
    Reads from the generation config (or keyword arguments): max_new_tokens (or max_length),
    do_sample, top_k, top_p, temperature, eos_token_id, pad_token_id, num_return_sequences,
    output_scores, output_logits (GOOD's raw logits), return_dict_in_generate. `input_ids`
    (rows, prompt) must be left padded, with `attention_mask` when padded. Returns the
    sequences (prompt + new tokens), or a `GenerateDecoderOnlyOutput`."""
    if amateur_model is None:
        raise ValueError("contrastive decoding (cdsynth) needs `amateur_model=` (the BAD model)")
    if not 0.0 <= alpha <= 1.0 or not (math.isfinite(lam) and lam >= 0):
        raise ValueError(
            f"contrastive decoding needs alpha in [0, 1] and lam >= 0 ({alpha}, {lam})"
        )
    n_good, n_bad = output_size(model), output_size(amateur_model)
    if n_good != n_bad:
        raise ValueError(
            f"the model and the amateur_model have different vocabularies ({n_good} vs {n_bad} "
            "logits per position); contrastive decoding needs one shared tokenizer"
        )
    config, inputs = _settings(model, generation_config, kwargs)
    ids = inputs.get("input_ids")
    ids = inputs.get("inputs") if ids is None else ids
    if ids is None:
        raise ValueError("contrastive decoding (cdsynth) needs `input_ids`")
    mask = inputs.get("attention_mask")
    mask = torch.ones_like(ids) if mask is None else mask.to(ids.device).long()
    if not bool(mask[:, -1].all()):
        raise ValueError(
            "contrastive decoding (cdsynth) needs left padding (tokenizer.padding_side = 'left')"
        )
    if (n := config.num_return_sequences or 1) > 1:
        ids, mask = ids.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)
    top_k, top_p = config.top_k or 0, 1.0 if config.top_p is None else config.top_p
    temperature = 1.0 if config.temperature is None else config.temperature
    if temperature <= 0 or not 0 < top_p <= 1:
        raise ValueError(f"need temperature > 0 and top_p in (0, 1] ({temperature}, {top_p})")
    new_tokens = config.max_new_tokens
    if new_tokens is None:
        new_tokens = config.max_length - ids.shape[1] if config.max_length else 20
    eos = torch.tensor(_eos_ids(config), dtype=torch.long, device=ids.device)
    pad = config.pad_token_id if config.pad_token_id is not None else (eos.tolist() or [0])[0]

    good, bad = CachedModel(model), CachedModel(amateur_model)
    positions = (mask.cumsum(-1) - 1).clamp_min(0)
    step_ids, sequences = ids, ids
    done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    scores, logits = [], []
    for _ in range(max(new_tokens, 0)):
        good_logits = good.next_logits(step_ids, mask, positions)
        bad_logits = bad.next_logits(step_ids, mask, positions)
        contrast = contrastive_scores(good_logits, bad_logits, alpha, lam)
        final = truncate(contrast, top_k, top_p, temperature)
        if config.do_sample:
            probs = torch.softmax(final.double(), dim=-1)
            token = torch.multinomial(probs, 1)[:, 0]
        else:
            token = final.argmax(-1)
        token = torch.where(done, pad, token)
        scores.append(final)
        logits.append(good_logits)
        sequences = torch.cat([sequences, token[:, None]], 1)
        done |= torch.isin(token, eos)
        if bool(done.all()):
            break
        step_ids = token[:, None]
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
        positions = positions[:, -1:] + 1
    if not config.return_dict_in_generate:
        return sequences
    return GenerateDecoderOnlyOutput(
        sequences=sequences,
        scores=tuple(scores) if config.output_scores else None,
        logits=tuple(logits) if config.output_logits else None,
    )
