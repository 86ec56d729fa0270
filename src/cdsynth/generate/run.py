"""`run_generation`, the generate stage: checkpoints in, a synthetic corpus folder out.

    run_generation(cfg, workdir, shard=(0, 1))    # sharded, resumable, Parquet

It checks its inputs (checkpoints, tokenizers, weights) before anything is written, picks the
engine (`generate.engine`, auto by default; logged), chooses the prefixes (prefixes.py), runs
this shard's batches through the decoding loop (loop.py) and writes them (shards.py).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import torch

from ..config import GenerateConfig, to_dict
from ..decoding import scans_in_graph
from ..engine.lean import arithmetic_dtype, make_engines, unsupported
from ..errors import UserError
from ..fileio import (
    checkpoint_fingerprint,
    file_hash,
    nonfinite_weight,
    read_json,
    write_json,
)
from ..identity import output_identity
from ..locks import output_lock
from ..machine import machine_record
from ..workspace import SyntheticFiles, Workspace, checkpoint_state
from . import shards  # shards.write_batch by name: tests stop a run there
from .loop import generate_batch, special_tokens
from .prefixes import (
    encode_prefixes,
    prefix_documents,
    real_train_tokens,
    select_prefix_documents,
    work_items,
)
from .shards import (
    check_or_record_config,
    check_shard_layout,
    merge,
    missing_batches,
    output_dir,
    row_segments,
)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def resolve_model_path(path: str, workdir: str | Path) -> Path:
    """A checkpoint folder: absolute, relative to `workdir`, or (when no such folder exists)
    a Hugging Face Hub id such as `gpt2` or `EleutherAI/pythia-160m`, downloaded to the HF
    cache (config, tokenizer and safetensors files only)."""
    p = Path(path)
    local = Workspace(workdir).resolve(p)
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
        from ..engine.hf import first_line

        raise UserError(
            f"no model checkpoint at {local}, and '{repo_id}' could not be fetched from the "
            f"Hugging Face Hub ({type(e).__name__}: {first_line(e)})"
        ) from None
    return Path(folder)


def resolve_dtype(name: str, device: torch.device, engine: str) -> torch.dtype:
    """generate.dtype (a `config.DType`, checked at load) as a torch dtype for `engine` on
    `device`. auto: the fastest correct one. bf16 wherever the device has bf16 arithmetic; on
    a CPU without it (AVX2-only), bf16 for the lean engine, which then stores bf16 and
    computes in float32 (`engine.lean.arithmetic_dtype`), and float32 for the generic one,
    whose transformers forwards would emulate bf16 (BENCHMARKS.md)."""
    from ..distributed import bf16_supported

    if name == "auto":
        if bf16_supported(device) or (engine == "lean" and device.type == "cpu"):
            return torch.bfloat16
        return torch.float32
    return {"bf16": torch.bfloat16, "fp32": torch.float32, "fp64": torch.float64}[name]


def dtype_note(dtype: torch.dtype, device: torch.device, engine: str) -> str | None:
    """One line on what bf16 means on a CPU without bf16 arithmetic (None elsewhere)."""
    if device.type != "cpu" or arithmetic_dtype(dtype, device) == dtype:
        return None
    cpu = torch.backends.cpu.get_cpu_capability()
    if engine == "lean":
        return (
            f"bf16 on this CPU ({cpu}, no bf16 arithmetic): bf16 weights and KV cache, "
            "float32 arithmetic"
        )
    return (
        f"bf16 is emulated on this CPU ({cpu}, no bf16 arithmetic): the generic engine runs "
        f"~{EMULATED_BF16_SLOWDOWN:g}x slower than in fp32; set generate.dtype=auto or fp32"
    )


# the generic engine in bf16 against fp32 on an AVX2-only CPU (BENCHMARKS.md)
EMULATED_BF16_SLOWDOWN = 3


def check_generate_config(cfg: GenerateConfig) -> None:
    """The one check of a generate config that runs before a generation, not at load: CD
    needs an amateur. Every other pure check is the config's own (config.py, at load); this
    one cannot be, because the default config (CD, no amateur) must load: a config file that
    never generates has no generate section. Checks that need files run in `run_generation`
    before its first write."""
    if cfg.decoding.rule.needs_amateur and cfg.bad is None and cfg.bad_dropout <= 0:
        raise UserError(
            f"strategy {cfg.decoding.strategy} needs an amateur: set generate.bad or "
            "generate.bad_dropout"
        )


def _uses_dropout(cfg: GenerateConfig) -> bool:
    return cfg.decoding.rule.needs_amateur and cfg.bad is None and cfg.bad_dropout > 0


def choose_engine(requested: str, good_meta, bad_meta, dropout: bool) -> tuple[str, str]:
    """("lean" | "generic", why). `*_meta`: the models built on the meta device (structure
    only). auto: lean when every model is a LLaMA that the lean engine computes exactly."""

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
    state = checkpoint_state(path)
    return read_json(state).get("step") if state.is_file() else None


def check_generate_inputs(cfg: GenerateConfig, workdir: str | Path):
    """Every check of a generation that reads files, made before anything is written (and by
    the study graph before it replaces a stale corpus): GOOD and BAD exist, hold finite
    safetensors weights and one shared tokenizer, and the prefixes' file is readable.
    Returns (GOOD's folder, BAD's folder or None, GOOD's tokenizer, (the prefixes' documents,
    their file))."""
    from ..engine.hf import causal_lm_config, check_vocabularies, check_weight_files
    from ..tokenizer import checkpoint_tokenizer

    check_generate_config(cfg)
    good_path = resolve_model_path(cfg.good, workdir)
    bad_path = (
        resolve_model_path(cfg.bad, workdir)
        if cfg.bad and cfg.decoding.rule.needs_amateur
        else None
    )
    for path in (good_path, bad_path):  # loaded only later, once the output is locked
        if path is not None:
            causal_lm_config(path)  # a causal LM transformers knows, then its weights
            check_weight_files(path)
            broken = nonfinite_weight(path)
            if broken:
                raise UserError(
                    f"checkpoint {path} has NaN or infinite weights (first: {broken}); "
                    "retrain or fix it, then generate again"
                )
    tokenizer = checkpoint_tokenizer(good_path)
    if bad_path is not None:
        check_vocabularies(tokenizer, checkpoint_tokenizer(bad_path), good_path, bad_path)
    return good_path, bad_path, tokenizer, prefix_documents(cfg, workdir)


def run_generation(
    cfg: GenerateConfig,
    workdir: str | Path,
    shard: tuple[int, int] = (0, 1),
    log=print,
    progress: bool = True,
) -> Path:
    """Generate this shard's batches (skipping finished ones); merge when all are done."""
    from ..distributed import pick_device
    from ..engine.hf import meta_model

    good_path, bad_path, tokenizer, (docs, source_file) = check_generate_inputs(cfg, workdir)
    out = output_dir(cfg, workdir)
    files = SyntheticFiles(out)
    device = pick_device(cfg.device)
    tokens = special_tokens(tokenizer)
    dropout = cfg.bad_dropout if _uses_dropout(cfg) else 0.0
    engine, why = choose_engine(
        cfg.engine, meta_model(good_path), meta_model(bad_path) if bad_path else None, dropout > 0
    )
    dtype = resolve_dtype(cfg.dtype, device, engine)
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
        inputs["train"] = file_hash(Workspace(workdir).split("train"))
    # the one identity rule (identity.py): batch size and engine change the output only
    # through float rounding, formats and device not at all
    config_hash = output_identity("generate", to_dict(cfg), inputs, dtype=str(dtype))
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
    check_shard_layout(out, shard)  # before any lock file is made; again once locked (a race)
    # one writer per shard: shards run side by side, the same shard twice is refused
    with output_lock(out, f"shard-{s}-of-{n}"):
        if real_record is not None:
            write_json(files.real_tokens, real_record)
        with output_lock(out, wait=True):  # the shards' shared record: one at a time
            check_shard_layout(out, shard)
            check_or_record_config(out, meta, f"shard-{s}-of-{n}")
        mine = [b for b in range(s, n_batches, n) if not files.batch(b).is_file()]
        done = n_batches - len(missing_batches(out, n_batches))
        if mine and done:
            log(f"resuming {cfg.name} from batch {done + 1} of {n_batches} ({done} done)")
        if mine:
            log(f"generate {cfg.name}: {engine} engine ({why})")
            if note := dtype_note(dtype, device, engine):
                log(f"generate {cfg.name}: {note}")
            if tokens.bos is None:
                log(f"generate {cfg.name}: the tokenizer has no BOS token; prefixes start unmarked")
            if tokens.eos is None:
                log(
                    f"generate {cfg.name}: the tokenizer has no EOS token; "
                    "every row runs to the end"
                )
            static = cfg.step_shape == "static"  # the lean step's shape (the same corpus)
            engines = _engines(
                engine, good_path, bad_path, tokenizer, dtype, device, dropout, static
            )
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
            # where this shard's batches are made: recorded with each, never in the identity
            machine = machine_record(device, dtype, engine)
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
                    shards.write_batch(rows, files.batch(b), machine)
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


def _engines(kind, good_path, bad_path, tokenizer, dtype, device, dropout, static=False):
    """Load the models and build the engines `choose_engine` picked (`static`: lean engines
    take the static-shape step)."""
    from ..engine.hf import HFEngine, check_output_size, load_causal_lm

    paths = [p for p in (good_path, bad_path) if p is not None]
    if kind == "lean":  # LeanLlama copies the float32 weights into its own layout and dtype
        models = [load_causal_lm(p, torch.float32) for p in paths]
    else:
        models = [load_causal_lm(p, dtype) for p in paths]
    for m, p in zip(models, paths, strict=True):
        check_output_size(m, tokenizer, p)
    if kind == "lean":
        engines = make_engines(models[0], models[1] if bad_path else None, dtype, device, dropout)
        for e in engines:  # `static`: the static-shape step (generate.step_shape)
            e.static_step = static
        return engines
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
