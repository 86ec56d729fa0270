"""The generation engine against references: HF forwards, brute force, shards and resume."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from cdsynth import generate as gen_mod
from cdsynth.config import DecodingConfig, ModelConfig
from cdsynth.decoding import step_scores
from cdsynth.engine.lean import LeanLlama
from cdsynth.errors import UserError
from cdsynth.generate import generate_batch, make_engines, shards, work_items
from cdsynth.stages import run_generate, run_train
from cdsynth.train import build_model

from .conftest import interrupt_after, quiet, tiny_config

VOCAB = 60


def random_model(seed, dtype=torch.float64, **shape):
    m = build_model(ModelConfig("test-micro", context=512, **shape), VOCAB, seed=seed)
    with torch.no_grad():  # sharper distributions than the default init
        m.lm_head.weight.mul_(8)
    return m.to(dtype).eval()


def prefixes_of(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [[1] + torch.randint(4, VOCAB, (n - 1,), generator=g).tolist() for n in lengths]


def test_lean_forward_matches_transformers_with_left_padding():
    hf = random_model(0, torch.float32)
    lean = LeanLlama([hf], torch.float32)
    prefixes = prefixes_of([7, 3, 11])
    ids, pads = gen_mod.left_pad(prefixes)
    P = ids.shape[1]
    valid = torch.arange(P)[None] >= pads[:, None]
    positions = (torch.arange(P)[None] - pads[:, None]).clamp_min(0)
    cache = lean.new_cache(3, P + 1)
    logits = lean.forward(ids, positions, cache, 0, valid)[0]
    nxt = torch.tensor([[5], [6], [7]])
    valid = torch.cat([valid, torch.ones(3, 1, dtype=torch.bool)], 1)
    step = lean.forward(nxt, positions[:, -1:] + 1, cache, P, valid)[0]
    for r, p in enumerate(prefixes):
        ref = hf(input_ids=torch.tensor([p])).logits[0, -1]
        torch.testing.assert_close(logits[r], ref, rtol=1e-5, atol=1e-5)
        ref = hf(input_ids=torch.tensor([p + [5 + r]])).logits[0, -1]
        torch.testing.assert_close(step[r], ref, rtol=1e-5, atol=1e-5)


def test_stacked_models_equal_separate_models():
    a, b = random_model(7), random_model(8)
    stacked = LeanLlama([a, b], torch.float64)
    ids = torch.tensor(prefixes_of([6, 6]))
    pos = torch.arange(6)[None].expand(2, 6)
    valid = torch.ones(2, 6, dtype=torch.bool)
    both = stacked.forward(ids, pos, stacked.new_cache(2, 6), 0, valid)
    for m, model in enumerate((a, b)):
        alone = LeanLlama([model], torch.float64)
        torch.testing.assert_close(
            both[m], alone.forward(ids, pos, alone.new_cache(2, 6), 0, valid)[0], rtol=0, atol=1e-12
        )


def test_fused_one_query_attention_matches_matmul_attention():
    from cdsynth.engine.llama_math import attend

    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 4, 1, 8, generator=g, dtype=torch.float64)
    k = torch.randn(2, 3, 4, 13, 8, generator=g, dtype=torch.float64)
    v = torch.randn(2, 3, 4, 13, 8, generator=g, dtype=torch.float64)
    mask = torch.ones(3, 1, 1, 13, dtype=torch.bool)
    mask[1, 0, 0, :5] = False
    fused = attend(q, k, v, mask, fused=True)
    torch.testing.assert_close(fused, attend(q, k, v, mask, fused=False), rtol=0, atol=1e-12)
    # grouped-query attention: 2 kv heads shared by 4 query heads
    k2, v2 = k[:, :, :2], v[:, :, :2]
    ref = attend(q, k2.repeat_interleave(2, dim=2), v2.repeat_interleave(2, dim=2), mask, False)
    torch.testing.assert_close(attend(q, k2, v2, mask, True), ref, rtol=0, atol=1e-12)


def test_compiled_bf16_engine_tracks_transformers():
    # and the bf16 engine tracks HF's float32 logits
    hf = random_model(9, torch.float32)
    lean = LeanLlama([hf], torch.bfloat16)
    pre = prefixes_of([5, 5])
    ids = torch.tensor(pre)
    cache = lean.new_cache(2, 7)
    valid = torch.ones(2, 7, dtype=torch.bool)
    lean.forward(ids, torch.arange(5)[None].expand(2, 5), cache, 0, valid[:, :5])
    step = lean.forward(torch.tensor([[9], [9]]), torch.tensor([[5], [5]]), cache, 5, valid[:, :6])
    ref = hf(input_ids=torch.tensor([p + [9] for p in pre])).logits[:, -1]
    assert torch.corrcoef(torch.stack([step[0].flatten(), ref.flatten()]))[0, 1] > 0.999


def test_engine_scores_equal_brute_force_without_cache():
    """300 steps of CD with KV caches == full HF forwards over the whole text (float64)."""
    good_hf, bad_hf = random_model(1), random_model(2, n_layers=1)
    engines = make_engines(good_hf, bad_hf, torch.float64)
    assert len(engines) == 2  # different shapes: one engine each
    rule = DecodingConfig("cd", alpha=0.1, lam=1.0, top_k=20)
    prefixes = prefixes_of([5, 9, 2])
    keys = np.array([[0, 0], [1, 0], [2, 3]])
    n = 300
    res = generate_batch(
        engines, prefixes, keys, rule, n, seed=0, eos="continue", record_scores=True
    )
    assert all(len(t) == n for t in res.tokens)
    for r, p in enumerate(prefixes):
        full = torch.tensor([p + res.tokens[r]])
        g = good_hf(input_ids=full).logits[0, len(p) - 1 : -1]  # (n, vocab)
        b = bad_hf(input_ids=full).logits[0, len(p) - 1 : -1]
        ref = step_scores(rule, g, b).scores
        ours = torch.stack([s[r] for s in res.step_scores])
        assert torch.equal(torch.isinf(ours), torch.isinf(ref))
        fin = torch.isfinite(ref)
        torch.testing.assert_close(ours[fin], ref[fin], rtol=0, atol=1e-6)
        # and the chosen tokens are in the allowed set every step
        chosen = torch.tensor(res.tokens[r])
        assert torch.isfinite(ref[torch.arange(n), chosen]).all()


def test_continuation_independent_of_batch_mates_and_batch_size():
    engines = make_engines(random_model(3), random_model(4), torch.float64)
    assert len(engines) == 1 and engines[0].n_models == 2  # same shape: stacked
    rule = DecodingConfig("cd", alpha=0.1, lam=0.5)
    target = prefixes_of([6], seed=9)[0]
    alone = generate_batch(engines, [target], np.array([[7, 2]]), rule, 60, seed=5)
    mates = prefixes_of([15, 2, 9], seed=1)
    mixed = generate_batch(
        engines,
        [mates[0], target, mates[1], mates[2]],
        np.array([[0, 0], [7, 2], [1, 0], [2, 0]]),
        rule,
        60,
        seed=5,
    )
    assert mixed.tokens[1] == alone.tokens[0]
    assert mixed.mean_contrast[1] == pytest.approx(alone.mean_contrast[0], abs=1e-9)
    # another key gives another text
    other = generate_batch(engines, [target], np.array([[7, 3]]), rule, 60, seed=5)
    assert other.tokens[0] != alone.tokens[0]


def test_eos_stop_truncates_rows():
    m = random_model(5)
    with torch.no_grad():
        m.lm_head.weight[2] += 0.3 * m.lm_head.weight[7]  # make </s> likely now and then
    res = generate_batch(
        make_engines(m, dtype=torch.float64),
        prefixes_of([4] * 6),
        np.array([[i, 0] for i in range(6)]),
        DecodingConfig("ancestral"),
        80,
        seed=0,
        eos="stop",
    )
    for toks, ended in zip(res.tokens, res.ended_with_eos, strict=False):
        assert (2 in toks) == ended
        if ended:
            assert toks.index(2) == len(toks) - 1
    assert any(res.ended_with_eos) and not all(len(t) == 80 for t in res.tokens)


def test_dropout_amateur_is_reproducible():
    good = make_engines(random_model(6), None, torch.float64, bad_dropout=0.5)
    rule = DecodingConfig("cd", alpha=0.1)
    pre, keys = prefixes_of([5, 8]), np.array([[0, 0], [1, 0]])
    a = generate_batch(good, pre, keys, rule, 40, seed=1, bad_dropout=0.5)
    b = generate_batch(good, pre, keys, rule, 40, seed=1, bad_dropout=0.5)
    c = generate_batch(good, pre, keys, rule, 40, seed=2, bad_dropout=0.5)
    assert a.tokens == b.tokens and a.mean_contrast == b.mean_contrast
    assert a.tokens != c.tokens
    # the amateur really differs from GOOD: contrast is non-zero
    assert all(abs(x) > 1e-3 for x in a.mean_contrast)
    # and its dropout masks do not depend on batch mates
    solo = generate_batch(good, pre[1:], keys[1:], rule, 40, seed=1, bad_dropout=0.5)
    assert solo.tokens[0] == a.tokens[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_workspace):
    """The tiny workspace with a trained run (checkpoints at steps 4, 8, 12)."""
    import shutil

    root = tmp_path_factory.mktemp("gen") / "ws"
    shutil.copytree(tiny_workspace, root)
    run_train(tiny_config(root), log=quiet, progress=False)
    return root


GEN = [
    "generate.good=runs/baseline/step_12",
    "generate.bad=runs/baseline/step_4",
    "generate.num_prefixes=5",
    "generate.completions=3",
    "generate.new_tokens=24",
    "generate.batch_size=4",
    "generate.dtype=fp64",
]


def gen_config(root, *extra):
    return tiny_config(root, *GEN, *extra)


def read_rows(out):
    return pq.read_table(out / "synthetic.parquet").to_pylist()


def test_generate_config_checks_the_prompt_file_name_at_load():
    from cdsynth.config import GenerateConfig

    with pytest.raises(UserError, match=r"prefix_file must be a \.txt or \.jsonl file"):
        GenerateConfig(prefix_source="file", prefix_file="prompts.csv")
    GenerateConfig(prefix_source="file", prefix_file="prompts.jsonl")


def test_shards_and_resume_give_the_same_corpus(trained, monkeypatch):
    one = run_generate(gen_config(trained, "generate.name=one"), log=quiet, progress=False)
    rows = read_rows(one)
    assert len(rows) == 15
    assert [[r["prefix_id"], r["completion_id"]] for r in rows] == work_items(5, 3).tolist()
    # three shards, run one after another; the last one merges
    cfg3 = gen_config(trained, "generate.name=three")
    logs = [[], [], []]
    for s in range(3):
        run_generate(cfg3, shard=(s, 3), log=logs[s].append, progress=False)
    assert "lean engine" in logs[0][0]
    assert "batches left for other shards" in logs[0][-1]
    three = trained / "synthetic" / "three"
    assert [r["token_ids"] for r in read_rows(three)] == [r["token_ids"] for r in rows]
    assert [r["text"] for r in read_rows(three)] == [r["text"] for r in rows]
    # a run killed after two batches, then restarted, loses and duplicates nothing
    count = interrupt_after(monkeypatch, shards, "write_batch", 2)
    cfgr = gen_config(trained, "generate.name=resumed")
    with pytest.raises(KeyboardInterrupt):
        run_generate(cfgr, log=quiet, progress=False)
    assert not (trained / "synthetic" / "resumed" / "synthetic.parquet").exists()
    monkeypatch.undo()
    run_generate(cfgr, log=quiet, progress=False)
    assert count["n"] == 2
    assert len(list((trained / "synthetic" / "resumed" / "batches").iterdir())) == 4
    assert [r["token_ids"] for r in read_rows(trained / "synthetic" / "resumed")] == [
        r["token_ids"] for r in rows
    ]
    # a different batch size gives the same corpus in float64
    b7 = run_generate(
        gen_config(trained, "generate.name=b7", "generate.batch_size=7"), log=quiet, progress=False
    )
    assert [r["token_ids"] for r in read_rows(b7)] == [r["token_ids"] for r in rows]


def fake_machine(capability: str, cpu: str):
    """A stand-in for `machine_record`: the batches say they were made on another machine."""

    def record(device, dtype, engine):
        return {"device": "cpu", "capability": capability, "cpu": cpu, "torch": "2.13.0+cpu",
                "dtype": str(dtype).removeprefix("torch."), "engine": engine}  # fmt: skip

    return record


def test_batches_record_their_machine(trained):
    from cdsynth.generate import batch_machine
    from cdsynth.machine import cpu_model

    out = run_generate(gen_config(trained, "generate.name=here"), log=quiet, progress=False)
    here = {
        "device": "cpu",
        "capability": torch.backends.cpu.get_cpu_capability(),
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "dtype": "float64",
        "engine": "lean",
    }
    assert [batch_machine(out / "batches" / f"batch_{b:06d}.parquet") for b in range(4)] == [
        here
    ] * 4
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["machines"] == [{**here, "batches": 4}]
    assert manifest["mixed_machines"] is False
    # the merged file carries no batch's record: the manifest is the corpus's
    assert pq.read_schema(out / "synthetic.parquet").metadata is None


def test_shards_on_two_machines_make_a_mixed_corpus_of_the_same_identity(trained, monkeypatch):
    """Shard 0 on one (faked) machine, shard 1 on another: merge says so in one line and in
    the manifest; the machine is not part of the identity, so the corpus is the one-machine
    corpus (same identity, nothing redone) and a run finished elsewhere discards nothing."""
    import shutil

    from cdsynth.generate import run as run_mod
    from cdsynth.identity import is_current, read_record

    cfg = gen_config(trained, "generate.name=two-machines")
    one = run_generate(cfg, log=quiet, progress=False)  # on this machine, then made again
    one_rows, one_identity = read_rows(one), read_record(one / "manifest.json")["identity"]
    shutil.rmtree(one)
    monkeypatch.setattr(run_mod, "machine_record", fake_machine("AVX512", "AMD EPYC 9B14"))
    run_generate(cfg, shard=(0, 2), log=quiet, progress=False)
    monkeypatch.setattr(run_mod, "machine_record", fake_machine("AVX2", "AMD EPYC 7B13"))
    log: list[str] = []
    out = run_generate(cfg, shard=(1, 2), log=log.append, progress=False)
    line = log[-1]
    assert line.startswith("synthetic corpus two-machines: made on mixed machines (2 kinds): ")
    assert "AVX512 cpu (AMD EPYC 9B14), torch 2.13.0+cpu, float64, lean engine (2 batches)" in line
    manifest = read_record(out / "manifest.json")
    assert manifest["mixed_machines"] is True
    assert [(m["capability"], m["cpu"], m["batches"]) for m in manifest["machines"]] == [
        ("AVX2", "AMD EPYC 7B13", 2),
        ("AVX512", "AMD EPYC 9B14", 2),
    ]
    assert is_current(manifest, one_identity)
    assert [r["token_ids"] for r in read_rows(out)] == [r["token_ids"] for r in one_rows]
    # run again on a third machine: every batch is current, none is made again
    monkeypatch.setattr(run_mod, "machine_record", fake_machine("AVX512", "Intel Xeon 8481C"))
    written = interrupt_after(monkeypatch, shards, "write_batch", 99)
    run_generate(cfg, log=quiet, progress=False)
    assert written["n"] == 0
    assert read_record(out / "manifest.json")["mixed_machines"] is True


def test_machine_totals_count_batches_per_machine():
    from cdsynth.generate import machine_totals
    from cdsynth.generate.shards import machines_line

    a, b = {"capability": "AVX512", "cpu": "x"}, {"capability": "AVX2", "cpu": "y"}
    assert machine_totals([a, b, a, None]) == [
        {**a, "batches": 2},
        {"unrecorded": True, "batches": 1},
        {**b, "batches": 1},
    ]
    one = {"device": "cpu", "capability": "AVX2", "cpu": "AMD EPYC 7B13", "torch": "2.13.0",
           "dtype": "float32", "engine": "lean"}  # fmt: skip
    assert machines_line("cd", machine_totals([one, None])) == (
        "synthetic corpus cd: made on AVX2 cpu (AMD EPYC 7B13), torch 2.13.0, float32, lean "
        "engine (1 batches); 1 batches from before cdsynth recorded machines"
    )


def test_the_attention_kernel_and_its_fallback_make_the_same_corpus(trained, monkeypatch):
    """The torch formulation (what runs where the C++ kernel cannot be built, e.g. a CPU
    without g++) makes the kernel's corpus, token for token, in float64."""
    from cdsynth.engine import cpu_attention

    if not cpu_attention.kernel_available():
        pytest.skip("the C++ attention kernel cannot be built here (see the warning)")
    calls = {"n": 0}
    real = cpu_attention.reference_attention

    def counted(*args):
        calls["n"] += 1
        return real(*args)

    monkeypatch.setattr(cpu_attention, "reference_attention", counted)
    kernel = run_generate(gen_config(trained, "generate.name=kernel"), log=quiet, progress=False)
    assert calls["n"] == 0
    monkeypatch.setattr(cpu_attention, "use_kernel", lambda device: False)
    torch_ops = run_generate(
        gen_config(trained, "generate.name=no-kernel"), log=quiet, progress=False
    )
    assert calls["n"] > 0
    rows, ref = read_rows(kernel), read_rows(torch_ops)
    assert [r["token_ids"] for r in rows] == [r["token_ids"] for r in ref]
    assert [r["text"] for r in rows] == [r["text"] for r in ref]
    np.testing.assert_allclose(
        [r["mean_contrast"] for r in rows], [r["mean_contrast"] for r in ref], rtol=1e-12
    )


