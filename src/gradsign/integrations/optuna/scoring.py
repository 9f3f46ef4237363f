"""Proxy scores of the candidates a :class:`~gradsign.integrations.optuna.ProxyScreeningSampler` compares.

A *candidate scorer* turns K parameter sets into a (K, members) matrix of
scores (higher = predicted better, ``-inf`` where a score is undefined) and the
seconds each candidate's scores cost, and says which of them it computed now.
Two kinds:

* :class:`ModelProxyScorer` builds each candidate's network with the user's
  ``build_model(params)`` and scores it with :func:`gradsign.score` on one
  minibatch. Scores and their measured seconds are cached in the results store
  (:class:`~gradsign.storage.ResultsStore`) under the candidate's parameters
  (canonical JSON) and everything else that changes the number (proxy, its
  version and options, a fingerprint of the minibatch, the seed, the space's
  name), so a second study, or a resumed one, recomputes nothing.
* :class:`ProviderScorer` reads a search proxy provider
  (:mod:`gradsign.search.providers`, e.g. the stored scores of every NB201 cell)
  for simulated studies: nothing is computed, and each score's stored seconds
  are what it costs.

An ensemble name (``gradsign+synflow``, ``recommended``) is scored member by
member and ranked over the K candidates together (:mod:`gradsign.proxies.ensemble`).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradsign.errors import ConfigError, DataError
from gradsign.proxies import get_proxy
from gradsign.proxies.api import minibatch_fingerprint
from gradsign.storage import ResultsStore
from gradsign.storage.store import ScoreKey

#: the ``init`` field of the store keys this module writes: how each candidate's network is initialised
INIT_DESCRIPTION = "torch.manual_seed(seed) then build_model(params)"


@dataclass(frozen=True)
class CandidateScores:
    """Scores of K candidates: ``matrix`` (K, members; higher = better, -inf undefined), ``seconds`` (K,)
    what each candidate's scores cost, ``computed`` (K,) whether they were computed by this call."""

    members: tuple[str, ...]
    matrix: np.ndarray
    seconds: np.ndarray
    computed: np.ndarray


def params_key(params: Mapping[str, Any]) -> str:
    """The canonical text of a parameter set (sorted keys, compact JSON): how the store knows a candidate."""
    try:
        return json.dumps(dict(params), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"candidate parameters must be JSON values (numbers, strings, booleans, None): "
                          f"{dict(params)!r} ({exc})") from None


def _members(proxy: str) -> tuple[Any, tuple[str, ...]]:
    spec = get_proxy(proxy)  # a one-line ConfigError for an unknown name
    return spec, (tuple(spec.members) if getattr(spec, "is_ensemble", False) else (spec.name,))


def _oriented(value: float, higher_is_better: bool) -> float:
    if not math.isfinite(value):
        return -math.inf
    return value if higher_is_better else -value


class CandidateScorer(ABC):
    """What a screening sampler needs from a scorer: :meth:`score` and :meth:`rank_values`."""

    #: the proxy (or ensemble) name, as results and trial attributes show it
    name: str
    members: tuple[str, ...]
    #: how many candidates' scores were computed (not read from a cache or store) so far
    n_computed: int = 0

    #: how an ensemble's members are combined (see :mod:`gradsign.proxies.ensemble`)
    _aggregation: str = "logrank"

    @abstractmethod
    def score(self, candidates: Sequence[Mapping[str, Any]]) -> CandidateScores:
        """The scores of ``candidates`` (parameter sets), in their order."""

    def rank_values(self, matrix: np.ndarray) -> np.ndarray:
        """One value per candidate (higher = better) from the (K, members) matrix of candidates compared together."""
        m = np.asarray(matrix, dtype=np.float64)
        if len(self.members) == 1:
            return m[:, 0]
        from gradsign.proxies.ensemble import rank_aggregate

        return rank_aggregate(m, [True] * len(self.members), self._aggregation)[0]


