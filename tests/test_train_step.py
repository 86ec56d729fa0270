"""The training step: the chunked loss equal to the reference through the model (float64) and
through training (float64 step by step, float32 within rounding), a step that reads nothing
on the host, and forward + loss compiled as one graph without breaks.

What a CPU can show about host syncs: on a CPU every op runs before the next starts, so a
sync cannot be seen by timing. These tests show instead that the step never asks for a
tensor's value on the host (no `.item()`, `.tolist()`, `float()`, `bool()`, ...) and never
runs an op whose output size depends on tensor values (`nonzero`, a boolean index, ...), the
two ways a step waits for a CUDA device; and dynamo, which breaks the graph at either, finds
no break. They cannot show what a CUDA kernel or the caching allocator does inside an op, nor
copies between the host and the device (there is one device here): the GPU run measures those.
"""

import contextlib
import json
from collections import Counter

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from cdsynth import train as train_mod
from cdsynth.config import ModelConfig, TrainConfig, to_dict
from cdsynth.identity import identity
from cdsynth.stages import run_train
from cdsynth.tokenizer import PAD_ID
from cdsynth.train import (
    NextTokenLoss,
    build_model,
    make_optimizer,
    next_token_nll,
    train_step,
)

from .conftest import quiet, tiny_config

VOCAB = 400


def _model(dtype=torch.float32):
    return build_model(ModelConfig(preset="test-micro"), VOCAB, seed=0).to(dtype)


def _ids(rows=4, seq=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, VOCAB, (rows, seq), generator=g)
    ids[0, -6:] = PAD_ID  # padding: these targets are ignored
    ids[2, -1:] = PAD_ID
    return ids


@pytest.mark.parametrize("chunk_rows", [0, 7, 64, 128])
def test_chunked_nll_of_the_model_equals_the_reference_in_float64(chunk_rows):
    """The loss and the gradient of every parameter (the output layer and, through the hidden
    states, everything below it); 128 rows, chunks of 7 leave a short last one."""
    model, ids = _model(torch.float64), _ids()

    def run(loss):
        model.zero_grad()
        value = next_token_nll(model, ids, loss, chunk_rows)
        value.backward()
        return value.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    (ref, ref_grads), (got, got_grads) = run("reference"), run("chunked")
    assert got.dtype == torch.float64 and ref > 100  # ~ 121 targets x ln(400)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)
    assert ref_grads.keys() == got_grads.keys() and len(ref_grads) == 21
    for name, g in ref_grads.items():
        torch.testing.assert_close(got_grads[name], g, rtol=1e-12, atol=1e-14, msg=name)


def _train_steps(loss, dtype, steps=6, grad_clip=1.0):
    model = _model(dtype)
    cfg = TrainConfig(lr=1e-2, grad_clip=grad_clip)
    opt = make_optimizer(model, cfg)
    module, params = NextTokenLoss(model, loss), list(model.parameters())
    ids = _ids()  # one batch again and again: the loss falls fast
    n_valid = int((train_mod.labels_for(ids) != train_mod.IGNORE).sum())
    figures = []
    for _ in range(steps):
        batches = [ids[:2], ids[2:]]  # two micro-batches: accumulation
        out = train_step(
            module, params, opt, batches, 1 / n_valid, grad_clip, contextlib.nullcontext
        )
        figures.append(out.tolist())
    return torch.tensor(figures, dtype=torch.float64), model


@pytest.mark.parametrize("grad_clip", [1.0, 0.0])
def test_float64_training_is_the_same_with_either_loss(grad_clip):
    """Six AdamW steps in float64: the losses, gradient norms and final weights agree to
    float64 rounding (the loss falls, so the steps do train)."""
    ref, ref_model = _train_steps("reference", torch.float64, grad_clip=grad_clip)
    got, got_model = _train_steps("chunked", torch.float64, grad_clip=grad_clip)
    torch.testing.assert_close(got, ref, rtol=1e-11, atol=0)
    assert ref[-1, 0] < ref[0, 0] - 50
    for (name, a), b in zip(got_model.named_parameters(), ref_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=name)


def _losses(run_dir):
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows], [r.get("eval_loss") for r in rows]


def test_a_float32_run_with_the_chunked_loss_follows_the_reference(workspace):
    """The tiny run (12 steps, float32) through `train`: the same loss curve to float32
    rounding, and the same run identity (the setting changes only rounding)."""
    ref_cfg = tiny_config(workspace, "train.name=ref")
    cfg = tiny_config(workspace, "train.name=chunked", "train.loss=chunked")
    out_ref = run_train(ref_cfg, log=quiet, progress=False)
    out = run_train(cfg, log=quiet, progress=False)
    (ref, ref_eval), (got, got_eval) = _losses(out_ref), _losses(out)
    assert len(ref) == len(got) == 12 and ref[-1] < ref[0] - 0.1
    assert got == pytest.approx(ref, rel=1e-4) and got != ref  # rounding only, but some
    assert [e is None for e in got_eval] == [e is None for e in ref_eval]
    assert [e for e in got_eval if e] == pytest.approx([e for e in ref_eval if e], rel=1e-4)
    train_dict = {**to_dict(cfg.train), "name": "x"}
    assert identity("train", train_dict) == identity("train", {**train_dict, "loss": "reference"})


