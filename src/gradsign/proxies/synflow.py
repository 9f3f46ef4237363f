"""synflow: synaptic flow of the absolute-valued, BatchNorm-free network on an all-ones input."""

from __future__ import annotations

import types

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from gradsign.proxies.context import ProxyContext, logits_of, prunable_layers
from gradsign.proxies.registry import register_proxy


def _identity_forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return x


def disable_batchnorm(net: nn.Module) -> int:
    """Make every BatchNorm layer of ``net`` (1d/2d/3d, SyncBatchNorm) the identity, in place.

    The reference's ``get_prunable_copy(bn=False)`` replaces the ``forward`` of
    BatchNorm1d/2d with a no-op on the copy; we do the same (the module stays in
    place, so code that reads its attributes keeps working). Returns how many
    layers were disabled.
    """
    n = 0
    for m in net.modules():
        if isinstance(m, _BatchNorm):
            m.forward = types.MethodType(_identity_forward, m)
            n += 1
    return n


@register_proxy(
    "synflow",
    description="data-free: sum |w * dR/dw|, R = sum of the |w|-network output on an all-ones input, no BN, float64",
    needs_data=False,
    needs_labels=False,
    higher_is_better=True,
    version="1",
    reference="Tanaka et al., SynFlow, NeurIPS 2020; Abdelfattah et al., ICLR 2021, "
    "SamsungLabs/zero-cost-nas foresight/pruners/measures/synflow.py (bn=False)",
)
def synflow(ctx: ProxyContext) -> float:
    """``sum_w |w * dR/dw|`` over Conv2d/Linear weights, ``R = sum(f_|theta|(1))``.

    On a private copy: BatchNorm layers become the identity (the authors' ``bn=False``
    copy, which is what their published synflow numbers use), every floating
    parameter and buffer is replaced by its absolute value, the network is cast to
    float64 (the authors' guard against overflow in deep networks), and one
    all-ones sample of the input shape goes through it.

    The copy runs in eval mode, where the reference keeps train mode: with BN gone,
    the only modules this changes are Dropout and the like, and in eval mode
    synflow stays deterministic, as a data-free score should be.
    """
    shape = ctx.require_input_shape("synflow")
    net = ctx.fresh_model()
    disable_batchnorm(net)
    net.eval()
    with torch.no_grad():
        for t in net.state_dict().values():
            if t.is_floating_point() or t.is_complex():
                t.abs_()
    net.double()
    x = torch.ones((1, *shape), dtype=torch.float64, device=ctx.device)
    weights = [l.weight for l in prunable_layers(net)]
    if not weights:
        return 0.0
    out = logits_of(net(x))
    if not out.requires_grad:
        return 0.0
    grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
    total = 0.0
    for w, g in zip(weights, grads):
        if g is not None:
            total += float((w.detach() * g).abs().sum())
    return total


__all__ = ["disable_batchnorm", "synflow"]
