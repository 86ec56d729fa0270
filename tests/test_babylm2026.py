"""The BabyLM evaluation_data folder as published (full / fast), suites as zips or plain JSONL,
COMPS, and the 2026 scoring rules: hand-made fixtures in the official record formats."""

import copy
import json

import numpy as np
import pytest
import torch

from cdsynth.config import EvalConfig, Passwords, to_dict
from cdsynth.errors import UserError
from cdsynth.evaluate import load_task
from cdsynth.evaluate.layout import published_tasks
from cdsynth.evaluate.rules import RULES, tie_break
from cdsynth.evaluate.runner import scoring_rule
from cdsynth.evaluate.scoring import Scorer
from cdsynth.identity import task_identity

from .test_evaluate import brute_logprob, make_zip, write_jsonl


@pytest.fixture(scope="module")
def lm(tiny_workspace):
    """(model, tokenizer): the peaky random model of test_evaluate."""
    from cdsynth.config import ModelConfig
    from cdsynth.tokenizer import load_tokenizer
    from cdsynth.train import build_model

    tok = load_tokenizer(tiny_workspace / "tokenizer")
    m = build_model(ModelConfig("test-micro", context=1024), len(tok), seed=3)
    with torch.no_grad():
        m.lm_head.weight.mul_(5)
    return m.eval(), tok


PAIRS = [
    {"sentence_good": "Mia has the box.", "sentence_bad": "Mia have the box."},
    {"sentence_good": "They were happy.", "sentence_bad": "They was happy."},
    {"sentence_good": "Tom gave the ball to Mia.", "sentence_bad": "Tom gave the ball to Mia."},
]
EWOK = [  # the official record: each item twice, the second with contexts and targets swapped
    {
        "Domain": "social-relations",
        "ConceptA": "friend",
        "ConceptB": "enemy",
        "ContextType": "short",
        "ContextDiff": "concept",
        "TargetDiff": "concept",
        "Context1": c1,
        "Context2": c2,
        "Target1": t1,
        "Target2": t2,
    }
    for c1, c2, t1, t2 in [
        ("Mia is kind to Tom.", "Mia is mean to Tom.", "Tom likes Mia.", "Tom hates Mia."),
        ("Mia is mean to Tom.", "Mia is kind to Tom.", "Tom hates Mia.", "Tom likes Mia."),
        ("The box is up.", "The box is down.", "It is high.", "It is low."),
        ("The box is down.", "The box is up.", "It is low.", "It is high."),
    ]
]
ENTITY = [  # options[0] is right; two items have a "nothing" option
    {
        "sample_id": i,
        "numops": i % 2,
        "input_prefix": "Box 0 contains the ball. Box 1 contains the cup. Box 0 contains",
        "options": [" the ball.", " the box.", opt, " the cup.", " the hat."],
        "example_id": i,
    }
    for i, opt in enumerate([" nothing.", " the key.", " the map.", " nothing at all."])
]
COMPS = [  # the official record (Misra et al. 2023)
    {
        "id": i,
        "property_phrase": phrase,
        "acceptable_concept": a,
        "unacceptable_concept": u,
        "prefix_acceptable": pa,
        "prefix_unacceptable": pu,
        "negative_sample_type": "taxonomic",
        "similarity": 0.5,
    }
    for i, (phrase, a, u, pa, pu) in enumerate(
        [
            ("can fly.", "robin", "dog", "A robin", "A dog"),
            ("has a tail.", "cat", "cup", "A cat", "A cup"),
            ("is red.", "apple", "sky", "An apple", "The sky"),
            ("can swim in the sea.", "fish", "box", "A fish", "A box"),
        ]
    )
]
COMPS_FILES = ("comps_base", "comps_wugs", "comps_wugs_dist-before", "comps_wugs_dist-in_between")


def plain_zip(path, folder, files):
    """An unencrypted zip of folder/<name>.jsonl members."""
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for name, rows in files.items():
            z.writestr(f"{folder}/{name}.jsonl", "".join(json.dumps(r) + "\n" for r in rows))


def reading_csv(path):
    from cdsynth.evaluate.reading import COLUMNS

    path.mkdir(parents=True, exist_ok=True)
    row = ["Mia gave the", "ball", "", "the", "7", "4", "2", "3", "200", "210", "220", "230", "240"]
    (path / "reading_data.csv").write_text(",".join(COLUMNS) + "\n" + ",".join(row) + "\n")