def test_output_rows_and_datasets(trained):
    from datasets import load_dataset

    from cdsynth.tokenizer import load_tokenizer

    out = run_generate(
        gen_config(
            trained,
            "generate.name=rows",
            "generate.keep_prefix=false",
            "generate.formats=[parquet, jsonl]",
        ),
        log=quiet,
        progress=False,
    )
    ds = load_dataset("parquet", data_files=str(out / "synthetic.parquet"), split="train")
    assert len(ds) == 15
    js = load_dataset("json", data_files=str(out / "synthetic.jsonl"), split="train")
    assert js["text"] == ds["text"]
    tok = load_tokenizer(trained / "tokenizer")
    for r in ds:
        assert r["strategy"] == "cd" and r["good_step"] == 12 and r["bad_step"] == 4
        assert r["n_new_tokens"] == len(r["token_ids"]) <= 24
        for special in ("<s>", "</s>", "<pad>", "<unk>"):
            assert special not in r["text"]
        # eos=stop: </s> can only be last, so the text is the decoded new tokens
        assert 2 not in r["token_ids"][:-1]
        assert r["text"] == tok.decode(r["token_ids"], skip_special_tokens=True).strip()
        assert 0 <= r["differs_from_good_argmax"] <= 1 and r["mean_vhead_size"] >= 1
        assert r["segments"] == ([r["text"]] if r["text"] else [])
        assert r["engine"] == "lean"
        # the per-token contrast is recorded where it is computed (the report loads no model)
        assert len(r["token_contrast"]) == r["n_new_tokens"]
        mean = sum(r["token_contrast"]) / max(len(r["token_contrast"]), 1)
        assert r["mean_contrast"] == pytest.approx(mean, abs=1e-9)
    manifest = __import__("json").loads((out / "manifest.json").read_text())
    assert manifest["totals"]["rows"] == 15
    assert manifest["totals"]["segments"] == sum(len(r["segments"]) for r in ds)
    assert manifest["engine"]["ran"] == "lean"
    chosen = manifest["prefixes"]
    assert chosen["method"] == "stratified random by source" and chosen["seed"] == 0
    assert chosen["document_ids"] == sorted(chosen["document_ids"]) and chosen["chosen"] == 5
    assert sorted({r["seed_document_id"] for r in ds}) == chosen["document_ids"]


