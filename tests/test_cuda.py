"""Every stage on CUDA: training, the decoding engine, generation and the scorer.

Skipped where torch sees no CUDA device (CI, the 2-core VMs). On a GPU machine:

    python -m pytest -q tests/test_cuda.py

Most tests are small (the test-micro model, a few steps); two run the compiled decode step at
the paper's shapes (paper-good, vocabulary 32000, batch 256). The compiled paths compile
once per dtype and batch size (tens of seconds in all on an H100).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

from cdsynth.config import DecodingConfig  # noqa: E402
from cdsynth.engine.lean import LeanLlama  # noqa: E402
from cdsynth.generate import generate_batch, left_pad, make_engines  # noqa: E402
from cdsynth.stages import run_generate, run_train  # noqa: E402
from cdsynth.workspace import Workspace  # noqa: E402

from .conftest import TINY, interrupt_after, quiet, tiny_config  # noqa: E402

CUDA = ["train.device=cuda"]
VOCAB = 60
GEN = [
    "generate.good=runs/baseline/step_12",
    "generate.bad=runs/baseline/step_4",
    "generate.num_prefixes=5",
    "generate.completions=3",
    "generate.new_tokens=24",
    "generate.batch_size=4",
]


def random_model(seed, dtype=torch.float64, **shape):
    """A random test-micro LLaMA with sharp next-token distributions (as test_generate's)."""
    from cdsynth.config import ModelConfig
    from cdsynth.train import build_model

    m = build_model(ModelConfig("test-micro", context=512, **shape), VOCAB, seed=seed)
    with torch.no_grad():
        m.lm_head.weight.mul_(8)
    return m.to(dtype).eval()


def prefixes_of(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [[1] + torch.randint(4, VOCAB, (n - 1,), generator=g).tolist() for n in lengths]


def read_rows(out):
    import pyarrow.parquet as pq

    return pq.read_table(out / "synthetic.parquet").to_pylist()


def metrics(run_dir):
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


def weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def cuda_run(tmp_path_factory, tiny_workspace):
    """The tiny workspace with a run trained on CUDA (bf16 autocast, eager; checkpoints at
    steps 4, 8, 12)."""
    import shutil

    root = tmp_path_factory.mktemp("cuda") / "ws"
    shutil.copytree(tiny_workspace, root)
    run_train(tiny_config(root, *CUDA, "train.precision=bf16"), log=quiet, progress=False)
    return root


# --- training -------------------------------------------------------------------------------


def test_compiled_bf16_training_on_cuda_learns_and_saves_loadable_checkpoints(workspace):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cdsynth.blocks import Blocks
    from cdsynth.train import evaluate_loss

    before = torch.get_float32_matmul_precision()
    cfg = tiny_config(
        workspace,
        *CUDA,
        "train.precision=bf16",
        "train.compile=true",
        "train.steps=40",
        "train.lr=1e-2",
        "train.eval_every=20",
        "train.checkpoint_every=20",
    )
    out = run_train(cfg, log=quiet, progress=False)
    rows = metrics(out)
    assert len(rows) == 40
    assert all(np.isfinite(r["loss"]) for r in rows)
    assert rows[0]["loss"] > 5.0  # about ln(vocab) at the start
    assert rows[-1]["eval_loss"] < rows[0]["loss"] - 2.0
    assert np.mean([r["loss"] for r in rows[-5:]]) < np.mean([r["loss"] for r in rows[:5]])
    # TF32 was on for training only
    assert torch.get_float32_matmul_precision() == before
    ckpt = out / "step_40"
    from safetensors.torch import load_file

    assert set(load_file(str(ckpt / "rng.safetensors"))) == {"cpu", "cuda"}
    # the checkpoint is a plain transformers model; its eval loss on the CPU in fp32 is the
    # one recorded on the GPU in bf16 (to bf16 rounding)
    model = AutoModelForCausalLM.from_pretrained(str(ckpt), dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(ckpt))
    assert tok.bos_token_id == 1 and model.config.vocab_size == len(tok)
    import contextlib

    evalb = next((workspace / "blocks").glob("eval-*"))
    recomputed = evaluate_loss(model, Blocks(evalb), 8, 4, "cpu", contextlib.nullcontext)
    recorded = json.loads((ckpt / "state.json").read_text())["eval_loss"]
    assert recomputed == pytest.approx(recorded, rel=3e-2)


def test_interrupted_cuda_run_resumes_to_the_same_weights(workspace, monkeypatch):
    """fp32 on CUDA: resuming from step 4 ends where the uninterrupted run ends (to the
    rounding of CUDA's non-deterministic reductions)."""
    from cdsynth import train as train_mod

    full = run_train(tiny_config(workspace, *CUDA, "train.name=full"), log=quiet, progress=False)
    interrupt_after(monkeypatch, train_mod, "save_checkpoint", 1)
    cfg = tiny_config(workspace, *CUDA, "train.name=cut")
    with pytest.raises(KeyboardInterrupt):
        run_train(cfg, log=quiet, progress=False)
    monkeypatch.undo()
    cut = run_train(cfg, log=quiet, progress=False)
    a, b = weights(full / "step_12"), weights(cut / "step_12")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-4)
    la, lb = metrics(full), metrics(cut)
    assert [r["step"] for r in la] == [r["step"] for r in lb]
    for ra, rb in zip(la, lb, strict=True):
        assert ra["loss"] == pytest.approx(rb["loss"], rel=1e-4)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("loss", ["reference", "chunked"])
def test_the_training_step_never_waits_for_the_device(loss, compiled):
    """`torch.cuda.set_sync_debug_mode("error")` raises at any op that makes the host wait
    for the device: none in the step (bf16 autocast, clipping, fused AdamW), the batch's copy
    to the device and the figures' copy back included. Two warm-up steps first (compilation
    and the optimizer's state may wait)."""
    from cdsynth.config import ModelConfig, TrainConfig
    from cdsynth.train import (
        NextTokenLoss,
        build_model,
        copy_to_host,
        make_optimizer,
        read_host,
        to_device,
        train_step,
    )

    device = torch.device("cuda")
    model = build_model(ModelConfig(preset="test-micro"), 400).to(device).train()
    opt = make_optimizer(model, TrainConfig())
    module = NextTokenLoss(model, loss)
    loss_fn = torch.compile(module) if compiled else module
    rows = np.random.default_rng(0).integers(4, 400, size=(8, 64), dtype=np.int64)
    rows[0, -5:] = 3  # padding

    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16)

    def step():
        batches = [to_device(rows[s : s + 4], device) for s in (0, 4)]
        out = train_step(loss_fn, list(model.parameters()), opt, batches, 1 / 500, 1.0, autocast)
        return copy_to_host(out)

    for _ in range(2):
        read_host(step())
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        copies = [step() for _ in range(3)]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    figures = [read_host(c) for c in copies]
    assert all(np.isfinite(f).all() for f in figures) and figures[-1][0] < figures[0][0]


