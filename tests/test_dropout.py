"""The lean engine's dropout amateur (keyed, reproducible masks; attention dropout as HF
Llama applies it in train mode) and its float32 output layer."""

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from cdsynth.engine import Dropout, LeanLlama
from cdsynth.engine.keyed_random import STREAM_DROPOUT, keyed_uniform, keyed_uniform_torch

VOCAB = 50
SEED = 3


def hf_model(seed=0, dtype=torch.float32, attention_dropout=0.0, **config):
    """A small LLaMA with grouped-query attention, HF's eager attention; `config`: more
    LlamaConfig fields."""
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        attention_dropout=attention_dropout,
        attn_implementation="eager",
        **config,
    )
    m = LlamaForCausalLM(cfg)
    with torch.no_grad():  # sharper attention and logits than the default init
        for p in m.parameters():
            if p.dim() == 2:
                p.mul_(4)
    return m.to(dtype)


def decode(lean, prefixes, steps, dropout=None):
    """Left-padded prefill, then one forward per token of `steps` (rows, n): per-step logits
    (n + 1, M, rows, vocab); the last token of `steps` is not fed."""
    B, P = len(prefixes), max(len(p) for p in prefixes)
    pads = torch.tensor([P - len(p) for p in prefixes])
    ids = torch.zeros(B, P, dtype=torch.long)
    for r, p in enumerate(prefixes):
        ids[r, P - len(p) :] = torch.tensor(p)
    n = steps.shape[1]
    valid = torch.ones(B, P + n, dtype=torch.bool)
    valid[:, :P] = torch.arange(P)[None] >= pads[:, None]
    positions = (torch.arange(P)[None] - pads[:, None]).clamp_min(0)
    cache = lean.new_cache(B, P + n)
    out = [lean.forward(ids, positions, cache, 0, valid[:, :P], dropout)]
    for t in range(n - 1):
        pos = positions[:, -1:] + t + 1
        out.append(
            lean.forward(steps[:, t : t + 1], pos, cache, P + t, valid[:, : P + t + 1], dropout)
        )
    return torch.stack(out)


def reference_keep(p, row_key, layer, n_heads, length):
    """The mask a row should get, from keyed_random itself: (heads, length, length)."""
    u = keyed_uniform(
        SEED,
        STREAM_DROPOUT,
        row_key[0],
        row_key[1],
        layer,
        np.arange(n_heads)[:, None, None],
        np.arange(length)[None, :, None],
        np.arange(length)[None, None, :],
    )
    return torch.from_numpy((u >= p) / (1 - p))


def test_keyed_uniform_torch_equals_numpy():
    keys = (SEED, STREAM_DROPOUT, np.array([[0], [7], [2**40]]), -3, np.arange(5)[None, :])
    ref = keyed_uniform(*keys)
    ours = keyed_uniform_torch(
        *(torch.as_tensor(k) if isinstance(k, np.ndarray) else k for k in keys)
    )
    assert ours.dtype == torch.float64 and torch.equal(ours, torch.from_numpy(ref))


def test_attention_dropout_equals_transformers_train_mode(monkeypatch):
    """Model 1 with attention dropout p == HF LlamaForCausalLM in train mode with
    attention_dropout=p, when HF's dropout draws the same keyed mask; model 0 == HF eval."""
    p = 0.3
    good = hf_model(0, attention_dropout=p)
    lean = LeanLlama([good, good], torch.float32)
    prefixes = [[1, 5, 9, 11, 4, 7], [1, 8, 3]]
    keys = np.array([[4, 0], [9, 2]])
    steps = torch.tensor([[12, 13, 14, 15], [21, 22, 23, 24]])
    ours = decode(lean, prefixes, steps, Dropout(p, SEED, keys, model=1, kind="attention"))

    n_layers, n_heads = good.config.num_hidden_layers, good.config.num_attention_heads
    real_dropout = torch.nn.functional.dropout
    for r, pre in enumerate(prefixes):
        full = torch.tensor([pre + steps[r, :-1].tolist()])
        L = full.shape[1]
        good.eval()
        ref_eval = good(input_ids=full).logits[0]
        calls = []

        def keyed_dropout(x, p=0.5, training=True, inplace=False, r=r, L=L, calls=calls):
            assert training and x.shape == (1, n_heads, L, L)
            keep = reference_keep(p, keys[r], len(calls) % n_layers, n_heads, L)
            calls.append(1)
            return x * keep.to(x.dtype)

        monkeypatch.setattr(torch.nn.functional, "dropout", keyed_dropout)
        good.train()
        with torch.no_grad():
            ref_train = good(input_ids=full).logits[0]
        monkeypatch.setattr(torch.nn.functional, "dropout", real_dropout)
        assert len(calls) == n_layers
        at = torch.arange(len(pre) - 1, L)  # the positions whose logits decode returns
        torch.testing.assert_close(ours[:, 1, r], ref_train[at], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ours[:, 0, r], ref_eval[at], rtol=1e-5, atol=1e-5)
        assert (ref_train[at] - ref_eval[at]).abs().max() > 0.1  # dropout does something