def test_generation_bad_input(trained, tmp_path):
    import shutil

    from cdsynth.config import TokenizerConfig
    from cdsynth.tokenizer import train_tokenizer

    with pytest.raises(UserError, match="no model checkpoint"):
        run_generate(
            gen_config(trained, "generate.good=runs/none/step_1"), log=quiet, progress=False
        )
    with pytest.raises(UserError, match="needs an amateur"):
        run_generate(gen_config(trained, "generate.bad=null"), log=quiet, progress=False)
    # an amateur with another tokenizer
    other = trained / "runs" / "other"
    shutil.copytree(trained / "runs" / "baseline" / "step_4", other)
    tok = train_tokenizer(["zz yy xx"] * 20, TokenizerConfig(vocab_size=270, min_frequency=1))
    for f in other.glob("tokenizer*"):
        f.unlink()
    tok.save_pretrained(str(other))
    with pytest.raises(UserError, match="different tokenizers"):
        run_generate(gen_config(trained, "generate.bad=runs/other"), log=quiet, progress=False)
    with pytest.raises(UserError, match="another config"):
        run_generate(
            gen_config(trained, "generate.name=one", "generate.seed=9"), log=quiet, progress=False
        )


def test_torchrun_ranks_write_the_same_corpus(trained):
    import os
    import subprocess
    import sys

    from .conftest import TINY

    one = run_generate(gen_config(trained, "generate.name=solo"), log=quiet, progress=False)
    args = [f"workdir={trained}", *TINY, *GEN, "generate.name=ranks"]
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "cdsynth.cli",
            "generate",
            *args,
        ],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    ranks = trained / "synthetic" / "ranks"
    assert [x["token_ids"] for x in read_rows(ranks)] == [x["token_ids"] for x in read_rows(one)]


