"""The generic decoding engine: any Hugging Face causal LM behind the `Engine` protocol
(protocol.py), so GOOD and BAD may be of different architectures (a GPT-2 GOOD with a Pythia BAD).

    model = load_causal_lm(path, torch.bfloat16)           # safetensors only; one clear error
    engine = HFEngine(model, torch.bfloat16, "cpu")
    cache = engine.new_cache(batch, max_len)
    logits = engine.forward(ids, positions, cache, start, key_valid)   # (1, B, vocab)

Each engine is one model with its own KV cache (the model's own, transformers'
`DynamicCache`). Rows are left padded: the engine
passes the model an explicit `attention_mask` over every cache slot (0 for padding) and
`position_ids` (each token's position in its own row, as HF `generate` computes them), so a
padded row is computed as if it were alone, for absolute position embeddings (GPT-2) and
rotary ones (GPT-NeoX, LLaMA, Qwen) alike. Only the last position's logits are computed where
the model takes `logits_to_keep`; on a CPU one-token steps use eager attention (faster there
than SDPA), prompts the model's own. The lean stacked engine (`lean.LeanLlama`) is
faster for LLaMA pairs; this one runs whatever `AutoModelForCausalLM` runs, with no dropout
amateur.

Vocabulary: GOOD and BAD must have identical tokenizers (`len` and `get_vocab()`); a model may
compute more logits than its tokenizer has tokens (an embedding padded to a multiple of 64:
Pythia has 50,304 rows for 50,277 tokens). Those extra logits belong to no token, so
`generate_batch` cuts them off (`SpecialTokens.vocab = len(tokenizer)`) before any rule: they
are never sampled and do not enter the softmax. Fewer logits than tokens is an error.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UserError
from .protocol import Dropout


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def causal_lm_config(path: Path):
    """The model's config, or one clear line when it is not a causal LM transformers knows."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(str(path))
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"cannot read the model config in {path}: {first_line(e)}") from None
    kind = getattr(config, "model_type", None)
    if kind not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or getattr(
        config, "is_encoder_decoder", False
    ):
        raise UserError(
            f"{path} is a '{kind}' model, which has no causal language-model head "
            "(AutoModelForCausalLM cannot run it); use a decoder-only checkpoint"
        )
    return config


def meta_model(path: Path):
    """The model built on the meta device from its config: its structure, no weights, no memory
    (to choose the engine before loading anything)."""
    from transformers import AutoModelForCausalLM

    config = causal_lm_config(path)
    with torch.device("meta"):
        try:
            return AutoModelForCausalLM.from_config(config)
        except (ValueError, KeyError, TypeError) as e:
            raise UserError(f"cannot build the model of {path}: {first_line(e)}") from None


def check_weight_files(path: Path) -> None:
    """A checkpoint must hold safetensors weights (`model.safetensors`, or its shards
    `model-0000i-of-0000n.safetensors`): cdsynth never unpickles .bin files. (A cdsynth
    checkpoint's optimizer.safetensors and rng.safetensors are no weights.)"""
    if not any(Path(path).glob("model*.safetensors")):
        raise UserError(
            f"no .safetensors weights in {path} (cdsynth does not load pickled .bin weights; "
            "convert them with save_pretrained(safe_serialization=True))"
        )


def load_causal_lm(path: Path, dtype: torch.dtype = torch.float32):
    """`AutoModelForCausalLM` weights from safetensors only (never pickle), in eval mode.

    A checkpoint whose file lacks some weights (a base model without its LM head, say) would
    get random ones silently; that is an error here."""
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    causal_lm_config(path)
    check_weight_files(path)
    try:
        model, info = AutoModelForCausalLM.from_pretrained(
            str(path), dtype=dtype, use_safetensors=True, output_loading_info=True
        )
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as e:
        raise UserError(f"cannot load the model in {path}: {first_line(e)}") from None
    missing = [k for k in info.get("missing_keys", []) if k]
    if missing:
        raise UserError(
            f"{path}: {len(missing)} weights are missing from the checkpoint (first: "
            f"{missing[0]}); is it a causal LM checkpoint with its LM head?"
        )
    return model.eval()


def output_size(model) -> int:
    """Number of logits the model computes per position (its output embedding rows)."""
    head = model.get_output_embeddings()
    if head is not None and getattr(head, "weight", None) is not None:
        return int(head.weight.shape[0])
    return int(model.config.vocab_size)


