"""Train a LlamaForCausalLM from scratch on packed blocks, with checkpoints and exact resume.

    train(cfg, tokenizer_dir, train_blocks, out_dir, eval_blocks=..., synthetic_blocks=...)

Checkpoints are `out_dir/step_N/` folders written atomically: `save_pretrained` weights
(safetensors), the tokenizer, `optimizer.safetensors`, `rng.safetensors` and `state.json`
(step, tokens seen, losses, the run's identity). A restarted run continues from its last complete
checkpoint; the data order and learning rate are pure functions of the step, so the result is
the same as an uninterrupted run (bit-identical on CPU in fp32). With `train.checkpoint_words`
the run also saves `out_dir/chck_<N>M/` (an HF model folder) after the step whose real-corpus
words seen cross N million, the BabyLM revision names (`checkpoint_words`). Under `torchrun`
the model is wrapped in DDP, each rank takes a slice of every global batch, and rank 0 writes.

On CUDA: bf16 autocast (`precision: auto`), fused AdamW, `torch.compile` of forward + loss
(`compile: true`), the output layer and loss over chunks of rows (`loss: chunked`,
chunked_loss.py), TF32 for the float32 matmuls that remain (restored when training ends),
batches copied from pinned memory without blocking, and the CUDA RNG state saved with each
checkpoint (attention dropout draws from it). The step (`train_step`) reads nothing on the
host: a step's loss and gradient norm are copied back without blocking and read once the next
step is queued, or at once before an evaluation or a checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .blocks import Blocks, MixtureSampler, synthetic_rows_before
from .checkpoint_words import WordCheckpoints, save_word_checkpoint
from .chunked_loss import chunked_linear_cross_entropy
from .config import ModelConfig, TrainConfig, to_dict
from .distributed import DistInfo, barrier, bf16_supported, init_distributed, pick_device
from .errors import UserError, os_error_of
from .fileio import atomic_path, read_json, warn, write_json, write_text
from .identity import identities, identity, is_current, read_record
from .tokenizer import BOS_ID, EOS_ID, PAD_ID, load_tokenizer
from .trackers import check_trackers, open_trackers
from .workspace import latest_checkpoint

IGNORE = -100


def build_model(mcfg: ModelConfig, vocab_size: int, dropout: float = 0.0, seed: int = 0):
    """A freshly initialised LlamaForCausalLM with the shape of `mcfg` (a resolved preset)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    m = mcfg.resolved()
    vocab = m.vocab_size or vocab_size
    if vocab < vocab_size:
        raise UserError(f"model vocab_size {vocab} is smaller than the tokenizer's {vocab_size}")
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=m.hidden,
        intermediate_size=m.ffn,
        num_hidden_layers=m.n_layers,
        num_attention_heads=m.heads,
        num_key_value_heads=m.heads,
        max_position_embeddings=m.context,
        attention_dropout=dropout,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def join_processes(cfg: TrainConfig) -> DistInfo:
    """Join the process group torchrun set up (once per run) and check that a global batch
    splits evenly over its processes."""
    info = init_distributed(pick_device(cfg.device))
    if cfg.batch_size % info.world_size:
        raise UserError(
            f"train.batch_size {cfg.batch_size} is not divisible by {info.world_size} processes"
        )
    return info


