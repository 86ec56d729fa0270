"""The generation engine: GOOD and BAD in lock-step, each with its own KV cache.

    engines = make_engines(good_hf, bad_hf, torch.bfloat16)   # lean: LLaMA, stacked if same shape
    engines = [HFEngine(good_hf), HFEngine(bad_hf)]           # generic: any two causal LMs
    result = generate_batch(engines, prefixes, keys, rule, new_tokens, seed)
    run_generation(cfg, workdir, shard=(0, 1))                 # sharded, resumable, Parquet

Two engines give the same interface (`forward` -> last-position logits per model):
`llama_forward.LeanLlama`, the fast path for LLaMA pairs, and `hf_engine.HFEngine`, any
`AutoModelForCausalLM` (GOOD and BAD may differ in architecture if they share a vocabulary).
`run_generation` picks one (`generate.engine`, auto by default) and logs which; the rules,
sampling and statistics are one code path for both (`decoding.choose`). When one lean engine
holds every model and no dropout amateur runs, a token is one call of `decode_step` (the
forward, the rule, the sample and the statistics as one compiled graph); otherwise the
engines' `forward` and `choose` run op by op.

The token picked for completion j of prefix i at step t uses the uniform
keyed_uniform(seed, STREAM_SAMPLE, i, j, t), so the corpus does not depend on the number of
shards or processes, the batch a row landed in, or where a killed run was resumed. Batches are
fixed by global index (items in prefix-major order, `batch_size` per batch); shard s of n takes
batches b with b % n == s and writes `batches/batch_<b>.parquet` atomically; a restarted run
skips finished batches; the last finished shard merges them into `synthetic.parquet`.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import DecodingConfig, GenerateConfig, to_dict
from .decode_step import decode_step
from .decoding import choose, scans_in_graph
from .errors import UserError
from .fileio import (
    atomic_path,
    checkpoint_fingerprint,
    file_hash,
    nonfinite_weight,
    parse_jsonl,
    read_json,
    stable_hash,
    write_json,
    write_jsonl,
)
from .identity import identity
from .keyed_random import STREAM_SAMPLE, keyed_uniform
from .llama_forward import Dropout, LeanLlama, shape_of
from .locks import is_locked, lock_file, output_lock
from .prefixes import seed_chunks
from .tokenizer import BOS_ID, EOS_ID, PAD_ID


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
    tokens: list[list[int]]  # new tokens per row (up to and including EOS under eos=stop)
    ended_with_eos: list[bool]
    mean_contrast: list[float | None]  # mean log p_good - log p_bad of the chosen tokens
    token_contrast: list[list[float] | None]  # that contrast per chosen token (CD only)
    differs_from_good_argmax: list[float]  # share of steps where the choice != GOOD's argmax
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


def make_engines(
    good_hf, bad_hf=None, dtype=torch.float32, device="cpu", bad_dropout: float = 0.0
) -> list[LeanLlama]:
    """Decoding engines whose stacked models are [GOOD] or [GOOD, BAD], in that order.

    Same-shaped GOOD and BAD (an earlier checkpoint, or GOOD itself as a dropout amateur) are
    stacked into one engine; a differently shaped BAD (a smaller model) gets its own."""
    if bad_hf is None:
        return [LeanLlama([good_hf, good_hf] if bad_dropout > 0 else [good_hf], dtype, device)]
    if good_hf.config.vocab_size != bad_hf.config.vocab_size:
        raise UserError(
            f"GOOD and BAD vocabularies differ ({good_hf.config.vocab_size} vs "
            f"{bad_hf.config.vocab_size})"
        )
    if shape_of(good_hf.config) == shape_of(bad_hf.config):
        return [LeanLlama([good_hf, bad_hf], dtype, device)]
    return [LeanLlama([good_hf], dtype, device), LeanLlama([bad_hf], dtype, device)]


def generate_batch(
    engines: list,
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

    `engines` (`make_engines`, or one `hf_engine.HFEngine` per model) give GOOD's logits and,
    for CD, BAD's. With `bad_dropout` > 0, model 1 (a copy of GOOD) runs with that dropout.
    Rows that reached `tokens.eos` under eos="stop" keep stepping (lock-step) but their later
    tokens are discarded; logits past `tokens.vocab` are cut off.
    """
    n_models = sum(e.n_models for e in engines)
    if rule.strategy == "cd" and n_models != 2:
        raise UserError(
            "contrastive decoding needs an amateur: generate.bad or generate.bad_dropout"
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
        return logits[0], (logits[1] if rule.strategy == "cd" else None)

    # the keyed uniforms of every step, drawn up front: (new_tokens, B)
    steps = np.arange(new_tokens)[:, None]
    u_all = torch.from_numpy(keyed_uniform(seed, STREAM_SAMPLE, keys[:, 0], keys[:, 1], steps))
    u_all = u_all.to(dev)
    # one lean engine holding every model, no dropout: the step is one compiled graph
    fused = len(engines) == 1 and getattr(engines[0], "fused_step", False) and drop is None
    step = decode_step(engines[0], rule, V) if fused else None
    stop = eos == "stop" and tokens.eos is not None
    check_every = 1 if dev.type == "cpu" else 32  # `done.all()` waits for the device
    done = torch.zeros(B, dtype=torch.bool, device=dev)
    picks = []  # per step: decoding.Choice

    g_logits, b_logits = run(ids, positions, 0, P)
    choice = choose(rule, g_logits, b_logits, u_all[0])  # eagerly: raises on bad logits
    for t in range(new_tokens):
        picks.append(choice if record_scores else choice._replace(scores=None))
        if stop:
            done |= choice.tokens == tokens.eos
            if (t + 1) % check_every == 0 and bool(done.all()):
                break
        if t == new_tokens - 1:
            break
        slot = P + t
        if step is not None:
            choice = step(
                choice.tokens,
                positions[:, -1] + (t + 1),
                caches[0],
                valid[:, : slot + 1],
                u_all[t + 1],
            )
        else:
            g_logits, b_logits = run(
                choice.tokens[:, None], positions[:, -1:] + (t + 1), slot, slot + 1
            )
            choice = choose(rule, g_logits, b_logits, u_all[t + 1])
    return _batch_result(picks, rule.strategy == "cd", tokens.eos if stop else None)


def _batch_result(picks: list, cd: bool, eos: int | None) -> BatchResult:
    """BatchResult from the per-step picks. A row is live up to and including its first
    `eos` (None: every step); its statistics are over its live steps only."""
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
    if cd:
        contrast = torch.stack([c.contrast for c in picks], 1).cpu().double()
        per_token = [contrast[r, : int(n_steps[r])].tolist() for r in range(B)]
    else:
        per_token = [None] * B
    steps = n_steps.clamp_min(1).double()
    recorded = [c.scores.cpu() for c in picks] if picks[0].scores is not None else None
    return BatchResult(
        tokens=seqs,
        ended_with_eos=[bool(seq) and seq[-1] == eos for seq in seqs],
        mean_contrast=[sum(c) / max(len(c), 1) for c in per_token] if cd else [None] * B,
        token_contrast=per_token,
        differs_from_good_argmax=(differs / steps).tolist(),
        mean_vhead_size=(vhead / steps).tolist(),
        step_scores=recorded,
    )


# ---------------------------------------------------------------------------------------------
# Running a whole corpus: models, prefixes, batches, shards, files

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def resolve_model_path(path: str, workdir: str | Path) -> Path:
    """A checkpoint folder: absolute, relative to `workdir`, or (when no such folder exists)
    a Hugging Face Hub id such as `gpt2` or `EleutherAI/pythia-160m`, downloaded to the HF
    cache (config, tokenizer and safetensors files only)."""
    p = Path(path)
    local = p if p.is_absolute() else Path(workdir) / p
    if (local / "config.json").is_file():
        return local
    if not p.is_absolute() and not local.exists() and _HUB_ID.match(str(path)):
        return hub_snapshot(str(path), local)
    raise UserError(f"no model checkpoint at {local} (expected config.json and weights)")


def hub_snapshot(repo_id: str, local: Path) -> Path:
    """Download (or find in the HF cache) the files of a Hub model cdsynth reads."""
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(
            repo_id,
            allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken"],
        )
    except Exception as e:  # offline, no such repo, gated: all one line for the user
        from .hf_engine import first_line

        raise UserError(
            f"no model checkpoint at {local}, and '{repo_id}' could not be fetched from the "
            f"Hugging Face Hub ({type(e).__name__}: {first_line(e)})"
        ) from None
    return Path(folder)


def encode_prefixes(
    tokenizer, texts: list[str], prefix_tokens: int, bos: int | None = BOS_ID
) -> list[list[int]]:
    """BOS (when the tokenizer has one) plus the first `prefix_tokens` tokens of each text."""
    enc = tokenizer(texts, add_special_tokens=False)["input_ids"]
    start = [] if bos is None else [bos]
    return [[*start, *ids[:prefix_tokens]] for ids in enc]


def load_prefixes(
    tokenizer, seeds_rows: list[dict], prefix_tokens: int, num_prefixes: int | None
) -> list[list[int]]:
    """<s> plus the first `prefix_tokens` tokens of the first `num_prefixes` documents (all
    when None). A helper for benches; `run_generation` samples documents (`choose_documents`)."""
    rows = seeds_rows[:num_prefixes] if num_prefixes else seeds_rows
    if not rows:
        raise UserError("the seeds split is empty: no prefixes to generate from")
    return encode_prefixes(tokenizer, [r["text"] for r in rows], prefix_tokens)


def read_prompt_file(path: Path) -> list[dict]:
    """Prompts as documents: a .txt file has one per line (blank lines skipped), a .jsonl file
    one {"text": ...} object per line (optional "id" and "source"). Ids default to the
    prompt's index (0-based, blank lines not counted)."""
    if not path.is_file():
        raise UserError(f"generate.prefix_file not found: {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".txt":
        rows = [{"text": line} for line in text.splitlines() if line.strip()]
    elif path.suffix == ".jsonl":
        rows = parse_jsonl(text, str(path), required=("text",))
        for n, r in enumerate(rows):
            if not isinstance(r["text"], str):
                raise UserError(f"{path}: prompt {n} has a non-string 'text'")
        rows = [r for r in rows if r["text"].strip()]
    else:
        raise UserError(f"generate.prefix_file must be a .txt or .jsonl file, got {path}")
    rows = [{**r, "id": r.get("id", n)} for n, r in enumerate(rows)]
    ids = [r["id"] for r in rows]
    if len(set(map(str, ids))) != len(ids):
        raise UserError(f"{path}: prompt ids are not unique")
    if not rows:
        raise UserError(f"{path} holds no prompts")
    return rows


def prefix_documents(cfg: GenerateConfig, workdir: str | Path) -> tuple[list[dict], Path]:
    """The documents prefixes come from (`generate.prefix_source`), and their file."""
    from .corpus import read_split

    if cfg.prefix_source == "file":
        path = Path(cfg.prefix_file)
        path = path if path.is_absolute() else Path(workdir) / path
        return read_prompt_file(path), path
    split = "seeds" if cfg.prefix_source == "seed_chunks" else str(cfg.prefix_source)
    rows = read_split(Path(workdir) / "corpus", split)
    if cfg.prefix_source == "seed_chunks":
        rows = seed_chunks(rows)
    if not rows:
        raise UserError(f"the {cfg.prefix_source} split is empty: no prefixes to generate from")
    return rows, Path(workdir) / "corpus" / f"{split}.jsonl"


def stratum_counts(sizes: list[int], n: int) -> list[int]:
    """How many of `n` draws each stratum gets: proportional to its size (largest remainder),
    at least one each when n >= the number of strata, never more than its size.

    >>> stratum_counts([60, 30, 10], 10), stratum_counts([98, 1, 1], 5)
    ([6, 3, 1], [3, 1, 1])
    """
    if not 0 <= n <= sum(sizes):
        raise ValueError(f"cannot draw {n} of {sum(sizes)}")
    quotas = [n * s / sum(sizes) for s in sizes]
    counts = [math.floor(q) for q in quotas]
    by_fraction = sorted(range(len(sizes)), key=lambda i: (counts[i] - quotas[i], i))
    for i in by_fraction[: n - sum(counts)]:
        counts[i] += 1
    if n >= len(sizes):  # one each: taken from the stratum furthest above its quota
        for i in [i for i, c in enumerate(counts) if c == 0 and sizes[i] > 0]:
            j = max((j for j, c in enumerate(counts) if c > 1), key=lambda j: counts[j] - quotas[j])
            counts[j] -= 1
            counts[i] += 1
    return counts


def choose_documents(rows: list[dict], n: int, seed: int) -> list[dict]:
    """A seeded random sample of `n` documents, stratified by their `source` field (missing:
    one stratum), sorted by document id. Each stratum's sample depends on (seed, its name,
    its documents) only."""
    strata: dict[str, list[dict]] = {}
    for r in rows:
        strata.setdefault(str(r.get("source", "")), []).append(r)
    names = sorted(strata)
    counts = stratum_counts([len(strata[s]) for s in names], n)
    chosen = []
    for name, k in zip(names, counts, strict=True):
        docs = sorted(strata[name], key=_doc_order)
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        chosen += [docs[i] for i in rng.choice(len(docs), size=k, replace=False)]
    return sorted(chosen, key=_doc_order)


def _doc_order(row: dict):
    i = row["id"]
    return (0, i, "") if isinstance(i, int) else (1, 0, str(i))


def prefixes_needed(corpus_tokens: int, completions: int, new_tokens: int) -> int:
    """Prefixes for a corpus of `corpus_tokens` new tokens: ceil(tokens / (completions x new))."""
    return math.ceil(corpus_tokens / (completions * new_tokens))


def count_tokens(tokenizer, texts: list[str], chunk: int = 2000) -> int:
    """Tokens of `texts` under `tokenizer`, without special tokens."""
    n = 0
    for i in range(0, len(texts), chunk):
        n += sum(
            len(x) for x in tokenizer(texts[i : i + chunk], add_special_tokens=False)["input_ids"]
        )
    return n


def real_train_tokens(
    tokenizer, tokenizer_path: Path, workdir: str | Path, out: Path
) -> tuple[int, dict | None]:
    """Tokens of the real train split (workdir/corpus/train.jsonl) under GOOD's tokenizer,
    cached in `out/real_tokens.json` by the split's and the tokenizer's hashes; the record
    to write there when counted afresh (None when read from it)."""
    from .corpus import read_split

    train = Path(workdir) / "corpus" / "train.jsonl"
    if not train.is_file():
        raise UserError(f"generate.corpus_tokens=real needs the train split {train}")
    tok_files = sorted(tokenizer_path.glob("tokenizer*")) + sorted(tokenizer_path.glob("*.txt"))
    key = {"train": file_hash(train), "tokenizer": [file_hash(f) for f in tok_files]}
    cache = out / "real_tokens.json"
    if cache.is_file() and read_json(cache).get("key") == key:
        return int(read_json(cache)["tokens"]), None
    n = count_tokens(tokenizer, [r["text"] for r in read_split(train.parent, "train")])
    return n, {"key": key, "tokens": n}


def select_prefix_documents(
    cfg: GenerateConfig, rows: list[dict], where: str, real_tokens: int | None
) -> tuple[list[dict], dict]:
    """The documents to take prefixes from, and a record of how they were chosen."""
    wanted, why = cfg.num_prefixes, f"generate.num_prefixes={cfg.num_prefixes}"
    if cfg.corpus_tokens is not None:
        tokens = real_tokens if cfg.corpus_tokens == "real" else int(cfg.corpus_tokens)
        wanted = prefixes_needed(tokens, cfg.completions, cfg.new_tokens)
        why = (
            f"generate.corpus_tokens={cfg.corpus_tokens} ({tokens} tokens) needs {wanted} "
            f"prefixes at {cfg.completions} completions x {cfg.new_tokens} new tokens"
        )
    if wanted is not None and wanted > len(rows):
        raise UserError(
            f"{why}, but {where} has only {len(rows)} documents; use fewer, or a larger "
            "generate.prefix_source"
        )
    if wanted is None or wanted == len(rows):
        chosen, method = rows, "all documents"
    else:
        chosen, method = choose_documents(rows, wanted, cfg.seed), "stratified random by source"
    strata = Counter(str(r.get("source", "")) for r in chosen)
    record = {
        "source": cfg.prefix_source,
        "file": where,
        "method": method,
        "seed": cfg.seed,
        "available": len(rows),
        "chosen": len(chosen),
        "per_source": dict(strata),
        "document_ids": [r["id"] for r in chosen],
    }
    if cfg.corpus_tokens is not None:
        record["corpus_tokens"] = real_tokens if cfg.corpus_tokens == "real" else cfg.corpus_tokens
    return chosen, record


def work_items(n_prefixes: int, completions: int) -> np.ndarray:
    """All (prefix id, completion id) pairs, prefix-major: (n_prefixes * completions, 2)."""
    i, j = np.meshgrid(np.arange(n_prefixes), np.arange(completions), indexing="ij")
    return np.stack([i.ravel(), j.ravel()], axis=1)


def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UserError(f"--shard must look like i/n (for example 0/4), got '{text}'") from None
    if not 0 <= i < n:
        raise UserError(f"--shard {text}: need 0 <= i < n")
    return i, n


def _dtype(name: str, device: torch.device) -> torch.dtype:
    from .distributed import bf16_supported

    table = {"bf16": torch.bfloat16, "fp32": torch.float32, "fp64": torch.float64}
    if name == "auto":
        return torch.bfloat16 if bf16_supported(device) else torch.float32
    if name not in table:
        raise UserError(f"generate.dtype must be auto, bf16, fp32 or fp64, got '{name}'")
    return table[name]


def check_generate_config(cfg: GenerateConfig) -> None:
    """What the config's own checks (config.py, at load) cannot see: combinations."""
    r = cfg.decoding
    if r.strategy == "cd" and cfg.bad is None and cfg.bad_dropout <= 0:
        raise UserError("strategy cd needs an amateur: set generate.bad or generate.bad_dropout")
    if cfg.prefix_file is not None and Path(cfg.prefix_file).suffix not in (".txt", ".jsonl"):
        raise UserError(
            f"generate.prefix_file must be a .txt or .jsonl file, got {cfg.prefix_file}"
        )


def _uses_dropout(cfg: GenerateConfig) -> bool:
    return cfg.decoding.strategy == "cd" and cfg.bad is None and cfg.bad_dropout > 0


def choose_engine(requested: str, good_meta, bad_meta, dropout: bool) -> tuple[str, str]:
    """("lean" | "generic", why). `*_meta`: the models built on the meta device (structure
    only). auto: lean when every model is a LLaMA that `llama_forward` computes exactly."""
    from .llama_forward import unsupported

    reasons = [unsupported(m) for m in (good_meta, bad_meta) if m is not None]
    reason = next((r for r in reasons if r), None)
    if reason is None and bad_meta is not None:
        sizes = good_meta.config.vocab_size, bad_meta.config.vocab_size
        if sizes[0] != sizes[1]:
            reason = f"GOOD and BAD embeddings differ in size ({sizes[0]} vs {sizes[1]} rows)"
    if requested == "lean" and reason:
        raise UserError(f"generate.engine=lean: {reason}; use generate.engine=auto or generic")
    if requested == "generic" or (requested == "auto" and reason):
        if dropout:
            raise UserError(
                f"a dropout amateur needs the lean engine, but {reason or 'engine=generic'}; "
                "set generate.bad to a checkpoint instead"
            )
        return "generic", reason or "generate.engine=generic"
    if requested == "lean":
        return "lean", "generate.engine=lean"
    return "lean", "LLaMA checkpoints (the stacked lean engine)"


def _checkpoint_step(path: Path) -> int | None:
    state = path / "state.json"
    return read_json(state).get("step") if state.is_file() else None


def output_dir(cfg: GenerateConfig, workdir: str | Path) -> Path:
    return Path(workdir) / "synthetic" / cfg.name


def text_segments(tokenizer, ids: list[int], eos: int | None) -> list[str]:
    """The decoded text (special tokens skipped, stripped) of each EOS-separated part of `ids`,
    empty ones included; nothing after a final EOS (that is the end, not a segment)."""
    parts, cur = [], []
    for t in ids:
        if t == eos:
            parts.append(cur)
            cur = []
        else:
            cur.append(t)
    if cur or not parts:
        parts.append(cur)
    return [tokenizer.decode(p, skip_special_tokens=True).strip() for p in parts]


def row_segments(
    tokenizer, prefix: list[int], new: list[int], keep_prefix: bool, tokens: SpecialTokens
) -> list[str]:
    """`text_segments` of a row: the prefix (without its BOS) when `keep_prefix`, then the new
    tokens. The BOS is left out so that a BOS that is also EOS (GPT-2) starts no segment."""
    body = prefix[1:] if tokens.bos is not None and prefix[:1] == [tokens.bos] else prefix
    return text_segments(tokenizer, (body if keep_prefix else []) + new, tokens.eos)


def text_of(
    tokenizer, prefix: list[int], new: list[int], keep_prefix: bool, tokens=OUR_TOKENS
) -> str:
    """Decoded text without special tokens; EOS boundaries become blank lines."""
    segs = row_segments(tokenizer, prefix, new, keep_prefix, tokens)
    return "\n\n".join(t for t in segs if t)


def run_generation(
    cfg: GenerateConfig,
    workdir: str | Path,
    shard: tuple[int, int] = (0, 1),
    log=print,
    progress: bool = True,
) -> Path:
    """Generate this shard's batches (skipping finished ones); merge when all are done."""
    from .distributed import pick_device
    from .hf_engine import check_vocabularies, check_weight_files, meta_model
    from .tokenizer import checkpoint_tokenizer

    check_generate_config(cfg)
    out = output_dir(cfg, workdir)
    device = pick_device(cfg.device)
    dtype = _dtype(cfg.dtype, device)
    good_path = resolve_model_path(cfg.good, workdir)
    bad_path = (
        resolve_model_path(cfg.bad, workdir) if cfg.bad and cfg.decoding.strategy == "cd" else None
    )
    for path in (good_path, bad_path):  # before anything is written: nothing to clean up
        broken = nonfinite_weight(path) if path is not None else None
        if broken:
            raise UserError(
                f"checkpoint {path} has NaN or infinite weights (first: {broken}); "
                "retrain or fix it, then generate again"
            )
    tokenizer = checkpoint_tokenizer(good_path)
    if bad_path is not None:
        check_vocabularies(tokenizer, checkpoint_tokenizer(bad_path), good_path, bad_path)
    tokens = special_tokens(tokenizer)
    dropout = cfg.bad_dropout if _uses_dropout(cfg) else 0.0
    engine, why = choose_engine(
        cfg.engine, meta_model(good_path), meta_model(bad_path) if bad_path else None, dropout > 0
    )
    for path in (good_path, bad_path):  # loaded only later, once the output is locked
        if path is not None:
            check_weight_files(path)
    docs, source_file = prefix_documents(cfg, workdir)
    real, real_record = (
        real_train_tokens(tokenizer, good_path, workdir, out)
        if cfg.corpus_tokens == "real"
        else (None, None)
    )
    chosen, chosen_record = select_prefix_documents(cfg, docs, str(source_file), real)
    prefixes = encode_prefixes(
        tokenizer, [r["text"] for r in chosen], cfg.prefix_tokens, tokens.bos
    )
    items = work_items(len(prefixes), cfg.completions)
    n_batches = math.ceil(len(items) / cfg.batch_size)
    inputs = {
        "good": checkpoint_fingerprint(good_path),
        "bad": checkpoint_fingerprint(bad_path) if bad_path else None,
        "prefixes": file_hash(source_file),
    }
    if real is not None:
        inputs["train"] = file_hash(Path(workdir) / "corpus" / "train.jsonl")
    # the one identity rule (identity.py): batch size and engine change the output only
    # through float rounding, formats and device not at all
    hashed = identity("generate", to_dict(cfg))
    config_hash = stable_hash({"generate": hashed, "inputs": inputs, "dtype": str(dtype)})
    meta = {
        "config": to_dict(cfg),
        "config_hash": config_hash,
        "inputs": inputs,
        "n_prefixes": len(prefixes),
        "n_batches": n_batches,
        "prefixes": chosen_record,
        "engine": {"ran": engine, "why": why},
        "special_tokens": {"bos": tokens.bos, "eos": tokens.eos, "pad": tokens.pad},
    }
    s, n = shard
    # one writer per shard: shards run side by side, the same shard twice is refused
    with output_lock(out, f"shard-{s}-of-{n}"):
        if real_record is not None:
            write_json(out / "real_tokens.json", real_record)
        with output_lock(out, wait=True):  # the shards' shared record: one at a time
            check_or_record_config(out, meta, f"shard-{s}-of-{n}")
        batch_dir = out / "batches"
        mine = [
            b
            for b in range(s, n_batches, n)
            if not (batch_dir / f"batch_{b:06d}.parquet").is_file()
        ]
        done = n_batches - len(missing_batches(out, n_batches))
        if mine and done:
            log(f"resuming {cfg.name} from batch {done + 1} of {n_batches} ({done} done)")
        if mine:
            log(f"generate {cfg.name}: {engine} engine ({why})")
            if tokens.bos is None:
                log(f"generate {cfg.name}: the tokenizer has no BOS token; prefixes start unmarked")
            if tokens.eos is None:
                log(
                    f"generate {cfg.name}: the tokenizer has no EOS token; "
                    "every row runs to the end"
                )
            engines = _engines(engine, good_path, bad_path, tokenizer, dtype, device, dropout)
            # generate_batch takes the one-graph step (decode_step) with these engines
            one_graph = engine == "lean" and len(engines) == 1 and dropout == 0
            if one_graph and engines[0].compile_step and not scans_in_graph(device):
                log(
                    f"generate {cfg.name}: compiled decode step on {device.type}; its cumulative "
                    "sums run as ATen ops outside inductor's kernels (pytorch/pytorch#180221)"
                )
            model_info = {
                "good": str(cfg.good),
                "good_step": _checkpoint_step(good_path),
                "bad": cfg.bad,
                "bad_step": _checkpoint_step(bad_path) if bad_path else None,
                "engine": engine,
            }
            bar = None
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(
                    total=len(mine) * cfg.batch_size * cfg.new_tokens,
                    unit="tok",
                    unit_scale=True,
                    desc=f"generate {cfg.name} [{s}/{n}]",
                )
            try:
                for b in mine:
                    keys = items[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                    rows = _generate_rows(
                        cfg,
                        engines,
                        dropout,
                        tokenizer,
                        tokens,
                        prefixes,
                        keys,
                        chosen,
                        model_info,
                        config_hash,
                    )
                    _write_batch(rows, batch_dir / f"batch_{b:06d}.parquet")
                    if bar is not None:
                        bar.update(len(keys) * cfg.new_tokens)
            finally:
                if bar is not None:
                    bar.close()
        missing = missing_batches(out, n_batches)
        if not missing:
            merge(out, cfg.formats, log=log)
        else:
            log(
                f"generate {cfg.name}: shard {s}/{n} done; "
                f"{len(missing)} batches left for other shards"
            )
    return out


def check_or_record_config(out: Path, meta: dict, shard_lock: str) -> None:
    """Write `out/generate_config.json`, or check that the one there is this config.

    A folder started with another config is refused when it holds a finished batch or
    another shard of it is running; with neither it holds nothing to lose and is taken over.
    Call it holding the folder's lock."""
    cfg_file = out / "generate_config.json"
    old = read_json(cfg_file) if cfg_file.is_file() else None
    if old is not None and (old["config_hash"], old["n_batches"]) == (
        meta["config_hash"],
        meta["n_batches"],
    ):
        return
    started = old is not None and len(missing_batches(out, old["n_batches"])) < old["n_batches"]
    others = [
        f
        for f in out.parent.glob(f".{out.name}.shard-*.lock")
        if f.name != lock_file(out, shard_lock).name and is_locked(f)
    ]
    if old is not None and (started or others):
        raise UserError(
            f"{out} holds a corpus made with another config; use another generate.name or "
            "delete the folder"
        )
    write_json(cfg_file, meta)


def _engines(kind, good_path, bad_path, tokenizer, dtype, device, dropout):
    """Load the models and build the engines `choose_engine` picked."""
    from .hf_engine import HFEngine, check_output_size, load_causal_lm

    paths = [p for p in (good_path, bad_path) if p is not None]
    if kind == "lean":  # LeanLlama copies the float32 weights into its own layout and dtype
        models = [load_causal_lm(p, torch.float32) for p in paths]
    else:
        models = [load_causal_lm(p, dtype) for p in paths]
    for m, p in zip(models, paths, strict=True):
        check_output_size(m, tokenizer, p)
    if kind == "lean":
        return make_engines(models[0], models[1] if bad_path else None, dtype, device, dropout)
    return [HFEngine(m, dtype, device) for m in models]


def _generate_rows(
    cfg, engines, dropout, tokenizer, tokens, prefixes, keys, docs, model_info, config_hash
):
    res = generate_batch(
        engines,
        [prefixes[i] for i in keys[:, 0]],
        keys,
        cfg.decoding,
        cfg.new_tokens,
        cfg.seed,
        cfg.eos,
        dropout,
        tokens=tokens,
        bad_dropout_kind=cfg.bad_dropout_kind,
    )
    rows = []
    for r, (i, j) in enumerate(keys.tolist()):
        segs = row_segments(tokenizer, prefixes[i], res.tokens[r], cfg.keep_prefix, tokens)
        kept = [t for t in segs if t]
        rows.append(
            {
                "prefix_id": i,
                "completion_id": j,
                "seed_document_id": docs[i]["id"],
                "source": str(docs[i].get("source", "")),
                "text": "\n\n".join(kept),
                "segments": kept,
                "empty_segments": len(segs) - len(kept),
                "prefix_token_ids": prefixes[i],
                "token_ids": res.tokens[r],
                "n_new_tokens": len(res.tokens[r]),
                "ended_with_eos": res.ended_with_eos[r],
                "strategy": cfg.decoding.strategy,
                **model_info,
                "config_hash": config_hash,
                "mean_contrast": res.mean_contrast[r],
                "token_contrast": res.token_contrast[r],
                "differs_from_good_argmax": res.differs_from_good_argmax[r],
                "mean_vhead_size": res.mean_vhead_size[r],
            }
        )
    return rows


def _write_batch(rows: list[dict], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows), tmp)


def missing_batches(out: Path, n_batches: int) -> list[int]:
    d = out / "batches"
    return [b for b in range(n_batches) if not (d / f"batch_{b:06d}.parquet").is_file()]


def segment_totals(rows_segments: list[list[str]], empty: list[int]) -> dict:
    """Manifest totals of the EOS-separated segments: how many, how many empty ones were
    dropped, and how many exact duplicates of an earlier segment there are (kept)."""
    flat = [s for segs in rows_segments for s in segs]
    return {
        "segments": len(flat),
        "empty_segments": int(sum(empty)),
        "duplicate_segments": len(flat) - len(set(flat)),
    }


def merge(out: Path, formats=("parquet",), log=print) -> Path:
    """Check that every batch is there and write `synthetic.parquet` (+ .jsonl) and a manifest.
    Shards that finish together (or `cdsynth merge`) merge one at a time."""
    with output_lock(out, wait=True):
        return _merge(out, formats, log)


def _merge(out: Path, formats, log) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = read_json(out / "generate_config.json")
    missing = missing_batches(out, meta["n_batches"])
    if missing:
        raise UserError(
            f"{out}: {len(missing)} of {meta['n_batches']} batches missing "
            f"(first: {missing[0]}); run the remaining shards"
        )
    table = pa.concat_tables(  # a batch whose rows all have no segments has list<null>
        (
            pq.read_table(out / "batches" / f"batch_{b:06d}.parquet")
            for b in range(meta["n_batches"])
        ),
        promote_options="default",
    )
    if "parquet" in formats:
        with atomic_path(out / "synthetic.parquet") as tmp:
            pq.write_table(table, tmp)
    if "jsonl" in formats:
        write_jsonl(out / "synthetic.jsonl", table.to_pylist())
    n_tokens = int(pa.compute.sum(table.column("n_new_tokens")).as_py())
    totals = {
        "rows": table.num_rows,
        "new_tokens": n_tokens,
        "words": int(sum(len(t.split()) for t in table.column("text").to_pylist())),
        "ended_with_eos": int(pa.compute.sum(table.column("ended_with_eos")).as_py()),
    }
    if "segments" in table.column_names:
        totals.update(
            segment_totals(
                table.column("segments").to_pylist(), table.column("empty_segments").to_pylist()
            )
        )
    if "engine" in table.column_names:
        engines = table.column("engine").to_pylist()
        totals["engines"] = {e: engines.count(e) for e in sorted(set(engines))}
    from .fileio import write_manifest

    write_manifest(
        out,
        config=meta["config"],
        inputs=meta["inputs"],
        totals=totals,
        config_hash_generate=meta["config_hash"],
        prefixes=meta.get("prefixes"),
        engine=meta.get("engine"),
    )
    log(
        f"synthetic corpus {out.name}: {totals['rows']} completions, {n_tokens} new tokens "
        f"-> {out / 'synthetic.parquet'}"
    )
    return out
