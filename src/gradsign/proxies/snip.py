"""snip: connection sensitivity, sum |w * dL/dw| over the Conv2d/Linear weights."""

from __future__ import annotations

from gradsign.proxies.context import ProxyContext, sum_over_layers
from gradsign.proxies.registry import register_proxy


@register_proxy(
    "snip",
    description="sum over Conv2d/Linear weights of |w * dL/dw| (SNIP saliency, one batch)",
    needs_data=True,
    needs_labels=True,
    higher_is_better=True,
    uses=("batch_pass",),
    version="1",
    reference="Lee et al., SNIP, ICLR 2019; Abdelfattah et al., ICLR 2021, "
    "SamsungLabs/zero-cost-nas foresight/pruners/measures/snip.py",
)
def snip(ctx: ProxyContext) -> float:
    """``sum |w * dL/dw|`` from the shared batch gradient.

    The reference multiplies every weight by a mask of ones and takes ``|dL/dmask|``;
    at mask = 1 that gradient is exactly ``w * dL/dw`` (chain rule), so the
    ordinary weight gradient, shared with grad_norm and plain, gives the same
    number without a second pass.
    """
    net = ctx.batch_gradients()
    return sum_over_layers(
        net, lambda l: (l.weight.detach() * l.weight.grad).abs() if l.weight.grad is not None else None
    )


__all__ = ["snip"]
