"""Is a corpus the same when its shards run on other kinds of CPU? Counts what differs.

    python bench/corpus_across_cpus.py [--workdir bench/out/corpus_across_cpus] [--prefixes 40]
                                       [--completions 5] [--new 64] [--batch 20] [--steps 100]
                                       [--dtypes fp32,fp64] [--settings native,avx2,default]

A cpu-tiny LLaMA trained on the story world (`--steps`, float32; GOOD its last checkpoint, BAD
the one at a fifth of the way: CD-Early) makes one small CD corpus (`--prefixes` x
`--completions` rows of `--new` tokens; eos=continue, so every row has them all), per dtype:
once in one process on this CPU as it is (the reference), then as the two shards of
`cdsynth generate --shard i/2`, each shard a process under its own CPU setting:

    native    the CPU as it is
    avx2      ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 (torch, oneDNN and our kernel
              held to AVX2: what an AVX2-only CPU such as AMD Zen 2/3 runs)
    default   ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 (no AVX at all)

Each pair's corpus is merged by cdsynth and compared row by row with the reference: rows with
any token that differs, tokens that differ (position by position), the largest difference of a
row's mean contrast among rows whose tokens are all the same, and whether the manifest says
`mixed_machines`. Prints a Markdown table (BENCHMARKS.md) and writes results.json.

Each setting has its own torch.compile cache (TORCHINDUCTOR_CACHE_DIR): inductor's on-disk
cache does not key its C++ code by ATEN_CPU_CAPABILITY, and a float32 decode step compiled for
AVX-512 and reused under the AVX2 setting gave NaN logits (torch 2.13.0).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "default": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"},
}


def prepare(workdir: Path, steps: int) -> Path:
    """The study folder with its corpus, tokenizer and trained run; a file of its overrides."""
    from cdsynth.config import load_config
    from cdsynth.stages import run_corpus, run_tokenizer, run_train

    early = steps // 5
    overrides = [
        f"workdir={workdir}",
        "corpus.storyworld_words=100000",
        "tokenizer.vocab_size=1024",
        "train.model=cpu-tiny",
        f"train.steps={steps}",
        "train.batch_size=16",
        "train.micro_batch_size=16",
        "train.block_len=128",
        "train.lr=2e-3",
        f"train.warmup_steps={max(1, steps // 10)}",
        f"train.eval_every={steps}",
        "train.eval_blocks=8",
        f"train.checkpoint_every={early}",
        "train.precision=fp32",
    ]
    cfg = load_config(None, overrides)
    quiet = lambda *a, **k: None  # noqa: E731
    run_corpus(cfg, log=quiet)
    run_tokenizer(cfg, log=quiet)
    t0 = time.time()
    run_train(cfg, log=quiet, progress=False)
    print(f"cpu-tiny trained for {steps} steps ({time.time() - t0:.0f} s), in {workdir}")
    config = workdir / "overrides.txt"
    config.write_text(
        "\n".join(
            overrides
            + [
                f"generate.good=runs/baseline/step_{steps}",
                f"generate.bad=runs/baseline/step_{early}",
            ]
        )
    )
    return config


def generate(config: Path, extra: list[str], setting: str, shard: str | None) -> str | None:
    """One `cdsynth generate` process under `setting`: None, or its error's last line."""
    cmd = [sys.executable, "-m", "cdsynth.cli", "generate", *config.read_text().split(), *extra]
    cmd += ["--shard", shard] if shard else []
    t0 = time.time()
    # torch.compile's on-disk cache is not keyed by ATEN_CPU_CAPABILITY: a graph compiled for
    # AVX-512 (16 lanes) would be reused under AVX2 (NaN logits) or without AVX (no build)
    inductor = {"TORCHINDUCTOR_CACHE_DIR": str(config.parent / "inductor" / setting)}
    env = {**os.environ, **SETTINGS[setting], **inductor}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    error = (done.stderr.strip().splitlines() or ["?"])[-1] if done.returncode else None
    print(f"  {setting} {shard or 'one process'}: {time.time() - t0:.0f} s {error or ''}")
    return error


