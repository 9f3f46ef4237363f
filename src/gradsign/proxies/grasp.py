"""grasp: GraSP saliency -w * (H g), summed over the Conv2d/Linear weights."""

from __future__ import annotations

import torch

from gradsign.proxies.context import ProxyContext, logits_of, prunable_layers
from gradsign.proxies.registry import register_proxy


@register_proxy(
    "grasp",
    description="sum over Conv2d/Linear weights of -w * (H g), Hessian-gradient product (GraSP, one batch)",
    needs_data=True,
    needs_labels=True,
    higher_is_better=True,
    uses=("batch_pass", "graph_grads"),
    version="1",
    reference="Wang et al., GraSP, ICLR 2020; Abdelfattah et al., ICLR 2021, "
    "SamsungLabs/zero-cost-nas foresight/pruners/measures/grasp.py (T=1, num_iters=1)",
)
def grasp(ctx: ProxyContext) -> float:
    """``sum -w * (H g)`` with ``g = dL/dw`` and ``H`` the Hessian of the loss in the weights.

    As in zero-cost-nas (temperature T=1, one iteration): ``g`` is the gradient of
    a first pass, held constant (no graph); a second pass builds
    ``z = sum(g * dL/dw)`` with ``create_graph=True`` and ``dz/dw = H g``. Only the
    Conv2d/Linear weights are differentiated; other parameters (biases, BN) are
    constants, as in the reference.

    Sign: the reference returns ``-w * Hg`` and ranks *higher* as better (its
    comment: accuracy correlated negatively with ``+w * Hg``); NASLib keeps the
    same sign. We follow both.

    The first-pass gradient is the shared batch gradient (same network, batch and
    loss). When grasp is among the requested proxies, that shared pass keeps its
    first-order graph (``create_graph=True``), so grasp adds only the double
    backward; otherwise it costs one extra forward and a backward with graph.
    """
    shared = ctx.batch_pass()
    first = [l.weight.grad for l in prunable_layers(shared.net)]
    grads = shared.take_graph_grads()  # None unless the pass kept its graph for grasp
    if grads is not None:
        weights = [l.weight for l in prunable_layers(shared.net)]
    else:  # context not told about grasp, or graph already used: a second pass of its own
        net = ctx.fresh_model()
        weights = [l.weight for l in prunable_layers(net)]
        if not weights:
            return 0.0
        loss = ctx.loss_fn(logits_of(net(ctx.inputs)), ctx.targets)
        grads = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)

    z = None
    for g_const, g in zip(first, grads):
        if g_const is None or g is None:
            continue
        term = (g_const.detach() * g).sum()
        z = term if z is None else z + term
    if z is None or not z.requires_grad:
        # No weight gradient depends on the weights (e.g. nothing reaches the
        # loss): H g = 0 for every weight.
        return 0.0
    hg = torch.autograd.grad(z, weights, allow_unused=True)

    total = 0.0
    for w, h in zip(weights, hg):
        if h is not None:
            total += float((-w.detach() * h).sum())
    return total


__all__ = ["grasp"]
