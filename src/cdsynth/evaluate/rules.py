"""The BabyLM scoring rules by release (`evaluate.rules`): what changed from 2025 to 2026.

    rules = RULES["babylm2026"]
    rules.correct([-3.0, -3.0], key="comps/base/0")   # a tie: broken by keyed randomness

`babylm2025` is the 2025 pipeline as cdsynth has always scored it (and what the paper's study
uses): the first candidate is right iff it scores strictly higher than every other one, so a
tie or a NaN counts as wrong. `babylm2026` follows babylm-org/babylm-eval `strict/` at commit
3d57ddc8c40ee795c0b5e41b3a20251a9457a593 (docs/method.md names file and function of each):

- NaN scores become -inf, and the chosen candidate is the argmax, a tie among the highest
  broken at random (`compute_results.rank_and_evaluate`); here the random choice is keyed by
  the item (`tie_break`), so a result is reproducible, where the pipeline draws from torch's
  unseeded generator;
- EWoK: the target is fixed and the context varies: p(" " + Target1 | Context1) against
  p(" " + Target1 | Context2) (`read_files.decode_ewok`); the data holds each item twice
  (contexts and targets swapped), so every item is scored as two pairs;
- entity tracking: an item any of whose options contains "nothing" is dropped
  (`read_files.decode_entity_tracking`);
- WUG is gone (the task choices of `sentence_zero_shot/run.py`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np

from ..errors import UserError


def tie_break(key: str, n: int) -> int:
    """A uniform choice in range(n) that is a function of `key` alone."""
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    return int(np.random.default_rng(seed).integers(n))


@dataclass(frozen=True)
class Rules:
    name: str
    ewok_context_pairs: bool  # EWoK: target fixed, contexts compared (else contexts fixed)
    drop_nothing: bool  # entity tracking: drop items with a "nothing" option
    random_ties: bool  # NaN -> -inf, the argmax with ties broken by keyed randomness
    wug: bool  # whether the WUG task exists

    def chosen(self, scores, key: str) -> int:
        """The index of the candidate chosen (2026 rule; see the module docstring)."""
        s = np.asarray(scores, dtype=np.float64)
        s = np.where(np.isnan(s), -np.inf, s)
        tied = np.flatnonzero(s == s.max())
        return int(tied[tie_break(key, len(tied))]) if len(tied) > 1 else int(tied[0])

    def correct(self, scores, key: str) -> bool:
        """Whether the first candidate (the right one in every BabyLM suite) is chosen."""
        if self.random_ties:
            return self.chosen(scores, key) == 0
        s = np.asarray(scores, dtype=np.float64)
        return bool(s[0] > np.max(s[1:])) if len(s) > 1 else True

    def check_task(self, task: str) -> None:
        if task == "wug" and not self.wug:
            raise UserError(
                f"the WUG task was removed from BabyLM 2026 (evaluate.rules {self.name}); "
                "drop it from evaluate.tasks or use evaluate.rules babylm2025"
            )


RULES = {
    "babylm2025": Rules("babylm2025", False, False, False, True),
    "babylm2026": Rules("babylm2026", True, True, True, False),
}
DEFAULT = "babylm2025"


def has_nothing_option(row: dict) -> bool:
    """The 2026 entity-tracking filter: `any("nothing" in option for option in options)`."""
    return any("nothing" in option for option in row["options"])


def item_key(task: str, file: str, row: dict) -> str:
    """What keys an item's tie-break: its task, file and content (not its position, so a
    subset of a file breaks the ties of its items as the whole file does)."""
    return f"{task}/{file}/" + json.dumps(row, sort_keys=True, ensure_ascii=False)
