"""meco_opt: MeCo's channel-subsampled variant (8 random channels per module, rescaled)."""

from __future__ import annotations

import torch

from gradsign.proxies.context import ProxyContext
from gradsign.proxies.meco import OPT_CHANNELS, _one_sample, meco_module_sum, min_correlation_eigenvalue
from gradsign.proxies.registry import register_proxy


def subsampled_min_eigenvalue(rows: torch.Tensor, channels: int = OPT_CHANNELS) -> float:
    """``min eig corrcoef(8 random rows) * n / 8`` for ``n`` rows (all rows, factor 1, when ``n < 8``).

    The rows are drawn without replacement from torch's generator.
    """
    n = rows.shape[0]
    if n <= channels:
        return min_correlation_eigenvalue(rows)
    idx = torch.randperm(n, device=rows.device)[:channels]
    return min_correlation_eigenvalue(rows[idx]) * n / channels


@register_proxy(
    "meco_opt",
    description="MeCo, faster variant: per module, smallest correlation eigenvalue of 8 random channels times "
    "channels/8, summed, one sample",
    needs_data=True,
    needs_labels=False,
    higher_is_better=True,
    version="1",
    reference="Jiang et al., MeCo, NeurIPS 2023; HamsterMimi/MeCo correlation/NAS_Bench_201.py (measure 'meco_opt')",
)
def meco_opt(ctx: ProxyContext) -> float:
    """As :func:`gradsign.proxies.meco.meco`, each module's matrix built from 8 of its ``n`` channels, times ``n/8``.

    Channels are drawn from torch's generator (``seed=`` makes the score
    reproducible); the reference draws them with Python's ``random.sample``.
    """
    net = ctx.fresh_model()
    return meco_module_sum(net, _one_sample(ctx, "meco_opt"), subsampled_min_eigenvalue)


__all__ = ["meco_opt", "subsampled_min_eigenvalue"]
