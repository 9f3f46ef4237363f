"""flops: forward floating-point operations for one sample, counted by torch's FlopCounterMode."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from gradsign.proxies.context import ProxyContext, logits_of
from gradsign.proxies.registry import register_proxy


@register_proxy(
    "flops",
    description="data-free: forward FLOPs of one sample (torch FlopCounterMode; multiply-add = 2)",
    needs_data=False,
    needs_labels=False,
    higher_is_better=True,
    version="1",
    reference="Abdelfattah et al., ICLR 2021 (baseline); counted with torch.utils.flop_counter.FlopCounterMode",
)
def flops(ctx: ProxyContext) -> float:
    """FLOPs of one forward pass of a single sample of the input shape.

    ``FlopCounterMode`` counts only matrix-multiply and convolution-type ops
    (mm, addmm, bmm, convolution, attention, ...), a multiply-add as 2 FLOPs;
    element-wise ops, BN, activations, pooling and bias additions count 0. NASLib's
    tables (tensorwatch) report megaflops with their own conventions: the numbers
    differ, the ranking over a space nearly agrees.

    Counted in eval mode (a batch of one sample in train-mode BatchNorm1d would
    fail; the op count is the same) without autograd.
    """
    shape = ctx.require_input_shape("flops")
    net = ctx.fresh_model()
    net.eval()
    dtype = next((p.dtype for p in net.parameters() if p.is_floating_point()), torch.float32)
    x = torch.zeros((1, *shape), dtype=dtype, device=ctx.device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        logits_of(net(x))
    return float(counter.get_total_flops())


__all__ = ["flops"]
