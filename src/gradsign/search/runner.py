"""Run many seeded searches and collect JSON-serialisable results.

    >>> from gradsign.search import run_searches, ArrayProxyProvider
    >>> res = run_searches("rea", oracle, runs=100, seed=0)                  # doctest: +SKIP
    >>> g = run_searches("rea", oracle, provider, runs=100, seed=0)          # doctest: +SKIP
    >>> res.summary()["mean"], g.summary()["mean"]                           # doctest: +SKIP

Run ``r`` of a call with seed ``S`` draws from
``np.random.default_rng(np.random.SeedSequence(S, spawn_key=(r,)))``: runs are
independent streams, and run ``r`` gives the same result whatever the number
of runs or the order they are executed in.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradsign.errors import ConfigError, DataError
from gradsign.search.base import (
    Budget,
    BudgetExhausted,
    ProxyProvider,
    SearchAlgorithm,
    SearchContext,
    SearchRun,
    finish_run,
    get_search,
    provider_name,
)
from gradsign.search.oracle import SearchOracle

#: Default number of candidates per proposal when a proxy is given (GradSign: 10).
DEFAULT_CANDIDATES = 10

RESULTS_FORMAT = "gradsign.search.results/1"


def _run_rng(seed: int, run: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(run),)))


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _resolve(
    algo: "str | SearchAlgorithm",
    provider: ProxyProvider | None,
    candidates: int | None,
    warmup_pool: int,
    params: Mapping[str, Any],
) -> tuple[SearchAlgorithm, int]:
    algorithm = get_search(algo, **params)
    if candidates is None:
        candidates = DEFAULT_CANDIDATES if provider is not None else 1
    if isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) or candidates < 1:
        raise ConfigError(f"candidates must be an int >= 1, got {candidates!r}")
    if provider is None and (candidates > 1 or warmup_pool > 0):
        raise ConfigError("candidates > 1 and warm-up need a proxy provider")
    if provider is not None and not algorithm.accepts_proxy:
        raise ConfigError(f"search {algorithm.name!r} takes no proxy provider (its predictor reads zero-cost "
                          "features itself); run it without one")
    if provider is not None and not isinstance(provider, ProxyProvider):
        raise ConfigError(f"provider must have score(arch) and seconds(arch) methods, got {provider!r}")
    if warmup_pool < 0:
        raise ConfigError(f"warmup_pool must be >= 0, got {warmup_pool}")
    return algorithm, int(candidates)


def run_search(
    algo: "str | SearchAlgorithm",
    oracle: SearchOracle,
    provider: ProxyProvider | None = None,
    *,
    seed: int = 0,
    run: int = 0,
    candidates: int | None = None,
    budget: Budget | float | str | None = None,
    charge_proxy: bool = True,
    warmup_pool: int = 0,
    record_events: bool = False,
    **params: Any,
) -> SearchRun:
    """One simulated search (run ``run`` of seed ``seed``); ``params`` configure ``algo``."""
    algorithm, k = _resolve(algo, provider, candidates, warmup_pool, params)
    b = Budget.parse(budget, oracle.default_budget)
    return _one_run(algorithm, oracle, provider, _check_seed(seed), run, k, b, charge_proxy, warmup_pool, record_events)


def _one_run(
    algorithm: SearchAlgorithm,
    oracle: SearchOracle,
    provider: ProxyProvider | None,
    seed: int,
    run: int,
    k: int,
    budget: Budget,
    charge_proxy: bool,
    warmup_pool: int,
    record_events: bool,
) -> SearchRun:
    ctx = SearchContext(
        oracle, budget, _run_rng(seed, run), proxy=provider, charge_proxy=charge_proxy,
        candidates=k, warmup_pool=warmup_pool, record_events=record_events,
    )
    try:
        algorithm.run(ctx)
    except BudgetExhausted:
        pass
    return finish_run(ctx, run, (seed, run))


@dataclass
class SearchResults:
    """All runs of one setting, plus the setting itself; see :func:`run_searches`."""

    algo: str
    params: dict[str, Any]
    dataset: str
    space: str
    budget: dict[str, Any]
    proxy: str | None
    candidates: int
    charge_proxy: bool
    warmup_pool: int
    seed: int
    runs: list[SearchRun]
    notes: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    # --- views ---------------------------------------------------------------------
    @property
    def label(self) -> str:
        """Short description, e.g. ``rea`` or ``rea+jacob_cov(K=10, charged)``."""
        algo = self.algo
        if "predictor" in self.params:  # predictor-guided search: name the predictor
            algo = f"{algo}[{self.params['predictor']}]"
        if self.proxy is None:
            if self.params.get("uses_zerocost"):
                return f"{algo}({'charged' if self.charge_proxy else 'free'})"
            return algo
        bits = [f"K={self.candidates}"] if self.candidates > 1 else []
        if self.warmup_pool:
            bits.append(f"warmup={self.warmup_pool}")
        bits.append("charged" if self.charge_proxy else "free")
        return f"{algo}+{self.proxy}({', '.join(bits)})"

    def tests(self) -> np.ndarray:
        """Final reported accuracy of each run (NaN for a run that trained nothing)."""
        return np.array([r.test for r in self.runs], dtype=np.float64)

    def summary(self, confidence: float = 0.95) -> dict[str, float]:
        """Mean, std, confidence interval (Student t) ... of the final accuracies; see :func:`summarize`."""
        from gradsign.search.report import summarize

        out = summarize(self.tests(), confidence)
        out["evaluations_mean"] = float(np.mean([r.evaluations for r in self.runs])) if self.runs else float("nan")
        out["charged_seconds_mean"] = float(np.mean([r.charged_seconds for r in self.runs])) if self.runs else float("nan")
        out["proxy_seconds_mean"] = float(np.mean([r.proxy_seconds for r in self.runs])) if self.runs else float("nan")
        return out

    def reported_summary(self, confidence: float = 0.95) -> dict[str, dict[str, float]]:
        """:func:`summarize` of each number the oracle reports for every run's pick.

        For NB201 these are the picked cell's 200-epoch test accuracy on every
        dataset, whatever dataset was searched: the NB201 and GradSign papers
        search on CIFAR-10 and report the pick on CIFAR-10, CIFAR-100 and
        ImageNet16-120. Runs that trained nothing count as missing.
        """
        from gradsign.search.report import summarize

        names = sorted({k for r in self.runs for k in r.reported})
        return {k: summarize([r.reported.get(k, float("nan")) for r in self.runs], confidence) for k in names}

    def trajectory(self, **kwargs: Any) -> dict[str, Any]:
        """Mean incumbent accuracy on a budget grid; see :func:`~gradsign.search.report.aggregate_trajectories`."""
        from gradsign.search.report import aggregate_trajectories

        return aggregate_trajectories(self, **kwargs)

    # --- (de)serialisation ------------------------------------------------------------
    def to_dict(self, *, trajectories: bool = True) -> dict[str, Any]:
        runs = [r.to_dict() for r in self.runs]
        if not trajectories:
            for r in runs:
                r.pop("trajectory", None)
        return {
            "format": RESULTS_FORMAT, "algo": self.algo, "label": self.label, "params": self.params,
            "dataset": self.dataset, "space": self.space, "budget": self.budget, "proxy": self.proxy,
            "candidates": self.candidates, "charge_proxy": self.charge_proxy, "warmup_pool": self.warmup_pool,
            "seed": self.seed, "notes": list(self.notes), "wall_seconds": self.wall_seconds,
            "summary": _jsonable(self.summary()),
            "reported_summary": {k: _jsonable(v) for k, v in self.reported_summary().items()}, "runs": runs,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SearchResults":
        if d.get("format") != RESULTS_FORMAT:
            raise DataError(f"not a search results document (format {d.get('format')!r}, expected {RESULTS_FORMAT!r})")
        return cls(
            algo=d["algo"], params=dict(d["params"]), dataset=d["dataset"], space=d["space"], budget=dict(d["budget"]),
            proxy=d["proxy"], candidates=int(d["candidates"]), charge_proxy=bool(d["charge_proxy"]),
            warmup_pool=int(d["warmup_pool"]), seed=int(d["seed"]),
            runs=[SearchRun.from_dict(r) for r in d["runs"]], notes=list(d.get("notes", [])),
            wall_seconds=float(d.get("wall_seconds", 0.0)),
        )

    def to_json(self, path: str | Path, *, trajectories: bool = True) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(trajectories=trajectories), separators=(",", ":")))
        return p

    @classmethod
    def load(cls, path: str | Path) -> "SearchResults":
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read search results {p}: {exc}") from None
        return cls.from_dict(d)


def _jsonable(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in d.items()}


def run_searches(
    algo: "str | SearchAlgorithm",
    oracle: SearchOracle,
    provider: ProxyProvider | None = None,
    *,
    runs: int = 100,
    seed: int = 0,
    candidates: int | None = None,
    budget: Budget | float | str | None = None,
    charge_proxy: bool = True,
    warmup_pool: int = 0,
    progress: Callable[[int, int], None] | None = None,
    **params: Any,
) -> SearchResults:
    """``runs`` independent simulated searches of ``algo`` on ``oracle``.

    Parameters
    ----------
    algo : name (``"random"``, ``"rea"``, ``"reinforce"``, ``"bohb"``) or instance
    oracle : the simulated benchmark (e.g. :func:`~gradsign.search.oracle.nb201_oracle`)
    provider : proxy scores and their measured seconds, or None (the plain algorithm)
    runs, seed : run ``r`` is seeded from ``(seed, r)``, independently of ``runs``
    candidates : K cells proposed where the algorithm proposes one, best proxy kept;
        default 10 with a provider, 1 without
    budget : simulated seconds (number or ``"12000s"``), ``"100evals"`` or a
        :class:`Budget`; default the oracle's (NB201 CIFAR-10: 12,000 s)
    charge_proxy : charge the proxy's measured seconds to the budget (default);
        False reproduces the papers, which treat the proxy as free
    warmup_pool : > 0 enables the warm-up variant with a pool of that many cells
    progress : called as ``progress(done, runs)`` after each run
    params : algorithm settings (e.g. ``sample_size=3`` for REA)
    """
    if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or runs < 1:
        raise ConfigError(f"runs must be an int >= 1, got {runs!r}")
    seed = _check_seed(seed)
    algorithm, k = _resolve(algo, provider, candidates, warmup_pool, params)
    b = Budget.parse(budget, oracle.default_budget)
    start = time.perf_counter()
    out = []
    for r in range(int(runs)):
        out.append(_one_run(algorithm, oracle, provider, seed, r, k, b, charge_proxy, warmup_pool, False))
        if progress is not None:
            progress(r + 1, int(runs))
    wall = time.perf_counter() - start
    notes = list(oracle.notes)
    probe = SearchContext(oracle, b, _run_rng(seed, 0), proxy=provider, charge_proxy=charge_proxy,
                          candidates=k, warmup_pool=warmup_pool)
    notes += algorithm.notes(probe)
    notes.append("a cell trained twice is paid twice (no training cache), as in NB201's scripts")
    if provider is not None:
        notes.append("proxy scores are cached within a run: each distinct cell's proxy seconds are paid once per run")
        if not charge_proxy:
            notes.append("proxy seconds were NOT charged to the budget (the GradSign / Abdelfattah et al. setting); "
                         "they are recorded in proxy_seconds")
        elif b.kind == "evaluations":
            notes.append("evaluation budget: proxy seconds are recorded but cannot limit the search")
    return SearchResults(
        algo=algorithm.name or type(algorithm).__name__, params=algorithm.params(), dataset=oracle.dataset,
        space=oracle.space, budget=b.to_dict(), proxy=provider_name(provider), candidates=k,
        charge_proxy=bool(charge_proxy) if provider is not None or algorithm.params().get("uses_zerocost") else False,
        warmup_pool=int(warmup_pool), seed=seed, runs=out, notes=notes, wall_seconds=wall,
    )


__all__ = ["DEFAULT_CANDIDATES", "SearchResults", "run_search", "run_searches"]
