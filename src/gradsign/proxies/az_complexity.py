"""az_complexity: AZ-NAS's complexity score, the forward FLOPs of one sample (the ``flops`` proxy's count)."""

from __future__ import annotations

from gradsign.proxies.context import ProxyContext
from gradsign.proxies.flops import flops
from gradsign.proxies.registry import register_proxy


@register_proxy(
    "az_complexity",
    description="AZ-NAS complexity: data-free forward FLOPs of one sample, the same count as the flops proxy",
    needs_data=False,
    needs_labels=False,
    higher_is_better=True,
    version="1",
    reference="Lee & Ham, AZ-NAS, CVPR 2024 (complexity = FLOPs); counted as the flops proxy "
    "(torch.utils.flop_counter.FlopCounterMode)",
)
def az_complexity(ctx: ProxyContext) -> float:
    """Exactly :func:`gradsign.proxies.flops.flops`: one sample's forward FLOPs, a multiply-add counted as 2.

    AZ-NAS's code reads the FLOPs from the benchmark's API on NAS-Bench-201
    (``get_compute_costs(dataset)['flops']``) and from the model's own counter
    elsewhere; more FLOPs is better. This name exists so that the AZ-NAS
    aggregate (sum of ``log(rank / N)`` of its four scores over the candidates)
    can name its four parts; its value is the ``flops`` proxy's.
    """
    return flops(ctx)


__all__ = ["az_complexity"]
