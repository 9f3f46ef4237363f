"""swap: SWAP-Score, the number of distinct sample-wise ReLU activation patterns over a small batch."""

from __future__ import annotations

import torch
from torch import nn

from gradsign.errors import ConfigError
from gradsign.proxies.context import ProxyContext
from gradsign.proxies.registry import register_proxy
from gradsign.proxies.zen import gaussian_init_

#: The reference's defaults (pym1024/SWAP correlation.py): 16 input samples, 32 re-initialisations.
DEFAULT_SAMPLES = 16
DEFAULT_REPEATS = 32
#: Samples packed into one int64 code word (bit 63 left free: codes stay non-negative).
_BITS = 63
#: Up to this many samples, distinct patterns are counted in a presence table of 2^n flags (1 MiB at 20).
_TABLE_BITS = 20
#: Up to this many samples a word is packed by one float64 matrix product (the reference's 16 fit):
#: every weight is a power of two and every partial sum an integer below 2^24, which float64 holds
#: exactly in any summation order, so the codes are the int64 path's. float64, not float32:
#: TF32 / reduced-precision matmul settings (torch.set_float32_matmul_precision) never apply to it.
_FLOAT_BITS = 24


def pack_patterns(active: torch.Tensor) -> torch.Tensor:
    """``(N, D)`` booleans -> ``(D, W)`` int64: unit d's on/off pattern over the N samples, 63 samples per word.

    Two units have the same pattern exactly when their rows are equal.
    """
    if active.dtype != torch.bool:
        raise ValueError(f"pack_patterns needs a boolean (samples, units) tensor, got dtype {active.dtype}")
    n = active.shape[0]
    # Apple's mps backend has no float64: there the int64 words below give the same codes, slower.
    if n <= _FLOAT_BITS and active.device.type != "mps":
        # About 10x faster than the int64 products below on a 16k-unit map. The weights are made as
        # integers (exact by construction), then converted: 2^k is exact in float64.
        weights = (torch.ones(n, dtype=torch.int64, device=active.device) << torch.arange(
            n, device=active.device)).to(torch.float64)
        return (active.T.to(torch.float64) @ weights).round().to(torch.int64)[:, None]
    return pack_patterns_in_words(active)


def pack_patterns_in_words(active: torch.Tensor) -> torch.Tensor:
    """:func:`pack_patterns` by int64 products only (any sample count and device; no float64 needed)."""
    n = active.shape[0]
    words = []
    for start in range(0, n, _BITS):
        part = active[start:start + _BITS].to(torch.int64)
        weights = torch.ones(part.shape[0], dtype=torch.int64, device=part.device) << torch.arange(
            part.shape[0], device=part.device)
        words.append((part * weights[:, None]).sum(dim=0))
    return torch.stack(words, dim=1)


def distinct_rows(packed: torch.Tensor) -> torch.Tensor:
    """The distinct rows of a ``(D, W)`` packed-pattern tensor (1-D ``unique`` when W is 1: much faster)."""
    if packed.shape[1] == 1:
        return torch.unique(packed[:, 0])[:, None]
    return torch.unique(packed, dim=0)


def count_distinct_patterns(patterns: list[torch.Tensor]) -> int:
    """Number of distinct rows over a list of ``(D_i, W)`` packed-pattern tensors."""
    if not patterns:
        return 0
    return int(distinct_rows(torch.cat(patterns)).shape[0])


def swap_count(net: nn.Module, x: torch.Tensor) -> int:
    """SWAP of one forward: distinct on/off patterns, over the samples of ``x``, of all units of every ReLU call.

    Every call of an ``nn.ReLU`` module whose input has at least 2 dimensions
    contributes all its units (``output > 0``, flattened per sample); the score
    is the number of distinct patterns among all of them (the reference's
    ``torch.unique(sign(activations).T, dim=0)``). Each call's patterns are
    deduplicated as they come, so memory stays at the number of distinct
    patterns, not the number of units.
    """
    n = x.shape[0]
    # With few samples (the reference's 16) a pattern is one of 2^n codes: marking codes in a
    # presence table is linear in the units, where sorting them (``unique``) took half the time.
    seen = torch.zeros(1 << n, dtype=torch.bool, device=x.device) if n <= _TABLE_BITS else None
    found: list[torch.Tensor] = []
    calls = 0

    def hook(module: nn.Module, args, output) -> None:
        nonlocal calls
        if not isinstance(output, torch.Tensor) or args[0].dim() < 2:
            return
        calls += 1
        active = output.detach().reshape(output.shape[0], -1) > 0
        if seen is not None:
            seen[pack_patterns(active)[:, 0]] = True
        else:
            found.append(distinct_rows(pack_patterns(active)))

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        if not handles:
            raise ValueError("swap needs nn.ReLU activation modules; this model has none "
                             "(activations called as functions, e.g. F.relu, cannot be hooked)")
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    if calls == 0:
        raise ValueError("swap: the model's ReLU modules were never called in its forward pass")
    if seen is not None:
        return int(seen.sum())
    return count_distinct_patterns(found)


def check_swap_options(batch_size: int, repeats: int, proxy: str) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ConfigError(f"{proxy} option batch_size must be an int >= 2, got {batch_size!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"{proxy} option repeats must be a positive int, got {repeats!r}")


def mean_swap(ctx: ProxyContext, batch_size: int, repeats: int) -> float:
    """Mean of :func:`swap_count` over ``repeats`` Gaussian re-initialisations of one private copy, train mode.

    The input is the first ``batch_size`` samples of the minibatch (all of them
    when it is smaller). Before every forward the weights are re-drawn as the
    reference's ``network_weight_gaussian_init`` does (Conv2d/Linear ``N(0, 1)``,
    biases 0, BN/GroupNorm weight 1 and bias 0: :func:`gradsign.proxies.zen.gaussian_init_`),
    from torch's generator.
    """
    x = ctx.inputs[:batch_size]
    if x.shape[0] < 2:
        raise ConfigError(f"swap needs at least 2 samples, got {x.shape[0]}")
    net = ctx.fresh_model()
    total = 0
    for _ in range(repeats):
        gaussian_init_(net)
        total += swap_count(net, x)
    return total / repeats


def shared_mean_swap(ctx: ProxyContext, batch_size: int, repeats: int) -> float:
    """:func:`mean_swap`, computed once per context and settings: swap and swap_reg asked together share it."""
    return ctx.shared(f"swap:{batch_size}:{repeats}", lambda c: mean_swap(c, batch_size, repeats))


@register_proxy(
    "swap",
    description="SWAP-Score: distinct sample-wise ReLU on/off patterns over 16 samples, mean of 32 Gaussian "
    "re-initialisations",
    needs_data=True,
    needs_labels=False,
    higher_is_better=True,
    version="1",
    reference="Peng et al., SWAP-NAS: Sample-Wise Activation Patterns for Ultra-fast NAS, ICLR 2024; "
    "pym1024/SWAP src/metrics/swap.py, correlation.py",
)
def swap(ctx: ProxyContext, *, batch_size: int = DEFAULT_SAMPLES, repeats: int = DEFAULT_REPEATS) -> float:
    """SWAP-Score: :func:`mean_swap` with the reference's 16 samples and 32 repeats."""
    check_swap_options(batch_size, repeats, "swap")
    return float(shared_mean_swap(ctx, batch_size, repeats))


__all__ = ["DEFAULT_REPEATS", "DEFAULT_SAMPLES", "check_swap_options", "count_distinct_patterns", "distinct_rows",
           "mean_swap", "pack_patterns", "pack_patterns_in_words", "shared_mean_swap", "swap", "swap_count"]
