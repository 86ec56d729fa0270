"""The generation engine: GOOD and BAD in lock-step, each with its own KV cache.

    engines = make_engines(good_hf, bad_hf, torch.bfloat16)   # stacked when shapes match
    result = generate_batch(engines, prefixes, keys, rule, new_tokens, seed)
    run_generation(cfg, workdir, shard=(0, 1))                 # sharded, resumable, Parquet

The token picked for completion j of prefix i at step t uses the uniform
keyed_uniform(seed, STREAM_SAMPLE, i, j, t), so the corpus does not depend on the number of
shards or processes, the batch a row landed in, or where a killed run was resumed. Batches are
fixed by global index (items in prefix-major order, `batch_size` per batch); shard s of n takes
batches b with b % n == s and writes `batches/batch_<b>.parquet` atomically; a restarted run
skips finished batches; the last finished shard merges them into `synthetic.parquet`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import DecodingConfig, GenerateConfig, to_dict
from .decoding import sample, step_scores
from .errors import UserError
from .fileio import atomic_path, file_hash, read_json, stable_hash, write_json, write_jsonl
from .keyed_random import STREAM_SAMPLE, keyed_uniform
from .llama_forward import Dropout, LeanLlama, shape_of
from .tokenizer import BOS_ID, EOS_ID, PAD_ID


@dataclass
class BatchResult:
    tokens: list[list[int]]  # new tokens per row (up to and including EOS under eos=stop)
    ended_with_eos: list[bool]
    mean_contrast: list[float | None]  # mean log p_good - log p_bad of the chosen tokens
    differs_from_good_argmax: list[float]  # share of steps where the choice != GOOD's argmax
    mean_vhead_size: list[float]
    step_scores: list[torch.Tensor] | None = None  # per step (rows, vocab), when recorded


def left_pad(prefixes: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids (B, P) left-padded with <pad>, pad counts (B,))."""
    P = max(len(p) for p in prefixes)
    ids = torch.full((len(prefixes), P), PAD_ID, dtype=torch.long)
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
    engines: list[LeanLlama],
    prefixes: list[list[int]],
    keys: np.ndarray,
    rule: DecodingConfig,
    new_tokens: int,
    seed: int,
    eos: str = "stop",
    bad_dropout: float = 0.0,
    record_scores: bool = False,
) -> BatchResult:
    """Decode `new_tokens` after each prefix. keys (B, 2): (prefix id, completion id) per row.

    `engines` (see `make_engines`) give GOOD's logits and, for CD, BAD's. With `bad_dropout`
    > 0, model 1 (a copy of GOOD) runs with that dropout. Rows that reached EOS under
    eos="stop" keep stepping (lock-step) but their later tokens are discarded.
    """
    n_models = sum(e.n_models for e in engines)
    if rule.strategy == "cd" and n_models != 2:
        raise UserError(
            "contrastive decoding needs an amateur: generate.bad or generate.bad_dropout"
        )
    B = len(prefixes)
    ids, pads = left_pad(prefixes)
    P = ids.shape[1]
    total = P + new_tokens
    dev = engines[0].device
    ids, pads = ids.to(dev), pads.to(dev)
    valid = torch.ones(B, total, dtype=torch.bool, device=dev)
    valid[:, :P] = torch.arange(P, device=dev)[None] >= pads[:, None]
    positions = (torch.arange(P, device=dev)[None] - pads[:, None]).clamp_min(0)
    drop = Dropout(bad_dropout, seed, keys, model=1) if bad_dropout > 0 else None
    caches = [e.new_cache(B, total) for e in engines]

    def run(step_ids, pos, slot, upto):
        logits = [
            e.forward(step_ids, pos, c, slot, valid[:, :upto], drop if e.n_models == 2 else None)
            for e, c in zip(engines, caches, strict=False)
        ]
        logits = torch.cat(logits) if len(logits) > 1 else logits[0]
        return logits[0], (logits[1] if rule.strategy == "cd" else None)

    g_logits, b_logits = run(ids, positions, 0, P)
    out = torch.empty(B, new_tokens, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    n_steps = torch.zeros(B)
    contrast = torch.zeros(B, dtype=torch.float64)
    differs = torch.zeros(B)
    vhead = torch.zeros(B)
    recorded = [] if record_scores else None
    for t in range(new_tokens):
        st = step_scores(rule, g_logits, b_logits)
        u = torch.from_numpy(keyed_uniform(seed, STREAM_SAMPLE, keys[:, 0], keys[:, 1], t))
        tok = sample(st.scores, u).cpu()
        out[:, t] = tok
        live = ~done
        n_steps += live
        tok_dev = tok.to(st.good_logp.device)[:, None]
        if st.bad_logp is not None:
            c = (st.good_logp.gather(1, tok_dev) - st.bad_logp.gather(1, tok_dev))[:, 0]
            contrast += torch.where(live, c.cpu().double(), 0.0)
        differs += live & (tok != g_logits.argmax(-1).cpu())
        vhead += torch.where(live, st.vhead.sum(-1).cpu().float(), 0.0)
        if recorded is not None:
            recorded.append(st.scores.cpu())
        if eos == "stop":
            done |= tok == EOS_ID
            if bool(done.all()):
                break
        if t == new_tokens - 1:
            break
        slot = P + t
        g_logits, b_logits = run(tok[:, None].to(dev), positions[:, -1:] + (t + 1), slot, slot + 1)

    tokens, ended = [], []
    for r in range(B):
        seq = out[r, : int(n_steps[r])].tolist()
        tokens.append(seq)
        ended.append(bool(seq) and seq[-1] == EOS_ID)
    steps = n_steps.clamp_min(1)
    return BatchResult(
        tokens=tokens,
        ended_with_eos=ended,
        mean_contrast=(contrast / steps.double()).tolist() if rule.strategy == "cd" else [None] * B,
        differs_from_good_argmax=(differs / steps).tolist(),
        mean_vhead_size=(vhead / steps).tolist(),
        step_scores=recorded,
    )


# ---------------------------------------------------------------------------------------------
# Running a whole corpus: prefixes, batches, shards, files


def resolve_model_path(path: str, workdir: str | Path) -> Path:
    p = Path(path)
    if not p.is_absolute():
        p = Path(workdir) / p
    if not (p / "config.json").is_file():
        raise UserError(f"no model checkpoint at {p} (expected config.json and weights)")
    return p


def model_fingerprint(path: Path) -> str:
    """A hash of a checkpoint's config and weights (any number of safetensors shards)."""
    files = [path / "config.json", *sorted(path.glob("*.safetensors")), *sorted(path.glob("*.bin"))]
    return stable_hash([file_hash(f) for f in files if f.is_file()])


def load_prefixes(
    tokenizer, seeds_rows: list[dict], prefix_tokens: int, num_prefixes: int | None
) -> list[list[int]]:
    """<s> plus the first `prefix_tokens` tokens of each seeds document (shorter if it is)."""
    rows = seeds_rows[:num_prefixes] if num_prefixes else seeds_rows
    if not rows:
        raise UserError("the seeds split is empty: no prefixes to generate from")
    texts = [r["text"] for r in rows]
    enc = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [[BOS_ID, *ids[:prefix_tokens]] for ids in enc]


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


def _check_config(cfg: GenerateConfig) -> None:
    r = cfg.decoding
    if r.strategy not in ("cd", "ancestral", "vhead"):
        raise UserError(
            f"generate.decoding.strategy must be cd, ancestral or vhead, got '{r.strategy}'"
        )
    if not 0 <= r.alpha <= 1:
        raise UserError("generate.decoding.alpha must be in [0, 1]")
    if min(r.good_temperature, r.bad_temperature, r.temperature, r.top_p) <= 0:
        raise UserError("temperatures and top_p must be > 0")
    if r.strategy == "cd" and cfg.bad is None and cfg.bad_dropout <= 0:
        raise UserError("strategy cd needs an amateur: set generate.bad or generate.bad_dropout")
    if not 0 <= cfg.bad_dropout < 1:
        raise UserError("generate.bad_dropout must be in [0, 1)")
    if cfg.eos not in ("stop", "continue"):
        raise UserError("generate.eos must be 'stop' or 'continue'")
    if min(cfg.prefix_tokens, cfg.completions, cfg.new_tokens, cfg.batch_size) < 1:
        raise UserError("prefix_tokens, completions, new_tokens and batch_size must be >= 1")
    bad_formats = set(cfg.formats) - {"parquet", "jsonl"}
    if bad_formats or not cfg.formats:
        raise UserError(f"generate.formats must be a list of parquet/jsonl, got {cfg.formats}")


def _same_vocab(tok_a, tok_b) -> bool:
    return tok_a.get_vocab() == tok_b.get_vocab()


def _checkpoint_step(path: Path) -> int | None:
    state = path / "state.json"
    return read_json(state).get("step") if state.is_file() else None


def output_dir(cfg: GenerateConfig, workdir: str | Path) -> Path:
    return Path(workdir) / "synthetic" / cfg.name


def text_of(tokenizer, prefix: list[int], new: list[int], keep_prefix: bool) -> str:
    """Decoded text without special tokens; </s> boundaries become blank lines."""
    ids = (prefix if keep_prefix else []) + new
    docs, cur = [], []
    for t in ids:
        if t == EOS_ID:
            docs.append(cur)
            cur = []
        else:
            cur.append(t)
    docs.append(cur)
    texts = [tokenizer.decode(d, skip_special_tokens=True).strip() for d in docs]
    return "\n\n".join(t for t in texts if t)


def run_generation(
    cfg: GenerateConfig,
    workdir: str | Path,
    shard: tuple[int, int] = (0, 1),
    log=print,
    progress: bool = True,
) -> Path:
    """Generate this shard's batches (skipping finished ones); merge when all are done."""
    from .corpus import read_split
    from .distributed import pick_device
    from .tokenizer import load_tokenizer

    _check_config(cfg)
    out = output_dir(cfg, workdir)
    device = pick_device(cfg.device)
    dtype = _dtype(cfg.dtype, device)
    good_path = resolve_model_path(cfg.good, workdir)
    bad_path = (
        resolve_model_path(cfg.bad, workdir) if cfg.bad and cfg.decoding.strategy == "cd" else None
    )
    tokenizer = load_tokenizer(good_path)
    if bad_path is not None and not _same_vocab(tokenizer, load_tokenizer(bad_path)):
        raise UserError(f"GOOD ({good_path}) and BAD ({bad_path}) use different tokenizers")
    seeds_file = Path(workdir) / "corpus" / "seeds.jsonl"
    seeds_rows = read_split(Path(workdir) / "corpus", "seeds")
    prefixes = load_prefixes(tokenizer, seeds_rows, cfg.prefix_tokens, cfg.num_prefixes)
    items = work_items(len(prefixes), cfg.completions)
    n_batches = math.ceil(len(items) / cfg.batch_size)
    inputs = {
        "good": model_fingerprint(good_path),
        "bad": model_fingerprint(bad_path) if bad_path else None,
        "seeds": file_hash(seeds_file),
    }
    # the batch size is left out: it changes the output only through float rounding
    hashed = {k: v for k, v in to_dict(cfg).items() if k not in ("batch_size", "formats", "device")}
    config_hash = stable_hash({"generate": hashed, "inputs": inputs, "dtype": str(dtype)})
    meta = {
        "config": to_dict(cfg),
        "config_hash": config_hash,
        "inputs": inputs,
        "n_prefixes": len(prefixes),
        "n_batches": n_batches,
    }
    cfg_file = out / "generate_config.json"
    if cfg_file.is_file():
        old = read_json(cfg_file)
        if old["config_hash"] != config_hash or old["n_batches"] != n_batches:
            raise UserError(
                f"{out} holds a corpus made with another config; use another generate.name or "
                "delete the folder"
            )
    else:
        write_json(cfg_file, meta)
    batch_dir = out / "batches"
    s, n = shard
    mine = [
        b for b in range(s, n_batches, n) if not (batch_dir / f"batch_{b:06d}.parquet").is_file()
    ]
    if mine:
        dropout = cfg.bad_dropout if cfg.decoding.strategy == "cd" and bad_path is None else 0.0
        engines = make_engines(
            _load_hf(good_path), _load_hf(bad_path) if bad_path else None, dtype, device, dropout
        )
        model_info = {
            "good": str(cfg.good),
            "good_step": _checkpoint_step(good_path),
            "bad": cfg.bad,
            "bad_step": _checkpoint_step(bad_path) if bad_path else None,
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
                    prefixes,
                    keys,
                    seeds_rows,
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
            f"generate {cfg.name}: shard {s}/{n} done; {len(missing)} batches left for other shards"
        )
    return out


def _load_hf(path: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)


def _generate_rows(
    cfg, engines, dropout, tokenizer, prefixes, keys, seeds_rows, model_info, config_hash
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
    )
    rows = []
    for r, (i, j) in enumerate(keys.tolist()):
        rows.append(
            {
                "prefix_id": i,
                "completion_id": j,
                "seed_document_id": seeds_rows[i]["id"],
                "text": text_of(tokenizer, prefixes[i], res.tokens[r], cfg.keep_prefix),
                "prefix_token_ids": prefixes[i],
                "token_ids": res.tokens[r],
                "n_new_tokens": len(res.tokens[r]),
                "ended_with_eos": res.ended_with_eos[r],
                "strategy": cfg.decoding.strategy,
                **model_info,
                "config_hash": config_hash,
                "mean_contrast": res.mean_contrast[r],
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


def merge(out: Path, formats=("parquet",), log=print) -> Path:
    """Check that every batch is there and write `synthetic.parquet` (+ .jsonl) and a manifest."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = read_json(out / "generate_config.json")
    missing = missing_batches(out, meta["n_batches"])
    if missing:
        raise UserError(
            f"{out}: {len(missing)} of {meta['n_batches']} batches missing "
            f"(first: {missing[0]}); run the remaining shards"
        )
    table = pa.concat_tables(
        pq.read_table(out / "batches" / f"batch_{b:06d}.parquet") for b in range(meta["n_batches"])
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
    from .fileio import write_manifest

    write_manifest(
        out,
        config=meta["config"],
        inputs=meta["inputs"],
        totals=totals,
        config_hash_generate=meta["config_hash"],
    )
    log(
        f"synthetic corpus {out.name}: {totals['rows']} completions, {n_tokens} new tokens "
        f"-> {out / 'synthetic.parquet'}"
    )
    return out
