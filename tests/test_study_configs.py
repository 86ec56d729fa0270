"""The shipped study configs, checked without running them: the paper's regime as read in the
paper's code, and the stage graph each one expands into."""

import json
from pathlib import Path

import pytest

from cdsynth.config import load_config
from cdsynth.graph import build_graph
from cdsynth.stages import run_corpus, run_tokenizer
from cdsynth.study import study_conditions, train_config

from .conftest import SHARED_DATA

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_paper_config_is_the_papers_training_regime():
    cfg = load_config(CONFIGS / "paper.yaml")
    t = cfg.train
    assert (t.steps, t.batch_size, t.block_len) == (8000, 256, 1024)  # ~2.1B tokens
    assert t.batch_size * t.block_len * t.steps == 8000 * 256 * 1024
    assert (t.lr, t.warmup_steps, t.min_lr, t.weight_decay) == (1e-3, 150, 0.0, 0.1)
    assert (t.beta1, t.beta2, t.grad_clip, t.decay) == (0.9, 0.999, 0.0, "all")
    assert (t.checkpoint_every, t.eval_every) == (500, 500)
    assert t.model.resolved().n_layers == 12 and t.model.resolved().hidden == 768
    assert cfg.study.seeds == list(range(42, 52))
    assert cfg.study.good_step == 2500
    g = cfg.generate
    # 20-token prefixes counting <s>, from the paper's seed chunks; 8 x 400 tokens in fp32
    assert (g.prefix_tokens + 1, g.completions, g.new_tokens) == (20, 8, 400)
    assert (g.prefix_source, g.dtype) == ("seed_chunks", "fp32")
    assert (g.decoding.alpha, g.decoding.lam, g.decoding.paper_compatible) == (0.1, 1.0, True)
    # the paper's "30%" as its code realises it: int(16 x 0.3) / 16
    assert cfg.study.ratio == int(16 * 0.3) / 16 == 0.25
    assert "blimp_filtered" in cfg.evaluate.tasks and "blimp" not in cfg.evaluate.tasks


def test_paper_config_graph():
    cfg = load_config(CONFIGS / "paper.yaml")
    conds = {c.name: c for c in study_conditions(cfg)}
    early = conds["cd-early-500"].generate
    # GOOD and BAD from the seed-43 baseline, as the paper's generation scripts
    assert early.good == "runs/baseline-seed43/step_2500"
    assert early.bad == "runs/baseline-seed43/step_500"
    assert conds["cd-small-20"].generate.bad == "runs/small-20-seed43/step_2500"
    assert conds["cd-drop-0.5"].generate.bad_dropout == 0.5
    # the paper's grids: top-k 50/100/200 and top-p 0.90/0.95/0.97 for CD and No-Contrast,
    # the ratio from 0.1 to 1.0 realised as int(16 r) / 16
    for base in ("cd-early-500", "no-contrast"):
        assert [conds[f"{base}-top_k-{k}"].generate.decoding.top_k for k in (50, 100, 200)]
        assert [conds[f"{base}-top_p-{p}"].generate.decoding.top_p for p in (0.9, 0.95, 0.97)]
    ratios = sorted(c.ratio for n, c in conds.items() if n.startswith("cd-early-500-ratio-"))
    assert [*ratios[:2], 0.25, *ratios[2:]] == [int(16 * r / 10) / 16 for r in range(1, 11)]
    names = [s.name for s in build_graph(cfg, log=lambda *a: None)]
    trains = [n for n in names if n.startswith("train/")]
    # 10 baseline seeds, one small model, and one mixed run per condition and seed
    assert len(trains) == 10 + 1 + len(conds) * 10
    assert "train/small-20-seed43" in trains
    # conditions that differ only in the mixing ratio share one synthetic corpus
    generated = [n for n in names if n.startswith("generate/")]
    assert len(generated) == len(conds) - 9 and "generate/cd-early-500-ratio-0.5" not in generated
    assert names[-1] == "report"


