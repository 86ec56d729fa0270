"""Seeded, stratified random subsets for evaluate.max_items and perplexity_documents."""

import json
from collections import Counter

import numpy as np
import pytest

from cdsynth.config import EvalConfig
from cdsynth.evaluate import load_task, subsets

from .conftest import SHARED_DATA


def entity_rows():
    """Sorted by numops like the real files, with a small last stratum."""
    sizes = {0: 40, 1: 38, 2: 41, 3: 39, 4: 35, 5: 9}
    return [{"id": f"{k}-{j}", "numops": k} for k, n in sizes.items() for j in range(n)]


def ewok_rows():
    """Concepts of very different sizes, in blocks like the real files."""
    sizes = {"believe": 60, "know": 8, "see": 22, "want": 4, "hear": 14, "hope": 2}
    return [{"id": f"{c}-{j}", "ConceptA": c} for c, n in sizes.items() for j in range(n)]


def test_stratified_subsets_contain_every_stratum():
    rows = entity_rows()
    kept = subsets.sample_rows(rows, 12, seed=0, salt="et/regular", stratum="numops", equal=True)
    assert Counter(r["numops"] for r in kept) == {k: 2 for k in range(6)}  # equal allocation
    kept = subsets.sample_rows(rows, 40, 0, "et/regular", "numops", equal=True)
    assert len(kept) == 40 and min(Counter(r["numops"] for r in kept).values()) == 6
    rows = ewok_rows()
    kept = subsets.sample_rows(rows, 20, seed=0, salt="ewok/agent", stratum="ConceptA")
    got = Counter(r["ConceptA"] for r in kept)
    assert set(got) == {r["ConceptA"] for r in rows} and sum(got.values()) == 20
    # largest remainder of 20 * size / 110 (10.9, 1.45, 4, 0.73, 2.55, 0.36) gives
    # 11, 1, 4, 1, 3, 0; the empty "hope" takes one from the most over-allocated ("hear")
    assert got == {"believe": 11, "know": 1, "see": 4, "want": 1, "hear": 2, "hope": 1}
    # the head rule would have kept one concept only
    assert {r["ConceptA"] for r in rows[:20]} == {"believe"}


def test_subsets_are_seeded_and_independent_of_file_order():
    files = {"regular": entity_rows(), "ambiref": entity_rows()[::-1]}
    a, rec = subsets.sample_files(files, 10, 3, "entity_tracking", "numops", True)
    b, _ = subsets.sample_files(
        dict(reversed(files.items())), 10, 3, "entity_tracking", "numops", True
    )
    assert a == b
    c, _ = subsets.sample_files(
        {"regular": files["regular"]}, 10, 3, "entity_tracking", "numops", True
    )
    assert c["regular"] == a["regular"]  # other files do not change a file's subset
    d, _ = subsets.sample_files(files, 10, 4, "entity_tracking", "numops", True)
    assert d["regular"] != a["regular"]  # another seed, another subset
    # kept rows stay in file order
    ids = [r["id"] for r in a["regular"]]
    assert ids == [r["id"] for r in files["regular"] if r["id"] in set(ids)]
    assert rec == {
        "method": "stratified_random",
        "seed": 3,
        "per_file": 10,
        "stratum": "numops",
        "allocation": "equal",
    }
    assert subsets.sample_files(files, None, 3, "x")[1] == {"method": "all"}


def test_fewer_items_than_strata_draws_strata_at_random():
    rows = ewok_rows()
    picks = {
        tuple(r["ConceptA"] for r in subsets.sample_rows(rows, 3, s, "f", "ConceptA"))
        for s in range(20)
    }
    assert all(len(set(p)) == 3 for p in picks) and len(picks) > 3


def test_task_results_record_the_subset():
    cfg = EvalConfig(max_items=8, subset_seed=5)
    data, fn = load_task("probes_tracking", cfg, ".")
    assert all(len(rows) == 8 for rows in data.values())
    assert len({r["numops"] for r in data["storyworld"]}) == 5  # numops 0..4, all present

    class Zeros:
        def continuation_logprobs(self, pairs):
            return np.arange(len(pairs), dtype=float) % 3

    res = fn(Zeros(), data)
    assert res.extra["subset"] == {
        "method": "stratified_random",
        "seed": 5,
        "per_file": 8,
        "stratum": "numops",
        "allocation": "equal",
    }


def test_perplexity_documents_are_a_sample_stratified_by_source(tmp_path):
    docs = [
        {"text": f"doc {i}", "source": "childes" if i < 90 else "gutenberg"} for i in range(100)
    ]
    docs += [{"text": "no source"} for _ in range(10)]
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    cfg = EvalConfig(perplexity_file=str(path), perplexity_documents=11, subset_seed=1)
    kept, fn = load_task("perplexity_packed", cfg, ".")
    got = Counter(d.get("source") for d in kept)
    assert got == {"childes": 9, "gutenberg": 1, None: 1}  # 11 * 90 / 110 = 9
    again, _ = load_task("perplexity", cfg, ".")
    assert again == kept  # both perplexity tasks see the same documents
    assert fn.args[1] == {
        "method": "stratified_random",
        "seed": 1,
        "documents": 11,
        "stratum": "source",
        "allocation": "proportional",
    }


@pytest.mark.skipif(not (SHARED_DATA / "ewok").is_dir(), reason="shared data not present")
def test_real_suites_subsets_cover_their_strata():
    from .test_evaluate import real_passwords

    cfg = EvalConfig(data_dir=str(SHARED_DATA), passwords=real_passwords(), max_items=24)
    data, _ = load_task("entity_tracking", cfg, ".")
    for rows in data.values():
        assert Counter(r["numops"] for r in rows) == {k: 4 for k in range(6)}
    full = EvalConfig(data_dir=str(SHARED_DATA), passwords=real_passwords())
    everything, _ = load_task("ewok", full, ".")
    data, _ = load_task("ewok", cfg, ".")
    for name, rows in data.items():
        assert len(rows) == 24
        assert {r["ConceptA"] for r in rows} == {r["ConceptA"] for r in everything[name]}
