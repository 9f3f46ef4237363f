"""params: number of trainable parameters (data-free)."""

from __future__ import annotations

from gradsign.proxies.context import ProxyContext
from gradsign.proxies.registry import register_proxy


@register_proxy(
    "params",
    description="data-free: number of trainable parameters (a count, not millions)",
    needs_data=False,
    needs_labels=False,
    higher_is_better=True,
    version="1",
    reference="Abdelfattah et al., ICLR 2021 (baseline); SamsungLabs/zero-cost-nas p_utils.count_parameters",
)
def params(ctx: ProxyContext) -> float:
    """Elements of the parameters with ``requires_grad`` in the caller's model; shared tensors count once.

    A count (NASLib's tables store millions; ranks are the same). Frozen
    parameters are left out, following the reference's ``count_parameters``.
    BatchNorm running statistics are buffers, not parameters, and are not counted.
    """
    return float(sum(p.numel() for p in ctx.template.parameters() if p.requires_grad))


__all__ = ["params"]