@pytest.mark.slow
def test_output_neutral_settings_never_make_a_finished_study_stale(tmp_path):
    """After a finished tiny study, batch sizes, devices, formats, the engine path and the
    scorer's packing leave every stage done; alpha, a ratio or a corpus file make exactly the
    stages that read them stale."""
    from cdsynth.graph import experiment_status, run_experiment

    from .conftest import quiet, tiny_config
    from .test_experiment import STUDY

    root = tmp_path / "ws"
    cfg = tiny_config(root, *STUDY)
    run_experiment(cfg, log=quiet)
    neutral = [
        "generate.batch_size=4",
        "generate.formats=[parquet, jsonl]",
        "generate.engine=lean",
        "evaluate.batch_tokens=1024",
        "evaluate.packing=padded",
        "train.device=cpu",
    ]
    status = experiment_status(tiny_config(root, *STUDY, *neutral))
    assert all(state == "done" for _, state in status), status
    # a run with nothing left to do still prints the study's summary
    logs = []
    assert all(w == "skipped" for _, w in run_experiment(cfg, log=logs.append))
    printed = "\n".join(logs)
    assert "| baseline" in printed and "cd-early" in printed and "report.html" in printed

    def stale(*extra):
        return {n for n, s in experiment_status(tiny_config(root, *STUDY, *extra)) if s != "done"}

    cd_only = {"generate/cd-early", "train/mix-cd-early-seed0", "eval/mix-cd-early-seed0"}
    assert stale("generate.decoding.alpha=0.2") == {
        "generate/no-contrast-vhead",
        "train/mix-no-contrast-vhead-seed0",
        "eval/mix-no-contrast-vhead-seed0",
        *cd_only,
        "report",
    }
    # the default ratio: every mixed run that uses it, none of the corpora
    mixes = {
        f"{k}/mix-{c}-seed0"
        for k in ("train", "eval")
        for c in ("no-contrast", "no-contrast-vhead", "cd-early")
    }
    assert stale("study.ratio=0.2") == mixes | {"report"}


def test_an_edited_corpus_file_makes_the_corpus_and_everything_after_it_stale(tmp_path):
    from .conftest import quiet, tiny_config

    src = tmp_path / "texts"
    src.mkdir()
    (src / "a.txt").write_text("one story here\n\nanother one\n", encoding="utf-8")
    args = ["corpus.source=text", f"corpus.path={src}"]

    def hashes():
        cfg = tiny_config(tmp_path / "ws", *args)
        return {s.name: s.hash for s in build_graph(cfg, log=quiet)}

    before = hashes()
    assert before == hashes()  # nothing changed: the same identities
    (src / "a.txt").write_text("one story here\n\nanother one, edited\n", encoding="utf-8")
    after = hashes()
    assert all(after[name] != before[name] for name in before)


# ----- configs/reference-cpu.yaml: the data-constrained CPU study -----------------------------

REFERENCE = CONFIGS / "reference-cpu.yaml"
REFERENCE_CONDITIONS = [
    "cd-early-70",
    "no-contrast",
    "no-contrast-vhead",
    "cd-small",
    "cd-drop-0.5",
    "cd-early-70-top_k-200",
    "cd-early-70-top_k-50",
    "cd-early-70-top_k-1000",
    "no-contrast-top_k-200",
    "no-contrast-top_k-50",
    "no-contrast-top_k-1000",
    "cd-early-70-top_p-0.9",
    "no-contrast-top_p-0.9",
    "cd-early-70-ratio-0.1",
    "cd-early-70-ratio-0.2",
    "cd-early-70-ratio-0.4",
    "cd-early-70-ratio-0.5",
]


