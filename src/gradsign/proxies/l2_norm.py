"""l2_norm: sum over layers of the L2 norm of the Conv2d/Linear weights (data-free)."""

from __future__ import annotations

from gradsign.proxies.context import ProxyContext, sum_over_layers
from gradsign.proxies.registry import register_proxy


@register_proxy(
    "l2_norm",
    description="data-free: sum over Conv2d/Linear layers of ||W||_2 at initialization",
    needs_data=False,
    needs_labels=False,
    higher_is_better=True,
    version="1",
    reference="Abdelfattah et al., ICLR 2021, SamsungLabs/zero-cost-nas foresight/pruners/measures/l2_norm.py; "
    "automl/NASLib naslib/predictors/utils/pruners/measures/l2_norm.py",
)
def l2_norm(ctx: ProxyContext) -> float:
    """``sum_l ||W_l||_2``: one Frobenius norm per layer weight (not per row), summed, as both references do."""
    return sum_over_layers(ctx.template, lambda l: l.weight.detach().norm())


__all__ = ["l2_norm"]
