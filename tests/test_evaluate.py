"""Evaluation against a brute-force reference: one forward per item, no batching."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch

from cdsynth.config import EvalConfig, ModelConfig, Passwords
from cdsynth.errors import UserError
from cdsynth.evaluate import load_task
from cdsynth.evaluate.scoring import Scorer
from cdsynth.train import build_model

from .conftest import SHARED_DATA


@pytest.fixture(scope="module")
def tok(tiny_workspace):
    from cdsynth.tokenizer import load_tokenizer

    return load_tokenizer(tiny_workspace / "tokenizer")


@pytest.fixture(scope="module")
def model(tok):
    m = build_model(ModelConfig("test-micro", context=1024), len(tok), seed=3)
    with torch.no_grad():
        m.lm_head.weight.mul_(5)  # a peaky random model: scores differ clearly between items
    return m.eval()


def brute_logprob(model, tok, context, continuation, start):
    """Sum of log p(continuation tokens), one unbatched forward over start + context + cont."""
    n = len(context) - len(context.rstrip())  # trailing spaces belong to the continuation
    if n:
        context, continuation = context[:-n], context[-n:] + continuation
    ctx = tok(context, add_special_tokens=False)["input_ids"] if context else []
    whole = tok(context + continuation, add_special_tokens=False)["input_ids"]
    assert whole[: len(ctx)] == ctx
    ids = start + whole
    with torch.no_grad():
        lp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].double(), -1)
    first = max(len(start) + len(ctx), 1)
    return sum(lp[p - 1, ids[p]].item() for p in range(first, len(ids)))


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def make_zip(path, folder, files, password):
    """A password zip like the real ones (needs the `zip` command)."""
    if not shutil.which("zip"):
        pytest.skip("the zip command is not installed")
    src = path.parent / "src"
    for name, rows in files.items():
        write_jsonl(src / folder / f"{name}.jsonl", rows)
    subprocess.run(
        ["zip", "-q", "-r", "-P", password, str(path.resolve()), folder], cwd=src, check=True
    )


SENTS = [
    "Mia gave the ball to Tom.",
    "Tom gave the ball to Mia.",
    "the the ball ball.",
    "Mia has the box.",
    "Mia have the box.",
    "They were happy.",
    "They was happy.",
]


@pytest.fixture
def data_root(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for task, files in (("blimp", 3), ("blimp_supplement", 2)):
        for f in range(files):
            rows = [
                {"sentence_good": SENTS[rng.integers(7)], "sentence_bad": SENTS[rng.integers(7)]}
                for _ in range(9)
            ]
            write_jsonl(root / task / f"paradigm_{f}.jsonl", rows)
    write_jsonl(
        root / "wug_adj" / "wug.jsonl",
        [
            {"sentences": f"{SENTS[i]}\t{SENTS[i + 1]}", "ratio": float(rng.random())}
            for i in range(6)
        ],
    )
    (root / "reading").mkdir()
    from cdsynth.evaluate.reading import COLUMNS

    lines = [",".join(COLUMNS)]
    words = ["ball", "box", "cup"]
    for i in range(40):
        prev = "" if i % 8 == 0 else "Mia gave"
        nums = [rng.random() * 5 + 6, rng.integers(2, 7), i % 5 + 1, rng.integers(1, 6)]
        nums += list(200 + 50 * rng.random(5))
        lines.append(",".join(["Mia gave the", words[i % 3], prev, "the", *map(str, nums)]))
    (root / "reading" / "reading.csv").write_text("\n".join(lines) + "\n")
    return root


def test_minimal_pairs_equal_brute_force(model, tok, data_root):
    cfg = EvalConfig(data_dir=str(data_root))
    scorer = Scorer(model, tok, batch_tokens=16)
    for task in ("blimp", "blimp_supplement"):
        data, fn = load_task(task, cfg, ".")
        res = fn(scorer, data)
        per = {}
        for name, rows in data.items():
            ok = [
                brute_logprob(model, tok, "", r["sentence_good"], [1])
                > brute_logprob(model, tok, "", r["sentence_bad"], [1])
                for r in rows
            ]
            per[name] = float(np.mean(ok))
        assert res.subtasks == per
        assert res.score == pytest.approx(np.mean(list(per.values())), abs=1e-12)
        # identical sentences tie and count as wrong
        for item in res.items:
            if item["good"] == item["bad"]:
                assert item["correct"] is False


def test_ewok_and_entity_tracking_equal_brute_force(model, tok, tmp_path):
    ewok_rows = [
        {"Domain": d, "Context1": c, "Context2": "x", "Target1": t1, "Target2": t2}
        for d, c, t1, t2 in [
            ("social", "Mia is kind.", "Mia helps.", "Mia hits."),
            ("social", "Tom is sad.", "Tom cries.", "Tom laughs."),
            ("space", "The box is up.", "It is high.", "It is low."),
            ("space", "The ball fell.", "It is down.", "It is up."),
        ]
    ]
    make_zip(
        tmp_path / "ewok" / "ewok_filtered.zip",
        "ewok_filtered",
        {"social": ewok_rows[:2], "space": ewok_rows[2:]},
        "pw1",
    )
    et_rows = [
        {
            "sample_id": i,
            "numops": i % 2,
            "input_prefix": "Box 0 contains the ball. Box 0 contains ",
            "options": ["the ball.", "the box.", "nothing.", "the cup.", "the hat."],
        }
        for i in range(4)
    ]
    make_zip(
        tmp_path / "entity_tracking" / "entity_tracking.zip",
        "entity_tracking",
        {"regular": et_rows, "ambiref": et_rows[:3]},
        "pw2",
    )
    cfg = EvalConfig(data_dir=str(tmp_path), passwords=Passwords(ewok="pw1", entity_tracking="pw2"))
    scorer = Scorer(model, tok, batch_tokens=24)
    data, fn = load_task("ewok", cfg, ".")
    res = fn(scorer, data)
    per = {}
    for rows in data.values():
        for r in rows:
            ok = brute_logprob(model, tok, r["Context1"], " " + r["Target1"], [1]) > brute_logprob(
                model, tok, r["Context1"], " " + r["Target2"], [1]
            )
            per.setdefault(r["Domain"], []).append(ok)
    assert res.score == pytest.approx(np.mean([np.mean(v) for v in per.values()]), abs=1e-12)
    data, fn = load_task("entity_tracking", cfg, ".")
    res = fn(scorer, data)
    files = {}
    for fname, rows in data.items():
        subs = {}
        for r in rows:
            s = [brute_logprob(model, tok, r["input_prefix"], o, [1]) for o in r["options"]]
            subs.setdefault(r["numops"], []).append(s[0] > max(s[1:]))
        files[fname] = np.mean([np.mean(v) for v in subs.values()])
    assert res.score == pytest.approx(np.mean(list(files.values())), abs=1e-12)
    assert set(res.subtasks) == {"regular_0_ops", "regular_1_ops", "ambiref_0_ops", "ambiref_1_ops"}


def test_wug_and_reading_equal_brute_force(model, tok, data_root):
    from scipy.stats import spearmanr

    cfg = EvalConfig(data_dir=str(data_root))
    scorer = Scorer(model, tok, batch_tokens=12)
    data, fn = load_task("wug", cfg, ".")
    res = fn(scorer, data)
    rows = data["wug"]
    p = []
    for r in rows:
        a, b = (brute_logprob(model, tok, "", s, [1]) for s in r["sentences"].split("\t"))
        p.append(np.exp(a) / (np.exp(a) + np.exp(b)))
    assert res.score == pytest.approx(spearmanr(p, [r["ratio"] for r in rows]).statistic, abs=1e-9)
    files, fn = load_task("reading", cfg, ".")
    res = fn(scorer, files)
    data = files["reading"]  # every task loads {file: rows}; reading has one file
    pred = [-brute_logprob(model, tok, r["item"], " " + r["word"], [1]) for r in data]
    np.testing.assert_allclose([i["pred"] for i in res.items], pred, rtol=1e-6)
    prev = [
        -brute_logprob(model, tok, r["prev_item"], " " + r["prev_word"], [1])
        for r in data
        if r["prev_item"]
    ]
    np.testing.assert_allclose(
        [i["prev_pred"] for i in res.items if i["prev_pred"]], prev, rtol=1e-6
    )
    assert set(res.subtasks) == {"eye_tracking", "self_paced_reading"}
    # nested OLS on the same rows: R^2 cannot fall
    assert all(g >= -1e-9 for g in res.extra["measures"].values())


def test_batching_and_sorting_never_change_scores(model, tok):
    pairs = [
        ("Mia gave", " the ball to Tom."),
        ("", "Tom."),
        ("Box 0 contains the", " ball and the box and the cup."),
        ("Box 0 contains the", " ball."),
    ] * 3
    one = Scorer(model, tok, batch_tokens=1).continuation_logprobs(pairs)
    for scorer in (
        Scorer(model, tok, batch_tokens=7),
        Scorer(model, tok, batch_tokens=4096),
        Scorer(model, tok, batch_tokens=5, packing="padded"),
    ):
        np.testing.assert_allclose(scorer.continuation_logprobs(pairs), one, rtol=1e-5, atol=1e-5)
        rev = scorer.continuation_logprobs(pairs[::-1])
        np.testing.assert_allclose(rev[::-1], one, rtol=1e-5, atol=1e-5)
    brute = [brute_logprob(model, tok, c, x, [1]) for c, x in pairs]
    np.testing.assert_allclose(one, brute, rtol=1e-5, atol=1e-5)


def test_bos_rules(model, tok):
    s = "Mia gave the ball to Tom."
    assert Scorer(model, tok, bos_rule="bos").sentence_logprobs([s])[0] == pytest.approx(
        brute_logprob(model, tok, "", s, [tok.bos_token_id]), abs=1e-5
    )
    assert Scorer(model, tok, bos_rule="eos").sentence_logprobs([s])[0] == pytest.approx(
        brute_logprob(model, tok, "", s, [tok.eos_token_id]), abs=1e-5
    )
    # no start token: the first token has no probability and is left out
    assert Scorer(model, tok, bos_rule="none").sentence_logprobs([s])[0] == pytest.approx(
        brute_logprob(model, tok, "", s, []), abs=1e-5
    )
    one_token = tok.decode(tok(" the", add_special_tokens=False)["input_ids"][:1])
    assert Scorer(model, tok, bos_rule="none").sentence_logprobs([one_token])[0] == 0.0
    # leading-space mode scores " " + sentence
    lead = Scorer(model, tok, leading_space=True).sentence_logprobs([s])[0]
    assert lead == pytest.approx(brute_logprob(model, tok, "", " " + s, [1]), abs=1e-5)
    with pytest.raises(UserError, match="bos_rule"):
        Scorer(model, tok, bos_rule="first")


def test_new_paradigm_file_is_discovered(model, tok, data_root):
    cfg = EvalConfig(data_dir=str(data_root))
    before, _ = load_task("blimp", cfg, ".")
    write_jsonl(
        data_root / "blimp" / "brand_new.jsonl",
        [{"sentence_good": "Mia has the box.", "sentence_bad": "Mia have the box."}],
    )
    after, fn = load_task("blimp", cfg, ".")
    assert set(after) == set(before) | {"brand_new"}
    assert "brand_new" in fn(Scorer(model, tok), after).subtasks


def test_bad_task_input(tmp_path, data_root):
    cfg = EvalConfig(data_dir=str(data_root))
    (data_root / "blimp" / "paradigm_0.jsonl").write_text(
        '{"sentence_good": "a", "sentence_bad": "b"}\n{oops\n'
    )
    with pytest.raises(UserError, match=r"paradigm_0.jsonl:2: malformed JSON"):
        load_task("blimp", cfg, ".")
    (data_root / "blimp" / "paradigm_0.jsonl").write_text('{"sentence_good": "a"}\n')
    with pytest.raises(UserError, match=r"paradigm_0.jsonl:1: missing field 'sentence_bad'"):
        load_task("blimp", cfg, ".")
    empty = EvalConfig(data_dir=str(tmp_path / "nothing"))
    (tmp_path / "nothing" / "blimp").mkdir(parents=True)
    with pytest.raises(UserError, match="no .jsonl files in task folder"):
        load_task("blimp", empty, ".")
    with pytest.raises(UserError, match="unknown task 'blimpp'"):
        load_task("blimpp", cfg, ".")
    make_zip(
        tmp_path / "z" / "ewok" / "ewok_filtered.zip",
        "ewok_filtered",
        {"d": [{"Domain": "d", "Context1": "a", "Target1": "b", "Target2": "c"}]},
        "right",
    )
    bad_pw = EvalConfig(data_dir=str(tmp_path / "z"), passwords=Passwords(ewok="wrong"))
    with pytest.raises(UserError, match="wrong password"):
        load_task("ewok", bad_pw, ".")
    with pytest.raises(UserError, match="CDSYNTH_EWOK_PASSWORD"):
        load_task("ewok", EvalConfig(data_dir=str(tmp_path / "z")), ".")


def test_checkpoint_without_tokenizer(tmp_path, model):
    model.save_pretrained(str(tmp_path / "m"))
    with pytest.raises(UserError, match="has no tokenizer"):
        Scorer.from_pretrained(tmp_path / "m")


def test_eval_run_writes_results_and_skips_finished_work(trained_run, monkeypatch):
    from cdsynth.evaluate import runner

    root, run = trained_run
    cfg = EvalConfig(
        tasks=["perplexity", "probes_agreement", "probes_tracking"],
        max_items=10,
        perplexity_documents=5,
    )
    res = runner.evaluate_checkpoints(run, cfg, root, log=lambda *a: None, progress=False)
    assert sorted(res) == ["step_12", "step_4", "step_8"]
    summary = json.loads((run / "eval" / "step_12" / "probes_tracking.json").read_text())
    items = [
        json.loads(x)
        for x in (run / "eval" / "step_12" / "probes_tracking.items.jsonl").read_text().splitlines()
    ]
    assert summary["n_items"] == len(items) == 10 and {"id", "correct", "scores"} <= set(items[0])
    assert res["step_12"]["perplexity"]["score"] > 1
    # a second run loads nothing: every result is cached
    monkeypatch.setattr(runner.Scorer, "from_pretrained", lambda *a, **k: pytest.fail("rescored"))
    again = runner.evaluate_checkpoints(run, cfg, root, log=lambda *a: None, progress=False)
    assert again["step_12"]["perplexity"]["score"] == res["step_12"]["perplexity"]["score"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_workspace):
    from cdsynth.stages import run_train

    from .conftest import quiet, tiny_config

    root = tmp_path_factory.mktemp("evalrun") / "ws"
    shutil.copytree(tiny_workspace, root)
    return root, run_train(tiny_config(root), log=quiet, progress=False)


# ----- the real evaluation data (skipped where ../shared/data is absent) -----------------------

needs_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")


def real_passwords() -> Passwords:
    """The passwords as ../shared/data/README.md states them (not written in our code)."""
    text = (SHARED_DATA / "README.md").read_text()
    found = dict(re.findall(r"`(\w+)/\w+\.zip` \(password `([^`]+)`", text))
    return Passwords(ewok=found.get("ewok"), entity_tracking=found.get("entity_tracking"))


@needs_data
def test_real_suites_load_and_match_brute_force(model, tok):
    cfg = EvalConfig(data_dir=str(SHARED_DATA), passwords=real_passwords(), max_items=3)
    counts = {}
    scorer = Scorer(model, tok, batch_tokens=64)
    for task in ("blimp", "blimp_filtered", "blimp_supplement", "ewok", "entity_tracking", "wug"):
        data, fn = load_task(task, cfg, ".")
        counts[task] = len(data)
        res = fn(scorer, data)
        assert 0 <= res.score <= 1 or task == "wug"
    assert counts["blimp"] == len(list((SHARED_DATA / "blimp").glob("*.jsonl")))
    assert counts["ewok"] == 11 and counts["entity_tracking"] == 3
    # a sample of real BLiMP pairs against the brute-force reference
    data, fn = load_task("blimp", cfg, ".")
    sample = dict(list(data.items())[:4])
    res = fn(scorer, sample)
    for item in res.items:
        name, i = item["id"].split("/")
        row = sample[name][int(i)]
        assert item["good"] == pytest.approx(
            brute_logprob(model, tok, "", row["sentence_good"], [1]), abs=1e-4
        )


def test_prefix_tree_equals_padded_forwards_per_token(model, tok):
    tree, padded = Scorer(model, tok, batch_tokens=24), Scorer(model, tok, packing="padded")
    pairs = [
        ("Box 0 contains the ball. Box 0 contains ", opt)
        for opt in ["the ball.", "the box and the cup.", "nothing.", "x"]
    ] + [("Mia gave", " the ball."), ("Mia gave", " it to Tom and Sam."), ("Tom", " ran.")]
    reqs = [tree.request(c, x) for c, x in pairs]
    reqs.append((reqs[0][0], []))  # an empty continuation scores nothing
    for a, b, req in zip(tree.token_logprobs(reqs), padded.token_logprobs(reqs), reqs, strict=True):
        assert len(a) == len(req[1])
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_model_without_tree_support_is_scored_padded(tok):
    from transformers import LlamaForCausalLM

    class Doubled(LlamaForCausalLM):  # changes its logits after the output layer
        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            out.logits = out.logits * 2
            return out

    plain = build_model(ModelConfig("test-micro", context=64), len(tok), seed=1)
    model = Doubled(plain.config)
    model.load_state_dict(plain.state_dict())
    said = []
    scorer = Scorer(model.eval(), tok, log=said.append)
    assert scorer.packing == "padded" and "padded batches" in said[0]
    s = "Mia gave the ball to Tom."
    assert scorer.sentence_logprobs([s])[0] == pytest.approx(
        brute_logprob(model, tok, "", s, [1]), abs=1e-5
    )
    assert Scorer(plain, tok).packing == "tree"


def test_packed_llama_equals_transformers_forward(tok):
    from transformers import LlamaConfig, LlamaForCausalLM

    from cdsynth.engine.packed_llama import PackedLlama
    from cdsynth.evaluate.prefix_tree import model_inputs, pack

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )  # fmt: skip
    hf = LlamaForCausalLM(cfg).eval()
    seqs = [[1, 5, 6, 7, 8], [1, 5, 6, 9], [1, 10, 11], [1, 5, 12, 13, 14, 15]]
    chunks = pack(seqs, [1] * len(seqs), budget=8)
    ids, pos, allowed = map(
        torch.from_numpy, model_inputs(chunks, max(len(c.tokens) for c in chunks), pad_id=0)
    )
    mask = torch.zeros(allowed.shape).masked_fill_(~allowed, torch.finfo(torch.float32).min)
    with torch.no_grad():
        ref = hf.model(input_ids=ids, position_ids=pos, attention_mask=mask).last_hidden_state
    ours = PackedLlama(hf)(ids, pos, mask)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    # and each node equals its own sequence run alone, unpadded
    for r, c in enumerate(chunks):
        for node, _, i, j in c.edges:
            with torch.no_grad():
                alone = hf.model(input_ids=torch.tensor([seqs[i][:j]])).last_hidden_state
            torch.testing.assert_close(ours[r, node], alone[0, -1], rtol=1e-5, atol=1e-5)


def test_other_architectures_use_the_tree_through_their_own_forward(tok):
    from transformers import GPT2Config, GPT2LMHeadModel

    from cdsynth.engine.packed_llama import PackedLlama

    torch.manual_seed(0)
    gpt2 = GPT2LMHeadModel(
        GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=64)
    ).eval()
    scorer = Scorer(gpt2, tok, batch_tokens=16)
    assert scorer.packing == "tree" and not isinstance(scorer.body, PackedLlama)
    pairs = [("Mia gave", " the ball to Tom."), ("Mia gave", " it."), ("", "Tom ran.")]
    brute = [brute_logprob(gpt2, tok, c, x, [1]) for c, x in pairs]
    np.testing.assert_allclose(scorer.continuation_logprobs(pairs), brute, rtol=1e-5, atol=1e-5)


def test_perplexity_equals_brute_force_over_windows(model, tok):
    from cdsynth.evaluate import perplexity

    docs = [{"text": " ".join(SENTS[i:] + SENTS[:i])} for i in range(3)] + [{"text": "Tom."}]
    window = 16  # longer than the scorer's tree rows (batch_tokens 8): rows grow to fit
    res = perplexity.score(Scorer(model, tok, batch_tokens=8), docs, window=window)
    nll, count = 0.0, 0
    for doc in docs:
        ids = [1, *tok(doc["text"], add_special_tokens=False)["input_ids"], 2]
        for start in range(0, len(ids) - 1, window - 1):
            w = ids[start : start + window]
            with torch.no_grad():
                lp = torch.log_softmax(model(input_ids=torch.tensor([w])).logits[0].double(), -1)
            nll -= sum(lp[p - 1, w[p]].item() for p in range(1, len(w)))
            count += len(w) - 1
    assert res.extra["tokens"] == count
    assert res.score == pytest.approx(np.exp(nll / count), rel=1e-6)


def test_packed_perplexity_equals_brute_force_over_blocks(model, tok):
    from cdsynth.evaluate import perplexity

    docs = [{"text": " ".join(SENTS[i:] + SENTS[:i])} for i in range(5)] + [{"text": "Tom."}]
    block, group = 16, 4  # groups of 4 documents: two groups, each with a short last block
    res = perplexity.score_packed(Scorer(model, tok, batch_tokens=8), docs, block, group, 3)
    nll, count = [], []
    for g in (docs[:4], docs[4:]):
        stream = [
            t for d in g for t in [1, *tok(d["text"], add_special_tokens=False)["input_ids"], 2]
        ]
        for start in range(0, len(stream), block):
            w = stream[start : start + block]
            with torch.no_grad():
                lp = torch.log_softmax(model(input_ids=torch.tensor([w])).logits[0].double(), -1)
            nll.append(-sum(lp[p - 1, w[p]].item() for p in range(1, len(w))))
            count.append(len(w) - 1)
    assert [it["tokens"] for it in res.items] == count
    assert res.score == pytest.approx(np.exp(sum(nll) / sum(count)), rel=1e-6)
    # the paper's average: per batch of 3 blocks the mean loss, repeated per block
    per_block = []
    for b in range(0, len(nll), 3):
        per_block += [sum(nll[b : b + 3]) / sum(count[b : b + 3])] * len(nll[b : b + 3])
    assert res.extra["paper_perplexity"] == pytest.approx(np.exp(np.mean(per_block)), rel=1e-6)


def test_without_onednn_the_model_own_modules_score_the_tree(model, tok, monkeypatch):
    from cdsynth.evaluate import scoring

    monkeypatch.setattr(scoring, "can_pack", lambda device, dtype: False)
    scorer = Scorer(model, tok, batch_tokens=16)
    assert scorer.packing == "tree" and scorer.head is model.get_output_embeddings()
    pairs = [("Mia gave", " the ball to Tom."), ("Mia gave", " it."), ("", "Tom ran.")]
    brute = [brute_logprob(model, tok, c, x, [1]) for c, x in pairs]
    np.testing.assert_allclose(scorer.continuation_logprobs(pairs), brute, rtol=1e-5, atol=1e-5)