class ModelProxyScorer(CandidateScorer):
    """Scores candidates by building their networks (``build_model(params)``) and running a proxy on one minibatch.

    Parameters
    ----------
    build_model : callable ``params -> torch.nn.Module`` (a classifier returning logits)
    proxy : a registered proxy or ensemble name (``gradsign``, ``synflow``, ``gradsign+synflow``)
    inputs, targets : the minibatch (tensors); ``inputs`` may be None only for data-free proxies
        (then give ``input_shape``), ``targets`` only for proxies that need no labels.
    store : a :class:`~gradsign.storage.ResultsStore` or a path to one; None keeps scores in memory only.
    space_name : how the store names this space (default: ``build_model``'s module and qualified name).
        Change it when ``build_model`` changes what it builds, or old scores would be reused.
    dataset : a label for the minibatch's dataset, part of the store key.
    seed : seeds each network's initialisation (``torch.manual_seed``) and the proxy, so a candidate
        always gets the same score.
    options, loss_fn, logits, input_shape : passed to :func:`gradsign.score`.
    """

    def __init__(self, build_model: Callable[[dict[str, Any]], Any], proxy: str = "gradsign", inputs: Any = None,
                 targets: Any = None, *, store: ResultsStore | str | Path | None = None, space_name: str | None = None,
                 dataset: str = "user", seed: int = 0, options: Mapping[str, Mapping[str, Any]] | None = None,
                 loss_fn: Callable | None = None, logits: Any = None, input_shape: Sequence[int] | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        if not callable(build_model):
            raise ConfigError(f"build_model must be callable as build_model(params) -> torch.nn.Module, "
                              f"got {build_model!r}")
        spec, members = _members(proxy)
        self.name, self.members = spec.name, members
        self._aggregation = getattr(spec, "aggregation", "logrank")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ConfigError(f"seed must be an int, got {seed!r}")
        if inputs is None and input_shape is None and any(get_proxy(m).needs_data for m in members):
            raise ConfigError(f"proxy {proxy!r} needs a minibatch: give inputs=... (and targets=...)")
        if targets is None and any(get_proxy(m).needs_labels for m in members):
            raise ConfigError(f"proxy {proxy!r} needs labels: give targets=... with the inputs")
        self._build_model = build_model
        self._inputs, self._targets = inputs, targets
        self._seed = int(seed)
        self._options = {k: dict(v) for k, v in (options or {}).items()}
        self._loss_fn, self._logits, self._input_shape = loss_fn, logits, input_shape
        self._clock = clock
        if store is not None and not isinstance(store, ResultsStore):
            store = ResultsStore(store)
        if store is not None:
            store.require_writable("caching proxy scores of Optuna candidates")
        self.store = store
        self.space_name = space_name or f"{getattr(build_model, '__module__', '')}.{getattr(build_model, '__qualname__', 'build_model')}"
        sampling = minibatch_fingerprint(inputs, targets, input_shape)
        batch = 0 if inputs is None else int(len(inputs))
        self._keys = {m: ScoreKey(space=self.space_name, dataset=str(dataset), proxy=m,
                                  proxy_version=get_proxy(m).version,
                                  options=ScoreKey.canonical_options(self._options.get(m)), batch_size=batch,
                                  seed=self._seed, sampling=sampling, init=INIT_DESCRIPTION) for m in members}
        self._directions = [get_proxy(m).higher_is_better for m in members]
        self._known: dict[str, tuple[np.ndarray, float]] = {}
        #: candidates (parameter keys) whose network could not be built or scored -> the error's first line
        self.failures: dict[str, str] = {}
        self.n_computed = 0

    def _from_store(self, keys: list[str]) -> None:
        if self.store is None or not keys:
            return
        per_member = [self.store.get_many(self._keys[m], keys) for m in self.members]
        for key in keys:
            recs = [d.get(key) for d in per_member]
            if all(r is not None and r.status != "error" for r in recs):
                self._known[key] = (np.array([r.value for r in recs], dtype=np.float64),  # type: ignore[union-attr]
                                    float(sum(r.seconds or 0.0 for r in recs)))  # type: ignore[union-attr]

    def _compute(self, key: str, params: Mapping[str, Any]) -> None:
        import torch

        from gradsign.proxies.api import score

        torch.manual_seed(self._seed)
        start = self._clock()
        timings: dict[str, float] = {}
        try:
            model = self._build_model(dict(params))
            build_seconds = self._clock() - start
            raw = score(model, self._inputs, self._targets, list(self.members), seed=self._seed,
                        options=self._options, timings=timings, loss_fn=self._loss_fn, logits=self._logits,
                        input_shape=self._input_shape)
        except (ConfigError, DataError):
            raise  # a wrong setting (options, proxy) or unusable data: every candidate would fail alike
        except Exception as exc:  # noqa: BLE001 - this candidate cannot be built or scored: it ranks last
            first = str(exc).splitlines()[0] if str(exc) else ""
            self.failures[key] = f"{type(exc).__name__}: {first}"
            warnings.warn(f"candidate {key} could not be scored ({self.failures[key]}); it ranks below every "
                          "scored candidate", RuntimeWarning, stacklevel=2)
            self._known[key] = (np.full(len(self.members), np.nan), float(self._clock() - start))
            return
        # Building the network is part of what screening a candidate costs: shared out over the members.
        seconds = [float(timings.get(m, 0.0)) + build_seconds / len(self.members) for m in self.members]
        values = np.array([float(raw[m]) for m in self.members], dtype=np.float64)
        if self.store is not None:
            self.store.put_results((self._keys[m], key, v, s) for m, v, s in zip(self.members, values, seconds))
        self._known[key] = (values, float(sum(seconds)))
        self.n_computed += 1

    def score(self, candidates: Sequence[Mapping[str, Any]]) -> CandidateScores:
        keys = [params_key(p) for p in candidates]
        self._from_store(sorted({k for k in keys if k not in self._known}))
        computed_now: set[str] = set()
        for key, params in zip(keys, candidates):
            if key not in self._known:
                self._compute(key, params)
                computed_now.add(key)
        if keys and all(k in self.failures for k in keys):
            from gradsign.proxies.api import ProxyError

            raise ProxyError(f"none of the {len(keys)} candidates could be scored; the first: "
                             f"{self.failures[keys[0]]} (parameters {keys[0]})")
        matrix = np.array([[_oriented(v, h) for v, h in zip(self._known[k][0], self._directions)] for k in keys],
                          dtype=np.float64).reshape(len(keys), len(self.members))
        return CandidateScores(self.members, matrix, np.array([self._known[k][1] for k in keys], dtype=np.float64),
                               np.array([k in computed_now for k in keys], dtype=bool))


class ProviderScorer(CandidateScorer):
    """Scores candidates from a search proxy provider (stored scores; nothing is computed).

    ``provider``: a :class:`~gradsign.search.providers.ProxyProvider` (``score`` /
    ``seconds``; higher = better) or an ensemble provider (``member_scores`` /
    ``aggregate``), e.g. :class:`~gradsign.workflows.search_store.StoreBackedProvider`
    over the results store. ``key_of(params)``: the provider's key of a candidate
    (for NB201, the cell's benchmark index). Each score costs its stored seconds.
    """

    def __init__(self, provider: Any, key_of: Callable[[Mapping[str, Any]], Hashable]) -> None:
        if not (hasattr(provider, "seconds") and (hasattr(provider, "score") or hasattr(provider, "member_scores"))):
            raise ConfigError(f"a proxy provider needs score(key) (or member_scores) and seconds(key), got {provider!r}")
        if not callable(key_of):
            raise ConfigError(f"key_of must be callable as key_of(params) -> the provider's key, got {key_of!r}")
        self.provider = provider
        self.name = str(getattr(provider, "name", type(provider).__name__))
        self._ensemble = hasattr(provider, "member_scores") and hasattr(provider, "aggregate")
        spec = getattr(provider, "spec", None)
        if self._ensemble and spec is None:  # an array ensemble (e.g. a benchmark's) carries only its name
            try:
                spec = get_proxy(self.name)
            except ConfigError:
                spec = None
        self.members = (tuple(spec.members) if self._ensemble and getattr(spec, "is_ensemble", False)
                        else (self.name,))
        self._key_of = key_of
        self.n_computed = 0

    def score(self, candidates: Sequence[Mapping[str, Any]]) -> CandidateScores:
        keys = [self._key_of(p) for p in candidates]
        if self._ensemble:
            rows = [np.asarray(self.provider.member_scores(k), dtype=np.float64) for k in keys]
        else:
            rows = [np.array([self.provider.score(k)], dtype=np.float64) for k in keys]
        matrix = np.array(rows, dtype=np.float64).reshape(len(keys), -1)
        matrix[~np.isfinite(matrix)] = -np.inf
        seconds = np.array([float(self.provider.seconds(k)) for k in keys], dtype=np.float64)
        return CandidateScores(self.members, matrix, seconds, np.zeros(len(keys), dtype=bool))

    def rank_values(self, matrix: np.ndarray) -> np.ndarray:
        if self._ensemble:
            return np.asarray(self.provider.aggregate(np.asarray(matrix, dtype=np.float64)), dtype=np.float64)
        return np.asarray(matrix, dtype=np.float64)[:, 0]


__all__ = ["CandidateScorer", "CandidateScores", "INIT_DESCRIPTION", "ModelProxyScorer", "ProviderScorer",
           "params_key"]