@pytest.fixture
def published(tmp_path):
    """evaluation_data/{full_eval,fast_eval} with the pipeline's folder names; EWoK fast as the
    password zip the organisers ship, everything else plain JSONL."""
    root = tmp_path / "evaluation_data"
    full, fast = root / "full_eval", root / "fast_eval"
    write_jsonl(full / "blimp_filtered" / "anaphor_agreement.jsonl", PAIRS)
    write_jsonl(full / "blimp_filtered" / "island_effects.jsonl", PAIRS[:2])
    write_jsonl(full / "supplement_filtered" / "hypernym.jsonl", PAIRS)
    write_jsonl(full / "ewok_filtered" / "social-relations.jsonl", EWOK[:2])
    write_jsonl(full / "ewok_filtered" / "spatial-relations.jsonl", EWOK[2:])
    write_jsonl(full / "entity_tracking" / "regular.jsonl", ENTITY)
    for name in COMPS_FILES:
        write_jsonl(full / "comps" / f"{name}.jsonl", COMPS)
    reading_csv(full / "reading")
    write_jsonl(fast / "blimp_fast" / "anaphor_agreement.jsonl", PAIRS[:1])
    write_jsonl(fast / "supplement_fast" / "hypernym.jsonl", PAIRS[:1])
    make_zip(fast / "ewok_fast.zip", "ewok_fast", {"social-relations": EWOK[:2]}, "BabyLM2025")
    write_jsonl(fast / "entity_tracking_fast" / "regular.jsonl", ENTITY[:2])
    reading_csv(fast / "reading")
    return root


def test_published_folder_full_and_fast(published):
    full = EvalConfig(data_dir=str(published))
    pw = Passwords(ewok="BabyLM2025")
    fast = EvalConfig(data_dir=str(published), eval_set="fast", passwords=pw)
    assert published_tasks(full) == [
        "blimp_filtered", "blimp_supplement", "ewok", "entity_tracking", "comps", "reading"
    ]  # fmt: skip
    assert published_tasks(fast) == [
        "blimp_filtered", "blimp_supplement", "ewok", "entity_tracking", "reading"
    ]  # fmt: skip
    data, _ = load_task("blimp_filtered", full, ".")
    assert {k: len(v) for k, v in data.items()} == {"anaphor_agreement": 3, "island_effects": 2}
    data, _ = load_task("blimp_filtered", fast, ".")
    assert {k: len(v) for k, v in data.items()} == {"anaphor_agreement": 1}
    assert list(load_task("blimp_supplement", fast, ".")[0]) == ["hypernym"]
    assert load_task("ewok", fast, ".")[0] == {"social-relations": EWOK[:2]}
    assert load_task("ewok", full, ".")[0] == {
        "social-relations": EWOK[:2],
        "spatial-relations": EWOK[2:],
    }
    assert load_task("entity_tracking", fast, ".")[0] == {"regular": ENTITY[:2]}
    assert sorted(load_task("comps", full, ".")[0]) == sorted(COMPS_FILES)
    assert len(load_task("reading", fast, ".")[0]["reading"]) == 1
    # what a set does not hold is said in one line, naming what it holds
    with pytest.raises(UserError, match="fast evaluation set has no 'comps'"):
        load_task("comps", fast, ".")
    with pytest.raises(UserError, match=r"no 'blimp' suite \(tasks found in .*: blimp_filtered"):
        load_task("blimp", full, ".")
    with pytest.raises(UserError, match="CDSYNTH_EWOK_PASSWORD"):
        load_task("ewok", EvalConfig(data_dir=str(published), eval_set="fast"), ".")


def test_fast_needs_the_published_folder(tmp_path):
    write_jsonl(tmp_path / "blimp" / "a.jsonl", PAIRS)
    with pytest.raises(UserError, match="eval_set fast needs evaluate.data_dir to be the BabyLM"):
        load_task("blimp", EvalConfig(data_dir=str(tmp_path), eval_set="fast"), ".")
    with pytest.raises(UserError, match="evaluate.eval_set must be one of full, fast"):
        EvalConfig(eval_set="quick")
    with pytest.raises(UserError, match="evaluate.rules must be one of babylm2025, babylm2026"):
        EvalConfig(rules="babylm2024")