def check_same_run(cfg: TrainConfig, out_dir: Path) -> None:
    """Refuse, before anything is written, a run folder holding checkpoints of another
    training config (`train` checks the full identity, data included, when it resumes)."""
    record = Path(out_dir) / "train_config.json"
    if latest_checkpoint(out_dir) is None or not record.is_file():
        return
    old = read_json(record).get("config")
    if old is not None and identity("train", old) != identity("train", to_dict(cfg)):
        raise UserError(
            f"{out_dir} holds checkpoints of a different config; choose another run name "
            "(train.name) or delete the folder"
        )


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup over `warmup_steps`, then cosine from `lr` to `min_lr` at `steps`."""
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(1, cfg.steps - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / span)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def labels_for(input_ids: torch.Tensor) -> torch.Tensor:
    """Next-token targets; the last position and padding are ignored."""
    labels = torch.full_like(input_ids, IGNORE)
    labels[:, :-1] = input_ids[:, 1:]
    # masked_fill, not labels[mask] = IGNORE: a boolean index waits for the device (nonzero)
    return labels.masked_fill(labels == PAD_ID, IGNORE)


def next_token_nll(
    model, input_ids: torch.Tensor, loss: str = "reference", chunk_rows: int = 0
) -> torch.Tensor:
    """Summed next-token NLL (fp32; fp64 for a float64 model) over the non-pad targets of a
    (batch, seq) block.
    `loss`: `reference`, the model's logits and `F.cross_entropy`; `chunked`, the model's last
    hidden states and `chunked_linear_cross_entropy` over chunks of `chunk_rows` rows (0:
    its default), which never holds the whole logits (equal in float64).

    transformers' default `use_cache` stays on, although the cache it fills (a copy of each
    layer's keys and values) is thrown away: without a cache it looks for packed sequences
    in the positions, which reads a tensor on the host in eager mode and, under
    torch.compile, gives attention an explicit mask instead of `is_causal` (no flash path)."""
    labels = labels_for(input_ids).reshape(-1)
    if loss == "chunked":
        hidden = model.model(input_ids=input_ids).last_hidden_state
        return chunked_linear_cross_entropy(
            hidden.reshape(-1, hidden.shape[-1]),
            model.lm_head.weight,
            labels,
            ignore_index=IGNORE,
            chunk_rows=chunk_rows or None,
        )
    logits = model(input_ids=input_ids).logits
    wide = logits.to(torch.promote_types(logits.dtype, torch.float32))  # fp32 (fp64 stays)
    return F.cross_entropy(
        wide.reshape(-1, logits.shape[-1]), labels, ignore_index=IGNORE, reduction="sum"
    )


class NextTokenLoss(torch.nn.Module):
    """`next_token_nll` as a module, `forward(input_ids)` -> the summed NLL: what the training
    step calls, DDP wraps and `torch.compile` compiles. Wrapping the loss, not the model, lets
    DDP see the chunked loss's forward, which never calls the model's own."""

    def __init__(self, lm, loss: str = "reference", chunk_rows: int = 0):
        super().__init__()
        self.lm, self.loss, self.chunk_rows = lm, str(loss), chunk_rows

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return next_token_nll(self.lm, input_ids, self.loss, self.chunk_rows)


def n_targets(input_ids: torch.Tensor) -> int:
    return int((labels_for(input_ids) != IGNORE).sum())


def make_optimizer(model, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices only (`decay: matrices`) or on every parameter
    (`decay: all`, the paper's code: its no-decay names never match LLaMA's norm weights)."""
    every = cfg.decay == "all"
    decay = [p for p in model.parameters() if every or p.dim() >= 2]
    no_decay = [p for p in model.parameters() if not every and p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, fused=True
    )


def save_optimizer(opt: torch.optim.Optimizer, folder: Path) -> None:
    sd = opt.state_dict()
    tensors = {
        f"{idx}.{k}": v.detach().cpu().contiguous()
        for idx, st in sd["state"].items()
        for k, v in st.items()
    }
    save_file(tensors, str(folder / "optimizer.safetensors"))
    write_json(folder / "optimizer_groups.json", sd["param_groups"])


def load_optimizer(opt: torch.optim.Optimizer, folder: Path) -> None:
    tensors = load_file(str(folder / "optimizer.safetensors"))
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, v in tensors.items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    opt.load_state_dict(
        {"state": state, "param_groups": read_json(folder / "optimizer_groups.json")}
    )


@contextlib.contextmanager
def cuda_matmul_precision(device: torch.device):
    """TF32 for float32 matmuls while training on CUDA (the optimizer's master weights, any
    fp32 op autocast leaves); the previous setting comes back afterwards, so that a scorer or
    engine run later in the same process keeps exact float32."""
    if device.type != "cuda":
        yield
        return
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def to_device(rows, device: torch.device) -> torch.Tensor:
    """Token ids (numpy) on `device`; on CUDA through pinned memory, without blocking."""
    t = torch.from_numpy(rows)
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """The RNG states a resumed run needs: the CPU's, and the CUDA device's when on one."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def evaluate_loss(model, blocks: Blocks, n_rows: int, micro: int, device, autocast) -> float:
    """Mean next-token NLL over the first `n_rows` blocks of `blocks`."""
    model.eval()
    total, count = 0.0, 0
    n = min(n_rows, len(blocks))
    with torch.no_grad():
        for start in range(0, n, micro):
            ids = to_device(blocks.rows(range(start, min(n, start + micro))), torch.device(device))
            with autocast():
                total += float(next_token_nll(model, ids))
            count += n_targets(ids)
    model.train()
    return total / max(count, 1)


def _trim_metrics(path: Path, step: int) -> None:
    """Keep only the metric rows at or before `step` (used when resuming)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row.get("step", 0) <= step:
            keep.append(line)
    write_text(path, "".join(k + "\n" for k in keep))


