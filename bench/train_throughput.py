"""Training throughput: our trainer vs `transformers.Trainer`, same model, data and steps.

    python bench/train_throughput.py [--steps 40] [--preset cpu-small] [--batch 16] [--seq 256]
    python bench/train_throughput.py --device cuda --preset paper-good --seq 1024 --batch 32

Prints steady-state tokens/s of both (the first `--skip` steps, which include compilation,
are excluded), their ratio, and our model FLOP/s (MFU) against a matmul peak measured on the
same device in the run's precision (2048^3 on a CPU, 8192^3 on CUDA, random data,
synchronized). The first line names the precision, torch's CPU capability and the CPU model.

Both get their best settings for the device: the precision `train.precision=auto` picks
(`--precision`: bf16 autocast where the device has bf16 arithmetic, float32 on an AVX2-only
CPU, where bf16 is emulated), fused AdamW, the same LR schedule, betas and clipping. Ours
compiles forward + loss (`--no-compile` turns that off). `--runs` picks what is timed:
cdsynth (`train.loss=reference`: the whole logits and F.cross_entropy), cdsynth-chunked
(`train.loss=chunked`: the output layer and loss over chunks of rows, chunked_loss.py;
`--loss-chunk-rows` sets the chunk, 0 = Liger's rule), hf (Trainer), hf-compile (Trainer with
`torch_compile`); the default is cdsynth,hf on a CPU and cdsynth,hf,hf-compile on CUDA; ratios
are taken against the faster Trainer. On CUDA both run TF32 for leftover fp32 matmuls.

`--preset paper-good` is the paper's 12 x 768 model with its 32000-token vocabulary (the
vocabulary of a preset that names one, else `--vocab`, default 8192). Random weights and
random tokens: the speed does not depend on them. `--json FILE` writes the figures.

`--profile N` then profiles N more steps of our step (torch profiler, after two warm-up
steps: `train.train_step` itself, with the compiled loss module, autocast, fused AdamW and
clipping that `train` runs; `--profile-loss` picks the loss) and prints the ops with the most
self time (device time on CUDA, CPU time on a CPU) and the shares of the step's parts:
products, attention, loss, optimizer, casts and copies.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from cdsynth.config import PRESETS, ModelConfig, TokenizerConfig, TrainConfig
from cdsynth.distributed import bf16_supported
from cdsynth.machine import cpu_model
from cdsynth.tokenizer import save_tokenizer, train_tokenizer
from cdsynth.train import (
    IGNORE,
    NextTokenLoss,
    build_model,
    cuda_matmul_precision,
    labels_for,
    make_optimizer,
    train,
    train_step,
)

# our runs: name -> train.loss
OURS = {"cdsynth": "reference", "cdsynth-chunked": "chunked"}


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def matmul_peak(
    device: str = "cpu", dtype=torch.bfloat16, n: int | None = None, reps: int = 10
) -> float:
    """FLOP/s of an n^3 matmul in `dtype` on random data (mean of `reps` after 3 warm-ups)."""
    n = n or (8192 if device == "cuda" else 2048)
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, dtype=dtype, device=device, generator=g)
    b = torch.randn(n, n, dtype=dtype, device=device, generator=g)
    for _ in range(3):
        a @ b
    sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t)


def device_line(device: str) -> str:
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        return f"{p.name}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs"
    return (
        f"CPU {cpu_model()}, capability {torch.backends.cpu.get_cpu_capability()}, "
        f"{torch.get_num_threads()} threads"
    )


def flops_per_token(model, n_layers: int, hidden: int, seq: int) -> float:
    """6 N (weights, excluding the input embedding lookup) + 12 L H S (attention), per token."""
    n = sum(p.numel() for p in model.parameters()) - model.model.embed_tokens.weight.numel()
    return 6 * n + 12 * n_layers * hidden * seq


def write_blocks(folder: Path, vocab: int, n_blocks: int, seq: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arr = rng.integers(4, vocab, size=(n_blocks, seq)).astype(np.uint16)
    np.save(folder / "blocks.npy", arr)
    meta = {
        "n_blocks": n_blocks,
        "block_len": seq,
        "n_tokens": arr.size,
        "pad_id": 3,
        "n_documents": n_blocks,
        "dtype": "uint16",
    }
    (folder / "blocks.json").write_text(json.dumps(meta))


def run_ours(tmp: Path, cfg: TrainConfig, skip: int, name: str = "ours") -> tuple[float, int]:
    """Steady-state tokens/s of `train`, and its peak device memory in bytes (CUDA; else 0)."""
    if cfg.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    train(cfg, tmp / "tok", tmp / "blocks", tmp / name, progress=False, log=lambda *a: None)
    peak = torch.cuda.max_memory_allocated() if cfg.device == "cuda" else 0
    rows = [json.loads(x) for x in (tmp / name / "metrics.jsonl").read_text().splitlines()]
    steady = [r["tok_s"] for r in rows[skip:]]
    return statistics.median(steady), peak


def run_hf_trainer(
    tmp: Path, cfg: TrainConfig, vocab: int, skip: int, device: str, compile_: bool
) -> float:
    """The Trainer in the same precision as ours (`cfg.precision`: bf16 or fp32)."""
    import inspect

    from transformers import Trainer, TrainerCallback, TrainingArguments

    arr = np.load(tmp / "blocks" / "blocks.npy")

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return len(arr)

        def __getitem__(self, i):
            ids = torch.from_numpy(arr[i].astype(np.int64))
            return {"input_ids": ids, "labels": ids}

    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            sync(device)
            times.append(time.perf_counter())

    model = build_model(cfg.model, vocab, seed=cfg.seed)
    extra = {}
    if device == "cuda":
        extra = dict(tf32=True, optim="adamw_torch_fused", dataloader_pin_memory=True)
    if compile_:
        extra["torch_compile"] = True
    known = inspect.signature(TrainingArguments).parameters
    args = TrainingArguments(
        output_dir=str(tmp / "hf"),
        max_steps=cfg.steps,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.lr,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_steps,
        lr_scheduler_type="cosine",
        adam_beta2=cfg.beta2,
        max_grad_norm=cfg.grad_clip,
        bf16=cfg.precision == "bf16",
        use_cpu=device == "cpu",
        save_strategy="no",
        report_to=[],
        logging_steps=10_000,
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=cfg.seed,
        **{k: v for k, v in extra.items() if k in known},
    )
    # (Trainer's tf32=True is process-wide; ours has run before it, and only bf16 follows)
    Trainer(model=model, args=args, train_dataset=DS(), callbacks=[Clock()]).train()
    steady = np.diff(times[skip - 1 :])
    return cfg.batch_size * cfg.block_len / float(np.median(steady))


# op name -> part of the step (first match wins; names of ATen ops, cuBLAS / CUTLASS / flash
# kernels and the compiler's fused kernels)
PARTS = [
    ("attention", ("attention", "flash", "sdpa", "fmha")),
    ("loss", ("cross_entropy", "nll_loss", "log_softmax", "logsumexp", "chunkedlinear")),
    ("optimizer and clipping", ("adam", "foreach", "clip", "norm_", "optimizer")),
    ("products", ("mm", "gemm", "matmul", "linear", "xmma", "cutlass", "cublas", "wgmma")),
    ("other compiler-fused kernels", ("triton_", "cpp_fused", "compiledfxgraph")),
    ("casts and copies", ("copy", "cat", "clone", "fill", "zero")),
]


def part_of(name: str) -> str:
    low = name.lower()
    return next((part for part, keys in PARTS if any(k in low for k in keys)), "other")


def profile_step(cfg: TrainConfig, vocab: int, tmp: Path, steps: int, top: int = 15) -> dict:
    """Profile `steps` optimizer steps of our training step (after two warm-up steps): the
    ops with the most self time and the step's time by part (`PARTS`)."""
    device = torch.device(cfg.device)
    if device.type == "cpu" and cfg.compile:
        # the compiler's C++ kernels as profiler events of their own (recompiled for that)
        import torch._inductor.config as inductor_config

        inductor_config.cpp.enable_kernel_profile = True
        torch._dynamo.reset()
    model = build_model(cfg.model, vocab, seed=cfg.seed).to(device).train()
    opt = make_optimizer(model, cfg)
    loss_module = NextTokenLoss(model, cfg.loss, cfg.loss_chunk_rows)
    loss_fn = torch.compile(loss_module) if cfg.compile else loss_module
    params = list(model.parameters())
    arr = np.load(tmp / "blocks" / "blocks.npy")
    dev_type = device.type

    def autocast():
        return torch.autocast(dev_type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")

    def one_step(i: int) -> None:
        ids = torch.from_numpy(arr[i % len(arr) : i % len(arr) + cfg.batch_size].astype(np.int64))
        n_valid = int((labels_for(ids) != IGNORE).sum())
        ids = ids.to(device)
        batches = [
            ids[s : s + cfg.micro_batch_size] for s in range(0, len(ids), cfg.micro_batch_size)
        ]
        train_step(loss_fn, params, opt, batches, 1 / n_valid, cfg.grad_clip, autocast)

    acts = [torch.profiler.ProfilerActivity.CPU]
    if dev_type == "cuda":
        acts.append(torch.profiler.ProfilerActivity.CUDA)
    with cuda_matmul_precision(device):
        for i in range(2):
            one_step(i)
        sync(dev_type)
        t = time.perf_counter()
        with torch.profiler.profile(activities=acts) as prof:
            for i in range(steps):
                one_step(2 + i)
            sync(dev_type)
        wall = time.perf_counter() - t

    def self_time(e) -> float:  # microseconds
        if dev_type == "cuda":
            return getattr(e, "self_device_time_total", None) or e.self_cuda_time_total
        return e.self_cpu_time_total

    events = [e for e in prof.key_averages() if self_time(e) > 0]
    total = sum(self_time(e) for e in events)
    events.sort(key=self_time, reverse=True)
    parts: dict[str, float] = {}
    for e in events:
        parts[part_of(e.key)] = parts.get(part_of(e.key), 0.0) + self_time(e) / total
    return {
        "steps": steps,
        "wall_s_per_step": wall / steps,
        "timed": "device self time" if dev_type == "cuda" else "CPU self time",
        "top": [
            {"op": e.key, "share": self_time(e) / total, "ms_per_step": self_time(e) / 1e3 / steps}
            for e in events[:top]
        ],
        "parts": dict(sorted(parts.items(), key=lambda kv: -kv[1])),
    }


def print_profile(prof: dict) -> None:
    print(
        f"profile of our step ({prof['steps']} steps, {prof['wall_s_per_step'] * 1e3:.1f} ms a "
        f"step under the profiler; shares of {prof['timed']})"
    )
    print("| op | ms a step | share |")
    print("|---|---|---|")
    for r in prof["top"]:
        print(f"| `{r['op'][:80]}` | {r['ms_per_step']:.2f} | {r['share']:.1%} |")
    print("parts: " + ", ".join(f"{k} {v:.1%}" for k, v in prof["parts"].items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--skip", type=int, default=8)
    ap.add_argument("--preset", default="cpu-small", choices=list(PRESETS))
    ap.add_argument("--vocab", type=int, default=None, help="default: the preset's, else 8192")
    ap.add_argument("--batch", type=int, default=16, help="rows per optimizer step")
    ap.add_argument("--micro", type=int, default=None, help="rows per forward (default --batch)")
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--no-compile", action="store_true", help="ours without torch.compile")
    ap.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    ap.add_argument(
        "--runs",
        default=None,
        help="comma-separated: cdsynth, cdsynth-chunked, hf, hf-compile (default: cdsynth,hf "
        "on cpu; cdsynth,hf,hf-compile on cuda)",
    )
    ap.add_argument(
        "--loss-chunk-rows", type=int, default=0, help="cdsynth-chunked's chunk (0: Liger's rule)"
    )
    ap.add_argument(
        "--profile-loss",
        choices=sorted(set(OURS.values())),
        default="reference",
        help="the loss of the profiled step",
    )
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--profile", type=int, default=0, help="then profile this many steps")
    a = ap.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    if a.skip < 1 or a.steps <= a.skip + 1:
        raise SystemExit("need 1 <= --skip < --steps - 1")
    runs = (a.runs or ("cdsynth,hf,hf-compile" if a.device == "cuda" else "cdsynth,hf")).split(",")
    if not runs or set(runs) - {*OURS, "hf", "hf-compile"}:
        raise SystemExit(
            f"--runs: choose from cdsynth, cdsynth-chunked, hf, hf-compile, got {a.runs}"
        )
    vocab = a.vocab or PRESETS[a.preset].get("vocab_size") or 8192
    micro = a.micro or a.batch
    bf16 = a.precision == "bf16" or (
        a.precision == "auto" and bf16_supported(torch.device(a.device))
    )  # as train.py resolves train.precision=auto
    precision = "bf16" if bf16 else "fp32"
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        tok = train_tokenizer(["a b c"], TokenizerConfig(vocab_size=300, min_frequency=1))
        save_tokenizer(tok, tmp / "tok", TokenizerConfig(), inputs={})
        write_blocks(tmp / "blocks", vocab, a.batch * a.steps, a.seq)
        context = max(a.seq, PRESETS[a.preset].get("context", 256), 256)
        mcfg = ModelConfig(preset=a.preset, vocab_size=vocab, context=context)
        cfg = TrainConfig(
            model=mcfg,
            steps=a.steps,
            batch_size=a.batch,
            micro_batch_size=micro,
            block_len=a.seq,
            warmup_steps=5,
            precision=precision,
            compile=not a.no_compile,
            eval_every=10**9,
            checkpoint_every=10**9,
            device=a.device,
            loss_chunk_rows=a.loss_chunk_rows,
        )
        results, peak_memory = {}, {}
        for name, loss in OURS.items():
            if name in runs:
                results[name], peak_memory[name] = run_ours(
                    tmp, replace(cfg, loss=loss), a.skip, name
                )
        for c in [False, True]:
            if ("hf-compile" if c else "hf") in runs:
                name = "transformers.Trainer" + (" (torch_compile)" if c else "")
                if micro != a.batch:
                    name += f" (batch {a.batch} in one forward)"
                results[name] = run_hf_trainer(tmp, cfg, vocab, a.skip, a.device, c)
        m = mcfg.resolved()
        fpt = flops_per_token(build_model(mcfg, vocab), m.n_layers, m.hidden, a.seq)
        prof_cfg = replace(cfg, loss=a.profile_loss)
        prof = profile_step(prof_cfg, vocab, tmp, a.profile) if a.profile else None
    peak = matmul_peak(a.device, torch.bfloat16 if bf16 else torch.float32)
    ours = {k: v for k, v in results.items() if k in OURS}
    hf = {k: v for k, v in results.items() if k not in OURS}
    print(
        f"device: {device_line(a.device)}; model {a.preset} ({m.n_layers} x {m.hidden}) vocab "
        f"{vocab}, batch {a.batch} x {a.seq} (micro {micro}), {a.steps} steps (first {a.skip} "
        f"excluded), precision {a.precision} ({precision}), torch {torch.__version__}"
    )
    print(f"| trainer | tokens/s | model TFLOP/s | share of {precision} peak (MFU) |")
    print("|---|---|---|---|")
    for name, tps in results.items():
        print(f"| {name} | {tps:,.0f} | {tps * fpt / 1e12:.3f} | {tps * fpt / peak:.1%} |")
    best_hf = max(hf, key=hf.get) if hf else None
    line = f"{precision} matmul peak measured: {peak / 1e12:.2f} TFLOP/s"
    for name, tps in reversed(ours.items()) if best_hf else ():
        line = f"ratio {name} / Trainer: {tps / hf[best_hf]:.2f}x (vs {best_hf}); " + line
    print(line)
    if len(ours) == 2:
        print(f"chunked / reference loss: {ours['cdsynth-chunked'] / ours['cdsynth']:.3f}x")
    if any(peak_memory.values()):
        print(
            "peak device memory: "
            + ", ".join(f"{k} {v / 2**30:.2f} GiB" for k, v in peak_memory.items())
        )
    if prof:
        print(f"(profiled loss: {a.profile_loss})")
        print_profile(prof)
    if a.json:
        out = {
            "device": device_line(a.device),
            "args": vars(a),
            "vocab": vocab,
            "flops_per_token": fpt,
            "precision": precision,
            "peak_flops": peak,
            "tokens_per_s": results,
            "peak_memory_bytes": peak_memory,
            "mfu": {k: v * fpt / peak for k, v in results.items()},
            "best_trainer": best_hf,
            "ratio_vs_best_trainer": (
                ours["cdsynth"] / hf[best_hf] if best_hf and "cdsynth" in ours else None
            ),
            "ratios_vs_best_trainer": {k: v / hf[best_hf] for k, v in ours.items()} if hf else {},
            "profile_loss": a.profile_loss if a.profile else None,
            "torch": torch.__version__,
            "profile": prof,
        }
        Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