# ops that make the host wait for a CUDA device: a value read on the host, or an output
# whose size depends on values (a boolean index goes through nonzero)
SYNC_OPS = {
    "aten._local_scalar_dense",
    "aten.item",
    "aten.is_nonzero",
    "aten.equal",
    "aten.nonzero",
    "aten.nonzero_static",
    "aten.masked_select",
    "aten._unique2",
    "aten.unique_consecutive",
    "aten.unique_dim",
    "aten.bincount",
    "aten.repeat_interleave",
}
HOST_READS = ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__")


class _SyncOps(TorchDispatchMode):
    """Every op that runs, and those of them that wait for the device."""

    def __init__(self):
        super().__init__()
        self.ops, self.syncs = Counter(), []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.overloadpacket)
        self.ops[name] += 1
        bool_index = func.overloadpacket in (
            torch.ops.aten.index,
            torch.ops.aten.index_put_,
        ) and any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in (args[1] or ()))
        if name in SYNC_OPS or bool_index:
            self.syncs.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("loss", ["reference", "chunked"])
@pytest.mark.parametrize("grad_clip", [1.0, 0.0])
def test_the_step_reads_nothing_on_the_host(monkeypatch, loss, grad_clip):
    model = _model()
    opt = make_optimizer(model, TrainConfig(grad_clip=grad_clip))
    module, params, ids = NextTokenLoss(model, loss), list(model.parameters()), _ids()
    reads = Counter()
    for name in HOST_READS:
        real = getattr(torch.Tensor, name)

        def counted(self, *a, _real=real, _name=name, **k):
            reads[_name] += 1
            return _real(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)
    with _SyncOps() as seen:
        for _ in range(2):  # the second step has the optimizer's state
            out = train_step(
                module, params, opt, [ids[:2], ids[2:]], 1 / 100, grad_clip, contextlib.nullcontext
            )
    assert not seen.syncs and not reads, (seen.syncs, reads)
    # the recorder does see the step: forward, backward, clipping, the fused AdamW (two
    # parameter groups: decayed and not)
    assert seen.ops["aten._fused_adamw_"] == 4 and seen.ops["aten.mm"] > 20
    assert seen.ops["aten._foreach_norm"] == 2  # the gradient norm, clipped or not
    assert (seen.ops["aten._foreach_mul_"] > 0) == (grad_clip > 0)  # clipping
    monkeypatch.undo()
    assert torch.isfinite(out).all() and out.shape == (2,)
    # and it would catch a read: the one the old step made
    with _SyncOps() as seen:
        out.tolist()
        float(out[0]), bool(out[1] > 0)
    assert seen.syncs == ["aten._local_scalar_dense.default"] * 2


def _compiled_by_train(monkeypatch, workspace, loss):
    """The module `train` hands to torch.compile (compile: true), caught there uncompiled."""
    caught = []

    def catch(module, *args, **kwargs):
        caught.append(module)
        return module

    monkeypatch.setattr(torch, "compile", catch)
    cfg = tiny_config(workspace, "train.compile=true", f"train.loss={loss}", "train.steps=1")
    run_train(cfg, log=quiet, progress=False)
    monkeypatch.undo()
    assert len(caught) == 1 and isinstance(caught[0], NextTokenLoss)
    assert caught[0].loss == loss
    return caught[0]


@pytest.mark.parametrize("loss", ["reference", "chunked"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_what_train_compiles_is_one_graph_without_breaks(monkeypatch, workspace, loss, precision):
    module = _compiled_by_train(monkeypatch, workspace, loss)
    ids = _ids()
    torch._dynamo.reset()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        explained = torch._dynamo.explain(module)(ids)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_compiled_chunked_loss_has_one_graph_forward_and_backward(precision):
    """fullgraph=True fails on any break; AOTAutograd traces the backward of the chunked
    loss's autograd.Function into the same compiled function (inductor's code generation left
    out: the trainer's backend only turns these graphs into kernels)."""
    model, ids = _model(), _ids()
    module = NextTokenLoss(model, "chunked", chunk_rows=24)
    torch._dynamo.reset()
    compiled = torch.compile(module, fullgraph=True, backend="aot_eager")

    def loss_and_grads(fn):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = fn(ids)
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    (loss, grads), (eager, eager_grads) = loss_and_grads(compiled), loss_and_grads(module)
    tol = {"rtol": 1e-5, "atol": 1e-7} if precision == "fp32" else {"rtol": 2e-2, "atol": 1e-4}
    torch.testing.assert_close(loss, eager, **tol)
    for n, g in eager_grads.items():
        torch.testing.assert_close(grads[n], g, **tol, msg=n)


def test_a_nonfinite_step_read_one_step_late_still_stops_training_there(workspace, monkeypatch):
    """Between checkpoints a step's figures are read after the next step is queued. The
    learning rate jumps to 1e10 at step 6: step 7's loss is NaN. Training stops at step 7,
    the metrics end at step 6, and the last checkpoint stays step_4."""
    from cdsynth.errors import UserError

    real = train_mod.lr_at
    monkeypatch.setattr(
        train_mod, "lr_at", lambda step, cfg: 1e10 if step >= 5 else real(step, cfg)
    )
    cfg = tiny_config(workspace, "train.checkpoint_every=4", "train.eval_every=100")
    with pytest.raises(UserError, match="stopped at step 7: the loss is nan") as err:
        run_train(cfg, log=quiet, progress=False)
    assert "the last good checkpoint is step_4" in str(err.value)
    run = workspace / "runs" / "baseline"
    assert sorted(p.name for p in run.glob("step_*")) == ["step_4"]
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
