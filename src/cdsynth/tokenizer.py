"""Byte-level BPE trained with HF `tokenizers`, saved so `AutoTokenizer.from_pretrained` loads it.

Special tokens (fixed ids): <unk>=0, <s>=1, </s>=2, <pad>=3. No prefix space is added and no
special tokens are inserted by `encode`: `blocks.py` wraps documents in <s> ... </s> itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .config import TokenizerConfig, to_dict
from .errors import UserError
from .fileio import atomic_path, write_manifest
from .identity import output_identity

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]
UNK_ID, BOS_ID, EOS_ID, PAD_ID = range(4)


def train_tokenizer(texts: Iterable[str], cfg: TokenizerConfig):
    """Train a byte-level BPE; returns a `transformers.PreTrainedTokenizerFast`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        clean_up_tokenization_spaces=False,
    )


def tokenizer_identity(cfg: TokenizerConfig, inputs: dict) -> str:
    """The identity a tokenizer records: its config and the hash of the text it was trained
    on (`inputs`: {"train.jsonl": file hash})."""
    return output_identity("tokenizer", to_dict(cfg), inputs)


def save_tokenizer(tokenizer, out_dir: str | Path, cfg: TokenizerConfig, inputs: dict) -> None:
    """Save `tokenizer` to `out_dir` atomically, with a manifest recording its identity."""
    with atomic_path(out_dir) as tmp:
        tokenizer.save_pretrained(tmp)
        write_manifest(
            tmp,
            config=to_dict(cfg),
            inputs=inputs,
            identity=tokenizer_identity(cfg, inputs),
            vocab_size=len(tokenizer),
        )


def load_tokenizer(path: str | Path):
    """Load a saved tokenizer (ours or any HF tokenizer folder)."""
    from transformers import AutoTokenizer

    path = Path(path)
    if not (path / "tokenizer.json").is_file() and not (path / "tokenizer_config.json").is_file():
        raise UserError(f"no tokenizer in {path} (run `cdsynth tokenizer` first)")
    return AutoTokenizer.from_pretrained(str(path))


def checkpoint_tokenizer(path: str | Path):
    """A model checkpoint's own tokenizer (cdsynth saves it into every step_N folder)."""
    path = Path(path)
    if not (path / "tokenizer.json").is_file() and not (path / "tokenizer_config.json").is_file():
        raise UserError(
            f"checkpoint {path} has no tokenizer files (tokenizer.json, tokenizer_config.json); "
            "copy in the files of the tokenizer it was trained with (for a cdsynth run: "
            "those in WORKDIR/tokenizer/)"
        )
    return load_tokenizer(path)
