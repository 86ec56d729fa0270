"""The generic engine (any two HF causal LMs sharing a vocabulary) against references: HF
forwards without a cache, batch mates, shards and resume, tokenizers that are not ours."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from transformers import (
    DistilBertConfig,
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    PreTrainedTokenizerFast,
)

from cdsynth import generate as gen_mod
from cdsynth.config import DecodingConfig, ModelConfig
from cdsynth.decoding import step_scores
from cdsynth.engine.hf import HFEngine, meta_model
from cdsynth.errors import UserError
from cdsynth.generate import (
    SpecialTokens,
    choose_engine,
    generate_batch,
    make_engines,
    row_segments,
    shards,
)
from cdsynth.stages import run_generate
from cdsynth.tokenizer import load_tokenizer
from cdsynth.train import build_model

from .conftest import interrupt_after, quiet, tiny_config

VOCAB = 60
TOKENS = SpecialTokens(bos=1, eos=2, pad=3, vocab=VOCAB)


def sharpen(model, by=8.0):
    with torch.no_grad():  # sharper distributions than the default init
        model.get_output_embeddings().weight.mul_(by)
    return model


def gpt2(vocab, seed, dtype=torch.float64):
    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=vocab, n_embd=32, n_layer=2, n_head=2, n_positions=256, bos_token_id=1,
        eos_token_id=2,
    )  # fmt: skip
    return sharpen(GPT2LMHeadModel(cfg)).to(dtype).eval()


def neox(vocab, seed, dtype=torch.float64):
    torch.manual_seed(seed)
    cfg = GPTNeoXConfig(
        vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=256, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    return sharpen(GPTNeoXForCausalLM(cfg)).to(dtype).eval()


def llama(vocab, seed, dtype=torch.float64, **shape):
    m = build_model(ModelConfig("test-micro", context=256, **shape), vocab, seed=seed)
    return sharpen(m).to(dtype).eval()


def prefixes_of(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [[1] + torch.randint(4, VOCAB, (n - 1,), generator=g).tolist() for n in lengths]


def test_generic_scores_equal_brute_force_without_cache():
    """GPT-2 GOOD and GPT-NeoX BAD (its embedding padded 4 rows past the vocabulary), left
    padded: 80 steps with caches == full HF forwards of each row alone (float64)."""
    good, bad = gpt2(VOCAB, 0), neox(VOCAB + 4, 1)
    engines = [HFEngine(good, torch.float64), HFEngine(bad, torch.float64)]
    rule = DecodingConfig("cd", alpha=0.1, lam=1.0, top_k=20)
    prefixes = prefixes_of([5, 9, 2])
    keys = np.array([[0, 0], [1, 0], [2, 3]])
    n = 80
    res = generate_batch(
        engines, prefixes, keys, rule, n, 0, "continue", record_scores=True, tokens=TOKENS
    )
    assert all(len(t) == n for t in res.tokens)
    for r, p in enumerate(prefixes):
        full = torch.tensor([p + res.tokens[r]])
        g = good(input_ids=full).logits[0, len(p) - 1 : -1]
        b = bad(input_ids=full).logits[0, len(p) - 1 : -1, :VOCAB]  # the padded rows cut off
        ref = step_scores(rule, g, b).scores
        ours = torch.stack([s[r] for s in res.step_scores])
        assert ours.shape == (n, VOCAB)
        assert torch.equal(torch.isinf(ours), torch.isinf(ref))
        fin = torch.isfinite(ref)
        torch.testing.assert_close(ours[fin], ref[fin], rtol=0, atol=1e-6)
        assert torch.isfinite(ref[torch.arange(n), torch.tensor(res.tokens[r])]).all()


def test_both_engines_are_engines_and_only_the_lean_one_has_its_own_step():
    """Generation sees the `Engine` protocol: no probing of what an engine can do."""
    from cdsynth.engine import Engine, LeanLlama
    from cdsynth.engine.decode_step import DecodeStep

    rule = DecodingConfig("ancestral")
    generic, lean = HFEngine(gpt2(VOCAB, 4), torch.float64), LeanLlama([llama(VOCAB, 5)])
    assert isinstance(generic, Engine) and isinstance(lean, Engine)
    assert generic.step(rule, VOCAB) is None
    assert isinstance(lean.step(rule, VOCAB), DecodeStep)
    lean.fused_step = False  # benches: step op by op
    assert lean.step(rule, VOCAB) is None


def test_generic_continuation_independent_of_batch_mates():
    engines = [HFEngine(neox(VOCAB, 3), torch.float64), HFEngine(gpt2(VOCAB, 4), torch.float64)]
    rule = DecodingConfig("cd", alpha=0.1, lam=0.5)
    target = prefixes_of([6], seed=9)[0]
    alone = generate_batch(engines, [target], np.array([[7, 2]]), rule, 50, 5, tokens=TOKENS)
    mates = prefixes_of([15, 2, 9], seed=1)
    mixed = generate_batch(
        engines,
        [mates[0], target, mates[1], mates[2]],
        np.array([[0, 0], [7, 2], [1, 0], [2, 0]]),
        rule,
        50,
        5,
        tokens=TOKENS,
    )
    assert mixed.tokens[1] == alone.tokens[0]
    assert mixed.mean_contrast[1] == pytest.approx(alone.mean_contrast[0], abs=1e-9)


def test_lean_and_generic_engines_agree_on_llama():
    good, bad = llama(VOCAB, 5), llama(VOCAB, 6, n_layers=1)
    rule = DecodingConfig("cd", alpha=0.1, lam=1.0)
    prefixes, keys = prefixes_of([4, 8]), np.array([[0, 0], [1, 1]])
    lean = generate_batch(make_engines(good, bad, torch.float64), prefixes, keys, rule, 40, 2)
    generic = generate_batch(
        [HFEngine(good, torch.float64), HFEngine(bad, torch.float64)], prefixes, keys, rule, 40, 2
    )
    assert lean.tokens == generic.tokens
    # HF computes its rotary tables in float32, the lean engine in float64
    assert lean.mean_contrast == pytest.approx(generic.mean_contrast, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# Whole corpora from checkpoints saved locally


@pytest.fixture(scope="module")
def models_ws(tmp_path_factory, tiny_workspace):
    """The tiny workspace plus tiny random GPT-2, GPT-NeoX and LLaMA checkpoints under
    models/ (safetensors, with the workspace's tokenizer)."""
    import shutil

    root = tmp_path_factory.mktemp("generic") / "ws"
    shutil.copytree(tiny_workspace, root)
    tok = load_tokenizer(root / "tokenizer")
    V = len(tok)
    for name, model in {
        "gpt2": gpt2(V, 10, torch.float32),
        "neox": neox(V + 5, 11, torch.float32),
        "llama": llama(V, 12, torch.float32),
        "llama_small": llama(V, 13, torch.float32, n_layers=1),
    }.items():
        model.save_pretrained(root / "models" / name)
        tok.save_pretrained(root / "models" / name)
    return root


GENERIC = [
    "generate.good=models/gpt2",
    "generate.bad=models/neox",
    "generate.num_prefixes=5",
    "generate.completions=3",
    "generate.new_tokens=20",
    "generate.batch_size=4",
    "generate.dtype=fp64",
]


def read_rows(out):
    return pq.read_table(out / "synthetic.parquet").to_pylist()


def test_generic_shards_and_resume_give_the_same_corpus(models_ws, monkeypatch):
    logs = []
    one = run_generate(tiny_config(models_ws, *GENERIC, "generate.name=g1"), log=logs.append)
    assert any("generic engine" in line for line in logs)
    rows = read_rows(one)
    assert len(rows) == 15 and {r["engine"] for r in rows} == {"generic"}
    meta = json.loads((one / "generate_config.json").read_text())
    assert meta["engine"]["ran"] == "generic"
    cfg3 = tiny_config(models_ws, *GENERIC, "generate.name=g3")
    for s in range(3):
        run_generate(cfg3, shard=(s, 3), log=quiet, progress=False)
    assert [r["token_ids"] for r in read_rows(models_ws / "synthetic" / "g3")] == [
        r["token_ids"] for r in rows
    ]
    count = interrupt_after(monkeypatch, shards, "write_batch", 2)
    cfgr = tiny_config(models_ws, *GENERIC, "generate.name=gr")
    with pytest.raises(KeyboardInterrupt):
        run_generate(cfgr, log=quiet, progress=False)
    monkeypatch.undo()
    # the engine is not part of the corpus's identity (auto picked generic; now asked for)
    run_generate(
        tiny_config(models_ws, *GENERIC, "generate.name=gr", "generate.engine=generic"),
        log=quiet,
        progress=False,
    )
    assert count["n"] == 2
    resumed = read_rows(models_ws / "synthetic" / "gr")
    assert [r["token_ids"] for r in resumed] == [r["token_ids"] for r in rows]
    assert [r["text"] for r in resumed] == [r["text"] for r in rows]


def test_engine_choice(models_ws):
    m = {k: meta_model(models_ws / "models" / k) for k in ("gpt2", "neox", "llama", "llama_small")}
    assert choose_engine("auto", m["llama"], m["llama_small"], False)[0] == "lean"
    assert choose_engine("auto", m["llama"], None, True)[0] == "lean"  # dropout amateur
    assert choose_engine("generic", m["llama"], m["llama_small"], False)[0] == "generic"
    kind, why = choose_engine("auto", m["llama"], m["gpt2"], False)
    assert kind == "generic" and "gpt2" in why
    # LLaMA pairs whose embeddings differ in size (one padded) cannot be stacked: generic
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = m["llama"].config.to_dict()
    with torch.device("meta"):
        padded = LlamaForCausalLM(LlamaConfig(**{**cfg, "vocab_size": cfg["vocab_size"] + 64}))
    assert choose_engine("auto", m["llama"], padded, False)[0] == "generic"
    with pytest.raises(UserError, match="engine=lean: only LLaMA"):
        choose_engine("lean", m["gpt2"], m["neox"], False)
    with pytest.raises(UserError, match="dropout amateur needs the lean engine"):
        choose_engine("auto", m["gpt2"], None, True)


def one_line_error(cfg):
    with pytest.raises(UserError) as e:
        run_generate(cfg, log=quiet, progress=False)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_vocabulary_mismatch_and_unsupported_model(models_ws, tmp_path):
    from cdsynth.config import TokenizerConfig
    from cdsynth.tokenizer import train_tokenizer

    other = models_ws / "models" / "other_vocab"
    neox(300, 1, torch.float32).save_pretrained(other)
    train_tokenizer(
        ["zz yy xx"] * 20, TokenizerConfig(vocab_size=270, min_frequency=1)
    ).save_pretrained(str(other))
    msg = one_line_error(tiny_config(models_ws, *GENERIC, "generate.bad=models/other_vocab"))
    assert "different tokenizers" in msg and "models/gpt2" in msg and "other_vocab" in msg
    bert = models_ws / "models" / "bert"
    DistilBertConfig(vocab_size=400, dim=32, n_layers=1, n_heads=2, hidden_dim=64).save_pretrained(
        bert
    )
    load_tokenizer(models_ws / "tokenizer").save_pretrained(bert)
    msg = one_line_error(tiny_config(models_ws, *GENERIC, "generate.bad=models/bert"))
    assert "distilbert" in msg and "no causal language-model head" in msg and str(bert) in msg
    msg = one_line_error(
        tiny_config(
            models_ws, *GENERIC, "generate.bad=null", "generate.bad_dropout=0.3", "generate.name=d"
        )
    )
    assert "dropout amateur needs the lean engine" in msg
    # no safetensors: never unpickle
    pickled = models_ws / "models" / "pickled"
    gpt2(400, 1, torch.float32).save_pretrained(pickled, safe_serialization=False)
    load_tokenizer(models_ws / "tokenizer").save_pretrained(pickled)
    if not list(pickled.glob("*.safetensors")):
        msg = one_line_error(
            tiny_config(models_ws, *GENERIC, "generate.bad=models/pickled", "generate.name=p")
        )
        assert "no .safetensors weights" in msg


def foreign_tokenizer(texts, bos=False):
    """A GPT-2-like tokenizer: <|endoftext|> is id 0 and the EOS; no pad; BOS only if asked."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=350,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    extra = {"bos_token": "<|endoftext|>"} if bos else {}
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", **extra)


def test_foreign_tokenizer_without_bos_or_pad_and_a_prompt_file(models_ws):
    from cdsynth.corpus import read_split

    texts = [r["text"] for r in read_split(models_ws / "corpus", "train")]
    tok = foreign_tokenizer(texts)
    assert tok.bos_token_id is None and tok.pad_token_id is None and tok.eos_token_id == 0
    V = len(tok)
    good, bad = gpt2(V, 20, torch.float32), neox(V + 3, 21, torch.float32)
    with torch.no_grad():  # GOOD likes <|endoftext|> more than BAD does: CD picks it often
        u = torch.randn(32, generator=torch.Generator().manual_seed(0))
        good.transformer.ln_f.bias.copy_(u)
        good.lm_head.weight[0] = 0.11 * u  # its logit: about 0.11 |u|^2 = 3.5
    for name, m in (("fgood", good), ("fbad", bad)):
        m.save_pretrained(models_ws / "models" / name)
        tok.save_pretrained(models_ws / "models" / name)
    prompts = ["The cat sat", "", "A dog ran to the park and", "  ", "Once upon a time"]
    (models_ws / "prompts.txt").write_text("\n".join(prompts) + "\n")
    base = [
        "generate.good=models/fgood",
        "generate.bad=models/fbad",
        "generate.prefix_source=file",
        "generate.prefix_file=prompts.txt",
        "generate.completions=3",
        "generate.new_tokens=30",
        "generate.batch_size=4",
        "generate.dtype=fp64",
    ]
    out = run_generate(
        tiny_config(models_ws, *base, "generate.name=fc", "generate.eos=continue"),
        log=quiet,
        progress=False,
    )
    rows = read_rows(out)
    assert len(rows) == 9  # three non-blank prompts
    assert [r["seed_document_id"] for r in rows[::3]] == [0, 1, 2]
    many = 0
    for r in rows:
        prompt = [p for p in prompts if p.strip()][r["prefix_id"]]
        assert r["prefix_token_ids"] == tok(prompt, add_special_tokens=False)["input_ids"][:20]
        assert max(r["token_ids"]) < V and r["n_new_tokens"] == 30
        parts, cur = [], []
        for t in r["prefix_token_ids"] + r["token_ids"]:
            if t == 0:
                parts.append(cur)
                cur = []
            else:
                cur.append(t)
        parts.append(cur)
        expected = [s for s in (tok.decode(p).strip() for p in parts) if s]
        assert r["segments"] == expected and r["text"] == "\n\n".join(expected)
        assert "<|endoftext|>" not in r["text"]
        many += len(r["segments"]) > 1
    assert many > 0  # <|endoftext|> inside a completion started a new segment
    totals = json.loads((out / "manifest.json").read_text())["totals"]
    flat = [x for r in rows for x in r["segments"]]
    assert totals["segments"] == len(flat)
    assert totals["duplicate_segments"] == len(flat) - len(set(flat))
    assert totals["empty_segments"] == sum(r["empty_segments"] for r in rows)
    # eos=stop: a row ends at <|endoftext|> (id 0), not at our </s> (id 2)
    out = run_generate(tiny_config(models_ws, *base, "generate.name=fs"), log=quiet, progress=False)
    rows = read_rows(out)
    assert any(r["ended_with_eos"] for r in rows)
    for r in rows:
        assert (0 in r["token_ids"]) == r["ended_with_eos"]
        assert 0 not in r["token_ids"][:-1]
        assert r["text"] == "\n\n".join(r["segments"])


def test_bos_that_is_also_eos_starts_no_segment():
    """GPT-2's <|endoftext|> is BOS and EOS: a prefix starting with it is one segment."""
    tok = foreign_tokenizer(["the cat sat on the mat"] * 10, bos=True)
    tokens = gen_mod.special_tokens(tok)
    assert tokens.bos == tokens.eos == tokens.pad == 0
    a = tok("the cat", add_special_tokens=False)["input_ids"]
    b = tok(" sat", add_special_tokens=False)["input_ids"]
    c = tok("the mat", add_special_tokens=False)["input_ids"]
    segs = row_segments(tok, [0, *a], [*b, 0, *c, 0], True, tokens)
    assert segs == ["the cat sat", "the mat"]
    assert row_segments(tok, [0, *a], [*b, 0, 0, *c], False, tokens) == ["sat", "", "the mat"]


def test_hub_ids_resolve_through_the_hub_or_fail_in_one_line(models_ws, monkeypatch):
    import huggingface_hub

    from cdsynth.generate import resolve_model_path

    local = models_ws / "models" / "gpt2"
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **kw: str(local))
    assert resolve_model_path("EleutherAI/pythia-160m", models_ws) == local
    assert resolve_model_path("models/gpt2", models_ws) == local  # a local folder wins

    def offline(repo_id, **kw):
        raise OSError("We couldn't connect to 'https://huggingface.co'.\nCheck your connection")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(UserError) as e:
        resolve_model_path("gpt2-large", models_ws)
    assert "'gpt2-large' could not be fetched" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UserError, match="no model checkpoint at"):
        resolve_model_path("runs/none/step_1", models_ws)  # not a Hub id: no download tried


