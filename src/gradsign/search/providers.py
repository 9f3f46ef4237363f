"""Where proxy scores come from: the provider protocol, arrays, and measured callables.

A study asks its provider for ``score(key)`` and ``seconds(key)``, ``key`` being
what the objective calls the arch (:meth:`~gradsign.search.objective.Objective.key`):
the benchmark index for a tabular objective (so arrays and the results store
are indexed directly), the arch itself otherwise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from gradsign.errors import DataError


@runtime_checkable
class ProxyProvider(Protocol):
    """Where proxy scores come from.

    ``score(arch)``: the proxy's value for ``arch`` as the objective keys it
    (a tabular objective's benchmark index; otherwise the space's arch); higher
    must mean "predicted better" (negate lower-is-better proxies). ``seconds(arch)``: what computing that score cost, measured, in
    seconds. A provider may also have a ``name`` attribute (used in results).

    An *ensemble* provider (``a+b``, see :mod:`gradsign.proxies.ensemble`) instead has
    ``member_scores(arch)`` (one value per member, higher = better, -inf where
    undefined) and ``aggregate(rows)`` (rows = cells compared together): its value
    for a cell depends on the cells it is compared with, so the study
    ranks each group (the K candidates, the warm-up pool) together.
    """

    def score(self, arch: Any) -> float: ...

    def seconds(self, arch: Any) -> float: ...


def ranked_values(provider: Any, keys: Any) -> np.ndarray:
    """How ``provider`` ranks all of ``keys`` at once (higher = preferred): a single proxy's
    scores, or an ensemble's rank aggregate over all of them compared together (what a
    study would see if it compared every one of them in one step)."""
    keys = list(keys)
    if not keys:
        return np.empty(0, dtype=np.float64)
    if hasattr(provider, "member_scores"):
        return np.asarray(provider.aggregate(np.stack([provider.member_scores(k) for k in keys])), dtype=np.float64)
    return np.array([provider.score(k) for k in keys], dtype=np.float64)


class ArrayProxyProvider:
    """A :class:`ProxyProvider` over arrays in benchmark index order.

    ``seconds`` may be one number (the same cost for every cell) or an array.
    NaN scores mark cells that were never scored; asking for one is an error
    naming the cell, never a silent imputation. ``higher_is_better=False``
    negates the scores so the search can always take the maximum.

    This is also the fast path for a store-backed provider: load every score
    of one (proxy, dataset) once and wrap the arrays.
    """

    def __init__(
        self,
        scores: Any,
        seconds: Any = 0.0,
        *,
        name: str = "proxy",
        higher_is_better: bool = True,
        arch_name: Callable[[int], str] | None = None,
    ) -> None:
        s = np.asarray(scores, dtype=np.float64)
        if s.ndim != 1 or s.shape[0] == 0:
            raise DataError(f"proxy scores must be a non-empty 1-D array, got shape {s.shape}")
        t = np.asarray(seconds, dtype=np.float64)
        if t.ndim == 0:
            t = np.full(s.shape, float(t))
        if t.shape != s.shape:
            raise DataError(f"proxy seconds must be one number or one per cell ({s.shape[0]}), got shape {t.shape}")
        if (t[np.isfinite(s)] < 0).any() or not np.isfinite(t[np.isfinite(s)]).all():
            raise DataError("proxy seconds must be finite and non-negative for every scored cell")
        self._scores = (s if higher_is_better else -s).tolist()
        self._seconds = t.tolist()
        self.name = str(name)
        self.higher_is_better = bool(higher_is_better)
        self._arch_name = arch_name
        #: cells asked for whose score is infinite (an undefined score stored as -inf ranks last): the
        #: search summary reports how many, as it does for store-backed providers
        self.nonfinite: set[int] = set()

    def __len__(self) -> int:
        return len(self._scores)

    def _check(self, arch: int) -> None:
        if not 0 <= arch < len(self._scores):
            raise DataError(f"proxy {self.name!r} has no entry for cell {arch} (it covers 0..{len(self._scores) - 1})")

    def score(self, arch: int) -> float:
        self._check(arch)
        v = self._scores[arch]
        if v != v:  # NaN: never scored
            label = self._arch_name(arch) if self._arch_name else f"#{arch}"
            raise DataError(f"proxy {self.name!r} has no score for cell {arch} ({label}); score it first")
        if v in (math.inf, -math.inf):
            self.nonfinite.add(int(arch))
        return v

    def seconds(self, arch: int) -> float:
        self._check(arch)
        return self._seconds[arch]

    def __repr__(self) -> str:
        return f"<ArrayProxyProvider {self.name!r}: {len(self._scores)} cells>"


class ArrayEnsembleProvider:
    """An ensemble provider (``a+b``) over per-member arrays in benchmark index order.

    ``members`` (N, M): each member's score, oriented higher = better, non-finite
    where undefined (ranked last for that member, counted in :attr:`nonfinite`);
    ``seconds`` (N,) or one number: what scoring every member of a cell cost.
    The study ranks the cells it compares with :meth:`aggregate` (the rank
    aggregate of :mod:`gradsign.proxies.ensemble`, ``aggregation`` ``logrank`` or
    ``meanrank``).
    """

    def __init__(self, members: Any, seconds: Any = 0.0, *, name: str = "ensemble",
                 aggregation: str = "logrank") -> None:
        m = np.asarray(members, dtype=np.float64)
        if m.ndim != 2 or m.shape[0] == 0 or m.shape[1] < 1:
            raise DataError(f"ensemble member scores must be a non-empty (cells, members) array, got shape {m.shape}")
        t = np.asarray(seconds, dtype=np.float64)
        t = np.full(m.shape[0], float(t)) if t.ndim == 0 else t
        if t.shape != (m.shape[0],) or not np.isfinite(t).all() or (t < 0).any():
            raise DataError(f"ensemble seconds must be one finite non-negative number per cell ({m.shape[0]})")
        if aggregation not in ("logrank", "meanrank"):
            raise DataError(f"ensemble aggregation must be logrank or meanrank, got {aggregation!r}")
        self._members = np.where(np.isfinite(m), m, -np.inf)
        self._finite = np.isfinite(m).all(axis=1).tolist()
        self._seconds = t.tolist()
        self.name = str(name)
        self.higher_is_better = True
        self.aggregation = aggregation
        self.nonfinite: set[int] = set()

    def member_scores(self, arch: int) -> np.ndarray:
        if not self._finite[arch]:
            self.nonfinite.add(int(arch))
        return self._members[arch]

    def seconds(self, arch: int) -> float:
        return self._seconds[arch]

    def score(self, arch: int) -> float:
        raise DataError(f"ensemble {self.name!r} has no score of one cell alone: it ranks the cells compared together")

    def aggregate(self, rows: np.ndarray) -> np.ndarray:
        from gradsign.proxies.ensemble import rank_aggregate

        values, _ = rank_aggregate(np.asarray(rows, dtype=np.float64), [True] * self._members.shape[1],
                                   self.aggregation)
        return values

    def __repr__(self) -> str:
        return f"<ArrayEnsembleProvider {self.name!r}: {self._members.shape[0]} cells x {self._members.shape[1]} members>"


class CallableProxyProvider:
    """A :class:`ProxyProvider` from a function ``proxy(arch) -> score`` whose wall-clock seconds are measured.

    The seconds charged for a score are what computing it took (``clock``,
    default :func:`time.perf_counter`), measured the same way as a
    :class:`~gradsign.search.objective.CallableObjective` measures a training, so
    proxy screening and training share one honest budget. Each arch is computed
    once per provider (its score and seconds are remembered; a study pays them
    once per run). ``higher_is_better=False`` negates the scores. With a
    ``journal`` (:class:`~gradsign.search.journal.Journal`) the scores and seconds
    are also recorded on disk under ``arch_name(arch)``, so a resumed search
    does not recompute them.
    """

    def __init__(self, proxy: Callable[[Any], float], *, name: str | None = None, higher_is_better: bool = True,
                 clock: Callable[[], float] = time.perf_counter, journal: Any = None,
                 arch_name: Callable[[Any], str] = str) -> None:
        if not callable(proxy):
            raise DataError(f"a proxy must be callable as proxy(arch) -> score, got {proxy!r}")
        self._proxy = proxy
        self.name = str(name or getattr(proxy, "__name__", "proxy"))
        self.higher_is_better = bool(higher_is_better)
        self._clock = clock
        self._computed: dict[Hashable, tuple[float, float]] = {}
        self.n_computed = 0
        # A Journal (gradsign.search.journal) keeps (score, seconds) across processes, per arch name and
        # per what computed them: the proxy's identity (a named proxy on a user's space: a digest of its
        # minibatch, seed and options; a function: its source) and direction, never the name alone.
        self._journal = journal
        self._arch_name = arch_name
        if journal is not None:
            from gradsign.search.journal import callable_identity

            identity = getattr(proxy, "journal_identity", None) or callable_identity(proxy)
            self._journal_key = f"{self.name}|{identity}|{'higher' if self.higher_is_better else 'lower'}"

    def _get(self, arch: Any) -> tuple[float, float]:
        if arch not in self._computed:
            name = self._arch_name(arch) if self._journal is not None else ""
            recorded = (self._journal.proxy_score(self._journal_key, name, legacy_name=self.name)
                        if self._journal is not None else None)
            if recorded is not None:
                self._computed[arch] = recorded
                return recorded
            start = self._clock()
            value = float(self._proxy(arch))
            seconds = self._clock() - start
            self._computed[arch] = (value if self.higher_is_better else -value, seconds)
            self.n_computed += 1
            if self._journal is not None:
                self._journal.record_proxy_score(self._journal_key, name, *self._computed[arch])
        return self._computed[arch]

    def score(self, arch: Any) -> float:
        return self._get(arch)[0]

    def seconds(self, arch: Any) -> float:
        return self._get(arch)[1]

    def __repr__(self) -> str:
        return f"<CallableProxyProvider {self.name!r}: {self.n_computed} archs scored>"


def network_proxy(space: Any, proxy: str, inputs: Any, targets: Any, *, num_classes: int, seed: int = 0,
                  options: Any = None) -> Callable[[Any], float]:
    """``proxy(arch) -> score``: the named zero-cost proxy of ``space.build_network(arch)`` on one minibatch.

    For searches on a user's space: wrap it in :class:`CallableProxyProvider` and
    the seconds of building and scoring each network are charged like training
    seconds. ``seed`` seeds each network's initialisation and the proxy, so an
    arch always gets the same score.
    """
    from gradsign.proxies import get_proxy

    get_proxy(proxy)  # an unknown name fails now, not mid-search

    def score(arch: Any) -> float:
        import torch

        from gradsign.proxies.api import score as score_model

        torch.manual_seed(seed)
        model = space.build_network(arch, num_classes)
        return float(score_model(model, inputs, targets, [proxy], seed=seed, options=options)[proxy])

    score.__name__ = proxy
    score.journal_identity = _minibatch_identity(proxy, inputs, targets, num_classes, seed, options)
    return score


def _minibatch_identity(proxy: str, inputs: Any, targets: Any, num_classes: int, seed: int, options: Any) -> str:
    """A digest of everything a :func:`network_proxy` score depends on besides the arch (a journal's key)."""
    import hashlib
    import json

    from gradsign.proxies import get_proxy
    from gradsign.proxies.api import minibatch_fingerprint

    setting = json.dumps([proxy, get_proxy(proxy).version, num_classes, int(seed), repr(options),
                          minibatch_fingerprint(inputs, targets)])
    return f"minibatch#{hashlib.sha256(setting.encode()).hexdigest()[:16]}"


def provider_name(provider: ProxyProvider | None) -> str | None:
    if provider is None:
        return None
    return str(getattr(provider, "name", type(provider).__name__))


__all__ = ["ArrayEnsembleProvider", "ArrayProxyProvider", "CallableProxyProvider", "ProxyProvider", "network_proxy", "provider_name"]