def train(
    cfg: TrainConfig,
    tokenizer_dir: str | Path,
    train_blocks: str | Path,
    out_dir: str | Path,
    eval_blocks: str | Path | None = None,
    synthetic_blocks: str | Path | None = None,
    log=print,
    progress: bool = True,
    dist_info: DistInfo | None = None,
) -> dict:
    """Run (or resume) training; returns the final state dict written to the last checkpoint.
    `dist_info`: the processes `join_processes` joined (joined here when None)."""
    device = pick_device(cfg.device)
    check_trackers(cfg.trackers)  # a missing package or login: one line, before anything runs
    if dist_info is None:
        dist_info = join_processes(cfg)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    out_dir = Path(out_dir)
    tokenizer = load_tokenizer(tokenizer_dir)
    real = Blocks(train_blocks)
    synth = Blocks(synthetic_blocks) if synthetic_blocks else None
    evalb = Blocks(eval_blocks) if eval_blocks else None
    if real.block_len != cfg.block_len:
        raise UserError(
            f"blocks in {train_blocks} have length {real.block_len}, config says {cfg.block_len}"
        )
    W = dist_info.world_size
    sampler = MixtureSampler(real, synth, cfg.synthetic_ratio, cfg.batch_size, cfg.seed)

    # this rule's identity first, then older rules' (a run recorded under one stays current)
    run_identities = identities("train", to_dict(cfg), [real.meta, synth.meta if synth else None])
    run_identity = run_identities[0]
    model = build_model(cfg.model, len(tokenizer), cfg.dropout, cfg.seed).to(device)
    opt = make_optimizer(model, cfg)
    start_step, tokens_seen = 0, 0
    words = WordCheckpoints(cfg.checkpoint_words, tokenizer) if cfg.checkpoint_words else None
    ckpt = latest_checkpoint(out_dir)
    if ckpt is not None:
        state = read_json(ckpt / "state.json")
        if not is_current(state, run_identities):
            raise UserError(
                f"{out_dir} holds checkpoints of a different config; choose another run name "
                "(train.name) or delete the folder"
            )
        start_step, tokens_seen = state["step"], state["tokens_seen"]
        if words is not None:
            words.resume(state)
        if start_step < cfg.steps:  # a finished run needs no weights
            from .engine.hf import load_causal_lm

            loaded = load_causal_lm(ckpt, torch.float32)  # safetensors only: never a pickle
            model.load_state_dict(loaded.state_dict())
            del loaded
            load_optimizer(opt, ckpt)
            set_rng_state(load_file(str(ckpt / "rng.safetensors")), device)
        if dist_info.is_main:
            log(f"resuming {out_dir.name} from {ckpt.name}")
            threads = state.get("threads")
            if threads is not None and threads != torch.get_num_threads():
                warn(
                    f"{out_dir.name} was trained with {threads} torch threads and resumes with "
                    f"{torch.get_num_threads()}: the weights may differ in their last bits from "
                    "an uninterrupted run"
                )
    elif dist_info.is_main:
        n_params = sum(p.numel() for p in model.parameters())
        log(f"training {out_dir.name}: {n_params / 1e6:.2f}M parameters, {cfg.steps} steps")
    if dist_info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        _trim_metrics(out_dir / "metrics.jsonl", start_step)
        record = out_dir / "train_config.json"
        if not is_current(read_record(record), run_identities):
            write_json(record, {"config": to_dict(cfg), "identity": run_identity})
    if start_step >= cfg.steps:
        return read_json(ckpt / "state.json")

    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and bf16_supported(device))

    def autocast():
        if use_bf16:
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    raw_model = model
    # the step calls the loss as a module: DDP wraps it, torch.compile compiles it (forward
    # and loss together, so that inductor fuses the casts and the log-softmax)
    model = NextTokenLoss(raw_model, cfg.loss, cfg.loss_chunk_rows)
    if W > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    model.train()
    loss_fn = torch.compile(model) if cfg.compile else model
    no_sync = model.no_sync if W > 1 else None
    params = list(raw_model.parameters())

    rows_per_rank = cfg.batch_size // W
    micro = min(cfg.micro_batch_size, rows_per_rank)
    bar = None
    if progress and dist_info.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=start_step, desc=out_dir.name, unit="step")
    metrics_f = open(out_dir / "metrics.jsonl", "a") if dist_info.is_main else None
    state: dict = {}
    scope = contextlib.ExitStack()
    scope.enter_context(cuda_matmul_precision(device))
    # Steps queued on the device whose loss and gradient norm are not read yet. A step's
    # figures are read once the next step is queued (on CUDA the device never waits for the
    # host), or at once where an evaluation or a checkpoint needs that step's weights; a
    # non-finite step is found before anything after it is recorded or saved.
    pending: list[dict] = []
    read_at = time.perf_counter()
    try:
        trackers = open_trackers(  # rank 0 only; with none configured, every call does nothing
            cfg.trackers if dist_info.is_main else [],
            out_dir,
            {**to_dict(cfg), "identity": run_identity},
            start_step,
            cfg.tracker_project,
        )
        scope.callback(trackers.close)
        for step in range(start_step, cfg.steps):
            t0 = time.perf_counter()
            lr = lr_at(step, cfg)
            for group in opt.param_groups:
                group["lr"] = lr
            rows, is_syn = sampler.batch(step)
            n_valid = n_targets(torch.from_numpy(rows))  # on the host, from the token ids
            mine = rows[dist_info.rank * rows_per_rank : (dist_info.rank + 1) * rows_per_rank]
            batches = [to_device(mine[s : s + micro], device) for s in range(0, len(mine), micro)]
            stats = train_step(
                loss_fn, params, opt, batches, W / n_valid, cfg.grad_clip, autocast, no_sync
            )
            done = step + 1
            last = done == cfg.steps
            pending.append(
                {
                    "step": done,
                    "figures": copy_to_host(stats),
                    "lr": lr,
                    "n_valid": n_valid,
                    "synthetic_rows": int(is_syn.sum()),
                    "t0": t0,
                    "eval": evalb is not None and (done % cfg.eval_every == 0 or last),
                    "checkpoint": done % cfg.checkpoint_every == 0 or last,
                    # words seen, counted from the rows on the host; a mark passed saves now
                    "marks": words.step(rows, is_syn) if words is not None else [],
                    "words": words.state() if words is not None else {},
                }
            )
            now = pending[-1]["eval"] or pending[-1]["checkpoint"] or pending[-1]["marks"]
            ready, pending = (pending, []) if now else (pending[:-1], pending[-1:])
            for p in ready:
                loss_sum, norm = read_host(p["figures"])  # waits for that step only
                done = p["step"]
                stop_if_not_finite(loss_sum / p["n_valid"], norm, done, out_dir)
                tokens_seen += cfg.batch_size * cfg.block_len
                train_loss = loss_sum / p["n_valid"]
                # the step's time: from its start, or from the previous step's reading where
                # it was queued before that (the device ran them one after the other)
                clock = time.perf_counter()
                seconds, read_at = clock - max(read_at, p["t0"]), clock
                row = {
                    "step": done,
                    "loss": train_loss,
                    "lr": p["lr"],
                    "tokens": tokens_seen,
                    "synthetic_rows": p["synthetic_rows"],
                    "tok_s": cfg.batch_size * cfg.block_len / seconds,
                    "grad_norm": norm,
                    **p["words"],
                }
                if p["eval"]:
                    if dist_info.is_main:
                        row["eval_loss"] = evaluate_loss(
                            raw_model, evalb, cfg.eval_blocks, micro, device, autocast
                        )
                    barrier(dist_info)
                if dist_info.is_main:
                    metrics_f.write(json.dumps(row) + "\n")
                    metrics_f.flush()
                    trackers.log(row)
                    if bar is not None:
                        bar.set_postfix(loss=f"{train_loss:.3f}", tok_s=f"{row['tok_s']:.0f}")
                        bar.update(1)
                state = {
                    "step": done,
                    "tokens_seen": tokens_seen,
                    "train_loss": train_loss,
                    "eval_loss": row.get("eval_loss"),
                    "identity": run_identity,
                    "threads": torch.get_num_threads(),
                    "synthetic_ratio": cfg.synthetic_ratio,
                    "synthetic_rows_total": synthetic_rows_before(
                        done, cfg.synthetic_ratio, cfg.batch_size
                    ),
                    "rows_total": done * cfg.batch_size,
                    **p["words"],
                }
                if p["marks"] and dist_info.is_main:  # the weights after this step (now)
                    for name in p["marks"]:
                        save_word_checkpoint(raw_model, tokenizer, out_dir / name, state)
                if p["checkpoint"]:
                    if dist_info.is_main:
                        save_checkpoint(raw_model, opt, tokenizer, out_dir / f"step_{done}", state)
                        trackers.checkpoint(done)
                    barrier(dist_info)
    finally:
        scope.close()
        if bar is not None:
            bar.close()
        if metrics_f is not None:
            metrics_f.close()
    if dist_info.is_main and cfg.synthetic_ratio > 0:
        share = state["synthetic_rows_total"] / state["rows_total"]
        log(f"synthetic share realised: {share:.4f} (asked {cfg.synthetic_ratio})")
    return state


