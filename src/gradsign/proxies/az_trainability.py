"""az_trainability: AZ-NAS's trainability score (see :mod:`gradsign.proxies._az_nas` for the shared pass)."""

from __future__ import annotations

from gradsign.proxies._az_nas import DEFAULT_BATCH, az_nas_score
from gradsign.proxies.context import ProxyContext
from gradsign.proxies.registry import register_proxy


@register_proxy(
    "az_trainability",
    description="AZ-NAS trainability: mean over consecutive blocks of -s - 1/s + 2, s the top singular value "
    "of the back-propagated random +-1 signal map",
    needs_data=False,
    needs_labels=False,
    higher_is_better=True,
    version="1",
    reference="Lee & Ham, AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search, CVPR 2024; "
    "cvlab-yonsei/AZ-NAS NB201/ZeroShotProxy/compute_az_nas_score.py",
)
def az_trainability(ctx: ProxyContext, *, batch_size: int = DEFAULT_BATCH) -> float:
    """AZ-NAS's trainability, from the forward+backward shared with the other AZ-NAS scores of this context.

    Data-free: a Gaussian batch of 64 samples (option ``batch_size``) of the input
    shape, whatever the minibatch, through a private copy re-initialised Kaiming
    normal (fan-in), in train mode. Random draws come from torch's generator, so
    ``gradsign.score(..., seed=S)`` makes the score reproducible.
    """
    return az_nas_score(ctx, "trainability", batch_size)


__all__ = ["az_trainability"]
