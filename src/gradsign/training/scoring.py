"""Zero-cost proxies of an architecture *as the recipe trains it*: its network, its images.

A proxy's question on the small real benchmark is "does this score predict how
this network trains under this recipe?", so the network scored is the one the
recipe builds (NB201 cell at the recipe's width and cells per stage) and the
minibatch comes from the recipe's training images at the recipe's resolution,
not the full-size NB201 network on 32x32 images.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from gradsign.errors import ConfigError
from gradsign.training.recipe import TrainingRecipe
from gradsign.training.trainer import TrainingData


def proxy_minibatch(data: TrainingData, batch_size: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` of the recipe's training images, drawn without replacement by ``seed``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= len(data.x_train):
        raise ConfigError(f"proxy batch size must be an int in 1..{len(data.x_train)}, got {batch_size!r}")
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data.x_train), generator=gen)[:batch_size]
    return data.x_train[idx], data.y_train[idx]


def score_as_trained(space: Any, arch: Any, recipe: TrainingRecipe, data: TrainingData, proxies: Sequence[str], *,
                     seed: int = 0, batch: tuple[torch.Tensor, torch.Tensor] | None = None,
                     batch_size: int = 64) -> tuple[dict[str, float], dict[str, float]]:
    """Score ``arch``'s recipe network with ``proxies``: ``(scores, seconds)``.

    The network is initialised under ``seed`` (a forked torch RNG: the caller's
    state is untouched) and every proxy runs under it, so the numbers are
    reproducible; ``seconds`` are each proxy's own cost (see
    :func:`gradsign.score`'s ``timings``).
    """
    from gradsign.proxies.api import score

    x, y = batch if batch is not None else proxy_minibatch(data, batch_size, seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = space.build_network(arch, data.num_classes, C=recipe.width, N=recipe.cells_per_stage)
    seconds: dict[str, float] = {}
    values = score(net, x, y, list(proxies), seed=seed, timings=seconds)
    return values, seconds


__all__ = ["proxy_minibatch", "score_as_trained"]