def train_step(
    loss_fn, params, opt, batches, scale: float, grad_clip: float, autocast, no_sync=None
) -> torch.Tensor:
    """One optimizer step: for each micro-batch of token ids in `batches` (on the device), the
    summed NLL `loss_fn(ids)` (a `NextTokenLoss`, DDP-wrapped or compiled) and the backward
    of it times `scale` (processes / targets in the global batch); then clipping of `params`
    to norm `grad_clip` (0: none) and `opt`'s step. `no_sync`: DDP's context that holds the
    gradients' all-reduce back (every micro-batch but the last). Returns [summed loss over
    all processes, gradient norm] (float64, on the device). Nothing here reads a tensor on
    the host: on CUDA the host queues the whole step without waiting for the device."""
    loss_acc = torch.zeros((), dtype=torch.float64, device=batches[0].device)
    for k, ids in enumerate(batches):
        hold = no_sync is not None and k < len(batches) - 1
        with no_sync() if hold else contextlib.nullcontext():
            with autocast():
                loss = loss_fn(ids)
            (loss * scale).backward()
        loss_acc += loss.detach().double()
    if grad_clip > 0:
        grad_norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
    else:
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
    opt.step()
    opt.zero_grad(set_to_none=True)
    if no_sync is not None:
        torch.distributed.all_reduce(loss_acc)
    return torch.stack([loss_acc, grad_norm.double()])


