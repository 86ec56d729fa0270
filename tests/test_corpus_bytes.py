"""The corpus, pinned: tiny synthetic corpora made with a fixed seed match recorded pins.

A pin (tests/data/corpus_pins.json) has two parts: the hash of everything in the result that
is not a float (every token, text, count, name and row field, exactly), and the floats (the
contrast and V_head statistics) to a stated tolerance (pins.FLOAT_TOL), since a CPU with other
vector units (AVX2 vs AVX-512), or another torch, sums in another order. Both engines (the
stacked lean LLaMA engine, the generic HF engine), CD, the dropout amateur and ancestral
(No-Contrast) decoding, through `generate_batch` and through the whole stage (`run_generate`:
batches, shards, Parquet, merge). Float64 runs: every token and field is the same on AVX-512
and under ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 (the AVX2 check of .ci/run).

A deliberate change of output re-records the pins:
`CDSYNTH_UPDATE_PINS=1 python -m pytest tests/test_corpus_bytes.py` (run it on the code
before your change too, to see what moved).
"""

import json
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM

from cdsynth.config import DecodingConfig, ModelConfig
from cdsynth.engine.hf import HFEngine
from cdsynth.generate import generate_batch, make_engines
from cdsynth.stages import run_generate
from cdsynth.tokenizer import load_tokenizer
from cdsynth.train import build_model

from .conftest import quiet, tiny_config
from .pins import FLOAT_TOL, pin_differences, pin_of

VOCAB = 60


PINS = Path(__file__).parent / "data" / "corpus_pins.json"


def check_pin(name: str, result) -> list[str]:
    """How `result` differs from its pin; with CDSYNTH_UPDATE_PINS=1 in the environment,
    records it as the pin instead (a deliberate change of output)."""
    got = pin_of(result)
    pins = json.loads(PINS.read_text()) if PINS.is_file() else {}
    if os.environ.get("CDSYNTH_UPDATE_PINS") == "1":
        pins[name] = got
        PINS.write_text(json.dumps(pins, indent=1, sort_keys=True) + "\n")
    return pin_differences(got, pins[name])


def sharpen(model):
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(8.0)
    return model.eval()


def llama(vocab, seed, **shape):
    return sharpen(build_model(ModelConfig("test-micro", context=256, **shape), vocab, seed=seed))


def gpt2(vocab, seed):
    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=vocab, n_embd=32, n_layer=2, n_head=2, n_positions=256, bos_token_id=1,
        eos_token_id=2,
    )  # fmt: skip
    return sharpen(GPT2LMHeadModel(cfg))


