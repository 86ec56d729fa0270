import numpy as np
import pytest

from cdsynth.blocks import (
    Blocks,
    MixtureSampler,
    pack_texts,
    stream_indices,
    synthetic_documents,
    synthetic_rows_before,
)
from cdsynth.config import TokenizerConfig
from cdsynth.errors import UserError
from cdsynth.tokenizer import BOS_ID, EOS_ID, PAD_ID, train_tokenizer

from .conftest import quiet  # noqa: F401


@pytest.fixture(scope="module")
def tok():
    texts = [f"story {i}: Mia gave the ball to Tom and Tom said thanks." for i in range(100)]
    return train_tokenizer(texts, TokenizerConfig(vocab_size=300, min_frequency=1))


def test_packing_is_exact(tok, tmp_path):
    texts = [f"doc {i} " + "word " * (i % 13) for i in range(57)]
    meta = pack_texts(tok, texts, block_len=16, out_dir=tmp_path / "b")
    b = Blocks(tmp_path / "b")
    flat = b.array.reshape(-1)
    expected = []
    for t in texts:
        expected += [BOS_ID, *tok(t, add_special_tokens=False)["input_ids"], EOS_ID]
    assert meta["n_tokens"] == len(expected)
    assert flat[: len(expected)].tolist() == expected
    assert (flat[len(expected) :] == PAD_ID).all() and len(flat) - len(expected) < 16
    assert b.array.dtype == np.uint16
    # one epoch of the shuffled stream visits every block exactly once
    n = len(b)
    epoch = stream_indices(n, seed=0, start=0, count=n)
    assert sorted(epoch.tolist()) == list(range(n))
    two = stream_indices(n, seed=0, start=n - 3, count=6)
    assert two[:3].tolist() == epoch[-3:].tolist()
    assert sorted(stream_indices(n, seed=0, start=n, count=n).tolist()) == list(range(n))
    assert stream_indices(n, 1, 0, n).tolist() != epoch.tolist()


def test_too_small_for_block_len(tok, tmp_path):
    with pytest.raises(UserError, match="too small for block_len=512"):
        pack_texts(tok, ["tiny"], block_len=512, out_dir=tmp_path / "b")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("ratio", [0.1, 0.3, 0.5, 0.25, 1.0])
@pytest.mark.parametrize("batch", [7, 16, 13])
def test_mixture_share_within_one_row(tok, tmp_path, ratio, batch):
    real_dir, syn_dir = tmp_path / "r", tmp_path / "s"
    pack_texts(tok, ["real text number %d" % i for i in range(300)], 8, real_dir)
    pack_texts(tok, ["synthetic words %d here" % i for i in range(300)], 8, syn_dir)
    real, syn = Blocks(real_dir), Blocks(syn_dir)
    sampler = MixtureSampler(real, syn, ratio, batch, seed=0)
    total_syn = 0
    real_rows = {tuple(r) for r in real.array.tolist()}
    for step in range(60):
        rows, is_syn = sampler.batch(step)
        assert rows.shape == (batch, 8)
        total_syn += int(is_syn.sum())
        assert abs(total_syn - ratio * batch * (step + 1)) <= 0.5 + 1e-9
        # the mask is right: real rows come from the real blocks
        assert all(tuple(r) in real_rows for r in rows[~is_syn].tolist())
    assert total_syn == synthetic_rows_before(60, ratio, batch)
    if ratio == 1.0:  # the paper's 100%-synthetic run: no real row at all
        assert total_syn == 60 * batch
    # the paper's int(16 * 0.3) = 4 rows would give 25%; ours gives 30% over 10 steps of 16
    assert synthetic_rows_before(10, 0.3, 16) == 48


def test_batches_are_a_pure_function_of_step(tok, tmp_path):
    pack_texts(tok, ["text %d" % i for i in range(200)], 8, tmp_path / "r")
    s = MixtureSampler(Blocks(tmp_path / "r"), None, 0.0, 5, seed=2)
    later = s.batch(17)[0]
    for step in range(17):
        s.batch(step)
    assert (s.batch(17)[0] == later).all()


def test_each_generated_segment_packs_as_its_own_document(tok, tmp_path):
    """A completion that ran past </s> (two segments) becomes two <s> ... </s> documents;
    empty segments are counted and left out, exact duplicates counted and kept."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {
            "text": "Mia gave the ball.\n\nTom said thanks.",
            "segments": ["Mia gave the ball.", "Tom said thanks."],
        },
        {"text": "Tom said thanks.", "segments": ["Tom said thanks.", "  "]},
    ]
    folder = tmp_path / "syn"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(rows), folder / "synthetic.parquet")
    files, docs, counts = synthetic_documents(folder)
    assert files == [folder / "synthetic.parquet"]
    assert docs == ["Mia gave the ball.", "Tom said thanks.", "Tom said thanks."]
    assert counts == {"rows": 2, "segments": 3, "empty_segments": 1, "duplicate_segments": 1}
    meta = pack_texts(
        tok, docs[:2], block_len=8, out_dir=tmp_path / "b", extra={"synthetic": counts}
    )
    flat = Blocks(tmp_path / "b").array.reshape(-1)[: meta["n_tokens"]].tolist()
    first = tok("Mia gave the ball.", add_special_tokens=False)["input_ids"]
    second = tok("Tom said thanks.", add_special_tokens=False)["input_ids"]
    assert flat == [BOS_ID, *first, EOS_ID, BOS_ID, *second, EOS_ID]
    assert meta["synthetic"]["empty_segments"] == 1


def test_synthetic_rows_without_segments_are_one_document_each(tmp_path):
    (tmp_path / "s.jsonl").write_text('{"text": "a b"}\n{"text": "a b"}\n', encoding="utf-8")
    _, docs, counts = synthetic_documents(tmp_path / "s.jsonl")
    assert docs == ["a b", "a b"] and counts["duplicate_segments"] == 1
    (tmp_path / "t.jsonl").write_text('{"body": "x"}\n', encoding="utf-8")
    with pytest.raises(UserError, match="row 1"):
        synthetic_documents(tmp_path / "t.jsonl")
