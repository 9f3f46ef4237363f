"""Proxy providers whose scores live in the results store, for searches on a benchmark's cells.

A cell is scored the first time any run asks for it (then stored), so all runs
of all settings share one score per cell, and a second invocation computes
nothing; ``precompute`` scores the whole space up front (resumable, with a
progress bar). Used by :func:`gradsign.workflows.search.search` for a named proxy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradsign.errors import ConfigError
from gradsign.proxies import get_proxy
from gradsign.workflows.scoring import Scorer, ScoringSetup


class StoreBackedProvider:
    """A search ``ProxyProvider`` whose scores live in the results store (computed on first request).

    NaN/inf scores (a network whose proxy is undefined) rank below every finite
    score and are counted in :attr:`nonfinite`; they are never replaced by a
    made-up number in the store or the reports.
    """

    def __init__(self, scorer: Scorer, proxy: str) -> None:
        self.scorer = scorer
        self.name = proxy
        self.higher_is_better = get_proxy(proxy).higher_is_better
        self._space = scorer.space
        self._cache: dict[int, tuple[float, float]] = {}
        self.n_computed = 0
        self.nonfinite: set[int] = set()
        if scorer.store is not None:
            by_arch = {r.arch: r for r in scorer.store.iter_key(scorer.read_keys[proxy]) if r.status != "error"}
            for arch, rec in by_arch.items():
                idx = self._space.index_of(self._space.parse(arch))
                self._cache[idx] = (rec.value, rec.seconds if rec.seconds is not None else 0.0)
        self.n_preloaded = len(self._cache)

    def _get(self, index: int) -> tuple[float, float]:
        if index not in self._cache:
            table = self.scorer.score_archs([self._space.arch_at(index)], progress=False)
            self.n_computed += table.n_computed
            sec = table.seconds[self.name][0]
            self._cache[index] = (float(table.scores[self.name][0]), float(sec) if np.isfinite(sec) else 0.0)
        return self._cache[index]

    def score(self, arch: int) -> float:
        value, _ = self._get(int(arch))
        if not math.isfinite(value):
            self.nonfinite.add(int(arch))
            return -math.inf
        return value if self.higher_is_better else -value

    def seconds(self, arch: int) -> float:
        return self._get(int(arch))[1]

    def stored(self) -> dict[int, tuple[float, float]]:
        """``{benchmark index: (score, seconds)}`` of every cell known so far (store, or computed here)."""
        return dict(self._cache)

    def precompute(self, progress: bool = True, backend: Any = None) -> None:
        """Score every cell not yet scored (resumable; ``backend``: any execution backend)."""
        archs = [a for i, a in enumerate(self._space) if i not in self._cache]
        if archs:
            self.scorer.score_archs(archs, progress=progress, description=f"precomputing {self.name}",
                                    backend=backend)
            self.__init__(self.scorer, self.name)


class EnsembleStoreProvider(StoreBackedProvider):
    """A search provider for an ensemble proxy (``a+b``): its members' scores from the results store.

    Each cell's members are computed together the first time a run asks (then
    stored); the study ranks the cells it compares (the K candidates of
    a step, the warm-up pool) with :meth:`aggregate`. A non-finite member score
    ranks last for that member and is counted in :attr:`nonfinite`.
    """

    # precompute() is StoreBackedProvider's: score every cell missing from the cache, then reload.

    def __init__(self, scorer: Scorer, ensemble: str) -> None:  # noqa: D107 - members' scores, not one proxy's
        spec = get_proxy(ensemble)
        self.scorer = scorer
        self.spec = spec
        self.name = spec.name
        self.higher_is_better = True
        self._space = scorer.space
        self._directions = np.array([1.0 if get_proxy(m).higher_is_better else -1.0 for m in spec.members])
        self._cache: dict[int, tuple[np.ndarray, float]] = {}
        self.n_computed = 0
        self.nonfinite: set[int] = set()
        if scorer.store is not None:
            per_member = []
            for m in spec.members:
                per_member.append({r.arch: r for r in scorer.store.iter_key(scorer.read_keys[m]) if r.status != "error"})
            for arch in set.intersection(*(set(d) for d in per_member)):
                recs = [d[arch] for d in per_member]
                idx = self._space.index_of(self._space.parse(arch))
                self._cache[idx] = (np.array([r.value for r in recs], dtype=np.float64),
                                    float(sum(r.seconds or 0.0 for r in recs)))
        self.n_preloaded = len(self._cache)

    def _get(self, index: int) -> tuple[np.ndarray, float]:
        if index not in self._cache:
            table = self.scorer.score_archs([self._space.arch_at(index)], progress=False)
            self.n_computed += table.n_computed
            values = np.array([table.scores[m][0] for m in self.spec.members], dtype=np.float64)
            secs = np.array([table.seconds[m][0] for m in self.spec.members], dtype=np.float64)
            self._cache[index] = (values, float(np.nansum(secs)))
        return self._cache[index]

    def member_scores(self, arch: int) -> np.ndarray:
        values, _ = self._get(int(arch))
        if not np.isfinite(values).all():
            self.nonfinite.add(int(arch))
        return np.where(np.isfinite(values), values * self._directions, -np.inf)

    def seconds(self, arch: int) -> float:
        return self._get(int(arch))[1]

    def score(self, arch: int) -> float:
        raise ConfigError(f"ensemble {self.name!r} has no score of one cell alone: it ranks the cells compared together")

    def aggregate(self, rows: np.ndarray) -> np.ndarray:
        from gradsign.proxies.ensemble import rank_aggregate

        values, _ = rank_aggregate(rows, [True] * len(self.spec.members), self.spec.aggregation)
        return values


def gradsign_mean_from_gradsign(gradsign: StoreBackedProvider) -> Any:
    """``gradsign_mean`` for every NB201 cell, derived from stored ``gradsign`` scores.

    ``gradsign_mean = gradsign / n_weights`` with ``n_weights`` the network's
    Conv2d/Linear weight count (:func:`count_nb201_prunable_weights`, for the
    setup's number of classes); both proxies come from one computation, so the
    derived score charges gradsign's measured seconds. Exact unless a per-sample
    gradient was NaN (the proxy then leaves those weights out of its denominator;
    the store does not record how many). Used to search with the authors' mean
    variant without a second full-space scoring. Every cell must have a stored
    gradsign score (a missing one is an error naming it, never imputed).
    """
    from gradsign.data.images import dataset_info
    from gradsign.search import ArrayProxyProvider
    from gradsign.spaces.nb201 import NB201_OPS
    from gradsign.spaces.nb201_network import count_nb201_prunable_weights

    setup = gradsign.scorer.setup
    if gradsign.name != "gradsign" or setup.space != "nb201":
        raise ConfigError(f"gradsign_mean is derived from NB201 gradsign scores, not from {gradsign.name!r} "
                          f"on {setup.space!r}")
    space = gradsign.scorer.space
    num_classes = dataset_info(setup.dataset).num_classes
    convs = (NB201_OPS.index("nor_conv_1x1"), NB201_OPS.index("nor_conv_3x3"))
    n = len(space)
    scores = np.full(n, np.nan)
    seconds = np.full(n, np.nan)
    counts: dict[tuple[int, ...], int] = {}
    for index, (value, sec) in gradsign.stored().items():
        arch = space.arch_at(index)
        profile = tuple(arch.ops.count(op) for op in convs)  # the count depends only on the convolutions
        if profile not in counts:
            counts[profile] = count_nb201_prunable_weights(arch, num_classes)
        scores[index] = value / counts[profile] if math.isfinite(value) else -math.inf
        seconds[index] = sec
    missing = np.flatnonzero(np.isnan(scores))
    if missing.size:
        raise ConfigError(f"gradsign_mean is derived from stored gradsign scores, missing for {missing.size:,} of "
                          f"{n:,} cells (first: {space.arch_at(int(missing[0])).to_string()}); score them first")
    return ArrayProxyProvider(scores, seconds, name="gradsign_mean",
                              arch_name=lambda i: space.arch_at(int(i)).to_string())


def store_provider(scorer: Scorer, proxy: str) -> StoreBackedProvider:
    """The store-backed provider of ``proxy`` for ``scorer``: an ensemble's members, or the proxy itself."""
    if getattr(get_proxy(proxy), "is_ensemble", False):
        return EnsembleStoreProvider(scorer, proxy)
    return StoreBackedProvider(scorer, proxy)


def benchmark_store_provider(proxy: str, store: Any, *, space: str = "nb201", dataset: str = "cifar10",
                             batch_size: int = 64, seed: int = 0, complete: bool = True) -> StoreBackedProvider:
    """The stored scores of ``proxy`` (or of each member of an ensemble ``a+b`` / a named one) on a
    benchmark's cells, for experiment scripts that must not score anything while they search.

    With ``complete``, every cell of the space must be in ``store`` (all members, for an
    ensemble), or a one-line error names the missing count and the two ways to fill it: import
    the committed all-cell exports, or score the rest (resumable).
    """
    spec = get_proxy(proxy)
    members = tuple(spec.members) if getattr(spec, "is_ensemble", False) else (proxy,)
    scorer = Scorer(ScoringSetup(space=space, dataset=dataset, proxies=members, batch_size=batch_size, seed=seed),
                    store)
    provider = store_provider(scorer, proxy)
    n_cells = len(scorer.space)
    if complete and provider.n_preloaded < n_cells:
        exports = " ".join(f"results/{space}_{dataset}_allcells_seed{seed}_bs{batch_size}_{m}.csv.gz" for m in members)
        raise ConfigError(
            f"{store.path} has {proxy} for {provider.n_preloaded:,} of {n_cells:,} {space} cells ({dataset}, batch "
            f"{batch_size}, seed {seed}); import the all-cell exports (gradsign store import {exports} --store "
            f"{store.path}) or score the rest, resumably: gradsign search --space {space} --dataset {dataset} --algo random "
            f"--proxy {proxy} --precompute --runs 1 --batch-size {batch_size} --seed {seed} --store {store.path} "
            "--backend process --workers 2")
    return provider


__all__ = ["EnsembleStoreProvider", "StoreBackedProvider", "benchmark_store_provider", "gradsign_mean_from_gradsign",
           "store_provider"]