def rows_of(folder: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(folder / "synthetic.parquet").to_pylist()


def compare(rows: list[dict], ref: list[dict]) -> dict:
    """Rows and tokens of `rows` that differ from `ref`, and the float drift of equal rows."""
    diff_rows, diff_tokens, tokens, drift = 0, 0, 0, 0.0
    for r, q in zip(rows, ref, strict=True):
        a, b = r["token_ids"], q["token_ids"]
        n = sum(x != y for x, y in zip(a, b, strict=False)) + abs(len(a) - len(b))
        tokens += len(b)
        diff_tokens += n
        diff_rows += n > 0
        if n == 0:
            drift = max(drift, abs(r["mean_contrast"] - q["mean_contrast"]))
    return {
        "rows": len(ref),
        "rows_differ": diff_rows,
        "tokens": tokens,
        "tokens_differ": diff_tokens,
        "max_contrast_drift": drift,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", default="bench/out/corpus_across_cpus")
    p.add_argument("--prefixes", type=int, default=40)
    p.add_argument("--completions", type=int, default=5)
    p.add_argument("--new", type=int, default=64)
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--dtypes", default="fp32,fp64")
    p.add_argument("--settings", default="native,avx2,default")
    a = p.parse_args()

    import platform

    import torch

    from cdsynth.machine import cpu_model

    workdir = Path(a.workdir).resolve()
    config = prepare(workdir, a.steps)
    base = [
        f"generate.num_prefixes={a.prefixes}",
        f"generate.completions={a.completions}",
        f"generate.new_tokens={a.new}",
        f"generate.batch_size={a.batch}",
        "generate.eos=continue",
        "generate.seed=7",
    ]
    settings = a.settings.split(",")
    pairs = [("native", "native")]
    for s in settings[1:]:
        pairs += [("native", s), (s, "native")]
    results = []
    for dtype in a.dtypes.split(","):
        extra = [*base, f"generate.dtype={dtype}"]
        ref_name = f"ref-{dtype}"
        for old in (workdir / "synthetic").glob(f"*{dtype}*"):  # folders and their locks
            shutil.rmtree(old) if old.is_dir() else old.unlink()  # no earlier batch reused
        print(f"{dtype}: the reference")
        if error := generate(config, [*extra, f"generate.name={ref_name}"], "native", None):
            sys.exit(error)
        ref = rows_of(workdir / "synthetic" / ref_name)
        for s0, s1 in pairs:
            name = f"{dtype}-{s0}-{s1}"
            errors = [
                generate(config, [*extra, f"generate.name={name}"], s, f"{i}/2")
                for i, s in enumerate((s0, s1))
            ]
            res = {
                "dtype": dtype,
                "shard0": s0,
                "shard1": s1,
                "error": next(filter(None, errors), None),
            }
            out = workdir / "synthetic" / name
            if res["error"] is None:
                manifest = json.loads((out / "manifest.json").read_text())
                res |= compare(rows_of(out), ref)
                res["mixed_machines"] = manifest["mixed_machines"]
                res["machines"] = [(m["capability"], m["batches"]) for m in manifest["machines"]]
            results.append(res)
            print(f"  {s0}/{s1}: {res}")
    where = (
        f"{cpu_model()} ({torch.backends.cpu.get_cpu_capability()} natively), "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}, {platform.system()}"
    )
    (workdir / "results.json").write_text(json.dumps({"machine": where, "results": results}))
    print(f"\n{where}; {a.prefixes * a.completions} rows of {a.new} CD tokens, cpu-tiny GOOD")
    print(f"step {a.steps} / BAD step {a.steps // 5}, compared with one native process\n")
    print("| dtype | shard 0 | shard 1 | mixed_machines | rows differ | tokens differ |"
          " max contrast drift (same-token rows) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in results:
        if r["error"]:
            print(f"| {r['dtype']} | {r['shard0']} | {r['shard1']} | failed: {r['error']} | | | |")
            continue
        print(
            f"| {r['dtype']} | {r['shard0']} | {r['shard1']} | {r['mixed_machines']} | "
            f"{r['rows_differ']} of {r['rows']} | {r['tokens_differ']} of {r['tokens']} | "
            f"{r['max_contrast_drift']:.1e} |"
        )


if __name__ == "__main__":
    main()
