"""Former home of the search machinery, split by issue #24 into one module per concern.

Kept so that existing imports keep working: budgets are in
:mod:`~gradsign.search.budget`, proxy providers in :mod:`~gradsign.search.providers`,
the per-run state (``SearchContext``, now :class:`~gradsign.search.study.Study`)
in :mod:`~gradsign.search.study`, the algorithm registry in
:mod:`~gradsign.search.registry` and the stored runs in :mod:`~gradsign.search.results`.
"""

from __future__ import annotations

from gradsign.search.budget import Budget, BudgetExhausted
from gradsign.search.providers import ArrayProxyProvider, ProxyProvider, provider_name
from gradsign.search.registry import (SearchAlgorithm, available_searches, get_search, register_search,
                                      search_name)
from gradsign.search.results import SearchRun
from gradsign.search.study import Study

#: the per-run state's former name
SearchContext = Study

__all__ = [
    "ArrayProxyProvider",
    "Budget",
    "BudgetExhausted",
    "ProxyProvider",
    "SearchAlgorithm",
    "SearchContext",
    "SearchRun",
    "available_searches",
    "get_search",
    "provider_name",
    "register_search",
    "search_name",
]
