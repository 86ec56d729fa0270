"""Checkpoints by words seen (train.checkpoint_words): the BabyLM schedules and revision names,
an exact word count, and chck_<N>M folders saved where the real words seen cross a mark."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from cdsynth import checkpoint_words as cw
from cdsynth import train as train_mod
from cdsynth.errors import UserError
from cdsynth.stages import run_train
from cdsynth.tokenizer import BOS_ID, EOS_ID, PAD_ID
from cdsynth.workspace import Workspace

from .conftest import interrupt_after, quiet, run_cli, tiny_config


def test_schedules_are_the_pipeline_revisions():
    # scripts/eval_zero_shot_fast_all_revisions.sh: {1..9}, {10..100..10}; not strict-small:
    # {200..1000..100}
    small = [*range(1, 10), *range(10, 101, 10)]
    assert [cw.revision(m) for m in cw.schedule("babylm-strict-small")] == [
        f"chck_{i}M" for i in small
    ]
    assert cw.schedule("babylm-strict") == small + list(range(200, 1001, 100))
    assert cw.schedule([20, 3, 3]) == [3, 20]
    for bad in ("babylm-loose", [], [0], [1.5], [True]):
        with pytest.raises(UserError, match="train.checkpoint_words"):
            cw.schedule(bad)
    with pytest.raises(UserError, match="train.checkpoint_words must be one of"):
        tiny_config(".", "train.checkpoint_words=strict")
    assert cw.crossed(999_999, 3_000_000, [1, 2, 3, 4]) == [1, 2, 3]
    assert cw.crossed(1_000_000, 1_999_999, [1, 2]) == []


TEXTS = [
    "Once upon a time, Mia went to the park.",
    '  Tom  said:\n"Hello!"\tThey   ran.\n\nThe end ',
    "Ünïcödé wörds — like naïve café, and 3.14 or x=y+1.",
    "one",
    "",
]


@pytest.fixture(scope="module")
def tok(tiny_workspace):
    from cdsynth.tokenizer import load_tokenizer

    return load_tokenizer(tiny_workspace / "tokenizer")


def test_word_count_equals_str_split(tok):
    counter = cw.WordCounter(tok)
    for text in TEXTS:
        ids = [BOS_ID, *tok(text, add_special_tokens=False)["input_ids"], EOS_ID]
        assert counter.count(np.array([ids])) == len(text.split()), text
    # documents packed into rows: a row edge loses at most the word it cuts
    stream = [
        i for t in TEXTS for i in [BOS_ID, *tok(t, add_special_tokens=False)["input_ids"], EOS_ID]
    ]
    stream += [0] * (-len(stream) % 8)
    rows = np.array(stream).reshape(-1, 8)
    exact = sum(len(t.split()) for t in TEXTS)
    assert exact - (len(rows) - 1) <= counter.count(rows) <= exact
    assert counter.count(rows[:0]) == 0


def tok_ids(text, folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder / "step_12"))(text)["input_ids"]


def weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_word_checkpoints_are_saved_where_the_words_cross(workspace, monkeypatch, capsys):
    monkeypatch.setattr(cw, "WORDS_PER_MARK", 100)  # tiny runs see ~200 words a step
    marks = [1, 2, 3, 5, 8, 13, 21]
    spec = f"train.checkpoint_words=[{', '.join(map(str, marks))}]"
    cfg = tiny_config(workspace, spec, "train.checkpoint_every=1", "train.name=words")
    out = run_train(cfg, log=quiet, progress=False)
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    seen = [0] + [m["words_seen"] for m in metrics]
    assert all(a < b for a, b in zip(seen, seen[1:], strict=False))
    saved = sorted(p.name for p in out.glob("chck_*"))
    expected = {}
    for m in marks:
        steps = [s for s in range(1, len(seen)) if seen[s - 1] < m * 100 <= seen[s]]
        if steps:
            expected[f"chck_{m}M"] = steps[0]
    assert saved == sorted(expected) and len(expected) >= 4
    for name, step in expected.items():
        state = json.loads((out / name / "state.json").read_text())
        assert state["step"] == step and state["revision"] == name
        assert state["words_seen"] == seen[step] and state["synthetic_words_seen"] == 0
        a, b = weights(out / name), weights(out / f"step_{step}")
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert (out / name / "tokenizer.json").is_file()
        assert not (out / name / "optimizer.safetensors").exists()

    # with the default cadence (a step_N every 4 steps, the others read late), a chck folder
    # still holds the weights of the step that passed its mark
    sparse = tiny_config(workspace, spec, "train.name=sparse")
    sparse_out = run_train(sparse, log=quiet, progress=False)
    assert sorted(p.name for p in sparse_out.glob("chck_*")) == saved
    for name, step in expected.items():
        a, b = weights(sparse_out / name), weights(out / f"step_{step}")
        assert all(torch.equal(a[k], b[k]) for k in a), name

    # the fast evaluation set on every chck folder, results under eval/chck_<N>M/
    from cdsynth.config import EvalConfig
    from cdsynth.evaluate.runner import evaluate_checkpoints

    data = workspace / "evaluation_data"
    (data / "full_eval").mkdir(parents=True)
    fast = data / "fast_eval" / "blimp_fast"
    fast.mkdir(parents=True)
    (fast / "agreement.jsonl").write_text(
        json.dumps({"sentence_good": "Mia was happy.", "sentence_bad": "Mia were happy."}) + "\n"
    )
    cdi = data / "full_eval" / "cdi_childes"  # AoA reads the full set's words in either set
    cdi.mkdir()
    words = ["dog", "ball", "cup", "park"]
    (cdi / "cdi_childes.json").write_text(
        json.dumps({w: [{"context": "Mia saw the"}, {"context": "Tom has a"}] for w in words})
    )
    months = ",".join(str(m) for m in range(16, 31))
    table = f"word,{months}\n"
    for k, w in enumerate(words):  # children learn the words 2 months apart
        table += w + "".join(f",{1 / (1 + np.exp(18 + 2 * k - m)):.4f}" for m in range(16, 31))
        table += "\n"
    (cdi / "cdi_human.csv").write_text(table)
    ecfg = EvalConfig(
        tasks=["blimp_filtered", "probes_agreement", "aoa"],
        data_dir=str(data),
        eval_set="fast",
        checkpoints="words",
        max_items=5,
    )
    res = evaluate_checkpoints(out, ecfg, workspace, log=quiet, progress=False)
    assert list(res) == sorted(expected, key=lambda n: int(n[5:-1]))
    for name in expected:
        summary = json.loads((out / "eval" / name / "blimp_filtered.json").read_text())
        assert summary["subtasks"].keys() == {"agreement"} and summary["n_items"] == 1
    per_ckpt = json.loads((out / "eval" / saved[0] / "aoa.json").read_text())
    assert per_ckpt["metric"] == "surprisal" and per_ckpt["n_items"] == 2 * len(words)
    run_aoa = json.loads((out / "eval" / "aoa.json").read_text())
    assert run_aoa["checkpoints"] == list(res) and "curve_fitness" in run_aoa
    (workspace / "no-words").mkdir()
    with pytest.raises(UserError, match="no chck_<N>M folders"):
        evaluate_checkpoints(workspace / "no-words", ecfg, workspace, log=quiet, progress=False)

    # exported as revisions of one model, loadable as the pipeline's run.py loads them
    from transformers import AutoModelForCausalLM, AutoProcessor

    from cdsynth.revisions import export_revisions

    hub = workspace / "hub"
    commits = export_revisions(out, hub, "cdsynth/words")
    assert sorted(commits) == sorted([*expected, "main"])
    assert export_revisions(out, hub, "cdsynth/words") == commits  # unchanged: same commits
    for name in [*list(expected)[:2], "main"]:
        kw = dict(revision=name, cache_dir=str(hub), local_files_only=True, trust_remote_code=True)
        model = AutoModelForCausalLM.from_pretrained("cdsynth/words", **kw)
        proc = AutoProcessor.from_pretrained("cdsynth/words", padding_side="right", **kw)
        want = weights(out / (name if name != "main" else "step_12"))
        got = model.state_dict()
        assert all(torch.equal(got[k], want[k]) for k in want)
        assert proc("Mia was happy.")["input_ids"] == tok_ids("Mia was happy.", out)
    with pytest.raises(UserError, match="owner/name"):
        export_revisions(out, hub, "words")
    code, said, err = run_cli(monkeypatch, capsys, "export", "revisions", out, hub, "cdsynth/words")
    assert code == 0, err
    assert said.splitlines() == [f"cdsynth/words@{k}: snapshot {v}" for k, v in commits.items()]

    # an interrupted run resumes its count: the same folders, the same words
    interrupt_after(monkeypatch, train_mod, "save_checkpoint", 5)
    cut_cfg = tiny_config(workspace, spec, "train.checkpoint_every=1", "train.name=cut")
    with pytest.raises(KeyboardInterrupt):
        run_train(cut_cfg, log=quiet, progress=False)
    monkeypatch.undo()  # the saves work again (and the word unit is reset: set it again)
    monkeypatch.setattr(cw, "WORDS_PER_MARK", 100)
    cut = run_train(cut_cfg, log=quiet, progress=False)
    assert sorted(p.name for p in cut.glob("chck_*")) == saved
    for name in saved:
        a, b = (json.loads((d / name / "state.json").read_text()) for d in (out, cut))
        assert a["words_seen"] == b["words_seen"] and a["step"] == b["step"]
    assert Workspace(workspace).run("cut") == cut


def test_without_the_setting_the_run_is_unchanged(workspace):
    """No chck folders, no word counts in the state, and the run's config record (what its
    identity hashes) is the one runs had before the setting existed."""
    from cdsynth.config import to_dict

    cfg = tiny_config(workspace, "train.steps=4")
    out = run_train(cfg, log=quiet, progress=False)
    assert not list(out.glob("chck_*"))
    assert "words_seen" not in json.loads((out / "step_4" / "state.json").read_text())
    assert "checkpoint_words" not in to_dict(cfg.train)
    assert "checkpoint_words" not in json.loads((out / "train_config.json").read_text())["config"]
    with_words = tiny_config(workspace, "train.checkpoint_words=babylm-strict")
    assert to_dict(with_words.train)["checkpoint_words"] == "babylm-strict"


def test_real_and_synthetic_words_are_counted_apart(tok, monkeypatch):
    from cdsynth.checkpoint_words import WordCheckpoints

    monkeypatch.setattr(cw, "WORDS_PER_MARK", 5)
    real, syn = "Mia went to the park and sat down.", "Tom ran."

    def row(text):  # <s> text </s>, cut or padded to 8 tokens
        ids = [BOS_ID, *tok(text, add_special_tokens=False)["input_ids"], EOS_ID][:8]
        return ids + [PAD_ID] * (8 - len(ids))

    rows = np.array([row(real), row(syn), row(real)])
    counter = cw.WordCounter(tok)
    words = WordCheckpoints([1, 2, 4], tok)
    names = words.step(rows, np.array([False, True, False]))
    metrics = words.state()
    n_real = counter.count(rows[[0, 2]])
    assert metrics == {"words_seen": n_real, "synthetic_words_seen": counter.count(rows[[1]])}
    assert metrics["synthetic_words_seen"] == 2 and n_real > 5
    assert names == [cw.revision(m) for m in (1, 2, 4) if m * 5 <= n_real]
    assert words.step(rows[:0], np.array([], dtype=bool)) == [] and words.state() == metrics
