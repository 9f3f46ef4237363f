"""plain: sum of w * dL/dw over the Conv2d/Linear weights (signed; snip without the abs)."""

from __future__ import annotations

from gradsign.proxies.context import ProxyContext, sum_over_layers
from gradsign.proxies.registry import register_proxy


@register_proxy(
    "plain",
    description="sum over Conv2d/Linear weights of w * dL/dw (signed, one batch)",
    needs_data=True,
    needs_labels=True,
    higher_is_better=True,
    uses=("batch_pass",),
    version="1",
    reference="Mozer & Smolensky 1989 (skeletonization); Abdelfattah et al., ICLR 2021, "
    "SamsungLabs/zero-cost-nas foresight/pruners/measures/plain.py",
)
def plain(ctx: ProxyContext) -> float:
    """``sum w * dL/dw`` from the shared batch gradient (no absolute value)."""
    net = ctx.batch_gradients()
    return sum_over_layers(net, lambda l: l.weight.detach() * l.weight.grad if l.weight.grad is not None else None)


__all__ = ["plain"]
