"""AZ-NAS's shared pass: one forward and one backward give expressivity, progressivity and trainability.

AZ-NAS (Lee & Ham, CVPR 2024; cvlab-yonsei/AZ-NAS, ``NB201/ZeroShotProxy/compute_az_nas_score.py``)
scores a network from its block features (:mod:`gradsign.proxies._blocks`) on
one random Gaussian batch, after re-initialising it:

* **init**: Conv2d/Linear weights Kaiming normal, ``mode='fan_in'``,
  ``nonlinearity='relu'``; their biases 0; BatchNorm2d/GroupNorm with affine
  parameters: weight 1, bias 0 (the reference's ``init_model(model,
  'kaiming_norm_fanin')``); the network in **train mode** (batch-statistics BN).
* **input**: ``torch.randn(batch, *input_shape)``; batch 64 (the loader batch
  size of the reference's NB201 notebook; option ``batch_size``), whatever the
  minibatch: the scores are data-free and depend on no property of it (the
  results store reuses a data-free score across minibatches).
* **expressivity** of a block: the entropy ``-sum p log(p + 1e-8)`` of the
  eigenvalues of the channel covariance of its output, normalised to sum to 1
  (``p = s / sum(s)``; the covariance over every sample and position,
  ``(B*H*W, C)``, centred, divided by ``B*H*W``); the score is the **sum** over
  blocks. **progressivity**: the **smallest** increase of that entropy from one
  block to the next.
* **trainability** of a pair of consecutive blocks: a random +-1 tensor ``g_out``
  (Bernoulli(0.5)) shaped like the later output is back-propagated to the
  earlier one (``g_in``); where the resolution halves, ``g_in`` is
  pixel-unshuffled to the later resolution; ``M = g_in^T g_out / (B*H*W)``
  (``C_in x C_out``, over samples and positions); with ``s`` the largest singular
  value of ``M``, the pair scores ``-s - 1/(s + 1e-6) + 2`` (at most 0, reached at
  ``s = 1``: a block that keeps the gradient's scale). A pair whose ``g_in``
  equals ``g_out`` exactly (an identity block) scores ``-inf``, as in the
  reference. The score is the **mean** over pairs, taken from the last pair to
  the first (the order the reference draws the +-1 tensors in).

Each score that comes out NaN is returned as ``-inf`` (the reference's last
step). Higher is better for all three.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from gradsign.errors import ConfigError
from gradsign.proxies._blocks import block_outputs
from gradsign.proxies.context import ProxyContext

#: Keys of the shared result.
SCORES = ("expressivity", "progressivity", "trainability")
#: AZ-NAS's random batch (its NB201 notebook: the loader's batch size, 64).
DEFAULT_BATCH = 64


def kaiming_fan_in_init_(net: nn.Module) -> None:
    """AZ-NAS's ``kaiming_norm_fanin`` init: Conv2d/Linear Kaiming normal (fan_in, relu), biases 0; BN/GN 1 and 0."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


def channels_last_rows(feature: torch.Tensor) -> torch.Tensor:
    """A block output as ``(rows, channels)``.

    ``(B, C, H, W) -> (B*H*W, C)``; ``(B, N, C) -> (B*N, C)``; ``(B, C)`` as is.
    """
    if feature.dim() == 4:
        return feature.permute(0, 2, 3, 1).reshape(-1, feature.shape[1])
    if feature.dim() in (2, 3):
        return feature.reshape(-1, feature.shape[-1])
    raise ValueError(f"AZ-NAS needs block outputs of 2, 3 or 4 dimensions, got shape {tuple(feature.shape)}")


def covariance_entropy(feature: torch.Tensor) -> float:
    """Entropy ``-sum p log(p + 1e-8)`` of the normalised eigenvalues ``p`` of the channel covariance of ``feature``.

    Computed in float64. A feature with zero variance in every channel gives
    ``0/0``: NaN, as in the reference.
    """
    rows = channels_last_rows(feature.detach()).to(torch.float64)
    rows = rows - rows.mean(dim=0, keepdim=True)
    sigma = rows.T @ rows / rows.shape[0]
    s = torch.linalg.eigvalsh(sigma)
    p = s / s.sum()
    return float((-p * torch.log(p + 1e-8)).sum())


