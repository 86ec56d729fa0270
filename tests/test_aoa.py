"""AoA (Chang & Bergen 2022) as babylm-eval strict/ computes it: surprisals against a
transcription of its causal rule, the sigmoid fits against analytic values, the score."""

import copy
import json

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr

from cdsynth.config import EvalConfig
from cdsynth.errors import UserError
from cdsynth.evaluate import aoa, load_task
from cdsynth.evaluate.scoring import Scorer

CDI = {
    "dog": [{"context": "I saw a big", "id": 0}, {"context": "  The cat and the ", "id": 1}],
    "ball": [{"context": "Mia threw the"}, {"context": "He has a red"}],
    "a": [{"context": "This is"}],  # one character: left out, as load_eval does
    "go": [],
}


@pytest.fixture(scope="module")
def lm(tiny_workspace):
    from cdsynth.config import ModelConfig
    from cdsynth.tokenizer import load_tokenizer
    from cdsynth.train import build_model

    tok = load_tokenizer(tiny_workspace / "tokenizer")
    m = build_model(ModelConfig("test-micro", context=1024), len(tok), seed=3)
    with torch.no_grad():
        m.lm_head.weight.mul_(5)
    return m.eval(), tok


def write_cdi(folder, data=CDI):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cdi_childes.json").write_text(json.dumps(data))


def test_load_keeps_the_pipeline_words(tmp_path):
    write_cdi(tmp_path / "cdi_childes")
    words = aoa.load(tmp_path / "cdi_childes")
    assert list(words) == ["dog", "ball", "go"]
    assert words["dog"] == [{"context": "I saw a big"}, {"context": "  The cat and the "}]
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "cdi_childes.json").write_text('{"dog": [{"text": "x"}]}')
    with pytest.raises(UserError, match="missing field 'context'"):
        aoa.load(tmp_path / "bad")
    with pytest.raises(UserError, match="no cdi_childes.json"):
        aoa.load(tmp_path / "nowhere")


def official_surprisal(model, tok, context, target_word):
    """AoA_word/evaluation_functions.py (3d57ddc8), causal, use_bos_only=False, transcribed:
    compute_surprisal (strip, one space), process_causal_input, compute_surprisal_causal."""
    context = context.strip() + " "
    target_word = target_word.strip()
    input_text = context + target_word
    out = tok(input_text, return_offsets_mapping=True, add_special_tokens=True)
    start_char_idx = len(input_text) - len(target_word)
    mask = [1 if end > start_char_idx else 0 for _, end in out["offset_mapping"]]
    tokens = torch.tensor([out["input_ids"]])
    with torch.no_grad():
        logits = model(input_ids=tokens[:, :-1]).logits
    lp = torch.nn.functional.log_softmax(logits, dim=-1)
    target = torch.gather(lp, -1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)
    return -torch.sum(target * torch.tensor([mask[1:]]), dim=1)[0].item()


@pytest.mark.parametrize("bos_rule", ["none", "bos"])
def test_surprisals_equal_the_official_rule(lm, tmp_path, bos_rule):
    from tokenizers.processors import TemplateProcessing

    model, tok = lm
    official_tok = tok
    if bos_rule == "bos":  # a tokenizer that adds <s> itself
        official_tok = copy.deepcopy(tok)
        official_tok._tokenizer.post_processor = TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", tok.bos_token_id)]
        )
    write_cdi(tmp_path / "cdi_childes")
    cfg = EvalConfig(data_dir=str(tmp_path), bos_rule=bos_rule)
    data, fn = load_task("aoa", cfg, ".")
    res = fn(Scorer(model, tok, batch_tokens=16, bos_rule=bos_rule), data)
    assert [i["id"] for i in res.items] == ["dog/0", "dog/1", "ball/0", "ball/1"]
    for item in res.items:
        word, k = item["id"].split("/")
        want = official_surprisal(model, official_tok, data[word][int(k)]["context"], word)
        assert item["surprisal"] == pytest.approx(want, abs=1e-4)
    assert res.score == pytest.approx(np.mean([i["surprisal"] for i in res.items]))
    assert res.metric == "surprisal" and res.score > 0


def test_words_seen_from_checkpoint_names():
    assert aoa.words_seen("chck_10M") == 1e7
    assert aoa.words_seen("chck_1000M") == 1e9
    assert aoa.words_seen("step_300") == 300.0
    assert aoa.words_seen("main") is None