def test_corpus_tokens_real_counts_the_train_split_under_goods_tokenizer(models_ws):
    from cdsynth.corpus import read_split
    from cdsynth.generate import count_tokens

    tok = load_tokenizer(models_ws / "models" / "gpt2")
    real = count_tokens(tok, [r["text"] for r in read_split(models_ws / "corpus", "train")])
    n_seeds = len(read_split(models_ws / "corpus", "seeds"))
    need = -(-real // (3 * 20))
    assert need > n_seeds
    real_cfg = ["generate.num_prefixes=null", "generate.corpus_tokens=real"]
    msg = one_line_error(tiny_config(models_ws, *GENERIC, *real_cfg, "generate.name=real"))
    assert f"corpus_tokens=real ({real} tokens) needs {need} prefixes" in msg
    assert f"has only {n_seeds} documents" in msg
    # enough new tokens per prefix: it runs, and records the count
    new = -(-real // (3 * n_seeds))
    cfg = tiny_config(models_ws, *GENERIC, *real_cfg, f"generate.new_tokens={new}")
    from cdsynth.generate import prefixes_needed, select_prefix_documents

    rows = read_split(models_ws / "corpus", "seeds")
    chosen, record = select_prefix_documents(cfg.generate, rows, "seeds", real)
    assert len(chosen) == prefixes_needed(real, 3, new) <= n_seeds
    assert record["corpus_tokens"] == real
    # the refused command wrote nothing, not even the count's cache (written by a run that
    # goes on, keyed by the split's and the tokenizer's hashes)
    assert not (models_ws / "synthetic" / "real").exists()
    from cdsynth.generate import real_train_tokens

    gpt2_dir = models_ws / "models" / "gpt2"
    out = models_ws / "synthetic" / "real"
    n, cache = real_train_tokens(tok, gpt2_dir, models_ws, out)
    assert n == cache["tokens"] == real and sorted(cache) == ["identity", "tokens"]
    # once recorded, the count is read back (no record to write), as is a record written
    # before the one identity rule, which held the hashed mapping itself
    from cdsynth.fileio import file_hash, write_json

    out.mkdir(parents=True)
    write_json(out / "real_tokens.json", cache)
    assert real_train_tokens(tok, gpt2_dir, models_ws, out) == (real, None)
    files = sorted(gpt2_dir.glob("tokenizer*")) + sorted(gpt2_dir.glob("*.txt"))
    old_key = {
        "train": file_hash(models_ws / "corpus" / "train.jsonl"),
        "tokenizer": [file_hash(f) for f in files],
    }
    write_json(out / "real_tokens.json", {"key": old_key, "tokens": real})
    assert real_train_tokens(tok, gpt2_dir, models_ws, out) == (real, None)
    write_json(out / "real_tokens.json", {"key": {**old_key, "train": "other"}, "tokens": 1})
    assert real_train_tokens(tok, gpt2_dir, models_ws, out)[0] == real


def test_a_second_engine_on_one_model_keeps_the_models_prompt_attention():
    """An engine leaves its model in eager attention after its one-token steps; a second engine
    built on that model must still run the prompt with the model's own attention (eager gives
    NaN over a left-padded NeoX query row with no visible key)."""
    model, amateur = neox(VOCAB, 3), gpt2(VOCAB, 4)
    rule = DecodingConfig("cd", alpha=0.1, lam=0.5)
    prefixes, keys = prefixes_of([6, 2, 9], seed=2), np.array([[0, 0], [1, 0], [2, 0]])
    first = generate_batch(
        [HFEngine(model, torch.float64), HFEngine(amateur, torch.float64)],
        prefixes, keys, rule, 20, 5, tokens=TOKENS,
    )  # fmt: skip
    second = generate_batch(
        [HFEngine(model, torch.float64), HFEngine(amateur, torch.float64)],
        prefixes, keys, rule, 20, 5, tokens=TOKENS,
    )  # fmt: skip
    assert second.tokens == first.tokens
