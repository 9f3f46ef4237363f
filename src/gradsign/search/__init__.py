"""Simulated NAS on tabular benchmarks, with proxy assistance and honest cost accounting.

Algorithms (one module each, registered by name): ``random`` (random_search),
``rea`` (evolution), ``reinforce`` (reinforce), ``bohb`` (bohb), ``predictor``
(predictor_guided: BANANAS-style, driven by a ``gradsign.predictors`` predictor). Shared
machinery: :mod:`~gradsign.search.base` (budget, proxy providers, the per-run
context), :mod:`~gradsign.search.oracle` (the benchmark as arrays),
:mod:`~gradsign.search.runner` (seeded multi-run driver, JSON results),
:mod:`~gradsign.search.report` (summaries, trajectories, tables, plots).
See docs/search.md for the protocol and its choices.
"""

from __future__ import annotations

from gradsign.search.base import (
    ArrayProxyProvider,
    Budget,
    ProxyProvider,
    SearchAlgorithm,
    SearchContext,
    SearchRun,
    available_searches,
    get_search,
    register_search,
    search_name,
)
from gradsign.search.oracle import (
    NB201_DATASETS,
    NB201_SETTINGS,
    SearchOracle,
    nb201_cost,
    nb201_dataset,
    nb201_oracle,
    nb201_oracle_from_arrays,
)
from gradsign.search.report import (
    NB201_PAPER_CIFAR10_TEST,
    aggregate_trajectories,
    format_table,
    format_transfer_table,
    plot_trajectories,
    results_table,
    summarize,
)
from gradsign.search.runner import DEFAULT_CANDIDATES, SearchResults, run_search, run_searches

__all__ = [
    "ArrayProxyProvider",
    "Budget",
    "DEFAULT_CANDIDATES",
    "NB201_DATASETS",
    "NB201_PAPER_CIFAR10_TEST",
    "NB201_SETTINGS",
    "ProxyProvider",
    "SearchAlgorithm",
    "SearchContext",
    "SearchOracle",
    "SearchResults",
    "SearchRun",
    "aggregate_trajectories",
    "available_searches",
    "format_table",
    "format_transfer_table",
    "get_search",
    "nb201_cost",
    "nb201_dataset",
    "nb201_oracle",
    "nb201_oracle_from_arrays",
    "plot_trajectories",
    "register_search",
    "results_table",
    "run_search",
    "run_searches",
    "search_name",
    "summarize",
]
