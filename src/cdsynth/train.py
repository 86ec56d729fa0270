"""Train a LlamaForCausalLM from scratch on packed blocks, with checkpoints and exact resume.

    train(cfg, tokenizer_dir, train_blocks, out_dir, eval_blocks=..., synthetic_blocks=...)

Checkpoints are `out_dir/step_N/` folders written atomically: `save_pretrained` weights
(safetensors), the tokenizer, `optimizer.safetensors`, `rng.safetensors` and `state.json`
(step, tokens seen, losses, the run's identity). A restarted run continues from its last complete
checkpoint; the data order and learning rate are pure functions of the step, so the result is
the same as an uninterrupted run (bit-identical on CPU in fp32). Under `torchrun` the model is
wrapped in DDP, each rank takes a slice of every global batch, and rank 0 writes.

On CUDA: bf16 autocast (`precision: auto`), fused AdamW, `torch.compile` of forward + loss
(`compile: true`), TF32 for the float32 matmuls that remain (restored when training ends),
batches copied from pinned memory without blocking, one host sync per optimizer step, and the
CUDA RNG state saved with each checkpoint (attention dropout draws from it).
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
    labels[labels == PAD_ID] = IGNORE
    return labels


def next_token_nll(model, input_ids: torch.Tensor) -> torch.Tensor:
    """Summed next-token NLL (fp32) over the non-pad targets of a (batch, seq) block."""
    labels = labels_for(input_ids)
    logits = model(input_ids=input_ids).logits
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        labels.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )


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
    ckpt = latest_checkpoint(out_dir)
    if ckpt is not None:
        state = read_json(ckpt / "state.json")
        if not is_current(state, run_identities):
            raise UserError(
                f"{out_dir} holds checkpoints of a different config; choose another run name "
                "(train.name) or delete the folder"
            )
        start_step, tokens_seen = state["step"], state["tokens_seen"]
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
    if W > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    model.train()
    # compiling forward and loss together lets inductor fuse the casts and the log-softmax
    loss_fn = torch.compile(next_token_nll) if cfg.compile else next_token_nll

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
            n_valid = n_targets(torch.from_numpy(rows))
            mine = rows[dist_info.rank * rows_per_rank : (dist_info.rank + 1) * rows_per_rank]
            # summed on the device in float64; read once per step (one host sync, after the
            # optimizer step, so that tok_s times the whole step)
            loss_acc = torch.zeros((), dtype=torch.float64, device=device)
            chunks = list(range(0, rows_per_rank, micro))
            for k, start in enumerate(chunks):
                ids = to_device(mine[start : start + micro], device)
                sync = k == len(chunks) - 1 or W == 1
                ctx = contextlib.nullcontext() if sync else model.no_sync()
                with ctx:
                    with autocast():
                        loss = loss_fn(model, ids)
                    (loss * (W / n_valid)).backward()
                loss_acc += loss.detach().double()
            if cfg.grad_clip > 0:
                grad_norm = torch.nn.utils.clip_grad_norm_(raw_model.parameters(), cfg.grad_clip)
            else:
                grads = [p.grad for p in raw_model.parameters() if p.grad is not None]
                grad_norm = torch.nn.utils.get_total_norm(grads)
            opt.step()
            opt.zero_grad(set_to_none=True)
            if W > 1:
                torch.distributed.all_reduce(loss_acc)
            # read together: still one host sync per step
            loss_sum, norm = torch.stack([loss_acc, grad_norm.double()]).tolist()
            done = step + 1
            stop_if_not_finite(loss_sum / n_valid, norm, done, out_dir)
            tokens_seen += cfg.batch_size * cfg.block_len
            train_loss = loss_sum / n_valid
            row = {
                "step": done,
                "loss": train_loss,
                "lr": lr,
                "tokens": tokens_seen,
                "synthetic_rows": int(is_syn.sum()),
                "tok_s": cfg.batch_size * cfg.block_len / (time.perf_counter() - t0),
                "grad_norm": norm,
            }
            last = done == cfg.steps
            if evalb is not None and (done % cfg.eval_every == 0 or last):
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
            }
            if done % cfg.checkpoint_every == 0 or last:
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
