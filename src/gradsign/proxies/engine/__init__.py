"""Per-sample gradient engines for the gradsign proxy.

    from gradsign.proxies.engine import gradsign_sign_sums
    res = gradsign_sign_sums(model, inputs, targets)          # engine="auto"
    res.score, res.mean_score, res.engine_used

Engines (``engine=``):

* ``"reference"`` -- the definition: one forward/backward per sample (:mod:`.reference`).
* ``"fast"`` -- one batched forward/backward with per-sample BatchNorm statistics and
  per-sample weight gradients formed layer by layer (:mod:`.fast`); raises
  :class:`~gradsign.errors.ConfigError` for a model it cannot handle exactly.
* ``"func"`` -- ``torch.func.vmap`` of the gradient of one sample's loss, the model run
  on a batch of one per sample (:mod:`.func`): no layer whitelist, slower than ``fast``;
  raises :class:`~gradsign.errors.ConfigError` for a model it cannot handle.
* ``"auto"`` (default) -- ``fast`` where supported, else ``func``, else the reference
  loop with a :class:`GradSignFallbackWarning` (once per set of reasons).
  :attr:`GradSignResult.engine_used` says which ran, ``fallback_reason`` why.

All reduce on the fly (``sum_i sign(g_ik)`` per weight) and never hold the
``N x P`` per-sample gradient matrix (``func`` holds a chunk's). The caller's
model is never modified. A non-finite per-sample loss or gradient makes the
score NaN. See docs/gradsign.md for the definition, parity and speed measurements.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

from gradsign.errors import ConfigError, GradsignError
from gradsign.proxies.engine._common import (
    SCORED_TYPES,
    LossFn,
    SignSumReducer,
    SignSums,
    finish,
    private_copy,
    scored_layers,
)
from gradsign.proxies.engine.fast import FastRunner, FastUnsupported, default_chunk_size
from gradsign.proxies.engine.func import FuncRunner
from gradsign.proxies.engine.reference import reference_sign_sums

ENGINES = ("auto", "fast", "func", "reference")


class GradSignFallbackWarning(UserWarning):
    """``engine="auto"`` used the reference loop because neither batched engine can handle the model."""


@dataclass(frozen=True)
class GradSignResult:
    """The gradsign reduction of one (network, minibatch).

    ``score``: ``sum_k |sum_i sign(g_ik)|``; ``mean_score``: ``score / n_weights``;
    both NaN when some sample's loss or some per-sample gradient entry is not
    finite (``n_nan_weights`` counts the weights with a non-finite gradient; the
    authors' ``np.nansum`` would silently drop them, see docs/gradsign.md).
    ``n_near_zero``: per-sample gradient entries with ``0 < |g| < near_zero_rtol *``
    (largest ``|g|`` of that sample in that layer) -- the entries whose sign float
    rounding could flip; None unless ``near_zero_rtol`` was given.
    ``engine_used``: ``"fast"``, ``"func"`` or ``"reference"``; ``fallback_reason``:
    why ``auto`` did not use the engines before it (``"fast: ...; func: ..."``).
    ``sign_sums``: per layer ``sum_i sign(g_ik)`` (float32, weight-shaped), only with
    ``keep_sign_sums=True``.
    """

    score: float
    mean_score: float
    n_weights: int
    n_samples: int
    n_near_zero: int | None
    engine_used: str
    n_nan_weights: int = 0
    fallback_reason: str | None = None
    sign_sums: dict[str, torch.Tensor] | None = field(default=None, repr=False, compare=False)


_WARNED: set[str] = set()


def _warn_fallback(failures: list[tuple[str, FastUnsupported]]) -> None:
    key = "|".join(exc.key for _, exc in failures)
    if key in _WARNED:
        return
    _WARNED.add(key)
    why = "; ".join(f"{eng}: {exc.reason}" for eng, exc in failures)
    warnings.warn(
        f"gradsign: batched engines not used ({why}); the per-sample reference loop scored this model "
        "(the same numbers unless the model has random layers, slower). This warning is shown once per layer "
        "type / reason.",
        GradSignFallbackWarning,
        stacklevel=3,
    )


def _validate(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, engine: str, chunk_size) -> None:
    if engine not in ENGINES:
        raise ConfigError(f"gradsign engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    if not isinstance(model, nn.Module):
        raise ConfigError(f"gradsign needs a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(inputs, torch.Tensor) or inputs.dim() < 1 or inputs.shape[0] < 1:
        raise ConfigError("gradsign needs a non-empty minibatch tensor of inputs (batch dimension first)")
    if not isinstance(targets, torch.Tensor) or targets.dim() < 1 or targets.shape[0] != inputs.shape[0]:
        got = tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__
        raise ConfigError(f"gradsign needs one target per input: {inputs.shape[0]} inputs, targets {got}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ConfigError(f"gradsign chunk_size must be a positive int or None, got {chunk_size!r}")


def _batched_sign_sums(which: str, model, inputs, targets, loss_fn, chunk_size, verify, near_zero_rtol) -> SignSums:
    """Run the ``fast`` or ``func`` engine on a private copy of ``model``."""
    net = private_copy(model)
    layers = scored_layers(net)
    state = SignSums.empty(layers)
    reducer = SignSumReducer(state, near_zero_rtol)
    if which == "fast":
        runner = FastRunner(
            net, loss_fn, reducer,
            chunk_size=chunk_size if chunk_size is not None else default_chunk_size(int(inputs.shape[0])),
            verify=verify,
        )
    else:
        runner = FuncRunner(net, loss_fn, reducer, chunk_size=chunk_size)
    runner.run(inputs, targets)
    reducer.close()
    state.n_samples = int(inputs.shape[0])
    return state


_TRIES = {"auto": ("fast", "func"), "fast": ("fast",), "func": ("func",), "reference": ()}
_PASS = {"fast": "batched pass", "func": "vmapped pass"}


def gradsign_sign_sums(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: LossFn | None = None,
    engine: str = "auto",
    chunk_size: int | None = None,
    *,
    verify: bool = True,
    near_zero_rtol: float | None = None,
    keep_sign_sums: bool = False,
) -> GradSignResult:
    """GradSign of ``model`` at its current weights on ``(inputs, targets)``.

    ``loss_fn``: the loss of a batch (default cross-entropy); each sample's loss is
    ``loss_fn`` on a batch of one. ``chunk_size``: samples per batched pass of the
    fast / func engine (memory cap; the numbers do not depend on it). ``verify``:
    compare the fast engine's batched logits of sample 0 with its batch-of-one
    forward and fall back if they differ. The model is deep-copied; it is never
    modified.
    """
    _validate(model, inputs, targets, engine, chunk_size)
    # A private copy of the batch too: a model may modify its input in place (x.relu_()).
    inputs = inputs.detach().clone()
    used = engine
    failures: list[tuple[str, FastUnsupported]] = []
    state: SignSums | None = None
    for which in _TRIES[engine]:
        try:
            # Each engine gets its own copy of the batch: one that failed half-way may have
            # let the model modify its input in place.
            state = _batched_sign_sums(which, model, inputs.clone(), targets, loss_fn, chunk_size, verify,
                                       near_zero_rtol)
            used = which
            break
        except FastUnsupported as exc:
            if engine != "auto":
                raise ConfigError(
                    f"gradsign engine {which!r} cannot score this model exactly: {exc.reason}; "
                    "use engine='auto' or 'reference'"
                ) from None
            failures.append((which, exc))
        except GradsignError:
            raise  # e.g. undefined batch-of-1 BatchNorm: the reference loop would refuse it too
        except Exception as exc:  # anything else a batched pass trips on: the next engine decides
            if engine != "auto":
                raise
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            failures.append((which, FastUnsupported(f"{which}:error:{type(exc).__name__}",
                                                    f"{type(exc).__name__} in the {_PASS[which]}: {first}")))
    if state is None:
        state = reference_sign_sums(model, inputs, targets, loss_fn, near_zero_rtol=near_zero_rtol)
        used = "reference"
        # Only now: when the model itself is broken, the loop raises too, and a "falling
        # back" warning before that error would blame the engines for it.
        if failures:
            _warn_fallback(failures)
    reason = "; ".join(f"{eng}: {exc.reason}" for eng, exc in failures) or None
    score, mean, n_weights, n_nan = finish(state)
    return GradSignResult(
        score=score,
        mean_score=mean,
        n_weights=n_weights,
        n_samples=state.n_samples,
        n_near_zero=state.n_near_zero,
        engine_used=used,
        n_nan_weights=n_nan,
        fallback_reason=reason,
        sign_sums=dict(state.sums) if keep_sign_sums else None,
    )


__all__ = [
    "ENGINES",
    "SCORED_TYPES",
    "FastUnsupported",
    "GradSignFallbackWarning",
    "GradSignResult",
    "gradsign_sign_sums",
]
