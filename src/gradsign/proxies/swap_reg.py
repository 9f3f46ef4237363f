"""swap_reg: SWAP-Score times SWAP's model-size prior ``exp(-(P - mu)^2 / sigma)``, P in thousands of parameters."""

from __future__ import annotations

import math

from gradsign.errors import ConfigError
from gradsign.proxies.context import ProxyContext
from gradsign.proxies.registry import register_proxy
from gradsign.proxies.swap import DEFAULT_REPEATS, DEFAULT_SAMPLES, check_swap_options, shared_mean_swap

#: Default prior, in thousands of parameters: a Gaussian fitted to the parameter counts of all
#: 15,625 NAS-Bench-201 CIFAR-10 networks (mean 398.554 K, variance 54,191.886 K^2; sigma = 2 x
#: variance, so that exp(-(P - mu)^2 / sigma) is that Gaussian's shape). No accuracy went into it.
DEFAULT_MU = 398.554
DEFAULT_SIGMA = 108383.773


def parameter_thousands(ctx: ProxyContext) -> float:
    """The reference's ``count_parameters``: elements of every parameter not named ``*auxiliary*``, / 1e3."""
    return sum(p.numel() for name, p in ctx.template.named_parameters() if "auxiliary" not in name) / 1e3


def size_prior(params_k: float, mu: float, sigma: float) -> float:
    """``exp(-(params_k - mu)^2 / sigma)`` (the reference's ``cal_regular_factor``; note: sigma, not 2 sigma^2)."""
    return math.exp(-((params_k - mu) ** 2) / sigma)


@register_proxy(
    "swap_reg",
    description="regularised SWAP-Score: swap x exp(-(P - mu)^2 / sigma), P = parameters in thousands "
    "(default mu, sigma: NB201's parameter distribution, no labels)",
    needs_data=True,
    needs_labels=False,
    higher_is_better=True,
    version="1",
    reference="Peng et al., SWAP-NAS, ICLR 2024 (regularised SWAP-Score); pym1024/SWAP src/metrics/swap.py "
    "cal_regular_factor",
)
def swap_reg(ctx: ProxyContext, *, mu: float = DEFAULT_MU, sigma: float = DEFAULT_SIGMA,
             batch_size: int = DEFAULT_SAMPLES, repeats: int = DEFAULT_REPEATS) -> float:
    """``swap * exp(-(P - mu)^2 / sigma)`` with ``P`` the parameter count in thousands.

    The reference code leaves ``mu`` and ``sigma`` unset (no regularisation
    unless both are given). Our defaults (:data:`DEFAULT_MU`,
    :data:`DEFAULT_SIGMA`) describe NAS-Bench-201's own distribution of model
    sizes and use no accuracy; for another space, or to steer a search towards
    a model size, pass ``options={"swap_reg": {"mu": ..., "sigma": ...}}`` (thousands
    of parameters and thousands squared).
    """
    for name, value in (("mu", mu), ("sigma", sigma)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"swap_reg option {name} must be a finite number, got {value!r}")
    if sigma <= 0:
        raise ConfigError(f"swap_reg option sigma must be positive, got {sigma!r}")
    check_swap_options(batch_size, repeats, "swap_reg")
    return float(shared_mean_swap(ctx, batch_size, repeats) * size_prior(parameter_thousands(ctx), mu, sigma))


__all__ = ["DEFAULT_MU", "DEFAULT_SIGMA", "parameter_thousands", "size_prior", "swap_reg"]