def check_vocabularies(tok_good, tok_bad, good_path, bad_path) -> None:
    """GOOD and BAD must tokenize alike: the same number of tokens and the same token strings
    at the same ids (architectures may differ)."""
    a, b = tok_good.get_vocab(), tok_bad.get_vocab()
    if len(tok_good) == len(tok_bad) and a == b:
        return
    differ = len(set(a.items()) ^ set(b.items()))
    raise UserError(
        f"GOOD ({good_path}) and BAD ({bad_path}) use different tokenizers "
        f"({len(tok_good)} vs {len(tok_bad)} tokens, {differ} token/id pairs differ); "
        "contrastive decoding needs one shared vocabulary"
    )


def check_output_size(model, tokenizer, path) -> None:
    """A model may compute more logits than its tokenizer has tokens (an embedding padded to
    a multiple of 64, say): the extra ones are cut off. Fewer is an error."""
    n = output_size(model)
    if n < len(tokenizer):
        raise UserError(
            f"the model in {path} computes {n} logits per position but its tokenizer has "
            f"{len(tokenizer)} tokens; they must come from the same checkpoint"
        )


@dataclass
class HFCache:
    """One model's KV cache (transformers' own), and how many slots it holds."""

    past: object | None = None
    length: int = 0


class HFEngine:
    """One `AutoModelForCausalLM` as an `Engine` (protocol.py): forward only, no own step."""

    n_models = 1

    def __init__(
        self, hf_model, dtype: torch.dtype = torch.float32, device="cpu", attention: str = "auto"
    ):
        self.device = torch.device(device)
        self.dtype = dtype
        self.model = hf_model.to(device=self.device, dtype=dtype).eval()
        # one-query steps on a CPU: eager attention (plain matmuls) beats torch's SDPA kernel.
        # The prompt keeps the model's own choice: eager softmax over a left-padded query row
        # with no visible key gives NaN in some models (GPT-NeoX), SDPA handles it.
        # (the model's own, noted on it: another engine on the same model may have switched it)
        if not hasattr(hf_model, "_cdsynth_prompt_attention"):
            hf_model._cdsynth_prompt_attention = getattr(
                hf_model.config, "_attn_implementation", None
            )
        self.prompt_attention = hf_model._cdsynth_prompt_attention
        if attention == "auto":
            attention = "eager" if self.device.type == "cpu" else self.prompt_attention
        self.step_attention = attention or self.prompt_attention
        self.config = hf_model.config
        self.vocab_size = output_size(hf_model)
        params = inspect.signature(self.model.forward).parameters
        # transformers 5 calls the cache argument `cache` (`past_key_values` before)
        self.cache_arg = "cache" if "cache" in params else "past_key_values"
        for need in ("attention_mask", "position_ids", self.cache_arg):
            if need not in params:
                raise UserError(
                    f"{type(hf_model).__name__} takes no `{need}`: it cannot decode left-padded "
                    "batches with a cache; use another model"
                )
        self.keep = {"logits_to_keep": 1} if "logits_to_keep" in params else {}

    def _use_attention(self, name: str | None) -> None:
        """Switch the model to attention `name` (what it runs now is read from the model, which
        another engine may share)."""
        if name and name != getattr(self.model.config, "_attn_implementation", None):
            try:
                self.model.set_attn_implementation(name)
            except (ValueError, ImportError):  # not supported by this model: keep its own
                self.step_attention = self.prompt_attention

    def new_cache(self, batch: int, max_len: int) -> HFCache:
        """An empty cache; the model makes its own on the first call. (K and V written in place
        into preallocated buffers were slower here: attention over the slices of a larger
        buffer cost more than the per-step concatenation they save.)"""
        return HFCache()

    def step(self, rule, vocab: int | None) -> None:
        """No one-call step: the caller runs `forward` and `decoding.choose`."""
        return None

    @torch.no_grad()
    def forward(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        cache: HFCache,
        start: int,
        key_valid: torch.Tensor,
        dropout: Dropout | None = None,
    ) -> torch.Tensor:
        """Run `ids` (B, T) at cache slots [start, start + T); positions (B, T); key_valid
        (B, start + T) bool. Returns last-position logits (1, B, vocab), float32 (float64 for
        a float64 model)."""
        if dropout is not None:
            raise ValueError("the generic engine has no dropout amateur")
        if start != cache.length:
            raise ValueError(f"cache holds {cache.length} slots, asked to write at {start}")
        self._use_attention(self.step_attention if ids.shape[1] == 1 else self.prompt_attention)
        out = self.model(
            input_ids=ids,
            attention_mask=key_valid.long(),
            position_ids=positions,
            use_cache=True,
            **{self.cache_arg: cache.past},
            **self.keep,
        )
        cache.past = getattr(out, "cache", None) or out.past_key_values
        cache.length = start + ids.shape[1]
        logits = out.logits[:, -1]
        return (logits if logits.dtype == torch.float64 else logits.float())[None]