@pytest.mark.parametrize("task", ["ewok", "entity_tracking", "comps", "blimp"])
def test_zip_and_plain_jsonl_read_the_same_items(tmp_path, monkeypatch, task):
    """In cdsynth's layout every suite may be the password zip, an unencrypted zip, or plain
    JSONL (as the 2025 pipeline's public data repository holds EWoK and entity tracking); the
    items, and so the results' identity, are the same."""
    rows = {"ewok": EWOK, "entity_tracking": ENTITY, "comps": COMPS, "blimp": PAIRS}[task]
    files = {"a": rows[:2], "b": rows[2:]}
    inner = {"ewok": "ewok_filtered", "entity_tracking": "entity_tracking"}.get(task, task)
    pw = Passwords(ewok="pw", entity_tracking="pw")
    monkeypatch.setenv(f"CDSYNTH_{task.upper()}_PASSWORD", "pw")  # suites without a setting
    loaded = []
    for i, how in enumerate(["password zip", "plain zip", "folder", "nested folder"]):
        root = tmp_path / str(i)
        if how == "password zip":
            make_zip(root / task / f"{inner}.zip", inner, files, "pw")
        elif how == "plain zip":
            plain_zip(root / task / f"{inner}.zip", inner, files)
        else:
            where = root / task / (inner if how == "nested folder" else "")
            for name, part in files.items():
                write_jsonl(where / f"{name}.jsonl", part)
        cfg = EvalConfig(data_dir=str(root), passwords=pw if how == "password zip" else Passwords())
        if how == "plain zip":  # an unencrypted zip asks for no password
            monkeypatch.delenv(f"CDSYNTH_{task.upper()}_PASSWORD")
        loaded.append(load_task(task, cfg, ".")[0])
        monkeypatch.setenv(f"CDSYNTH_{task.upper()}_PASSWORD", "pw")
    assert all(x == {"a": rows[:2], "b": rows[2:]} for x in loaded)
    ids = {task_identity(task, x, scoring_rule(task, EvalConfig())) for x in loaded}
    assert len(ids) == 1


def test_new_settings_leave_finished_evaluations_current():
    """eval_set and rules at their defaults change no identity: not a result's (its scoring
    rule), not the evaluation stage's (the config as it was before the settings existed)."""
    new_keys = ("eval_set", "rules", "checkpoints")
    assert not set(new_keys) & set(to_dict(EvalConfig()))  # records as before they existed
    changed = to_dict(EvalConfig(eval_set="fast", rules="babylm2026", checkpoints="words"))
    assert {k: changed[k] for k in new_keys} == {
        "eval_set": "fast",
        "rules": "babylm2026",
        "checkpoints": "words",
    }
    for task in ("blimp", "ewok", "reading", "comps"):
        assert "rules" not in scoring_rule(task, EvalConfig())
    from cdsynth.evaluate.runner import task_reads

    tasks = ["blimp", "reading", "probes_agreement"]
    plain = task_reads(EvalConfig(tasks=tasks))
    assert all("eval_set" not in r and "rules" not in r["rule"] for r in plain.values())
    fast = task_reads(EvalConfig(tasks=tasks, eval_set="fast", rules="babylm2026"))
    assert fast["blimp"]["eval_set"] == "fast" and fast["blimp"]["rule"]["rules"] == "babylm2026"
    assert fast["reading"]["rule"] == plain["reading"]["rule"]  # the rules do not change it
    assert fast["probes_agreement"] == {**plain["probes_agreement"], "rule": fast["blimp"]["rule"]}
    new = EvalConfig(rules="babylm2026")
    assert scoring_rule("ewok", new)["rules"] == "babylm2026"
    assert "rules" not in scoring_rule("reading", new)  # the rules do not change reading


def official_phrase_logprobs(model, tok, sentences, completions):
    """babylm-eval strict/ (3d57ddc8), causal backend, temperature 1, transcribed:
    dataset.process_causal_sentences (phrase mask from the offsets), get_causal_collate_fn
    (inputs = tokens[:-1], targets = tokens[1:], mask[1:]) and compute_causal_results (the sum
    of the target log-probs under the phrase mask). One item per forward (no padding)."""
    out = []
    for sentence, completion in zip(sentences, completions, strict=True):
        enc = tok(sentence, return_offsets_mapping=True)
        tokens, offsets = enc["input_ids"], enc["offset_mapping"]
        start_idx = 0  # len(tokens) - len(sentence_tokens): text only
        start_char_idx = len(sentence) - len(completion) + offsets[start_idx][0]
        mask = [0] * len(tokens)
        for i, (_, end) in enumerate(offsets[start_idx:]):
            if end > start_char_idx:
                mask[i + start_idx] = 1
        inputs = torch.tensor([tokens[:-1]])
        targets = torch.tensor([tokens[1:]])
        with torch.no_grad():
            logits = model(input_ids=inputs, attention_mask=torch.ones_like(inputs)).logits
        lp = torch.nn.functional.log_softmax(logits / 1.0, dim=-1)
        target_lp = torch.gather(lp, -1, targets.unsqueeze(-1)).squeeze(-1)
        out.append(torch.sum(target_lp * torch.tensor([mask[1:]]), dim=1).item())
    return np.array(out)


