"""GradSign (Zhang & Jia, ICLR 2022): how consistently the per-sample gradients agree in sign.

For a minibatch of N samples and every weight k of the Conv2d / Linear layers
(biases and BatchNorm parameters excluded), with g_ik the gradient of sample i's
cross-entropy loss at initialisation (train mode; BatchNorm normalises each sample
with its own, batch-of-1, statistics)::

    gradsign      = sum_k |sum_i sign(g_ik)|        (sign(0) = 0)
    gradsign_mean = gradsign / number of weights

Two proxies, because the authors' code has both: ``naswot-code/gradsign.py``
reduces with ``np.nansum`` (the paper's definition), ``zero-cost-nas-code/gradsign.py``
with ``np.nanmean``. On one network they rank identically only up to the
weight count, so across networks they are different proxies. Both are computed
from one shared pass when requested together.

Options (``score(..., options={"gradsign": {...}})``):

* ``engine``: ``"auto"`` (default: the fast batched engine where it can be proven
  exact, else the ``torch.func`` engine, else the per-sample loop with a warning),
  ``"fast"``, ``"func"`` or ``"reference"``.
* ``chunk_size``: samples per batched pass of the fast / func engine (memory cap;
  the score does not depend on it).
* ``verify``: the fast engine's cheap runtime check that the network does not mix
  samples (default True).

A network whose loss or per-sample gradient is not finite (inf weights, NaN
inputs) scores NaN, not the 0.0 the authors' ``np.nansum`` would give it.

Which engine ran is in :class:`~gradsign.proxies.engine.GradSignResult`; callers of
:func:`gradsign.score`, which returns floats only, read it with
:func:`recording_engines` (``gradsign rank`` puts it in each model's notes).

Definition, engines, parity, speed and every deliberate difference from the
authors' code: docs/gradsign.md.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from gradsign.proxies.context import ProxyContext
from gradsign.proxies.engine import GradSignResult, gradsign_sign_sums
from gradsign.proxies.registry import register_proxy

_REFERENCE = (
    "Zhang & Jia, GradSign: Model Performance Inference with Theoretical Insights, ICLR 2022; "
    "cmu-catalyst/GradSign naswot-code/gradsign.py (sum) and zero-cost-nas-code/gradsign.py (mean)"
)


_LOCAL = threading.local()


@contextmanager
def recording_engines() -> Iterator[list[GradSignResult]]:
    """Collect the :class:`GradSignResult` of every gradsign computation run in this thread
    inside the block (one per computation; ``gradsign`` and ``gradsign_mean`` requested
    together share one). ``score`` returns floats only; this says which engine ran, and why::

        with recording_engines() as seen:
            score(model, x, y, ["gradsign"])
        seen[0].engine_used, seen[0].fallback_reason
    """
    stack = getattr(_LOCAL, "stack", None)
    if stack is None:
        stack = _LOCAL.stack = []
    seen: list[GradSignResult] = []
    stack.append(seen)
    try:
        yield seen
    finally:
        stack.remove(seen)


def engine_notes(results: list[GradSignResult]) -> list[str]:
    """One line per distinct engine outcome, e.g. ``gradsign engine: func (fast: layer ... )``."""
    notes: list[str] = []
    for r in results:
        text = f"gradsign engine: {r.engine_used}" + (f" ({r.fallback_reason})" if r.fallback_reason else "")
        if text not in notes:
            notes.append(text)
    return notes


def gradsign_result(
    ctx: ProxyContext, *, engine: str = "auto", chunk_size: int | None = None, verify: bool = True
) -> GradSignResult:
    """The full :class:`GradSignResult` for the context's model and batch, computed once per options."""
    key = f"gradsign:engine={engine}:chunk={chunk_size}:verify={bool(verify)}"

    def compute(c: ProxyContext) -> GradSignResult:
        res = gradsign_sign_sums(
            c.fresh_model(), c.inputs, c.targets, c.loss_fn, engine=engine, chunk_size=chunk_size, verify=verify
        )
        for seen in getattr(_LOCAL, "stack", None) or ():
            seen.append(res)
        return res

    return ctx.shared(key, compute)


@register_proxy(
    "gradsign",
    description="sum over Conv2d/Linear weights of |sum over samples of sign(per-sample gradient)|",
    needs_data=True,
    needs_labels=True,
    higher_is_better=True,
    version="1",
    reference=_REFERENCE,
)
def gradsign(ctx: ProxyContext, *, engine: str = "auto", chunk_size: int | None = None, verify: bool = True) -> float:
    """``sum_k |sum_i sign(g_ik)|`` (the paper's GradSign)."""
    return gradsign_result(ctx, engine=engine, chunk_size=chunk_size, verify=verify).score


@register_proxy(
    "gradsign_mean",
    description="gradsign divided by the number of Conv2d/Linear weights (the authors' nanmean variant)",
    needs_data=True,
    needs_labels=True,
    higher_is_better=True,
    version="1",
    reference=_REFERENCE,
)
def gradsign_mean(
    ctx: ProxyContext, *, engine: str = "auto", chunk_size: int | None = None, verify: bool = True
) -> float:
    """``gradsign / n_weights``: the mean over weights of ``|sum_i sign(g_ik)|``."""
    return gradsign_result(ctx, engine=engine, chunk_size=chunk_size, verify=verify).mean_score


__all__ = ["engine_notes", "gradsign", "gradsign_mean", "gradsign_result", "recording_engines"]
