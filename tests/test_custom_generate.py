"""Contrastive decoding inside transformers' `generate` (the `custom_generate` folder shipped in
cdsynth/transformers_cd) against cdsynth's own decoding on tiny random LLaMA pairs (float64)."""

import ast
import copy
import importlib.util

import numpy as np
import pytest
import torch
import yaml

from cdsynth.config import DecodingConfig, ModelConfig
from cdsynth.decoding import contrastive_scores, truncate
from cdsynth.engine.hf import HFEngine
from cdsynth.export import CD_GENERATE_DIR
from cdsynth.generate import SpecialTokens, generate_batch, left_pad
from cdsynth.train import build_model

VOCAB, PAD = 60, 3
PATH = str(CD_GENERATE_DIR)


def llama(seed, vocab=VOCAB):
    m = build_model(ModelConfig("test-micro", context=128), vocab, seed=seed)
    with torch.no_grad():  # sharper distributions than the default init
        m.get_output_embeddings().weight.mul_(8.0)
    return m.to(torch.float64).eval()


@pytest.fixture(scope="module")
def pair():
    return llama(0), llama(1)


def prompts(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [[1] + torch.randint(4, VOCAB, (n - 1,), generator=g).tolist() for n in lengths]


def padded(prefixes):
    ids, pads = left_pad(prefixes, PAD)
    mask = (torch.arange(ids.shape[1])[None] >= pads[:, None]).long()
    return ids, mask


def cd_generate(good, bad, prefixes, **kw):
    ids, mask = padded(prefixes)
    kw = {"alpha": 0.1, "lam": 1.0, "max_new_tokens": 12, "eos_token_id": None} | kw
    return good.generate(
        input_ids=ids,
        attention_mask=mask,
        custom_generate=PATH,
        trust_remote_code=True,
        amateur_model=bad,
        pad_token_id=PAD,
        **kw,
    )


def load_generate_module():
    spec = importlib.util.spec_from_file_location(
        "cd_generate", CD_GENERATE_DIR / "custom_generate" / "generate.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("alpha,lam", [(0.1, 1.0), (0.3, 0.5), (0.0, 2.0)])
def test_greedy_tokens_equal_cdsynths_cd_argmax(pair, alpha, lam):
    """do_sample=False on three left-padded rows == cdsynth's generate_batch on the same pair
    with the same rule and top_k=1 (its argmax), and CD changes GOOD's own choice somewhere."""
    good, bad = pair
    prefixes = prompts([5, 9, 2])
    n = 20
    out = cd_generate(good, bad, prefixes, alpha=alpha, lam=lam, do_sample=False, max_new_tokens=n)
    # copies: the engine switches its model's attention implementation for one-token steps
    engines = [HFEngine(copy.deepcopy(m), torch.float64) for m in (good, bad)]
    rule = DecodingConfig(alpha=alpha, lam=lam, top_k=1)
    keys = np.array([[i, 0] for i in range(3)])
    ref = generate_batch(
        engines, prefixes, keys, rule, n, seed=0, tokens=SpecialTokens(None, None, PAD, VOCAB)
    )
    assert out.shape == (3, 9 + n)
    assert out[:, 9:].tolist() == ref.tokens
    assert max(ref.differs_from_good_argmax) > 0  # not plain greedy decoding


def test_output_scores_are_the_contrastive_scores_of_each_row_alone(pair):
    """output_scores: at every step, cdsynth's contrastive_scores (then top-p, temperature) of
    full uncached forwards of the row alone, unpadded; output_logits: GOOD's logits."""
    good, bad = pair
    prefixes = prompts([3, 7])
    out = cd_generate(
        good, bad, prefixes, do_sample=True, top_p=0.9, temperature=0.7, max_new_tokens=6,
        output_scores=True, output_logits=True, return_dict_in_generate=True,
    )  # fmt: skip
    assert len(out.scores) == len(out.logits) == 6
    for r, prefix in enumerate(prefixes):
        row = prefix + out.sequences[r, 7:].tolist()
        for t in range(6):
            ids = torch.tensor([row[: len(prefix) + t]])
            g, b = good(ids).logits[:, -1], bad(ids).logits[:, -1]
            expect = truncate(contrastive_scores(g, b, 0.1, 1.0), top_p=0.9, temperature=0.7)
            torch.testing.assert_close(out.scores[t][r : r + 1], expect)
            torch.testing.assert_close(out.logits[t][r : r + 1], g)
            assert torch.isfinite(out.scores[t][r, row[len(prefix) + t]])  # a kept token


def test_sampling_keeps_to_top_k_and_top_k_1_is_greedy(pair):
    good, bad = pair
    prefixes = prompts([4, 6], seed=1)
    greedy = cd_generate(good, bad, prefixes, do_sample=False)
    torch.manual_seed(0)
    top1 = cd_generate(good, bad, prefixes, do_sample=True, top_k=1)
    assert torch.equal(greedy, top1)
    torch.manual_seed(0)
    out = cd_generate(
        good, bad, prefixes, do_sample=True, top_k=3, max_new_tokens=30,
        output_scores=True, return_dict_in_generate=True,
    )  # fmt: skip
    picked = out.sequences[:, 6:]
    kept = torch.stack([torch.isfinite(s).sum(-1) for s in out.scores], 1)
    assert (kept <= 3).all() and (kept >= 1).all()
    chosen = torch.stack(
        [s.gather(1, picked[:, t : t + 1])[:, 0] for t, s in enumerate(out.scores)], 1
    )
    assert torch.isfinite(chosen).all()
    assert not torch.equal(picked, cd_generate(good, bad, prefixes, max_new_tokens=30)[:, 6:])


def test_rows_stop_at_eos_then_pad_and_generation_ends_when_all_stopped(pair):
    good, bad = pair
    prefixes = prompts([4, 6], seed=2)
    free = cd_generate(good, bad, prefixes, max_new_tokens=10)[:, 6:]
    eos = int(free[0, 2])  # row 0 says it at step 2 (and maybe row 1 somewhere)
    out = cd_generate(good, bad, prefixes, max_new_tokens=10, eos_token_id=eos)[:, 6:]
    assert out[0, :3].tolist() == free[0, :3].tolist()
    assert (out[0, 3:] == PAD).all()
    hit = (free[1] == eos).nonzero()
    end1 = int(hit[0]) + 1 if len(hit) else 10
    assert out[1, :end1].tolist() == free[1, :end1].tolist()
    assert out.shape[1] == max(3, end1)  # stops once every row has stopped
    alone = cd_generate(good, bad, prefixes[:1], max_new_tokens=10, eos_token_id=eos)
    assert alone[0, 4:].tolist() == free[0, :3].tolist()  # one row: ends at its EOS


def test_vocabulary_mismatch_and_bad_calls_are_one_clear_error(pair):
    good, _ = pair
    other = llama(1, vocab=VOCAB + 4)
    with pytest.raises(ValueError) as e:
        cd_generate(good, other, prompts([3]))
    assert "different vocabularies (60 vs 64 logits" in str(e.value)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="needs `amateur_model=`"):
        good.generate(
            input_ids=torch.tensor([[1, 5]]), custom_generate=PATH, trust_remote_code=True
        )
    ids = torch.tensor([[1, 5, PAD]])  # right padded
    with pytest.raises(ValueError, match="needs left padding"):
        good.generate(
            input_ids=ids, attention_mask=(ids != PAD).long(), custom_generate=PATH,
            trust_remote_code=True, amateur_model=pair[1],
        )  # fmt: skip
    with pytest.raises(ValueError, match="unknown arguments \\['lamda'\\]"):
        cd_generate(good, pair[1], prompts([3]), lamda=1.0)
    with pytest.raises(ValueError, match="does not run beam search"):
        cd_generate(good, pair[1], prompts([3]), num_beams=2)


def test_the_folder_is_self_contained_and_its_math_equals_cdsynths():
    """generate.py imports only torch, transformers and the standard library, and its rule
    and truncation equal cdsynth.decoding's on random logits (ties included)."""
    source = (CD_GENERATE_DIR / "custom_generate" / "generate.py").read_text()
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    assert roots == {"__future__", "copy", "inspect", "math", "torch", "transformers"}
    mod = load_generate_module()
    g = torch.Generator().manual_seed(0)
    good, bad = torch.randn(8, 50, generator=g) * 3, torch.randn(8, 50, generator=g) * 3
    good[0, :4] = good[0].max() + 1  # a tie at the top
    for alpha, lam, k, p, temp in [
        (0.1, 1.0, 0, 1.0, 1.0), (0.0, 0.5, 5, 1.0, 1.0), (0.5, 0.0, 0, 0.8, 1.0),
        (0.05, 2.0, 3, 0.5, 0.6), (1.0, 1.0, 1, 0.9, 2.0),
    ]:  # fmt: skip
        ours = mod.truncate(mod.contrastive_scores(good, bad, alpha, lam), k, p, temp)
        ref = truncate(contrastive_scores(good, bad, alpha, lam), k, p, temp)
        torch.testing.assert_close(ours, ref, rtol=0, atol=0)


def test_the_folder_is_a_custom_generate_repo():
    """What transformers loads (custom_generate/generate.py with a `generate`) and the card it
    expects (README.md with YAML metadata tagged custom_generate)."""
    text = (CD_GENERATE_DIR / "README.md").read_text()
    meta = yaml.safe_load(text.split("---\n")[1])
    assert "custom_generate" in meta["tags"] and meta["library_name"] == "transformers"
    for section in ("## Base model", "## Model compatibility", "## Additional arguments",
                    "## Output type", "## Example usage"):  # fmt: skip
        assert section in text
    assert callable(load_generate_module().generate)