# ---------------------------------------------------------------------------------------------
# Which documents give prefixes, how many, and the segments of a row


def test_stratum_counts_are_proportional_with_one_each():
    from cdsynth.generate import stratum_counts

    assert stratum_counts([60, 30, 10], 10) == [6, 3, 1]
    assert stratum_counts([98, 1, 1], 5) == [3, 1, 1]  # every stratum at least one
    assert stratum_counts([98, 1, 1], 2) == [2, 0, 0]  # fewer draws than strata: proportional
    assert stratum_counts([5, 3], 8) == [5, 3]
    assert stratum_counts([7], 3) == [3]
    for sizes, n in (([13, 8, 2, 40], 17), ([1, 1, 1, 50], 4), ([3, 3, 3], 7)):
        counts = stratum_counts(sizes, n)
        assert sum(counts) == n and all(0 <= c <= s for c, s in zip(counts, sizes, strict=True))


def test_choose_documents_is_a_seeded_stratified_sample_sorted_by_id():
    from cdsynth.generate import choose_documents

    rows = [
        {"id": i, "text": f"d{i}", "source": "abc"[i % 3] if i < 90 else "d"} for i in range(100)
    ]
    a = choose_documents(rows, 10, seed=0)
    assert [r["id"] for r in a] == sorted(r["id"] for r in a) and len({r["id"] for r in a}) == 10
    per = {s: sum(r["source"] == s for r in a) for s in "abcd"}
    assert per == {"a": 3, "b": 3, "c": 3, "d": 1}
    assert a == choose_documents(list(reversed(rows)), 10, seed=0)  # input order does not matter
    assert a != choose_documents(rows, 10, seed=1)
    assert [r["id"] for r in a][:3] != [0, 1, 2]  # not the head of the split
    # no source field: one stratum
    plain = [{"id": i, "text": "x"} for i in range(20)]
    assert len(choose_documents(plain, 7, seed=3)) == 7