@pytest.mark.parametrize("kind", ["attention", "residual"])
def test_dropout_masks_are_reproducible_and_independent_of_batching(kind):
    good = hf_model(1, torch.float64)
    lean = LeanLlama([good, good], torch.float64)
    prefixes = [[1, 5, 9, 11, 4, 7], [1, 8, 3], [1, 30]]
    keys = np.array([[0, 0], [0, 1], [5, 3]])
    steps = torch.randint(4, VOCAB, (3, 6), generator=torch.Generator().manual_seed(0))

    def run(rows, seed=SEED):
        drop = Dropout(0.4, seed, keys[rows], model=1, kind=kind)
        return decode(lean, [prefixes[r] for r in rows], steps[rows], drop)

    a = run([0, 1, 2])
    assert torch.equal(a, run([0, 1, 2]))  # the same run twice
    # each row alone (other padding, other batch mates): the same masks, so the same logits
    for r in range(3):
        torch.testing.assert_close(run([r])[:, :, 0], a[:, :, r], rtol=0, atol=1e-12)
    # reordered rows carry their masks with them
    torch.testing.assert_close(run([2, 0, 1])[:, :, 1], a[:, :, 0], rtol=0, atol=1e-12)
    # another seed, other masks; and only model 1 is dropped
    b = run([0, 1, 2], seed=SEED + 1)
    assert (a[:, 1] - b[:, 1]).abs().max() > 1e-3 and torch.equal(a[:, 0], b[:, 0])


@pytest.mark.parametrize("kind", ["attention", "residual"])
def test_dropout_zero_equals_no_dropout(kind):
    good = hf_model(2, torch.float64)
    lean = LeanLlama([good, good], torch.float64)
    prefixes, keys = [[1, 5, 9], [1, 8, 3, 4, 2]], np.array([[0, 0], [1, 0]])
    steps = torch.tensor([[6, 7, 8], [9, 10, 11]])
    plain = decode(lean, prefixes, steps)
    assert torch.equal(decode(lean, prefixes, steps, Dropout(0.0, SEED, keys, kind=kind)), plain)
    assert torch.equal(plain[:, 0], plain[:, 1])


def test_the_two_kinds_differ_and_unknown_kind_is_rejected():
    good = hf_model(3, torch.float64)
    lean = LeanLlama([good, good], torch.float64)
    prefixes, keys = [[1, 5, 9, 4]], np.array([[0, 0]])
    steps = torch.tensor([[6, 7, 8]])
    att = decode(lean, prefixes, steps, Dropout(0.3, SEED, keys, kind="attention"))
    res = decode(lean, prefixes, steps, Dropout(0.3, SEED, keys, kind="residual"))
    assert (att[:, 1] - res[:, 1]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="unknown dropout kind"):
        Dropout(0.3, SEED, keys, kind="embedding")


def test_fused_one_query_attention_applies_the_mask_as_matmul_attention():
    """One-token steps in bf16 run `attend(fused=True)` (compiled); it drops as the matmuls do."""
    from cdsynth.engine.llama_math import attend

    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 4, 1, 8, generator=g, dtype=torch.float64)
    k = torch.randn(2, 3, 2, 13, 8, generator=g, dtype=torch.float64)
    v = torch.randn(2, 3, 2, 13, 8, generator=g, dtype=torch.float64)
    mask = torch.ones(3, 1, 1, 13, dtype=torch.bool)
    mask[1, 0, 0, :5] = False
    keep = (torch.rand(2, 3, 4, 1, 13, generator=g) > 0.3).double() / 0.7
    fused = attend(q, k, v, mask, True, keep)
    torch.testing.assert_close(fused, attend(q, k, v, mask, False, keep), rtol=0, atol=1e-12)
    assert (fused - attend(q, k, v, mask, True)).abs().max() > 1e-3


def test_output_layer_is_float32_whatever_the_weights():
    """A bf16 engine's logits: its last hidden state through the checkpoint's float32 final
    norm and lm_head, product in float32 (not bf16 weights, not a bf16 product)."""
    from cdsynth.engine import lean as lean_engine

    good = hf_model(5, torch.float32)
    lean = LeanLlama([good], torch.bfloat16, compile_decode=False)
    assert lean.lm_head.dtype == torch.float32
    assert torch.equal(lean.lm_head[0], good.lm_head.weight.t())
    assert torch.equal(lean.norm[0, 0], good.model.norm.weight)
    seen = {}
    real = lean_engine.lm_head

    def spy(x, norm, weight, eps):
        seen["x"] = x
        return real(x, norm, weight, eps)

    lean_engine.lm_head = spy
    try:
        logits = decode(lean, [[1, 5, 9, 4], [1, 7]], torch.tensor([[6, 7], [8, 9]]))
    finally:
        lean_engine.lm_head = real
    x = seen["x"][0].float()  # (rows, hidden), the last step
    h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + good.config.rms_norm_eps)
    ref = (good.model.norm.weight * h) @ good.lm_head.weight.t()
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits[-1, 0], ref, rtol=1e-6, atol=1e-5)
    # and a bf16 product of the same hidden state would not be that
    bf = torch.bmm(
        lean_engine.rms_norm(seen["x"].bfloat16(), lean.norm.bfloat16(), lean.eps),
        lean.lm_head.bfloat16(),
    )
    assert (bf[0].float() - ref).abs().max() > 10 * (logits[-1, 0] - ref).abs().max()
