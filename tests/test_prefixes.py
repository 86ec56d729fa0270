"""Seed prefixes as the paper takes them: `seed_chunks` against a transcription of the paper's
`expand_seed_dataset`, on hand-made text and on real text."""

import re

import pytest

from cdsynth.generate.prefixes import chunk_text, seed_chunks

from .conftest import SHARED_DATA


# The paper's rule, transcribed statement for statement (not imported: a change to
# cdsynth.prefixes must not change the reference too). Source: janulm/contrastive-decoding-for-
# language-modeling @cdddeb6, data/load_datasets.py, expand_seed_dataset (its printing, the
# histogram and the Dataset wrapper left out).
def paper_expand_seed_dataset(seed_dataset, min_words=100):
    short_entries = []
    long_entries = []
    for i, entry in enumerate(seed_dataset):
        text = entry["text"]
        word_count = len(text.split())
        if word_count < min_words:
            short_entries.append(i)
        else:
            long_entries.append(i)
    expanded_entries = []
    for i in short_entries:
        expanded_entries.append(seed_dataset[i])
    for i in long_entries:
        text = seed_dataset[i]["text"]
        chunks = re.split(r"[.!?]\n", text)
        current_chunk = ""
        current_word_count = 0
        for chunk in chunks:
            chunk_word_count = len(chunk.split())
            if (
                current_word_count >= min_words
                and current_word_count + chunk_word_count > min_words * 2
            ):
                expanded_entries.append({"text": current_chunk})
                current_chunk = chunk
                current_word_count = chunk_word_count
            else:
                if current_chunk:
                    current_chunk += ".\n"
                current_chunk += chunk
                current_word_count += chunk_word_count
        if current_chunk and current_word_count >= min_words:
            expanded_entries.append({"text": current_chunk})
    return expanded_entries


def words(n: int, w: str = "w") -> str:
    return " ".join([w] * n)


def test_chunks_of_hand_made_documents():
    # 60 + 60 words: one chunk (under 2 x 100 after reaching 100), marks rejoined as ".\n"
    text = f"{words(60)}!\n{words(60)}?\n{words(30)}"
    assert chunk_text(text) == [f"{words(60)}.\n{words(60)}.\n{words(30)}"]
    # 120 + 90 + 95: the second piece would pass 2 x 100 words, so a new chunk starts with it;
    # the next piece joins it (90 < 100)
    text = f"{words(120)}.\n{words(90, 'x')}.\n{words(95, 'y')}"
    assert chunk_text(text) == [words(120), f"{words(90, 'x')}.\n{words(95, 'y')}"]
    # a tail under 100 words is dropped
    assert chunk_text(f"{words(150)}.\n{words(160)}.\n{words(99)}") == [words(150), words(160)]
    # a line break without a sentence mark does not split
    assert chunk_text(f"{words(150)}\n{words(150)}") == [f"{words(150)}\n{words(150)}"]
    # leading empty pieces add no delimiter; inner ones do
    text = f".\n{words(100)}.\n.\n{words(10)}"
    assert chunk_text(text) == [f"{words(100)}.\n.\n{words(10)}"]


def test_seed_chunks_order_ids_and_fields():
    rows = [
        {"id": 7, "text": f"{words(120)}.\n{words(90)}.\n{words(150)}", "source": "a"},
        {"id": 8, "text": "a short one.", "source": "b"},
        {"id": 9, "text": words(99), "source": "a"},
    ]
    out = seed_chunks(rows)
    assert [r["id"] for r in out] == ["8/0", "9/0", "7/0", "7/1"]
    assert [r["source"] for r in out] == ["b", "a", "a", "a"]
    assert [len(r["text"].split()) for r in out] == [3, 99, 120, 240]
    assert [r["text"] for r in out] == [r["text"] for r in paper_expand_seed_dataset(rows)]


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")
@pytest.mark.parametrize("min_words", [100, 20])
def test_seed_chunks_equal_the_papers_on_real_text(min_words):
    """Every paragraph and every whole file of the real corpus: the same chunks, in order."""
    files = sorted((SHARED_DATA / "corpus").rglob("*.txt"))
    texts = [f.read_text(encoding="utf-8")[:400_000] for f in files]
    rows = [{"text": t} for t in texts]
    rows += [{"text": p} for t in texts[:3] for p in t.split("\n\n")[:2000]]
    ours = [r["text"] for r in seed_chunks([{**r, "id": i} for i, r in enumerate(rows)], min_words)]
    theirs = [r["text"] for r in paper_expand_seed_dataset(rows, min_words)]
    assert len(ours) > len(rows) // 2 and ours == theirs


def test_generation_takes_prefixes_from_seed_chunks(tmp_path):
    """`generate.prefix_source=seed_chunks`: the seeds split, chunked, is what prefixes and
    their stratified choice see; `seeds` keeps one row per document."""
    from cdsynth.config import GenerateConfig
    from cdsynth.fileio import write_jsonl
    from cdsynth.generate import prefix_documents, select_prefix_documents

    docs = [
        {"id": 0, "text": f"{words(120)}.\n{words(130, 'x')}.\n{words(110, 'y')}", "source": "a"},
        {"id": 1, "text": "once upon a time", "source": "b"},
    ]
    write_jsonl(tmp_path / "corpus" / "seeds.jsonl", docs)
    rows, where = prefix_documents(GenerateConfig(prefix_source="seed_chunks"), tmp_path)
    assert where == tmp_path / "corpus" / "seeds.jsonl"
    assert [r["id"] for r in rows] == ["1/0", "0/0", "0/1", "0/2"]
    assert rows[2]["text"].startswith("x x") and rows[3]["text"].startswith("y y")
    cfg = GenerateConfig(prefix_source="seed_chunks", num_prefixes=3)
    chosen, record = select_prefix_documents(cfg, rows, str(where), None)
    assert record["available"] == 4 and len(chosen) == 3
    assert {r["source"] for r in chosen} == {"a", "b"}
    whole, _ = prefix_documents(GenerateConfig(prefix_source="seeds"), tmp_path)
    assert [r["id"] for r in whole] == [0, 1]
