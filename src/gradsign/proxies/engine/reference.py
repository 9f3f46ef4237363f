"""Reference engine: the definition, one forward/backward per sample.

This is the authors' ``get_grad_conflict`` loop (a batch of one per sample, the
network in train mode, ``.weight.grad`` of every Conv2d / Linear), reduced on the
fly: per layer it keeps ``sum_i sign(g_ik)`` (and a NaN mask), never the
``N x P`` matrix of per-sample gradients.

It runs on a private copy (see :func:`._common.private_copy`), so neither the
running statistics nor the gradients of the caller's model change. In train mode
BatchNorm normalises with the statistics of the batch it is given, so the
running-statistic updates one sample makes never affect the next sample's output;
the copy isolates them anyway.
"""

from __future__ import annotations

import warnings
from typing import Protocol

import torch
from torch import nn

from gradsign.proxies.context import logits_of
from gradsign.proxies.engine._common import (
    LossFn,
    SignSumReducer,
    SignSums,
    batchnorm_layers,
    check_batchnorm_input,
    private_copy,
    reference_loss,
    scored_layers,
    weight_of,
)


class Reducer(Protocol):
    def add(self, name: str, g: torch.Tensor, offset: int, layout=None) -> None: ...


def _bn_guard(name: str):
    def hook(module: nn.Module, args: tuple) -> None:
        check_batchnorm_input(name, module, args[0])

    return hook


def run_reference(
    net: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: LossFn | None,
    reducer: Reducer,
    on_sample=None,
) -> None:
    """Feed each sample's weight gradients (shape ``(1, *weight.shape)``) to ``reducer``.

    ``net`` must already be a private copy (it is modified: requires_grad flags, hooks).
    """
    layers = scored_layers(net)
    loss_one = reference_loss(loss_fn)
    # Only the scored weights need gradients; the others' flags do not change the scored ones.
    scored = {id(w) for _, m in layers if (w := weight_of(m)) is not None}
    for p in net.parameters():
        p.requires_grad_(id(p) in scored)
    for name, m in layers:
        if weight_of(m) is None:
            warnings.warn(
                f"gradsign: layer {name!r} ({type(m).__name__}) has no weight Parameter "
                "(parametrized or weight-normed); it gets no gradient and contributes zeros",
                stacklevel=3,
            )
    handles = [m.register_forward_pre_hook(_bn_guard(name)) for name, m in batchnorm_layers(net)]
    record = getattr(reducer, "add_losses", None)  # a non-finite loss makes the score NaN
    try:
        for i in range(inputs.shape[0]):
            if on_sample is not None:
                on_sample(i)
            for _, m in layers:
                w = weight_of(m)
                if w is not None:
                    w.grad = None
            out = logits_of(net(inputs[i : i + 1]))
            loss = loss_one(out, targets[i : i + 1])
            if record is not None:
                record(loss.detach())
            if loss.requires_grad:
                loss.backward()
            for name, m in layers:
                w = weight_of(m)
                g = None if w is None else w.grad
                if g is not None:  # no gradient: the layer contributes zeros
                    reducer.add(name, g.unsqueeze(0), i, None)
    finally:
        for h in handles:
            h.remove()
        for p in net.parameters():
            p.grad = None


def reference_sign_sums(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: LossFn | None = None,
    *,
    near_zero_rtol: float | None = None,
) -> SignSums:
    """Sign sums of ``model`` (left untouched) on the batch, one sample at a time."""
    net = private_copy(model)
    layers = scored_layers(net)
    state = SignSums.empty(layers)
    reducer = SignSumReducer(state, near_zero_rtol)
    run_reference(net, inputs, targets, loss_fn, reducer)
    reducer.close()
    state.n_samples = int(inputs.shape[0])
    return state