def official_comps(row):
    """read_files.decode_comps: the two sentences and their (shared) completion."""
    phrase = row["property_phrase"]
    sentences = [
        " ".join([row["prefix_acceptable"], phrase]),
        " ".join([row["prefix_unacceptable"], phrase]),
    ]
    return sentences, [phrase, phrase]


def with_bos_template(tok):
    """The same tokenizer with a post-processor that adds <s>, as tokenizers that add a BOS do
    (what bos_rule=bos reproduces); cdsynth's own adds nothing (bos_rule=none)."""
    from tokenizers.processors import TemplateProcessing

    t = copy.deepcopy(tok)
    t._tokenizer.post_processor = TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.bos_token_id)]
    )
    return t


@pytest.mark.parametrize("bos_rule", ["none", "bos"])
def test_comps_equals_brute_force_and_the_official_rule_item_for_item(lm, published, bos_rule):
    model, tok = lm
    cfg = EvalConfig(data_dir=str(published), bos_rule=bos_rule)
    data, fn = load_task("comps", cfg, ".")
    res = fn(Scorer(model, tok, batch_tokens=16, bos_rule=bos_rule), data)
    official_tok = with_bos_template(tok) if bos_rule == "bos" else tok
    start = [tok.bos_token_id] if bos_rule == "bos" else []
    by_id = {item["id"]: item for item in res.items}
    per = {}
    for f, rows in data.items():
        for i, row in enumerate(rows):
            item = by_id[f"{f}/{i}"]
            phrase = " " + row["property_phrase"]
            brute = [brute_logprob(model, tok, row[p], phrase, start) for p in
                     ("prefix_acceptable", "prefix_unacceptable")]  # fmt: skip
            np.testing.assert_allclose([item["good"], item["bad"]], brute, rtol=1e-6, atol=1e-6)
            official = official_phrase_logprobs(model, official_tok, *official_comps(row))
            np.testing.assert_allclose([item["good"], item["bad"]], official, atol=2e-4)
            # the pipeline's choice: torch.max over the two, label 0
            assert item["correct"] == (int(np.argmax(official)) == 0)
            per.setdefault(item["subtask"], []).append(item["correct"])
    assert set(res.subtasks) == {"base", "wugs", "wugs_dist_before", "wugs_dist_in_between"}
    assert res.subtasks == {k: float(np.mean(v)) for k, v in per.items()}
    assert res.score == pytest.approx(np.mean([np.mean(v) for v in per.values()]), abs=1e-12)
    assert res.task == "comps" and len(res.items) == 4 * len(COMPS)


def test_2026_rules_nan_and_ties():
    r25, r26 = RULES["babylm2025"], RULES["babylm2026"]
    nan = float("nan")
    assert r26.chosen([nan, -1.0], "k") == 1 and r26.chosen([-1.0, nan], "k") == 0
    assert r26.correct([-1.0, nan, nan], "k") is True
    assert r25.correct([-1.0, nan], "k") is False and r25.correct([-1.0, -1.0], "k") is False
    # a tie among the highest: a uniform choice among them, fixed by the key
    picks = [r26.chosen([-2.0, -2.0, -5.0, -2.0], f"item {i}") for i in range(3000)]
    assert set(picks) == {0, 1, 3}
    assert all(900 < picks.count(k) < 1100 for k in (0, 1, 3))
    assert picks == [r26.chosen([-2.0, -2.0, -5.0, -2.0], f"item {i}") for i in range(3000)]
    assert [tie_break("x", 7) for _ in range(3)] == [tie_break("x", 7)] * 3
    # all NaN: every candidate ties at -inf
    assert r26.chosen([nan, nan], "k") in (0, 1)


