"""naswot: NASWOT (v2), log-determinant of the Hamming kernel of the ReLU activation codes."""

from __future__ import annotations

import math

import torch
from torch import nn

from gradsign.proxies.context import ProxyContext
from gradsign.proxies.registry import register_proxy

#: The activation modules whose inputs give the binary codes: torch's ReLU family.
#: Matched by type, not by class name: the reference's ``'ReLU' in str(type(m))``
#: would also hook composite blocks such as NB201's ``ReLUConvBN`` or NB101's
#: ``ConvBNReLU`` (NASLib excludes its own such blocks for the same reason), and
#: count their units twice.
RELU_TYPES: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.RReLU, nn.PReLU)


#: Column chunk for the exact float32 product: every partial sum is an integer <= 2**23.
_CHUNK = 1 << 23


def _exact_float32_matmul(device: torch.device) -> bool:
    """Whether a float32 matrix product is computed in full float32 here (no TF32 / bfloat16 shortcuts)."""
    if torch.get_float32_matmul_precision() != "highest":
        return False
    return device.type == "cpu" or (device.type == "cuda" and not torch.backends.cuda.matmul.allow_tf32)


def hamming_kernel(codes: torch.Tensor) -> torch.Tensor:
    """``K[i, j]`` = number of units on which samples i and j agree (both active or both inactive), float64.

    ``codes``: ``(N, D)`` binary (0/1). ``K = c c^T + (1-c)(1-c)^T``, computed as
    ``2 c c^T - r_i - r_j + D`` with ``r`` the row sums: one product instead of
    two. The product runs in float32 where float32 products are exact here
    (integers below 2**24; columns are taken in chunks of 2**23), else in
    float64: either way every count is exact, so ``K`` does not depend on the
    route taken. (The float32 route is what makes NASWOT cheap on wide networks:
    a DARTS network calls its ReLUs hundreds of times on 64 x 32k codes.)
    """
    n, d = codes.shape
    dtype = torch.float32 if _exact_float32_matmul(codes.device) else torch.float64
    c = codes.to(dtype)
    both_on = torch.zeros((n, n), dtype=torch.float64, device=codes.device)
    for start in range(0, d, _CHUNK):
        part = c[:, start:start + _CHUNK]
        both_on += (part @ part.T).to(torch.float64)
    ones = c.sum(dim=1, dtype=torch.float64)
    return 2.0 * both_on - ones[:, None] - ones[None, :] + float(d)


def _no_relu_message(net: nn.Module) -> str:
    """Why naswot cannot score ``net``: it needs ReLU-family modules; name the activations it has instead."""
    from collections import Counter

    acts = Counter(type(m).__name__ for m in net.modules()
                   if type(m).__module__.startswith("torch.nn.modules.activation"))
    have = ", ".join(f"{name} x{n}" for name, n in acts.most_common(4))
    return ("naswot needs ReLU-family activation modules (nn.ReLU, ReLU6, LeakyReLU, RReLU, PReLU): its binary "
            "codes are which ReLU units are on; this model has "
            + (f"none, its activation modules are {have}" if have else
               "no activation modules (activations called as functions, e.g. F.relu, cannot be seen)"))


@register_proxy(
    "naswot",
    description="NASWOT v2: log|det K|, K = Hamming-similarity kernel of the samples' ReLU on/off codes (one batch)",
    needs_data=True,
    needs_labels=False,
    higher_is_better=True,
    version="1",
    reference="Mellor et al., Neural Architecture Search without Training, ICML 2021 (v2); "
    "BayesWatch/nas-without-training; NASLib naslib/predictors/utils/pruners/measures/nwot.py",
)
def naswot(ctx: ProxyContext) -> float:
    """``slogdet(K)`` with ``K = sum over ReLU modules of hamming_kernel((input > 0))``.

    One forward of the batch, network in train mode (batch-statistics BN, as in
    the reference), no gradients. Every call of a ReLU-family module adds the
    kernel of its input's on/off pattern (a module called twice, like
    torchvision's shared ``relu``, adds twice, as in the reference). The score
    is the log of the absolute determinant (``K`` is positive semi-definite); a
    singular ``K`` (e.g. two identical samples) gives ``-inf``, as in the
    reference. Activations called as functions (``F.relu``) are invisible to
    hooks: a model with no ReLU-family *module* is refused rather than scored -inf.
    """
    net = ctx.fresh_model()
    n = ctx.inputs.shape[0]
    kernel = torch.zeros((n, n), dtype=torch.float64, device=ctx.device)
    calls = 0

    def add_codes(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        nonlocal kernel, calls
        # The input of an in-place ReLU is its output by now; (x > 0) is the same code either way.
        x = args[0].detach().reshape(args[0].shape[0], -1)
        kernel = kernel + hamming_kernel(x > 0)
        calls += 1

    handles = [m.register_forward_hook(add_codes) for m in net.modules() if isinstance(m, RELU_TYPES)]
    try:
        if not handles:
            raise ValueError(_no_relu_message(net))
        with torch.no_grad():
            net(ctx.inputs)
    finally:
        for h in handles:
            h.remove()
    if calls == 0:
        raise ValueError("naswot: the model's ReLU modules were never called in its forward pass")
    sign, logabsdet = torch.linalg.slogdet(kernel)
    if float(sign) == 0.0:
        return -math.inf
    return float(logabsdet)


__all__ = ["RELU_TYPES", "hamming_kernel", "naswot"]