def test_reference_config_graph():
    cfg = load_config(REFERENCE)
    assert cfg.study.seeds == [0, 1, 2]
    conds = {c.name: c for c in study_conditions(cfg)}
    assert list(conds) == REFERENCE_CONDITIONS
    early = conds["cd-early-70"].generate
    assert early.good == f"runs/baseline-seed0/step_{cfg.study.good_step}"
    assert early.bad == "runs/baseline-seed0/step_70"
    assert (early.decoding.alpha, early.decoding.lam, early.decoding.top_k) == (0.1, 1.0, 0)
    # CD-Small: the small run (half the layers and width) at GOOD's step; CD-Drop: GOOD itself
    assert conds["cd-small"].generate.bad == f"runs/small-seed0/step_{cfg.study.good_step}"
    small, base = train_config(cfg, "small", 0).model.resolved(), cfg.train.model.resolved()
    assert (small.n_layers, small.hidden) == (base.n_layers // 2, base.hidden // 2)
    drop = conds["cd-drop-0.5"].generate
    assert (drop.bad, drop.bad_dropout, drop.bad_dropout_kind) == (None, 0.5, "attention")
    assert conds["no-contrast-top_k-50"].generate.decoding.top_k == 50
    assert conds["cd-early-70-top_p-0.9"].generate.decoding.top_p == 0.9
    ratios = {n: c.ratio for n, c in conds.items()}
    assert ratios["cd-early-70-ratio-0.1"] == 0.1
    assert {r for n, r in ratios.items() if "-ratio-" not in n} == {0.3}
    g = cfg.generate
    assert g.corpus_tokens == "real" and g.prefix_tokens + g.new_tokens <= cfg.train.block_len
    stages = build_graph(cfg, log=lambda *a: None)
    names = [s.name for s in stages]
    trains = [s for s in stages if s.kind == "train"]
    assert len(trains) == 3 + 1 + len(conds) * 3  # baselines, the small amateur, mixed runs
    # every mixed run trains as long as the baseline
    steps = {s.config["steps"] for s in trains}
    assert steps == {cfg.train.steps}
    # the ratio sweep trains on the base condition's corpus: no generation of its own
    gens = sorted(n for n in names if n.startswith("generate/"))
    assert gens == sorted(f"generate/{c}" for c in REFERENCE_CONDITIONS if "-ratio-" not in c)
    assert len([n for n in names if n.startswith("eval/")]) == len(trains) - 1
    # each method's run is scored right after it trains
    for i, n in enumerate(names):
        if n.startswith("eval/"):
            assert names[i - 1] == "train/" + n.removeprefix("eval/")
    ev = cfg.evaluate
    assert set(ev.tasks) == {
        "perplexity",
        "blimp_filtered",
        "blimp_supplement",
        "ewok",
        "entity_tracking",
        "wug",
        "reading",
    }
    assert ev.max_items and 70 in ev.steps and cfg.train.steps in ev.steps
    assert names[-1] == "report"


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")
def test_reference_config_is_data_constrained(tmp_path):
    """On the real corpus subset: BAD (step 70) is one epoch, the run about ten, and GOOD
    (the lowest held-out loss in seed 0's run, see RESULTS.md) lies in between."""
    from tokenizers import Tokenizer

    from .conftest import quiet

    cfg = load_config(REFERENCE, [f"workdir={tmp_path}", f"corpus.path={SHARED_DATA / 'corpus'}"])
    run_corpus(cfg, log=quiet)
    run_tokenizer(cfg, log=quiet)
    tok = Tokenizer.from_file(str(tmp_path / "tokenizer" / "tokenizer.json"))
    rows = [json.loads(line) for line in (tmp_path / "corpus" / "train.jsonl").open()]
    assert {r["source"] for r in rows} == {p.name for p in (SHARED_DATA / "corpus").iterdir()}
    words = sum(len(r["text"].split()) for r in rows)
    assert 150_000 < words < 250_000
    tokens = sum(len(tok.encode(r["text"]).ids) + 2 for r in rows)  # <s> ... </s>
    epoch = tokens / (cfg.train.batch_size * cfg.train.block_len)  # optimizer steps
    assert abs(cfg.study.amateurs["early-70"]["step"] / epoch - 1) < 0.05
    assert 9 <= cfg.train.steps / epoch <= 11
    assert 2 <= cfg.study.good_step / epoch <= 8


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")
def test_reference_config_shrunk_runs_end_to_end(tmp_path):
    """The reference study's graph with every size cut down runs to its report on real data."""
    from cdsynth.graph import experiment_status, run_experiment
    from cdsynth.workspace import Workspace

    from .conftest import quiet
    from .test_evaluate import real_passwords

    pw = real_passwords()
    shrunk = [
        f"workdir={tmp_path}",
        f"corpus.path={SHARED_DATA / 'corpus'}",
        "corpus.max_words=20000",
        "tokenizer.vocab_size=512",
        "train.model=test-micro",
        "train.block_len=64",
        "train.batch_size=8",
        "train.micro_batch_size=8",
        "train.steps=24",
        "train.warmup_steps=2",
        "train.eval_every=4",
        "train.checkpoint_every=4",
        "train.compile=false",
        "generate.new_tokens=44",
        "generate.corpus_tokens=3000",
        "evaluate.max_items=3",
        "evaluate.perplexity_documents=10",
        "evaluate.steps=[4, 24]",
        f"evaluate.passwords.ewok={pw.ewok}",
        f"evaluate.passwords.entity_tracking={pw.entity_tracking}",
        "study.seeds=[0, 1]",
        "study.good_step=16",
        "study.amateurs.early-70.step=4",
        "study.amateurs.small.step=16",
        # one value of each kind of sweep: truncation on CD and No-Contrast, the mixing ratio
        "study.sweeps=[{base: cd-early-70, key: top_k, values: [50]},"
        " {base: no-contrast, key: top_p, values: [0.9]},"
        " {base: cd-early-70, key: ratio, values: [0.5]}]",
        "study.bootstrap_samples=50",
    ]
    cfg = load_config(REFERENCE, shrunk)
    run_experiment(cfg, log=quiet)
    assert all(state == "done" for _, state in experiment_status(cfg))
    summary = json.loads((Workspace(cfg.workdir).report / "summary.json").read_text())
    kinds = ["cd-early-70-top_k-50", "no-contrast-top_p-0.9", "cd-early-70-ratio-0.5"]
    assert set(summary["seeds"]) == {"baseline", *REFERENCE_CONDITIONS[:5], *kinds}
    assert all(len(seeds) == 2 for seeds in summary["seeds"].values())
