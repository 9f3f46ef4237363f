"""zico: ZiCo, the summed log inverse coefficient of variation of each layer's gradients across batches."""

from __future__ import annotations

import math

import torch

from gradsign.errors import ConfigError
from gradsign.proxies.context import ProxyContext, logits_of, prunable_layers
from gradsign.proxies.registry import register_proxy


def zico_from_gradients(per_layer: list[torch.Tensor]) -> float:
    """``sum over layers of log(sum_k mean_b|g_bk| / std_b(g_bk))``, the sum over weights with non-zero std.

    ``per_layer``: one ``(B, P)`` tensor per layer, row b the layer's flattened
    weight gradient on batch b. The standard deviation is the population one
    (``ddof=0``, as ``np.std`` in the reference). A layer whose sum is 0 (every
    weight's std is 0, e.g. a layer the loss does not reach) adds nothing, as in
    the reference. Computed in float64.
    """
    total = 0.0
    for grads in per_layer:
        g = grads.to(torch.float64)
        std = g.std(dim=0, unbiased=False)
        nonzero = std != 0
        ratio_sum = float((g.abs().mean(dim=0)[nonzero] / std[nonzero]).sum())
        if ratio_sum != 0:
            total += math.log(ratio_sum)
    return total


@register_proxy(
    "zico",
    description="sum over Conv2d/Linear layers of log sum_w mean|g_w| / std(g_w), gradients of two interleaved "
    "halves of the minibatch (ZiCo)",
    needs_data=True,
    needs_labels=True,
    higher_is_better=True,
    # 2: parts interleaved (sample i goes to part i mod splits); 1 took consecutive parts, which
    # for a class-ordered batch (grasp sampling) gives each part different classes.
    version="2",
    reference="Li et al., ZiCo: Zero-shot NAS via inverse Coefficient of Variation on Gradients, ICLR 2023; "
    "SLDGroup/ZiCo ZeroShotProxy/compute_zico.py",
)
def zico(ctx: ProxyContext, *, splits: int = 2) -> float:
    """ZiCo over ``splits`` interleaved, near-equal parts of the minibatch (:func:`zico_from_gradients`).

    The reference takes one gradient per batch of a data loader, with the network
    in train mode (batch-statistics BN) and the mean cross-entropy loss of the
    batch; here the batches are the ``splits`` parts of the one minibatch every
    proxy sees (two halves by default: batch 64 gives two batches of 32; batch
    128 gives the reference's two batches of 64). Sample ``i`` goes to part
    ``i mod splits``, so a batch ordered by class (``grasp`` sampling) still
    gives every part the same classes, as independent loader batches would.
    Conv2d and Linear weights only, as in the reference; a layer with no
    gradient on some batch counts zeros there.
    """
    if isinstance(splits, bool) or not isinstance(splits, int) or splits < 2:
        raise ConfigError(f"zico option splits must be an int >= 2 (a std needs two batches), got {splits!r}")
    n = ctx.inputs.shape[0]
    if n < 2 * splits:
        # Train-mode BN needs at least two samples per part.
        raise ConfigError(f"zico needs at least 2 samples per split: batch {n}, splits {splits}")
    net = ctx.fresh_model()
    layers = list(prunable_layers(net))
    if not layers:
        return 0.0
    rows: list[list[torch.Tensor]] = [[] for _ in layers]
    for k in range(splits):
        x, y = ctx.inputs[k::splits], ctx.targets[k::splits]
        net.zero_grad(set_to_none=True)
        loss = ctx.loss_fn(logits_of(net(x)), y)
        loss.backward()
        for row, layer in zip(rows, layers):
            g = layer.weight.grad
            row.append(g.detach().reshape(-1).clone() if g is not None else torch.zeros_like(layer.weight).reshape(-1))
    return zico_from_gradients([torch.stack(r) for r in rows])


__all__ = ["zico", "zico_from_gradients"]
