"""grad_norm: sum over layers of the L2 norm of the loss gradient of the layer weight."""

from __future__ import annotations

from gradsign.proxies.context import ProxyContext, sum_over_layers
from gradsign.proxies.registry import register_proxy


@register_proxy(
    "grad_norm",
    description="sum over Conv2d/Linear layers of ||dL/dW||_2 (cross-entropy, one batch)",
    needs_data=True,
    needs_labels=True,
    higher_is_better=True,
    uses=("batch_pass",),
    version="1",
    reference="Abdelfattah et al., Zero-Cost Proxies for Lightweight NAS, ICLR 2021; "
    "SamsungLabs/zero-cost-nas foresight/pruners/measures/grad_norm.py",
)
def grad_norm(ctx: ProxyContext) -> float:
    """``sum_l ||dL/dW_l||_2`` over the Conv2d/Linear weights, from the shared batch gradient.

    The norm is the Frobenius norm of the whole weight tensor (``Tensor.norm()``),
    one number per layer, summed; a layer the loss does not reach adds 0.
    """
    net = ctx.batch_gradients()
    return sum_over_layers(net, lambda l: l.weight.grad.norm() if l.weight.grad is not None else None)


__all__ = ["grad_norm"]
