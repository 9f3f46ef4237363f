"""Proxy screening inside Optuna studies (optional extra: ``pip install 'gradsign[optuna]'``).

    >>> import optuna
    >>> from gradsign.integrations.optuna import ProxyScreeningSampler
    >>> sampler = ProxyScreeningSampler(optuna.samplers.TPESampler(seed=0), build_model,   # doctest: +SKIP
    ...                                 search_space={"width": [8, 16, 32], "depth": [1, 2, 3]},
    ...                                 proxy="gradsign", k=8, inputs=x, targets=y, store="runs/optuna.sqlite")
    >>> study = optuna.create_study(direction="maximize", sampler=sampler)                 # doctest: +SKIP

* :class:`ProxyScreeningSampler` (:mod:`.sampler`): per trial, K candidates from the
  wrapped sampler, the best by the proxy is what the objective trains;
* candidate scorers (:mod:`.scoring`): networks from ``build_model(params)`` scored
  with :func:`gradsign.score` and cached in the results store, or stored scores of a
  benchmark's cells;
* budgeted studies on a tabular objective, as search results the reporting of
  :mod:`gradsign.search` reads (:mod:`.studies`), and NAS-Bench-201 as an Optuna space
  (:mod:`.nb201`).

See docs/optuna.md.
"""

from __future__ import annotations

from gradsign.integrations import require

require("optuna", "optuna", "gradsign.integrations.optuna")

from gradsign.integrations.optuna.nb201 import (  # noqa: E402
    NB201_PARAM_NAMES,
    nb201_arch,
    nb201_index,
    nb201_params,
    nb201_search_space,
)
from gradsign.integrations.optuna.sampler import ATTRS, ProxyScreeningSampler, Screening, proxy_seconds  # noqa: E402
from gradsign.integrations.optuna.scoring import (  # noqa: E402
    CandidateScorer,
    CandidateScores,
    ModelProxyScorer,
    ProviderScorer,
    params_key,
)
from gradsign.integrations.optuna.studies import run_optuna_search, run_optuna_searches  # noqa: E402

__all__ = [
    "ATTRS",
    "CandidateScorer",
    "CandidateScores",
    "ModelProxyScorer",
    "NB201_PARAM_NAMES",
    "ProviderScorer",
    "ProxyScreeningSampler",
    "Screening",
    "nb201_arch",
    "nb201_index",
    "nb201_params",
    "nb201_search_space",
    "params_key",
    "proxy_seconds",
    "run_optuna_search",
    "run_optuna_searches",
]