def test_prefix_selection_errors_and_corpus_tokens():
    from cdsynth.config import GenerateConfig
    from cdsynth.generate import prefixes_needed, select_prefix_documents

    rows = [{"id": i, "text": "x", "source": "s"} for i in range(30)]
    with pytest.raises(UserError, match="num_prefixes=31, but seeds.jsonl has only 30 documents"):
        select_prefix_documents(GenerateConfig(num_prefixes=31), rows, "seeds.jsonl", None)
    chosen, record = select_prefix_documents(GenerateConfig(num_prefixes=4), rows, "f", None)
    assert record["method"] == "stratified random by source" and record["seed"] == 0
    assert record["document_ids"] == [r["id"] for r in chosen] and len(chosen) == 4
    chosen, record = select_prefix_documents(GenerateConfig(), rows, "f", None)
    assert record["method"] == "all documents" and chosen == rows
    # corpus_tokens: ceil(tokens / (completions x new_tokens)) prefixes
    assert prefixes_needed(10_000, 8, 400) == 4 and prefixes_needed(3200, 8, 400) == 1
    cfg = GenerateConfig(corpus_tokens=10_000, completions=8, new_tokens=400)
    assert len(select_prefix_documents(cfg, rows, "f", None)[0]) == 4
    cfg = GenerateConfig(corpus_tokens="real", completions=2, new_tokens=10)
    with pytest.raises(UserError, match=r"corpus_tokens=real \(1000 tokens\) needs 50 prefixes"):
        select_prefix_documents(cfg, rows, "f", real_tokens=1000)
    with pytest.raises(UserError, match="not both"):
        GenerateConfig(corpus_tokens=100, num_prefixes=3)
    with pytest.raises(UserError, match="num_prefixes must be >= 1"):
        GenerateConfig(num_prefixes=0)


