import json

import pytest

from cdsynth.config import CorpusConfig
from cdsynth.corpus import (
    clean_text,
    load_documents,
    read_split,
    split_documents,
    write_corpus,
)
from cdsynth.errors import UserError
from cdsynth.storyworld import generate_stories

from .conftest import quiet


def test_storyworld_is_deterministic_and_sized():
    a = generate_stories(seed=3, words=5000)
    assert a == generate_stories(seed=3, words=5000)
    assert a != generate_stories(seed=4, words=5000)
    words = sum(len(d.split()) for d in a)
    assert 5000 <= words < 5000 + 400


def test_split_is_disjoint_complete_and_order_independent():
    docs = [f"document number {i}" for i in range(1000)]
    cfg = CorpusConfig(eval_fraction=0.1, seeds_fraction=0.05, seed=7)
    s = split_documents(docs, cfg)
    ids = {k: {r["id"] for r in v} for k, v in s.items()}
    assert len(ids["eval"]) == 100 and len(ids["seeds"]) == 50 and len(ids["train"]) == 850
    assert not ids["eval"] & ids["seeds"] and not ids["train"] & (ids["eval"] | ids["seeds"])
    assert ids["eval"] | ids["seeds"] | ids["train"] == set(range(1000))
    # the same texts in another order land in the same splits
    rev = docs[::-1]
    s2 = split_documents(rev, cfg)
    for k in s:
        assert {r["text"] for r in s[k]} == {r["text"] for r in s2[k]}
    # another seed gives another split
    s3 = split_documents(docs, CorpusConfig(eval_fraction=0.1, seeds_fraction=0.05, seed=8))
    assert {r["text"] for r in s3["eval"]} != {r["text"] for r in s["eval"]}


def test_cleaning_nfc_controls_and_duplicates(tmp_path):
    assert clean_text("Cafe\u0301\x07 ok\r\nnext\t!") == "Caf\u00e9 ok\nnext\t!"
    (tmp_path / "a.txt").write_text("Hello there.\n\n  \n\nHello there.\n\nSecond one.\n")
    (tmp_path / "b.txt").write_text("Third\u0007 one.")
    docs, stats = load_documents(CorpusConfig(source="text", path=str(tmp_path)))
    assert docs == ["Hello there.", "Second one.", "Third one."]
    assert stats.duplicates_dropped == 1 and stats.files == 2
    docs, _ = load_documents(CorpusConfig(source="text", path=str(tmp_path), documents="file"))
    assert len(docs) == 2


def test_jsonl_and_parquet_sources(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"text": f"doc {i}", "other": i} for i in range(5)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    for source, name in (("jsonl", "d.jsonl"), ("parquet", "d.parquet")):
        docs, _ = load_documents(CorpusConfig(source=source, path=str(tmp_path / name)))
        assert docs == [f"doc {i}" for i in range(5)]
    with pytest.raises(UserError, match="no column 'body'"):
        load_documents(CorpusConfig(source="parquet", path=str(tmp_path), text_field="body"))
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(UserError, match=r"bad.jsonl:2: malformed JSON"):
        load_documents(CorpusConfig(source="jsonl", path=str(tmp_path / "bad.jsonl")))


def test_write_corpus_outputs_and_counts(tmp_path):
    cfg = CorpusConfig(storyworld_words=20000, eval_fraction=0.1, seeds_fraction=0.1)
    counts = write_corpus(cfg, tmp_path / "c", log=quiet)
    from datasets import load_dataset

    ds = load_dataset("json", data_files=str(tmp_path / "c" / "train.jsonl"), split="train")
    assert len(ds) == counts["train"]["documents"]
    assert (tmp_path / "c" / "manifest.json").is_file()
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "eval.jsonl",
        "manifest.json",
        "seeds.jsonl",
        "stats.json",
        "train.jsonl",
    ]


def test_invalid_utf8_is_replaced_and_counted(tmp_path):
    (tmp_path / "good.txt").write_text("fine text here")
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 au lait")
    docs, stats = load_documents(CorpusConfig(source="text", path=str(tmp_path)))
    assert "caf\ufffd au lait" in docs
    assert stats.invalid_utf8_files == [str(tmp_path / "bad.txt")]


def test_rows_carry_their_source(tmp_path):
    """A top-level file is its own source; a subfolder's files share the folder's name."""
    src = tmp_path / "src"
    (src / "books").mkdir(parents=True)
    (src / "speech.txt").write_text("hi there\n\nhello you\n\nbye now", encoding="utf-8")
    (src / "books" / "a.txt").write_text("once upon a time", encoding="utf-8")
    (src / "books" / "b.txt").write_text("the end of it all", encoding="utf-8")
    cfg = CorpusConfig(source="text", path=str(src), eval_fraction=0.2, seeds_fraction=0.2)
    counts = write_corpus(cfg, tmp_path / "out", log=lambda *a: None)
    rows = [r for name in ("train", "eval", "seeds") for r in read_split(tmp_path / "out", name)]
    by_text = {r["text"]: r["source"] for r in rows}
    assert by_text == {
        "hi there": "speech.txt",
        "hello you": "speech.txt",
        "bye now": "speech.txt",
        "once upon a time": "books",
        "the end of it all": "books",
    }
    assert sum(c["sources"]["books"] for c in counts.values()) == 2


def test_invalid_utf8_warning_goes_to_stderr(tmp_path, monkeypatch, capsys):
    from .conftest import run_cli

    src = tmp_path / "src"
    src.mkdir()
    (src / "bad.txt").write_bytes(b"caf\xe9 au lait\n\nsecond one here\n\nthird one here")
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "corpus",
        f"workdir={tmp_path}/w",
        "corpus.source=text",
        f"corpus.path={src}",
        "corpus.eval_fraction=0.34",
        "corpus.seeds_fraction=0.33",
    )
    assert code == 0, err
    assert "invalid UTF-8" in err and "invalid UTF-8" not in out
    assert err.startswith("cdsynth: warning: ")


def test_subset_draws_every_source_in_proportion():
    from cdsynth.corpus import subset_documents

    docs = [f"a{i} " * 10 for i in range(60)] + [f"b{i} " * 10 for i in range(30)]
    sources = ["a"] * 60 + ["b"] * 30
    kept, kept_sources = subset_documents(docs, sources, 300, seed=0)
    assert kept_sources.count("a") == 20 and kept_sources.count("b") == 10
    assert kept == [d for d in docs if d in set(kept)]  # original order
    # keyed by text and seed: the read order does not matter, another seed draws others
    rev, _ = subset_documents(docs[::-1], sources[::-1], 300, seed=0)
    assert sorted(rev) == sorted(kept)
    assert sorted(subset_documents(docs, sources, 300, seed=1)[0]) != sorted(kept)
    assert subset_documents(docs, sources, 10_000, seed=0)[0] == docs


def test_subset_of_the_real_corpus(tmp_path):
    import pytest

    from .conftest import SHARED_DATA

    if not (SHARED_DATA / "corpus").is_dir():
        pytest.skip("shared corpus not present")
    cfg = CorpusConfig(source="text", path=str(SHARED_DATA / "corpus"), max_words=400_000)
    counts = write_corpus(cfg, tmp_path / "c", log=lambda *a: None)
    words = sum(c["words"] for c in counts.values())
    assert 360_000 <= words <= 400_000
    sources = {s for c in counts.values() for s, n in c["sources"].items() if n}
    assert sources == {"childes_aochildes.txt", "fairytaleqa_stories.txt", "gutenberg_children"}