def copy_to_host(t: torch.Tensor) -> tuple[torch.Tensor, object]:
    """Start copying `t` to the host without waiting: on CUDA into pinned memory, with an
    event recorded after the copy (`read_host` waits for it); elsewhere `t` itself."""
    if t.device.type != "cuda":
        return t, None
    out = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
    out.copy_(t, non_blocking=True)
    copied = torch.cuda.Event()
    copied.record()
    return out, copied


def read_host(copy: tuple[torch.Tensor, object]) -> list:
    """The values of a `copy_to_host` copy, once the copy has finished (waits for it only)."""
    out, copied = copy
    if copied is not None:
        copied.synchronize()
    return out.tolist()


def stop_if_not_finite(loss: float, grad_norm: float, step: int, out_dir: Path) -> None:
    """Stop training at the first step whose loss or gradient norm is NaN or infinite,
    before that step is recorded or saved: the last checkpoint on disk stays the last good one."""
    if math.isfinite(loss) and math.isfinite(grad_norm):
        return
    last = latest_checkpoint(out_dir)
    raise UserError(
        f"training {out_dir.name} stopped at step {step}: the loss is {loss:g} and the "
        f"gradient norm {grad_norm:g}; the last good checkpoint is "
        f"{last.name if last else 'none'} (try a lower train.lr or check the data)"
    )


def save_checkpoint(model, opt, tokenizer, folder: Path, state: dict) -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        with atomic_path(folder) as tmp:
            model.save_pretrained(str(tmp), safe_serialization=True)
            tokenizer.save_pretrained(str(tmp))
            save_optimizer(opt, tmp)
            device = next(model.parameters()).device
            save_file(rng_state(device), str(tmp / "rng.safetensors"))
            write_json(tmp / "state.json", state)
    except SafetensorError as e:  # a full disk, say, in safetensors' own exception type
        raise (os_error_of(e, folder) or e) from None
