"""Training throughput: our trainer vs `transformers.Trainer`, same model, data and steps.

    python bench/train_throughput.py [--steps 40] [--preset cpu-small] [--batch 16] [--seq 256]

Prints steady-state tokens/s of both (the first `--skip` steps, which include compilation,
are excluded), their ratio, and our model FLOP/s against a bf16 matmul peak measured here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cdsynth.config import ModelConfig, TokenizerConfig, TrainConfig
from cdsynth.tokenizer import save_tokenizer, train_tokenizer
from cdsynth.train import build_model, train


def bf16_matmul_peak(n: int = 2048, reps: int = 10) -> float:
    a = torch.randn(n, n, dtype=torch.bfloat16)
    b = torch.randn(n, n, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t)


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


def run_ours(tmp: Path, cfg: TrainConfig, skip: int) -> float:
    train(cfg, tmp / "tok", tmp / "blocks", tmp / "ours", progress=False, log=lambda *a: None)
    rows = [json.loads(x) for x in (tmp / "ours" / "metrics.jsonl").read_text().splitlines()]
    steady = [r["tok_s"] for r in rows[skip:]]
    return statistics.median(steady)


def run_hf_trainer(tmp: Path, cfg: TrainConfig, vocab: int, skip: int) -> float:
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
            times.append(time.perf_counter())

    model = build_model(cfg.model, vocab, seed=cfg.seed)
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
        bf16=True,
        use_cpu=True,
        save_strategy="no",
        report_to=[],
        logging_steps=10_000,
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=cfg.seed,
    )
    Trainer(model=model, args=args, train_dataset=DS(), callbacks=[Clock()]).train()
    steady = np.diff(times[skip - 1 :])
    return cfg.batch_size * cfg.block_len / float(np.median(steady))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--skip", type=int, default=8)
    ap.add_argument("--preset", default="cpu-small")
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--no-compile", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        tok = train_tokenizer(["a b c"], TokenizerConfig(vocab_size=300, min_frequency=1))
        save_tokenizer(tok, tmp / "tok", TokenizerConfig(), inputs={})
        write_blocks(tmp / "blocks", a.vocab, a.batch * a.steps, a.seq)
        mcfg = ModelConfig(preset=a.preset, vocab_size=a.vocab, context=max(a.seq, 256))
        cfg = TrainConfig(
            model=mcfg,
            steps=a.steps,
            batch_size=a.batch,
            micro_batch_size=a.batch,
            block_len=a.seq,
            warmup_steps=5,
            precision="bf16",
            compile=not a.no_compile,
            eval_every=10**9,
            checkpoint_every=10**9,
        )
        ours = run_ours(tmp, cfg, a.skip)
        hf = run_hf_trainer(tmp, cfg, a.vocab, a.skip)
        m = mcfg.resolved()
        fpt = flops_per_token(build_model(mcfg, a.vocab), m.n_layers, m.hidden, a.seq)
    peak = bf16_matmul_peak()
    print(
        f"model {a.preset} vocab {a.vocab}, batch {a.batch} x {a.seq}, {a.steps} steps "
        f"(first {a.skip} excluded), torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print("| trainer | tokens/s | model TFLOP/s | share of bf16 peak |")
    print("|---|---|---|---|")
    for name, tps in (("cdsynth", ours), ("transformers.Trainer", hf)):
        print(f"| {name} | {tps:,.0f} | {tps * fpt / 1e12:.3f} | {tps * fpt / peak:.1%} |")
    print(
        f"ratio cdsynth / Trainer: {ours / hf:.2f}x; bf16 matmul peak measured: "
        f"{peak / 1e12:.2f} TFLOP/s"
    )


if __name__ == "__main__":
    main()