def pair_trainability(g_out: torch.Tensor, g_in: torch.Tensor) -> float:
    """``-s - 1/(s + 1e-6) + 2``, ``s`` the largest singular value of ``g_in^T g_out / rows`` (module doc)."""
    if g_out.shape == g_in.shape and bool(torch.equal(g_in, g_out)):
        return -math.inf
    if g_out.dim() == 4 and g_out.shape[2:] != g_in.shape[2:]:
        stride = g_in.shape[2] // g_out.shape[2]
        if stride < 1 or g_in.shape[2] != stride * g_out.shape[2] or g_in.shape[3] != stride * g_out.shape[3]:
            raise ValueError(
                f"AZ-NAS trainability: block outputs {tuple(g_in.shape)} -> {tuple(g_out.shape)} are not an integer "
                "down-sampling")
        g_in = nn.functional.pixel_unshuffle(g_in, stride)
    out_rows = channels_last_rows(g_out).to(torch.float64)
    in_rows = channels_last_rows(g_in).to(torch.float64)
    if in_rows.shape[0] != out_rows.shape[0]:
        raise ValueError(f"AZ-NAS trainability: block outputs {tuple(g_in.shape)} -> {tuple(g_out.shape)} do not align")
    mat = in_rows.T @ out_rows / out_rows.shape[0]
    s = float(torch.linalg.svdvals(mat).max())
    return -s - 1.0 / (s + 1e-6) + 2.0


def _nan_to_neg_inf(value: float) -> float:
    return -math.inf if math.isnan(value) else float(value)


def az_nas_pass(ctx: ProxyContext, batch_size: int, *, trainability: bool = True) -> dict[str, float]:
    """Expressivity, progressivity and trainability of ``ctx``'s network from one forward and one backward.

    Random draws, in the reference's order: the init, the input batch, then one
    +-1 tensor per pair of blocks from the last pair to the first. With
    ``trainability=False`` the forward runs without a graph and the backward is
    skipped (that key is then absent): expressivity and progressivity depend only
    on the init and the input, drawn first, so they are the same to the last bit.
    """
    shape = ctx.require_input_shape("az_nas")
    net = ctx.fresh_model()
    kaiming_fan_in_init_(net)
    dtype = next((p.dtype for p in net.parameters() if p.is_floating_point()), torch.float32)
    # requires_grad on the input: every block output is then in the graph, even a
    # parameter-free first block's (nothing is differentiated with respect to x).
    x = torch.randn((batch_size, *shape), device=ctx.device, dtype=dtype)
    if trainability:
        features = block_outputs(net, x.requires_grad_(True))
    else:
        with torch.no_grad():
            features = block_outputs(net, x)
    if len(features) < 2:
        raise ValueError(f"AZ-NAS needs at least 2 blocks, {type(net).__name__} has {len(features)}")

    entropies = np.array([covariance_entropy(f) for f in features])
    expressivity = float(np.sum(entropies))
    progressivity = float(np.min(entropies[1:] - entropies[:-1]))

    if not trainability:
        return {"expressivity": _nan_to_neg_inf(expressivity), "progressivity": _nan_to_neg_inf(progressivity)}
    pair_scores = []
    for i in reversed(range(1, len(features))):
        f_out, f_in = features[i], features[i - 1]
        g_out = (torch.bernoulli(torch.full_like(f_out, 0.5)) - 0.5) * 2
        (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=True, allow_unused=True)
        if g_in is None:  # the later block does not read the earlier one
            g_in = torch.zeros_like(f_in)
        pair_scores.append(pair_trainability(g_out.detach(), g_in.detach()))
    trainability = float(np.mean(pair_scores))
    return {
        "expressivity": _nan_to_neg_inf(expressivity),
        "progressivity": _nan_to_neg_inf(progressivity),
        "trainability": _nan_to_neg_inf(trainability),
    }


def az_nas_score(ctx: ProxyContext, which: str, batch_size: int = DEFAULT_BATCH) -> float:
    """One of :data:`SCORES`, from the pass shared by the three AZ-NAS proxies of this context."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise ConfigError(f"az_{which} option batch_size must be an int >= 2, got {batch_size!r}")
    # One pass per batch size: the three scores asked together cost one forward and one backward.
    # The backward is trainability's alone: without it in this context (e.g. the recommended
    # ensemble's az_expressivity) the pass is one forward without a graph. A context with no
    # requested list (a direct call) computes all three.
    backward = which == "trainability" or not ctx.requested or "az_trainability" in ctx.requested
    key = f"az_nas_pass:{batch_size}:{'fwd+bwd' if backward else 'fwd'}"
    done = ctx.shared(key, lambda c: az_nas_pass(c, batch_size, trainability=backward))
    return done[which]


__all__ = [
    "DEFAULT_BATCH",
    "SCORES",
    "az_nas_pass",
    "az_nas_score",
    "channels_last_rows",
    "covariance_entropy",
    "kaiming_fan_in_init_",
    "pair_trainability",
]
