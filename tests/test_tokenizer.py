from transformers import AutoTokenizer

from cdsynth.config import TokenizerConfig
from cdsynth.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID, save_tokenizer, train_tokenizer

TEXTS = ["Mia gave the ball to Tom.", "Tom put the ball in the box.", "Hello, world!"] * 50


def test_round_trip_unicode_and_autotokenizer(tmp_path):
    tok = train_tokenizer(TEXTS, TokenizerConfig(vocab_size=300, min_frequency=1))
    save_tokenizer(tok, tmp_path / "tok", TokenizerConfig(vocab_size=300), inputs={})
    loaded = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    for text in [
        "Mia gave the ball to Tom.",
        "Zoë naïve café — 東京 🦊 ok",
        "  two  spaces\n\ttab",
    ]:
        ids = loaded(text, add_special_tokens=False)["input_ids"]
        assert loaded.decode(ids) == text
        assert ids == tok(text, add_special_tokens=False)["input_ids"]
    ids = [loaded.convert_tokens_to_ids(t) for t in ["<unk>", "<s>", "</s>", "<pad>"]]
    assert ids == [UNK_ID, BOS_ID, EOS_ID, PAD_ID]
    assert (loaded.bos_token_id, loaded.eos_token_id, loaded.pad_token_id) == (1, 2, 3)
    # common words became single tokens: the BPE actually learned merges
    assert len(loaded(" the ball", add_special_tokens=False)["input_ids"]) == 2