def neox(vocab, seed):
    torch.manual_seed(seed)
    cfg = GPTNeoXConfig(
        vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=256, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    return sharpen(GPTNeoXForCausalLM(cfg))


def prefixes():
    g = torch.Generator().manual_seed(0)
    return [[1] + torch.randint(4, VOCAB, (n - 1,), generator=g).tolist() for n in (4, 9, 6)]


def batch_result(engines, rule, **kw) -> list:
    keys = np.array([[0, 0], [1, 1], [2, 0]])
    res = generate_batch(engines, prefixes(), keys, rule, 30, seed=3, **kw)
    return [res.tokens, res.ended_with_eos, res.mean_contrast, res.token_contrast,
            res.differs_from_good_argmax, res.mean_vhead_size]  # fmt: skip


CD = DecodingConfig("cd", alpha=0.1, lam=1.0)
ANCESTRAL = DecodingConfig("ancestral", top_k=20)


def batch_results() -> dict[str, list]:
    f64 = torch.float64
    good, bad = llama(VOCAB, 5).double(), llama(VOCAB, 6).double()
    small = llama(VOCAB, 7, n_layers=1).double()
    return {
        "lean-cd": batch_result(make_engines(good, bad, f64), CD),
        "lean-cd-small-bad": batch_result(make_engines(good, small, f64), CD),
        "lean-dropout": batch_result(
            make_engines(good, None, f64, bad_dropout=0.3), CD, bad_dropout=0.3
        ),
        "lean-ancestral": batch_result(make_engines(good, None, f64), ANCESTRAL),
        "generic-cd": batch_result(
            [HFEngine(gpt2(VOCAB, 8).double(), f64), HFEngine(neox(VOCAB, 9).double(), f64)], CD
        ),
        "generic-ancestral": batch_result([HFEngine(gpt2(VOCAB, 8).double(), f64)], ANCESTRAL),
    }


def test_generate_batch_pins():
    got = {name: check_pin(f"batch/{name}", r) for name, r in batch_results().items()}
    assert got == {name: [] for name in got}


def test_a_pin_fails_on_one_changed_token_or_statistic():
    """The pins see a single changed token or field, and a float moved beyond FLOAT_TOL, and
    do not see a float moved by rounding."""
    result = batch_results()["lean-cd"]
    want = json.loads(PINS.read_text())["batch/lean-cd"]
    assert pin_differences(pin_of(result), want) == []
    tokens = [list(row) for row in result[0]]
    tokens[1][-1] = (tokens[1][-1] + 1) % VOCAB
    assert pin_differences(pin_of([tokens, *result[1:]]), want) == [
        "a token, text, count or field differs"
    ]
    eos = [not e for e in result[1]]
    assert pin_differences(pin_of([result[0], eos, *result[2:]]), want) != []
    mean = list(result[2])
    mean[0] += 1000 * FLOAT_TOL
    assert len(pin_differences(pin_of([*result[:2], mean, *result[3:]]), want)) == 1
    mean[0] = result[2][0] * (1 + 1e-9)
    assert pin_differences(pin_of([*result[:2], mean, *result[3:]]), want) == []


@pytest.fixture(scope="module")
def models_ws(tmp_path_factory, tiny_workspace):
    """The tiny workspace plus random LLaMA, GPT-2 and GPT-NeoX checkpoints under models/."""
    import shutil

    root = tmp_path_factory.mktemp("bytes") / "ws"
    shutil.copytree(tiny_workspace, root)
    tok = load_tokenizer(root / "tokenizer")
    V = len(tok)
    models = {"good": (llama, 12), "bad": (llama, 13), "gpt2": (gpt2, 10), "neox": (neox, 11)}
    for name, (make, seed) in models.items():
        folder = root / "models" / name
        make(V, seed).save_pretrained(folder)
        tok.save_pretrained(folder)
    return root


BASE = [
    "generate.num_prefixes=5",
    "generate.completions=2",
    "generate.new_tokens=16",
    "generate.batch_size=4",
    "generate.dtype=fp64",
    "generate.seed=11",
    "generate.formats=[parquet,jsonl]",
]
CORPORA = {
    "lean-cd": ["generate.good=models/good", "generate.bad=models/bad"],
    "lean-ancestral": ["generate.good=models/good", "generate.decoding.strategy=ancestral"],
    "lean-dropout": [
        "generate.good=models/good", "generate.bad_dropout=0.2", "generate.eos=continue"
    ],
    "generic-cd": [
        "generate.good=models/gpt2", "generate.bad=models/neox",
        "generate.prefix_source=seed_chunks", "generate.num_prefixes=null",
        "generate.corpus_tokens=120",
    ],
}  # fmt: skip


def corpus_result(models_ws, name) -> list:
    cfg = tiny_config(models_ws, *BASE, *CORPORA[name], f"generate.name={name}")
    out = run_generate(cfg, shard=(0, 1), log=quiet, progress=False)
    rows = pq.read_table(out / "synthetic.parquet").to_pylist()
    jsonl = (out / "synthetic.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in jsonl] == rows
    config = json.loads((out / "generate_config.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    config["prefixes"]["file"] = config["prefixes"]["file"].replace(str(models_ws), "WORKDIR")
    # the batch's machine record (its schema metadata) differs per machine, so it is not
    # pinned; tests/test_generate.py tests it. The manifest's `machines` is not pinned either.
    batch = pq.read_table(out / "batches" / "batch_000000.parquet").replace_schema_metadata(None)
    names = sorted(p.name for p in out.rglob("*"))
    return [rows, config, manifest["totals"], names, batch.to_pylist(), str(batch.schema)]


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_corpus_pins(models_ws, name):
    assert check_pin(f"corpus/{name}", corpus_result(models_ws, name)) == []
