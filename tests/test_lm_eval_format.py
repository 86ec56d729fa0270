"""cdsynth's evaluation results in lm-eval's layout: exact values on hand-made results, the
layout lm-eval's own code reads, and the same numbers as a real lm-eval run on one model."""

import json
import math
import shutil

import pytest

from cdsynth.evaluate.lm_eval_format import (
    lm_eval_results,
    lm_eval_samples,
    mean_stderr,
    sanitize,
    sha256,
    write_lm_eval,
)
from cdsynth.fileio import write_json, write_jsonl
from cdsynth.stages import run_train

from .conftest import SHARED_DATA, quiet, run_cli, tiny_config


def pair_items(subtask, correct):
    return [
        {"id": f"{subtask}/{i}", "subtask": subtask, "good": -1.0 - i, "bad": -2.0, "correct": c}
        for i, c in enumerate(correct)
    ]


BLIMP = pair_items("island", [True, False, True]) + pair_items("agreement", [True] * 3 + [False])
SUMMARIES = {
    "blimp": {"task": "blimp", "metric": "accuracy", "score": (2 / 3 + 3 / 4) / 2,
              "subtasks": {"agreement": 0.75, "island": 2 / 3}, "identity": "abc", "seconds": 1.5},
    "perplexity": {"task": "perplexity", "metric": "perplexity", "score": 12.5,
                   "subtasks": {"bits_per_byte": 1.25}, "seconds": 0.5},
    "entity_tracking": {"task": "entity_tracking", "metric": "accuracy", "score": 0.6,
                        "subtasks": {}, "seconds": 1.0},
}  # fmt: skip
ITEMS = {
    "blimp": BLIMP,
    "perplexity": [{"id": "1", "subtask": "eval", "nll": 30.0, "tokens": 10}],
    "entity_tracking": [
        {"id": f"f/{i}", "subtask": s, "scores": [-1.0, -2.0, -3.0], "correct": c}
        for i, (s, c) in enumerate([("a", True), ("a", False), ("b", True), ("b", True)])
    ],
}


def test_results_have_lm_evals_metric_keys_with_exact_values():
    res = lm_eval_results(SUMMARIES, ITEMS, "/runs/x/step_4", date=1.0)
    island, agreement = res["results"]["blimp_island"], res["results"]["blimp_agreement"]
    assert island == {
        "name": "blimp_island",
        "alias": "blimp_island",
        "sample_len": 3,
        "acc,none": 2 / 3,
        "acc_stderr,none": pytest.approx(1 / 3, rel=1e-12),
    }  # the sample sd of 1, 0, 1 is sqrt(1/3); over sqrt(3): 1/3
    assert agreement["acc,none"] == 0.75 and agreement["acc_stderr,none"] == pytest.approx(0.25)
    group = res["results"]["blimp"]
    assert group["acc,none"] == SUMMARIES["blimp"]["score"] and group["sample_len"] == 7
    se = math.sqrt(island["acc_stderr,none"] ** 2 + 0.25**2) / 2  # unweighted mean of two
    assert group["acc_stderr,none"] == pytest.approx(se, rel=1e-12)
    assert res["groups"] == {"blimp": group, "entity_tracking": res["results"]["entity_tracking"]}
    assert res["group_subtasks"] == {
        "blimp": ["blimp_agreement", "blimp_island"],
        "entity_tracking": ["entity_tracking_a", "entity_tracking_b"],
    }
    # entity tracking's score is no plain mean of its subtasks: no stderr claimed
    assert res["results"]["entity_tracking"]["acc_stderr,none"] == "N/A"
    ppl = res["results"]["perplexity"]
    assert ppl["perplexity,none"] == 12.5 and ppl["perplexity_stderr,none"] == "N/A"
    assert ppl["bits_per_byte,none"] == 1.25
    assert res["higher_is_better"]["perplexity"] == {"perplexity": False}
    assert res["higher_is_better"]["blimp_island"] == {"acc": True}
    assert res["versions"]["blimp"] == 1.0 and res["n-shot"]["blimp_island"] == 0
    assert res["n-samples"]["blimp_island"] == {"original": 3, "effective": 3}
    assert res["config"]["model_args"] == "pretrained=/runs/x/step_4"
    assert res["model_name_sanitized"] == "__runs__x__step_4" == sanitize("/runs/x/step_4")
    assert res["total_evaluation_time_seconds"] == "3.0"


def test_lm_evals_own_code_reads_the_layout():
    lm_utils = pytest.importorskip("lm_eval.utils")
    from lm_eval.api.metrics import mean_stderr as their_stderr
    from lm_eval.result_schema import EvalResults

    res = lm_eval_results(SUMMARIES, ITEMS, "/m", date=1.0)
    assert set(res) - {"cdsynth_version"} <= set(EvalResults.__annotations__)
    table = lm_utils.make_table(res)
    assert " - blimp_island" in table and "0.6667" in table and "12.5000" in table
    for values in ([1, 0, 1], [1, 1, 1, 0], [0, 1]):
        assert mean_stderr(values) == pytest.approx(their_stderr(values), rel=1e-12)
    assert lm_utils.sanitize_model_name("/a/b:c") == sanitize("/a/b:c")


