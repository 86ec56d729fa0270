"""Age of acquisition (Chang & Bergen 2022), as babylm-eval `strict/` computes it (commit
3d57ddc8c40ee795c0b5e41b3a20251a9457a593; docs/method.md names each function).

Per checkpoint (the task "aoa", scored by the runner like any task, cached per checkpoint):
the surprisal of every CDI word in each of its contexts, -ln p(" " + word | context), in nats
(`AoA_word/evaluation_functions.py`, `compute_surprisal` and `compute_surprisal_causal`: the
context stripped, one space, the word stripped; the word's tokens are those whose characters
end after the word's start). The task score is the mean surprisal.

Over a run's checkpoints (`curve_fitness`, `evaluation_pipeline/utils.py`, `AoAEvaluator`):
the mean surprisal of each word per checkpoint; a sigmoid a / (1 + exp(-b (x - c))) + d fitted
to -surprisal over x = log10(words seen + 1) (the words seen read from the checkpoint's name,
chck_10M -> 10^7, `extract_step_number`); the model's AoA is the x where the curve reaches half
way from chance (n_subword_tokens x ln(vocab size)) to the word's lowest surprisal, in
log10(words + 1) units; the child's AoA is where a sigmoid fitted to the share of children
who produce the word (ages 16-30 months) reaches 0.5, in months; the score is Pearson's r of
the two over the words that have both, 0.0 when fewer than 3 words have both or p > 0.1.

    words, contexts = load(Path("evaluation_data/full_eval/cdi_childes"))
    curve_fitness(surprisals_by_checkpoint, human_table, tokenizer)
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit
from scipy.stats import pearsonr

from ..errors import UserError
from .result import TaskResult

WORDS_FILE = "cdi_childes.json"
HUMAN_FILE = "cdi_human.csv"  # the pipeline reads it next to cdi_childes.json (AoA_word/run.py)
AGES = tuple(range(16, 31))  # months: the CDI columns "16" .. "30"


def load(path: Path, min_context: int = 0) -> dict[str, list[dict]]:
    """{word: [{"context": ...}, ...]} of cdi_childes.json (in the folder `path`), as
    `AoA_word/eval_util.py`, `load_eval`, keeps them: words longer than one character with at
    least `min_context` contexts (run.py's default: 0)."""
    f = path / WORDS_FILE if path.is_dir() else path
    if not f.is_file():
        raise UserError(f"no {WORDS_FILE} in {path}")
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"{f}: not JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(data, dict):
        raise UserError(f"{f}: expected an object {{word: [{{'context': ...}}, ...]}}")
    out = {}
    for word, rows in data.items():
        if len(word) > 1 and len(rows) >= min_context:
            for n, row in enumerate(rows):
                if not isinstance(row, dict) or "context" not in row:
                    raise UserError(f"{f}: word {word!r}, context {n}: missing field 'context'")
            out[word] = [{"context": row["context"]} for row in rows]
    if not out:
        raise UserError(f"{f}: no word with contexts")
    return out


def request(context: str, word: str) -> tuple[str, str]:
    """compute_surprisal: context.strip() + " " then word.strip() (the space goes with the
    word, whose tokens are scored)."""
    return context.strip(), " " + word.strip()


def score(scorer, files: dict[str, list[dict]]) -> TaskResult:
    """Per-checkpoint surprisals (nats) of every (word, context); the score is their mean."""
    flat = [(w, i, row) for w, rows in files.items() for i, row in enumerate(rows)]
    lp = scorer.continuation_logprobs([request(row["context"], w) for w, _, row in flat])
    items = [
        {"id": f"{w}/{i}", "subtask": w, "surprisal": float(-x)}
        for (w, i, _), x in zip(flat, lp, strict=True)
    ]
    mean = float(np.mean([it["surprisal"] for it in items]))
    return TaskResult("aoa", "surprisal", mean, {}, items)


def sigmoid(x, a, b, c, d):
    """utils.sigmoid_function: a / (1 + exp(-b (x - c))) + d."""
    return a / (1 + np.exp(-b * (x - c))) + d


def words_seen(name: str) -> float | None:
    """AoAEvaluator.extract_step_number: the first number in a checkpoint's name with its
    unit (K, M, B): chck_10M -> 1e7, step_300 -> 300."""
    m = re.search(r"(\d+(?:\.\d+)?)\s*([KMB]?)", str(name), re.IGNORECASE)
    if not m:
        return None
    unit = m.group(2).upper() if m.group(2) else ""
    return float(m.group(1)) * {"K": 1e3, "M": 1e6, "B": 1e9}.get(unit, 1)


def child_aoa(proportions, ages=AGES, threshold: float = 0.5) -> float | None:
    """AoAEvaluator.compute_child_aoa: months at which the fitted sigmoid of the share of
    children producing the word reaches `threshold`; None where the pipeline gives none."""
    p = np.asarray(proportions, dtype=float)
    ages = np.asarray(ages)
    valid = ~np.isnan(p)
    if not np.any(valid):
        return None
    ages, p = ages[valid], p[valid]
    if len(p) < 3:
        return None
    try:
        popt, _ = curve_fit(
            sigmoid,
            ages,
            p,
            p0=[1.0, 0.1, np.mean(ages), 0.0],
            bounds=([0, 0, ages[0], -0.5], [2.0, 1.0, ages[-1], 0.5]),
            maxfev=1000,
        )
        a, b, c, d = popt
        if b <= 0 or a <= 0 or threshold <= d or threshold >= a + d:
            return None
        aoa = c - np.log((a / (threshold - d)) - 1) / b
        if aoa < ages[0] or aoa > ages[-1]:
            return None
        return float(aoa)
    except Exception:  # the pipeline's except: a failed fit gives no AoA
        return None


def model_aoa(
    surprisals, steps, vocab_size: int, n_subword_tokens: int = 1, threshold: float = 0.5
) -> float | None:
    """AoAEvaluator.compute_model_aoa: log10(words + 1) at which the fitted learning curve is
    half way from chance to the lowest surprisal; None where the pipeline gives none."""
    if len(surprisals) != len(steps):
        raise ValueError("surprisals and steps must have the same length")
    if len(surprisals) < 3:
        return None
    steps, s = np.asarray(steps, dtype=float), np.asarray(surprisals, dtype=float)
    valid = ~np.isnan(s)
    if not np.any(valid):
        return None
    steps, s = steps[valid], s[valid]
    chance = n_subword_tokens * np.log(vocab_size)
    target = chance - threshold * (chance - np.min(s))
    try:
        y = -s
        x = np.log10(steps + 1)
        rng = np.max(y) - np.min(y)
        popt, _ = curve_fit(
            sigmoid,
            x,
            y,
            p0=[rng, 1.0, np.mean(x), np.min(y)],
            bounds=(
                [0.0, 0.0, np.min(x) - 1, np.min(y) - 2 * rng - 1],
                [10 * rng + 1, 100.0, np.max(x) + 1, np.max(y) + 1],
            ),
            maxfev=20000,
        )
        a, b, c, d = popt
        if b <= 1e-6 or a <= 1e-6 or -target <= d or -target >= a + d:
            return None
        log_aoa = c - np.log((a / (-target - d)) - 1) / b
        if 10**log_aoa - 1 < steps[0] or 10**log_aoa - 1 > steps[-1]:
            return None
        return float(log_aoa)
    except Exception:  # the pipeline's except: a failed fit gives no AoA
        return None


def read_human(path: Path) -> dict:
    """{"ages": [months], "words": {word: share of children producing it at each age}} of a
    CDI table (cdi_human.csv: a "word" column and one column per month 16 .. 30; months it
    lacks are left out, as the pipeline's `prepare_cdi_data` does; an empty cell is NaN)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = [str(a) for a in AGES if str(a) in (reader.fieldnames or [])]
        if "word" not in (reader.fieldnames or []) or not cols:
            raise UserError(f"{path}: needs a 'word' column and age columns 16 .. 30")
        table = {}
        for row in reader:
            if row["word"] not in table:  # the pipeline takes a word's first row
                table[row["word"]] = [float(row[c]) if row[c] != "" else np.nan for c in cols]
    return {"ages": [int(c) for c in cols], "words": table}


def subword_len(tokenizer, word: str) -> int:
    """compute_curve_fitness's subword_len: tokens of "The " + word less those of "The"."""
    prefix = tokenizer("The", add_special_tokens=False)["input_ids"]
    return max(
        1, len(tokenizer("The " + word, add_special_tokens=False)["input_ids"]) - len(prefix)
    )


def curve_fitness(by_checkpoint: dict[str, list[dict]], human: dict, tokenizer) -> dict:
    """AoAEvaluator.compute_curve_fitness over {checkpoint name: the aoa task's items}."""
    per_word: dict[str, dict[float, list[float]]] = {}
    for name, items in by_checkpoint.items():
        x = words_seen(name)
        if x is None:
            raise UserError(f"no words-seen count in the checkpoint name {name!r}")
        for it in items:
            per_word.setdefault(it["subtask"], {}).setdefault(x, []).append(it["surprisal"])
    model, child, words = [], [], []
    for word, by_x in per_word.items():
        if word not in human["words"]:
            continue
        c = child_aoa(human["words"][word], human["ages"])
        if c is None:
            continue
        xs = sorted(by_x)
        m = model_aoa(
            [float(np.mean(by_x[x])) for x in xs],
            xs,
            tokenizer.vocab_size,
            subword_len(tokenizer, word),
        )
        if m is None:
            continue
        model.append(m)
        child.append(c)
        words.append(word)
    if len(model) < 3:
        return {"curve_fitness": 0.0, "n_words": len(model)}
    r, p = pearsonr(model, child)
    out = {
        "curve_fitness": 0.0 if p > 0.1 else float(r),  # the pipeline's test (NaN r: NaN)
        "pearson_r": float(r),
        "p_value": float(p),
        "n_words": len(words),
        "words": words,
        "model_aoa_log10_words": model,
        "child_aoa_months": child,
    }
    return out