def test_segment_totals_count_empty_and_duplicate_segments():
    from cdsynth.generate import segment_totals

    totals = segment_totals([["a b", "c"], ["a b"], []], [1, 0, 2])
    assert totals == {"segments": 3, "empty_segments": 3, "duplicate_segments": 1}


def test_prefix_sources_train_split_and_jsonl_file(trained):
    from cdsynth.corpus import read_split

    out = run_generate(
        gen_config(trained, "generate.name=train-src", "generate.prefix_source=train",
                   "generate.num_prefixes=4", "generate.completions=1"),
        log=quiet,
        progress=False,
    )  # fmt: skip
    meta = __import__("json").loads((out / "generate_config.json").read_text())
    train_ids = {r["id"] for r in read_split(trained / "corpus", "train")}
    assert set(meta["prefixes"]["document_ids"]) <= train_ids
    assert meta["prefixes"]["source"] == "train" and meta["engine"]["ran"] == "lean"
    assert [r["seed_document_id"] for r in read_rows(out)] == meta["prefixes"]["document_ids"]
    prompts = trained / "prompts.jsonl"
    prompts.write_text('{"text": "Once upon a time"}\n\n{"text": "The end", "id": 7}\n')
    out = run_generate(
        gen_config(trained, "generate.name=file-src", "generate.prefix_source=file",
                   "generate.prefix_file=prompts.jsonl", "generate.num_prefixes=null",
                   "generate.completions=1"),
        log=quiet,
        progress=False,
    )  # fmt: skip
    assert [r["seed_document_id"] for r in read_rows(out)] == [0, 7]
    with pytest.raises(UserError, match="only 2 documents"):
        run_generate(
            gen_config(trained, "generate.name=file-many", "generate.prefix_source=file",
                       "generate.prefix_file=prompts.jsonl", "generate.num_prefixes=3"),
            log=quiet,
            progress=False,
        )  # fmt: skip