def test_samples_and_files(tmp_path):
    folder = tmp_path / "step_4"
    for name, summary in SUMMARIES.items():
        write_json(folder / f"{name}.json", summary | {"checkpoint": "/runs/x/step_4"})
        write_jsonl(folder / f"{name}.items.jsonl", ITEMS[name])
    path = write_lm_eval(folder, tmp_path / "out", ["blimp", "perplexity"], date_id="D")
    assert path == tmp_path / "out" / "__runs__x__step_4" / "results_D.json"
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == [
        "results_D.json", "samples_blimp_agreement_D.jsonl", "samples_blimp_island_D.jsonl",
        "samples_perplexity_D.jsonl",
    ]  # fmt: skip
    lines = (path.parent / "samples_blimp_island_D.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert first["acc"] == 1.0 and first["metrics"] == ["acc"] and first["target"] == "0"
    assert first["resps"] == [[-1.0], [-2.0]] and first["doc"] == {
        "id": "island/0",
        "subtask": "island",
    }
    assert [json.loads(x)["acc"] for x in lines] == [1.0, 0.0, 1.0]
    res = json.loads(path.read_text())
    samples = lm_eval_samples(SUMMARIES["blimp"], BLIMP)["blimp_island"]
    expect = sha256("".join(s["doc_hash"] + s["prompt_hash"] + s["target_hash"] for s in samples))
    assert res["task_hashes"]["blimp_island"] == expect
    assert "entity_tracking" not in res["results"]  # only the tasks asked for


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_workspace):
    root = tmp_path_factory.mktemp("lmeval") / "ws"
    shutil.copytree(tiny_workspace, root)
    run_train(tiny_config(root), log=quiet, progress=False)
    return root


BLIMP_FILE = SHARED_DATA / "blimp" / "adjunct_island.jsonl"


@pytest.mark.skipif(not BLIMP_FILE.is_file(), reason="needs ../shared/data/blimp")
def test_same_numbers_as_a_real_lm_eval_run(trained, tmp_path, monkeypatch, capsys):
    """`cdsynth eval --format lm-eval` on 12 BLiMP pairs under lm-eval's rules (EOS context,
    leading space) == lm-eval's own run of the same pairs on the same checkpoint: acc,none and
    acc_stderr,none, and the same entry keys."""
    pytest.importorskip("lm_eval")
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    data = tmp_path / "data" / "blimp"
    data.mkdir(parents=True)
    lines = BLIMP_FILE.read_text().splitlines()[:12]
    (data / "adjunct_island.jsonl").write_text("\n".join(lines) + "\n")
    ckpt = trained / "runs" / "baseline" / "step_12"
    code, out, err = run_cli(
        monkeypatch, capsys, "eval", ckpt, f"workdir={trained}", f"evaluate.data_dir={data.parent}",
        "evaluate.bos_rule=eos", "evaluate.leading_space=true", "evaluate.device=cpu",
        "--tasks", "blimp", "--out", tmp_path / "eval", "--format", "lm-eval",
    )  # fmt: skip
    assert code == 0, err
    [path] = (tmp_path / "eval" / "lm-eval" / sanitize(str(ckpt))).glob("results_*.json")
    ours = json.loads(path.read_text())["results"]["blimp"]
    task_dir = tmp_path / "task"
    task_dir.mkdir()
    (task_dir / "blimp_local.yaml").write_text(
        "task: blimp_local\ndataset_path: json\ndataset_kwargs:\n"
        f"  data_files: {data / 'adjunct_island.jsonl'}\n  cache_dir: {tmp_path / 'cache'}\n"
        "output_type: multiple_choice\ntest_split: train\ndoc_to_text: ''\ndoc_to_target: 0\n"
        "doc_to_choice: '{{[sentence_good, sentence_bad]}}'\nnum_fewshot: 0\n"
        "metric_list:\n  - metric: acc\n    aggregation: mean\n    higher_is_better: true\n"
    )
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    theirs = simple_evaluate(
        model="hf", model_args=f"pretrained={ckpt},dtype=float32", tasks=["blimp_local"],
        task_manager=TaskManager(include_path=str(task_dir), include_defaults=False),
        device="cpu", batch_size=4,
    )["results"]["blimp_local"]  # fmt: skip
    assert set(ours) == set(theirs) and ours["sample_len"] == theirs["sample_len"] == 12
    assert ours["acc,none"] == theirs["acc,none"]
    assert ours["acc_stderr,none"] == pytest.approx(theirs["acc_stderr,none"], rel=1e-12)