def test_2026_minimal_pairs_break_ties_by_key(lm, published):
    model, tok = lm
    cfg = EvalConfig(data_dir=str(published), rules="babylm2026")
    data, fn = load_task("blimp_filtered", cfg, ".")
    scorer = Scorer(model, tok, batch_tokens=16)
    res, again = fn(scorer, data), fn(scorer, data)
    assert [i["correct"] for i in res.items] == [i["correct"] for i in again.items]
    tied = [i for i in res.items if i["good"] == i["bad"]]
    assert len(tied) == 1  # the third pair holds one sentence twice
    rows = {f"{f}/{k}": row for f, rs in data.items() for k, row in enumerate(rs)}
    for item in tied:
        f = item["id"].split("/")[0]
        key = f"blimp_filtered/{f}/" + json.dumps(rows[item["id"]], sort_keys=True)
        assert item["correct"] == (tie_break(key, 2) == 0)


def test_2026_ewok_varies_the_context(lm, published):
    model, tok = lm
    scorer = Scorer(model, tok, batch_tokens=32)
    for rules in ("babylm2025", "babylm2026"):
        cfg = EvalConfig(data_dir=str(published), rules=rules)
        data, fn = load_task("ewok", cfg, ".")
        res = fn(scorer, data)
        per = {}
        for rows in data.values():
            for r in rows:
                right = brute_logprob(model, tok, r["Context1"], " " + r["Target1"], [1])
                if rules == "babylm2025":
                    wrong = brute_logprob(model, tok, r["Context1"], " " + r["Target2"], [1])
                else:
                    wrong = brute_logprob(model, tok, r["Context2"], " " + r["Target1"], [1])
                per.setdefault(r["Domain"], []).append(right > wrong)
        assert res.subtasks == {d: float(np.mean(v)) for d, v in per.items()}
        assert len(res.items) == len(EWOK)  # each line one pair: each item (two lines) two


def test_2026_entity_tracking_drops_nothing_items(lm, published):
    model, tok = lm
    scorer = Scorer(model, tok, batch_tokens=32)
    for rules, kept in (("babylm2025", [0, 1, 2, 3]), ("babylm2026", [1, 2])):
        cfg = EvalConfig(data_dir=str(published), rules=rules)
        data, fn = load_task("entity_tracking", cfg, ".")
        assert [r["sample_id"] for r in data["regular"]] == kept
        res = fn(scorer, data)
        for item, r in zip(res.items, data["regular"], strict=True):
            s = [brute_logprob(model, tok, r["input_prefix"], o, [1]) for o in r["options"]]
            assert item["correct"] == (int(np.argmax(s)) == 0)


def test_2026_has_no_wug(tmp_path):
    write_jsonl(tmp_path / "wug_adj" / "wug.jsonl", [{"sentences": "a.\tb.", "ratio": 0.5}])
    load_task("wug", EvalConfig(data_dir=str(tmp_path)), ".")
    with pytest.raises(UserError, match="WUG task was removed from BabyLM 2026"):
        load_task("wug", EvalConfig(data_dir=str(tmp_path), rules="babylm2026"), ".")
    from cdsynth.evaluate.runner import task_reads  # what a study checks before any stage

    with pytest.raises(UserError, match="WUG task was removed from BabyLM 2026"):
        task_reads(EvalConfig(tasks=["wug"], rules="babylm2026"))


def test_the_paper_study_keeps_the_2025_rules():
    from pathlib import Path

    from cdsynth.config import load_config

    root = Path(__file__).resolve().parents[1]
    for name in ("paper.yaml", "demo.yaml"):
        cfg = load_config(root / "configs" / name)
        assert str(cfg.evaluate.rules) == "babylm2025" and str(cfg.evaluate.eval_set) == "full"


def test_comps_and_aoa_records():
    """COMPS is an accuracy task like BLiMP (its bootstrap statistic, percent, and a
    relative improvement, so it enters mu-Delta-REL when evaluated); AoA's per-checkpoint
    record is a lower-is-better mean surprisal without a relative improvement (not in mu)."""
    from cdsynth.analysis import relative_defined
    from cdsynth.item_statistics import accuracy_statistic
    from cdsynth.tasks import LOWER_IS_BETTER, reported_tasks, task

    comps, aoa = task("comps"), task("aoa")
    assert comps.metric == "accuracy" and comps.statistic is accuracy_statistic
    assert comps.unit == (100.0, "accuracy, %") and relative_defined(comps.metric)
    assert aoa.lower_is_better and "aoa" in LOWER_IS_BETTER
    items = [{"surprisal": x} for x in (1.0, 2.0, 6.0)]
    np.testing.assert_allclose(aoa.statistic(items, np.array([[0, 1, 2], [2, 2, 0]])), [3, 13 / 3])
    assert not relative_defined(aoa.metric)
    assert reported_tasks(["blimp", "comps", "aoa"]) == ["blimp", "comps", "aoa", "aoa_correlation"]