def test_chunked_loss_on_cuda_equals_the_reference_in_float64():
    """The chunked loss on the device, equal to the reference in float64: the loss and every
    gradient of a test-micro model (the bench's train-chunked step times it in bf16)."""
    from cdsynth.config import ModelConfig
    from cdsynth.train import build_model, next_token_nll

    model = build_model(ModelConfig(preset="test-micro"), 400).to("cuda", torch.float64)
    ids = torch.randint(4, 400, (4, 64), device="cuda")
    ids[0, -5:] = 3
    grads = []
    for loss in ("reference", "chunked"):
        model.zero_grad()
        value = next_token_nll(model, ids, loss, chunk_rows=24)
        value.backward()
        grads.append([value.detach()] + [p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-14)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_ddp_on_two_gpus_matches_one(workspace):
    args = ["train", f"workdir={workspace}", *TINY, *CUDA, "train.micro_batch_size=2"]
    args += ["train.steps=6", "train.checkpoint_every=6"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "cdsynth.cli"]
    subprocess.run([*cli, *args, "train.name=one"], check=True, env=env, capture_output=True)
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        + ["-m", "cdsynth.cli", *args, "train.name=two"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    ws = Workspace(workspace)
    a, b = weights(ws.run("one") / "step_6"), weights(ws.run("two") / "step_6")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-4)


# --- the decoding engine --------------------------------------------------------------------


def _prefill_and_step(lean, prefixes, nxt):
    """Left-padded prefill, then one decode step; returns (prefill logits, step logits)."""
    ids, pads = left_pad(prefixes)
    B, P = ids.shape
    dev = lean.device
    ids, pads = ids.to(dev), pads.to(dev)
    valid = torch.arange(P, device=dev)[None] >= pads[:, None]
    positions = (torch.arange(P, device=dev)[None] - pads[:, None]).clamp_min(0)
    cache = lean.new_cache(B, P + 1)
    first = lean.forward(ids, positions, cache, 0, valid)[0]
    valid = torch.cat([valid, torch.ones(B, 1, dtype=torch.bool, device=dev)], 1)
    step = lean.forward(nxt.to(dev), positions[:, -1:] + 1, cache, P, valid)[0]
    return first, step


def test_lean_llama_on_cuda_matches_transformers():
    """fp32 (no TF32) to float32 rounding; the compiled bf16 decode step to bf16 rounding."""
    hf = random_model(0, torch.float32).cuda()
    prefixes = prefixes_of([7, 3, 11])
    nxt = torch.tensor([[5], [6], [7]])
    refs_first, refs_step = [], []
    with torch.no_grad():
        for r, p in enumerate(prefixes):
            refs_first.append(hf(input_ids=torch.tensor([p], device="cuda")).logits[0, -1])
            full = torch.tensor([p + [5 + r]], device="cuda")
            refs_step.append(hf(input_ids=full).logits[0, -1])
    ref_first, ref_step = torch.stack(refs_first), torch.stack(refs_step)

    first, step = _prefill_and_step(LeanLlama([hf], torch.float32, "cuda"), prefixes, nxt)
    assert first.device.type == "cuda" and first.dtype == torch.float32
    torch.testing.assert_close(first, ref_first, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(step, ref_step, rtol=1e-4, atol=1e-4)

    lean16 = LeanLlama([hf], torch.bfloat16, "cuda")
    assert lean16.compiled_decode
    first, step = _prefill_and_step(lean16, prefixes, nxt)
    assert step.dtype == torch.float32  # the output layer's logits come back in fp32
    for got, ref in ((first, ref_first), (step, ref_step)):
        rel = float((got - ref).norm() / ref.norm())
        assert rel < 2e-2, rel
        assert torch.corrcoef(torch.stack([got.flatten(), ref.flatten()]))[0, 1] > 0.999


def test_stacked_cd_generation_on_cuda_equals_cpu_in_float64():
    """300 CD steps with keyed uniforms: the same tokens on CUDA as on the CPU (float64)."""
    good, bad = random_model(3), random_model(4)
    rule = DecodingConfig("cd", alpha=0.1, lam=0.5, top_k=20)
    prefixes = prefixes_of([5, 9, 2, 6])
    keys = np.array([[0, 0], [1, 0], [2, 3], [3, 1]])
    runs = {}
    for dev in ("cpu", "cuda"):
        engines = make_engines(good, bad, torch.float64, dev)
        assert len(engines) == 1 and engines[0].n_models == 2
        runs[dev] = generate_batch(engines, prefixes, keys, rule, 300, seed=0, eos="continue")
    assert runs["cuda"].tokens == runs["cpu"].tokens
    np.testing.assert_allclose(runs["cuda"].mean_contrast, runs["cpu"].mean_contrast, rtol=1e-9)


def test_bf16_generation_on_cuda_gives_valid_tokens():
    """The compiled bf16 decode path, a batch of 64: every token in the vocabulary, and a
    row's text does not depend on its batch mates (keyed randomness)."""
    good, bad = random_model(5, torch.float32), random_model(6, torch.float32)
    engines = make_engines(good, bad, torch.bfloat16, "cuda")
    rule = DecodingConfig("cd", alpha=0.1, lam=1.0)
    prefixes = prefixes_of([6] * 64, seed=2)
    keys = np.stack([np.arange(64), np.zeros(64, dtype=np.int64)], 1)
    res = generate_batch(engines, prefixes, keys, rule, 40, seed=0, eos="continue")
    assert all(len(t) == 40 for t in res.tokens)
    assert all(0 <= x < good.config.vocab_size for t in res.tokens for x in t)
    assert all(c is not None and np.isfinite(c) for c in res.mean_contrast)


PAPER_VOCAB, PAPER_BATCH = 32000, 256


def paper_models(dtype):
    """Two random models of the paper-good shape (12 x 768, vocabulary 32000), sharpened."""
    from cdsynth.config import ModelConfig
    from cdsynth.train import build_model

    out = []
    for seed in (0, 1):
        m = build_model(ModelConfig("paper-good"), PAPER_VOCAB, seed=seed)
        with torch.no_grad():
            m.lm_head.weight.mul_(8)
        out.append(m.to("cuda", dtype).eval())
    return out


def paper_prefixes(n):
    g = torch.Generator().manual_seed(1)
    return [[1] + torch.randint(4, PAPER_VOCAB, (19,), generator=g).tolist() for _ in range(n)]


def test_compiled_bf16_step_at_paper_shapes_gives_valid_tokens():
    """Vocabulary 32000, batch 256, the compiled bf16 step with top-p: the shape at which
    inductor's split scan crashed on the cumulative sums (pytorch/pytorch#180221, torch 2.11);
    every token in the vocabulary, every contrast finite."""
    good, bad = paper_models(torch.bfloat16)
    engines = make_engines(good, bad, torch.bfloat16, "cuda")
    assert engines[0].compile_step and engines[0].fused_step
    rule = DecodingConfig("cd", alpha=0.1, lam=1.0, top_p=0.95)
    keys = np.stack([np.arange(PAPER_BATCH), np.zeros(PAPER_BATCH, dtype=np.int64)], 1)
    res = generate_batch(
        engines, paper_prefixes(PAPER_BATCH), keys, rule, 24, seed=0, eos="continue"
    )
    assert engines[0].steps and all(s.compiled for s in engines[0].steps.values())
    assert all(len(t) == 24 for t in res.tokens)
    assert all(0 <= x < PAPER_VOCAB for t in res.tokens for x in t)
    assert all(np.isfinite(c) for c in res.mean_contrast)
    assert len({tuple(t) for t in res.tokens}) > PAPER_BATCH // 2  # rows differ


def test_static_step_as_a_cuda_graph_at_paper_shapes():
    """generate.step_shape=static at the paper's shapes (vocabulary 32000, batch 256, bf16,
    top-p): the step compiled with mode="reduce-overhead" runs as a CUDA graph (inductor
    skipped none), every token in the vocabulary, every contrast finite; and in fp32 its
    tokens equal the growing step's."""
    from torch._dynamo.utils import counters

    rule = DecodingConfig("cd", alpha=0.1, lam=1.0, top_p=0.95)
    keys = np.stack([np.arange(PAPER_BATCH), np.zeros(PAPER_BATCH, dtype=np.int64)], 1)
    prefixes = paper_prefixes(PAPER_BATCH)
    good, bad = paper_models(torch.bfloat16)
    engines = make_engines(good, bad, torch.bfloat16, "cuda")
    engines[0].static_step = True
    counters.clear()
    res = generate_batch(engines, prefixes, keys, rule, 24, seed=0, eos="continue")
    (step,) = engines[0].steps.values()
    assert step.static and step.compiled
    assert counters["inductor"]["cudagraph_skips"] == 0, dict(counters["inductor"])
    assert all(len(t) == 24 for t in res.tokens)
    assert all(0 <= x < PAPER_VOCAB for t in res.tokens for x in t)
    assert all(np.isfinite(c) for c in res.mean_contrast)
    good, bad = paper_models(torch.float32)
    runs = []
    for static in (False, True):
        engines = make_engines(good, bad, torch.float32, "cuda")
        engines[0].static_step = static
        runs.append(generate_batch(engines, prefixes[:64], keys[:64], rule, 16, 3, "continue"))
    assert runs[1].tokens == runs[0].tokens


def test_static_step_on_cuda_gives_the_cpu_corpus_in_float64():
    """The static step eagerly in float64 on CUDA: the CPU's growing step's tokens."""
    good, bad = random_model(3), random_model(4)
    rule = DecodingConfig("cd", alpha=0.1, lam=0.5, top_k=20)
    prefixes = prefixes_of([5, 9, 2, 6])
    keys = np.array([[0, 0], [1, 0], [2, 3], [3, 1]])
    runs = {}
    for dev in ("cpu", "cuda"):
        engines = make_engines(good, bad, torch.float64, dev)
        engines[0].static_step = dev == "cuda"
        runs[dev] = generate_batch(engines, prefixes, keys, rule, 200, seed=0, eos="continue")
    assert runs["cuda"].tokens == runs["cpu"].tokens


def test_compiled_fp32_step_at_paper_shapes_same_corpus_for_any_batch_size():
    """Vocabulary 32000, the compiled fp32 step with the paper's top-p: 256 rows in one batch
    give the rows of four batches of 64 (how shards split the work; rows are keyed by (prefix,
    completion), so batch mates do not matter)."""
    good, bad = paper_models(torch.float32)
    rule = DecodingConfig("cd", alpha=0.1, lam=1.0, top_p=0.95, paper_compatible=True)
    prefixes = paper_prefixes(PAPER_BATCH)
    keys = np.stack([np.arange(PAPER_BATCH) // 2, np.arange(PAPER_BATCH) % 2], 1)
    runs = []
    for size in (PAPER_BATCH, 64):
        engines = make_engines(good, bad, torch.float32, "cuda")
        tokens = []
        for b in range(0, PAPER_BATCH, size):
            part = slice(b, b + size)
            res = generate_batch(engines, prefixes[part], keys[part], rule, 16, 3, "continue")
            tokens += res.tokens
        assert all(s.compiled for s in engines[0].steps.values())
        runs.append(tokens)
    assert runs[0] == runs[1]
    assert all(0 <= x < PAPER_VOCAB for t in runs[0] for x in t)


def test_generation_shards_on_cuda_equal_one_process_in_fp32(cuda_run):
    args = [*GEN, "generate.dtype=fp32", "generate.device=cuda"]
    one = run_generate(tiny_config(cuda_run, *args, "generate.name=one"), log=quiet, progress=False)
    cfg = tiny_config(cuda_run, *args, "generate.name=two")
    for s in range(2):
        run_generate(cfg, shard=(s, 2), log=quiet, progress=False)
    two = cuda_run / "synthetic" / "two"
    rows_one, rows_two = read_rows(one), read_rows(two)
    assert len(rows_one) == 15
    assert [r["token_ids"] for r in rows_two] == [r["token_ids"] for r in rows_one]
    assert all(r["n_new_tokens"] == 24 or r["ended_with_eos"] for r in rows_one)


# --- scoring --------------------------------------------------------------------------------


def _pairs(root, n=120):
    """BLiMP-style pairs from eval-split sentences: the sentence vs its words reversed."""
    from cdsynth.corpus import read_split

    sentences = []
    for row in read_split(root / "corpus", "eval"):
        for s in row["text"].replace("!", ".").replace("?", ".").split("."):
            words = s.split()
            if 3 <= len(words) <= 14:
                sentences.append(" ".join(words) + ".")
    assert len(sentences) >= n
    rows = [
        {"sentence_good": s, "sentence_bad": " ".join(s[:-1].split()[::-1]) + "."}
        for s in sentences[:n]
    ]
    return {"reversed_a": rows[: n // 2], "reversed_b": rows[n // 2 :]}


def test_scorer_on_cuda_gives_the_cpu_accuracies(cuda_run):
    """Prefix-tree packing with its 4D mask through the model's own SDPA on CUDA: the same
    per-pair verdicts and accuracies as the CPU's oneDNN path, log-probs to fp32 rounding."""
    from cdsynth.evaluate.minimal_pairs import score_pairs
    from cdsynth.evaluate.scoring import Scorer

    ckpt = Workspace(cuda_run).run("baseline") / "step_12"
    groups = _pairs(cuda_run)
    results, scorers = {}, {}
    for dev, packing in (("cpu", "tree"), ("cuda", "tree"), ("cuda", "padded")):
        logs = []
        scorer = Scorer.from_pretrained(
            ckpt, device=dev, batch_tokens=512, packing=packing, log=logs.append
        )
        assert scorer.packing == packing, logs  # no fall-back to padded on CUDA
        scorers[dev, packing] = scorer
        results[dev, packing] = score_pairs("blimp", scorer, groups)
    cpu = results["cpu", "tree"]
    ref = np.array([[i["good"], i["bad"]] for i in cpu.items])
    clear = np.abs(ref[:, 0] - ref[:, 1]) > 1e-3  # pairs that rounding cannot flip
    assert clear.mean() > 0.9
    for key in (("cuda", "tree"), ("cuda", "padded")):
        res = results[key]
        lp = np.array([[i["good"], i["bad"]] for i in res.items])
        np.testing.assert_allclose(lp, ref, rtol=0, atol=1e-3)
        verdicts = np.array([i["correct"] for i in res.items])
        assert (verdicts == np.array([i["correct"] for i in cpu.items]))[clear].all()
        if clear.all():
            assert res.score == cpu.score and res.subtasks == cpu.subtasks
        else:
            assert res.score == pytest.approx(cpu.score, abs=(~clear).sum() / len(clear) * 2)
    assert next(scorers["cuda", "tree"].model.parameters()).device.type == "cuda"
