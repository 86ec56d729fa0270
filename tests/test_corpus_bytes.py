"""The corpus bytes, pinned: tiny synthetic corpora made with a fixed seed hash to constants.

The constants were computed on the code before the layout redesign of issue 23 (engine/ and
generate/ packages); a refactor that changes any token, text, statistic or row field of a
corpus fails here. Both engines (the stacked lean LLaMA engine, the generic HF engine), CD,
the dropout amateur and ancestral (No-Contrast) decoding, through `generate_batch` and
through the whole stage (`run_generate`: batches, shards, Parquet, merge).

The hashes are of float64 runs on this machine's torch; a new torch or CPU may round
differently. If so, check the other generation tests first, then recompute the constants
(`print(digest(...))`) on the code before your change.
"""

import hashlib
import json

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

VOCAB = 60


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


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


def batch_digest(engines, rule, **kw) -> str:
    keys = np.array([[0, 0], [1, 1], [2, 0]])
    res = generate_batch(engines, prefixes(), keys, rule, 30, seed=3, **kw)
    return digest([res.tokens, res.ended_with_eos, res.mean_contrast, res.token_contrast,
                   res.differs_from_good_argmax, res.mean_vhead_size])  # fmt: skip


CD = DecodingConfig("cd", alpha=0.1, lam=1.0)
ANCESTRAL = DecodingConfig("ancestral", top_k=20)

BATCHES = {
    "lean-cd": "2af7b1e80e80e3238dcb09eb5351e00aa87158b8abba6dd1c48fb29ada0ee422",
    "lean-cd-small-bad": "469e42eb96fb577920c9b56d72da1626e51098ee2fc011d0c8ea15f899db8f1d",
    "lean-dropout": "7bde1cafa7204ac1b955fa154dd45828d9d3749157a8b3161a2b34d264e55ab1",
    "lean-ancestral": "22624b38f2447fed7d489de72ac9c7804ccd1847d9aabcb4922befe18c5f9485",
    "generic-cd": "df45062f6e6c672d8d92c901b43d73c11bfcc9463d87c299e611d6bcb0241df7",
    "generic-ancestral": "9b6062974a8168e18ce7eed9ee4a9c02e86edab3dd5f91a348d8a57f0482d85b",
}


def test_generate_batch_bytes():
    f64 = torch.float64
    good, bad = llama(VOCAB, 5).double(), llama(VOCAB, 6).double()
    small = llama(VOCAB, 7, n_layers=1).double()
    got = {
        "lean-cd": batch_digest(make_engines(good, bad, f64), CD),
        "lean-cd-small-bad": batch_digest(make_engines(good, small, f64), CD),
        "lean-dropout": batch_digest(
            make_engines(good, None, f64, bad_dropout=0.3), CD, bad_dropout=0.3
        ),
        "lean-ancestral": batch_digest(make_engines(good, None, f64), ANCESTRAL),
        "generic-cd": batch_digest(
            [HFEngine(gpt2(VOCAB, 8).double(), f64), HFEngine(neox(VOCAB, 9).double(), f64)], CD
        ),
        "generic-ancestral": batch_digest([HFEngine(gpt2(VOCAB, 8).double(), f64)], ANCESTRAL),
    }
    assert got == BATCHES


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
    "lean-cd": (
        ["generate.good=models/good", "generate.bad=models/bad"],
        "3d0e0810f7bf273c168cbd130d7b69f91bcdd5cab4c8e2766d84073a3f809cd7",
    ),
    "lean-ancestral": (
        ["generate.good=models/good", "generate.decoding.strategy=ancestral"],
        "5db169a2d40266b25288c620d8b844feabb144a7e20479796527cd40a85ec8f2",
    ),
    "lean-dropout": (
        ["generate.good=models/good", "generate.bad_dropout=0.2", "generate.eos=continue"],
        "0072ff0522c8e41772306f4eb2a1d0522c0fdac850295c2e8e5443ed0f830178",
    ),
    "generic-cd": (
        [
            "generate.good=models/gpt2",
            "generate.bad=models/neox",
            "generate.prefix_source=seed_chunks",
            "generate.num_prefixes=null",
            "generate.corpus_tokens=120",
        ],  # fmt: skip
        "533684f3bb3cb79f2d28351bca9edb52adf606c576afc7a185c8e5056f90dde2",
    ),
}


SYNTHETIC_FILES = ("synthetic.parquet", "synthetic.jsonl", "batches/batch_000000.parquet")


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_corpus_bytes(models_ws, name):
    extra, want = CORPORA[name]
    cfg = tiny_config(models_ws, *BASE, *extra, f"generate.name={name}")
    out = run_generate(cfg, shard=(0, 1), log=quiet, progress=False)
    rows = pq.read_table(out / "synthetic.parquet").to_pylist()
    jsonl = (out / "synthetic.jsonl").read_text().splitlines()
    config = json.loads((out / "generate_config.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert [json.loads(x) for x in jsonl] == rows
    config["prefixes"]["file"] = config["prefixes"]["file"].replace(str(models_ws), "WORKDIR")
    files = {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in SYNTHETIC_FILES}
    names = sorted(p.name for p in out.rglob("*"))
    got = digest([rows, config, manifest["totals"], names, files])
    assert got == want