def test_child_aoa_recovers_the_sigmoid_midpoint():
    ages = np.arange(16, 31)
    p = aoa.sigmoid(ages, 1.0, 0.5, 22.0, 0.0)
    assert aoa.child_aoa(p, ages) == pytest.approx(22.0, abs=1e-4)
    # a shifted curve: where a / (1 + exp(-b (x - c))) + d = 0.5
    p = aoa.sigmoid(ages, 0.9, 0.6, 24.0, 0.05)
    want = 24.0 - np.log(0.9 / (0.5 - 0.05) - 1) / 0.6
    assert aoa.child_aoa(p, ages) == pytest.approx(want, abs=1e-4)
    assert aoa.child_aoa([np.nan] * 15, ages) is None
    assert aoa.child_aoa([0.1, 0.9] + [np.nan] * 13, ages) is None  # fewer than 3 points
    assert aoa.child_aoa(np.full(15, 0.9), ages) is None  # learnt before 16 months


def test_model_aoa_recovers_the_analytic_point():
    vocab, steps = 400, np.array([1e6 * m for m in [*range(1, 10), *range(10, 101, 10)]])
    x = np.log10(steps + 1)
    a, b, c, d = 4.0, 3.0, 7.0, -np.log(vocab)  # -surprisal rises from -ln V by up to 4
    surprisal = -aoa.sigmoid(x, a, b, c, d)
    chance, floor = np.log(vocab), surprisal.min()
    target = chance - 0.5 * (chance - floor)
    want = c - np.log(a / (-target - d) - 1) / b
    got = aoa.model_aoa(list(surprisal), list(steps), vocab)
    assert got == pytest.approx(want, abs=1e-3)
    assert 10**got - 1 == pytest.approx(10**want - 1, rel=1e-2)
    assert aoa.model_aoa([3.0, 2.0], [1e6, 2e6], vocab) is None  # fewer than 3 checkpoints
    with pytest.raises(ValueError):
        aoa.model_aoa([1.0], [1, 2], vocab)


class Tok:
    vocab_size = 400

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": list(range(len(text.split())))}


def test_curve_fitness_correlates_model_and_child_aoas():
    steps = [*range(1, 10), *range(10, 101, 10)]
    x = np.log10(np.array(steps) * 1e6 + 1)
    mids = {"dog": 6.5, "ball": 6.8, "cup": 7.1, "shoe": 7.4, "moon": 7.2}
    child_mid = {"dog": 18.0, "ball": 20.0, "cup": 23.0, "shoe": 25.0, "moon": 21.0}
    by_ckpt = {f"chck_{m}M": [] for m in steps}
    for w, c in mids.items():
        s = -aoa.sigmoid(x, 4.0, 3.0, c, -np.log(400))
        for m, v in zip(steps, s, strict=True):
            by_ckpt[f"chck_{m}M"] += [
                {"subtask": w, "surprisal": float(v) + e} for e in (-0.01, 0.01)
            ]  # two contexts, averaged per checkpoint
    ages = list(range(16, 31))
    human = {
        "ages": ages,
        "words": {
            w: list(aoa.sigmoid(np.array(ages), 1.0, 0.8, c, 0.0)) for w, c in child_mid.items()
        },
    }
    res = aoa.curve_fitness(by_ckpt, human, Tok())
    model = [aoa.model_aoa(
        [float(np.mean([i["surprisal"] for i in by_ckpt[f"chck_{m}M"] if i["subtask"] == w]))
         for m in steps], [m * 1e6 for m in steps], 400) for w in mids]  # fmt: skip
    child = [aoa.child_aoa(human["words"][w], ages) for w in mids]
    r, p = pearsonr(model, child)
    assert res["words"] == list(mids) and res["pearson_r"] == pytest.approx(r)
    assert res["curve_fitness"] == pytest.approx(r) and p <= 0.1 and r > 0.8
    # fewer than 3 words with both AoAs: 0.0, as the pipeline
    few = {"ages": ages, "words": {w: human["words"][w] for w in ["dog", "cup"]}}
    assert aoa.curve_fitness(by_ckpt, few, Tok()) == {"curve_fitness": 0.0, "n_words": 2}


def test_read_human_table(tmp_path):
    f = tmp_path / "cdi_human.csv"
    f.write_text("word,16,17,18,30\ndog,0.1,,0.5,0.9\ndog,1,1,1,1\n")
    t = aoa.read_human(f)
    assert t["ages"] == [16, 17, 18, 30]
    assert t["words"]["dog"][0] == 0.1 and np.isnan(t["words"]["dog"][1])
    (tmp_path / "bad.csv").write_text("w,x\n")
    with pytest.raises(UserError, match="'word' column"):
        aoa.read_human(tmp_path / "bad.csv")
