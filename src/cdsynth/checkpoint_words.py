"""Checkpoints by words seen, named as the BabyLM challenge names its revisions: chck_<N>M.

    marks = schedule("babylm-strict-small")     # [1, 2, ..., 9, 10, 20, ..., 100] (millions)
    counter = WordCounter(tokenizer)
    counter.count(rows)                          # whitespace words in (n, block_len) token ids
    crossed(words_before, words_after, marks)    # the marks a step passed: save chck_<N>M
    words = WordCheckpoints(spec, tokenizer)     # what train.py keeps: counts, marks passed

The schedules are babylm-eval `strict/` (commit 3d57ddc8c40ee795c0b5e41b3a20251a9457a593):
README.md, "Submission Requirements", and `scripts/eval_zero_shot_fast_all_revisions.sh`,
which evaluates chck_1M .. chck_9M, chck_10M .. chck_100M by 10, and on every track but
strict-small chck_200M .. chck_1000M by 100. Words are counted with repeats ("total count not
unique"), over the real corpus's rows only; the synthetic rows' words are counted apart.

A word is a maximal run of non-whitespace characters, as `str.split()` counts it. It is
counted where it starts: a token holding a whitespace -> non-whitespace transition starts one
word there, and a token that starts with a non-whitespace character starts one when the token
before it ends in whitespace or is a special token (<s>, </s>, <pad>). So the words of a
document as one token stream are exactly `len(text.split())`; in packed rows, a word that
starts a row without a space before it (a document's first word right after a row's edge, or
the rest of a word cut by the edge) is not counted: at most one word per row boundary.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .errors import UserError
from .fileio import atomic_path, write_json

SCHEDULES = {
    "babylm-strict-small": [*range(1, 10), *range(10, 101, 10)],
    "babylm-strict": [*range(1, 10), *range(10, 101, 10), *range(200, 1001, 100)],
}


def schedule(spec) -> list[int]:
    """The word marks, in millions: a track's schedule by name, or a list of millions."""
    if isinstance(spec, str):
        if spec not in SCHEDULES:
            raise UserError(
                f"train.checkpoint_words must be one of {', '.join(SCHEDULES)} or a list of "
                f"millions of words, got {spec!r}"
            )
        return SCHEDULES[spec]
    marks = list(spec)
    if not marks or not all(
        isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in marks
    ):
        raise UserError(
            "train.checkpoint_words must be a track name or a list of positive whole millions "
            f"of words, got {spec!r}"
        )
    return sorted(set(marks))


def revision(millions: int) -> str:
    """The pipeline's revision name of a mark: chck_<N>M."""
    return f"chck_{millions}M"


REVISION_NAME = re.compile(r"chck_(\d+)M")


def word_checkpoints(run: str | Path) -> list[Path]:
    """The chck_<N>M folders of a run, by N (each an HF model folder, written atomically)."""
    found = [
        (int(m[1]), p)
        for p in Path(run).glob("chck_*M")
        if (m := REVISION_NAME.fullmatch(p.name)) and (p / "config.json").is_file()
    ]
    return [p for _, p in sorted(found)]


WORDS_PER_MARK = 1_000_000  # a mark of N is N million words


def crossed(before: int, after: int, marks: list[int]) -> list[int]:
    """The marks (millions) with before < mark x 10^6 <= after."""
    return [m for m in marks if before < m * WORDS_PER_MARK <= after]


class WordCounter:
    """Counts whitespace words in rows of token ids (see the module docstring)."""

    def __init__(self, tokenizer):
        n = len(tokenizer)
        special = set(tokenizer.all_special_ids)
        self.inner = np.zeros(n, dtype=np.int64)  # whitespace -> non-whitespace inside
        self.lead = np.zeros(n, dtype=bool)  # starts with a non-whitespace character
        self.trail = np.zeros(n, dtype=bool)  # ends in whitespace, or is special
        for i in range(n):
            if i in special:
                self.trail[i] = True
                continue
            text = tokenizer.decode([i], clean_up_tokenization_spaces=False)
            if not text:
                continue
            ws = [c.isspace() for c in text]
            self.inner[i] = sum(1 for a, b in zip(ws[:-1], ws[1:], strict=True) if a and not b)
            self.lead[i] = not ws[0]
            self.trail[i] = ws[-1]

    def count(self, rows: np.ndarray) -> int:
        """Words starting in `rows` ((n, L) token ids; a row's first token starts none by
        itself)."""
        rows = np.asarray(rows)
        if rows.size == 0:
            return 0
        rows = rows.reshape(-1, rows.shape[-1])
        starts = self.lead[rows[:, 1:]] & self.trail[rows[:, :-1]]
        return int(self.inner[rows].sum() + starts.sum())


class WordCheckpoints:
    """Words seen during training (`train.checkpoint_words`): the real corpus's words, repeats
    included, and the synthetic rows' words apart; which chck_<N>M marks a step passes."""

    def __init__(self, spec, tokenizer):
        self.marks = schedule(spec)
        self.counter = WordCounter(tokenizer)
        self.real = self.synthetic = 0

    def resume(self, state: dict) -> None:
        self.real, self.synthetic = state["words_seen"], state["synthetic_words_seen"]

    def step(self, rows: np.ndarray, is_syn: np.ndarray) -> list[str]:
        """Count one step's batch; the revision names of the marks it passed."""
        before = self.real
        self.real += self.counter.count(rows[~is_syn])
        self.synthetic += self.counter.count(rows[is_syn])
        return [revision(m) for m in crossed(before, self.real, self.marks)]

    def state(self) -> dict:
        return {"words_seen": self.real, "synthetic_words_seen": self.synthetic}


def save_word_checkpoint(model, tokenizer, folder: Path, state: dict) -> None:
    """A chck_<N>M folder: an HF model folder (weights, config, tokenizer) and the state of
    the step it was saved at; no optimizer (runs resume from step_N)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    with atomic_path(folder) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        write_json(tmp / "state.json", {**state, "revision": folder.name})
