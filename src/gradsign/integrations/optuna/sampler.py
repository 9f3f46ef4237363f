"""Proxy screening as an Optuna sampler: K candidates from the wrapped sampler, the best by the proxy is tried.

Design (see docs/optuna.md): a sampler, not a callback, because the choice
must be made before the objective trains, and in Optuna only a sampler decides a
trial's parameters. :class:`ProxyScreeningSampler` wraps any sampler (TPE by
default). For each new trial it

1. asks the wrapped sampler for K full candidate parameter sets, exactly as
   Optuna asks it for one: its relative search space is sampled by
   ``sample_relative`` and the rest of the screened space by
   ``sample_independent``. Each call advances the wrapped sampler's RNG, so the K
   draws differ; for TPE each one is itself the best of ``n_ei_candidates``
   by expected improvement, so screening re-ranks TPE's own proposals;
2. scores each candidate's architecture with the proxy (a
   :class:`~gradsign.integrations.optuna.scoring.CandidateScorer`: by default
   the user's ``build_model(params)`` and :func:`gradsign.score`, cached in the
   results store under the parameters), an ensemble ranked over the K together;
3. returns the best candidate (the first on ties) as the trial's relative
   parameters, so the objective's ``trial.suggest_*`` calls receive it.

The seconds the screening cost are recorded as trial user attributes
(``gradsign:proxy_seconds`` ...; see :data:`ATTRS`) and on :attr:`screenings`,
so a budget can charge them. A candidate already screened earlier in the same
study is not charged again (its score is known). Everything is deterministic
for a seeded wrapped sampler and a seeded scorer.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from gradsign.errors import ConfigError
from gradsign.integrations.optuna.scoring import CandidateScorer, ModelProxyScorer, params_key
from gradsign.storage import ResultsStore

#: user attributes each screened trial gets (values are JSON)
ATTRS = {
    "proxy": "gradsign:proxy",                    # the proxy or ensemble name
    "candidates": "gradsign:candidates",          # K
    "proxy_seconds": "gradsign:proxy_seconds",    # seconds charged for this trial's screening
    "proxy_computed": "gradsign:proxy_computed",  # candidates scored now (not from the store)
    "proxy_value": "gradsign:proxy_value",        # the chosen candidate's ranking value (None if undefined)
}


@dataclass(frozen=True)
class Screening:
    """What the screening of one trial did: the K candidates, their ranking values, the pick and its cost."""

    trial_number: int
    candidates: tuple[dict[str, Any], ...]
    values: tuple[float, ...]
    chosen: int
    #: seconds charged: the scores of candidates not screened before in this study
    seconds: float
    #: how many candidates were new to this study (their seconds are in ``seconds``)
    new: int
    #: candidates whose scores were computed now rather than read from the store
    computed: int

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.candidates[self.chosen])


def _as_search_space(search_space: Any) -> dict[str, BaseDistribution]:
    if not isinstance(search_space, Mapping) or not search_space:
        raise ConfigError("search_space must be a non-empty mapping of parameter name -> Optuna distribution "
                          f"(or list of choices), got {search_space!r}")
    out: dict[str, BaseDistribution] = {}
    for name, dist in search_space.items():
        if isinstance(dist, BaseDistribution):
            out[str(name)] = dist
        elif isinstance(dist, Sequence) and not isinstance(dist, str) and len(dist) > 0:
            out[str(name)] = CategoricalDistribution(list(dist))
        else:
            raise ConfigError(f"search_space[{name!r}] must be an Optuna distribution or a non-empty list of "
                              f"choices, got {dist!r}")
    return out


class ProxyScreeningSampler(BaseSampler):
    """An Optuna sampler that screens K candidates of a wrapped sampler by a zero-cost proxy.

    Parameters
    ----------
    base_sampler : the sampler proposing candidates (default ``TPESampler(seed=seed)``).
    build_model : ``params -> torch.nn.Module``: the network of a parameter set of ``search_space``.
    search_space : ``{name: distribution}`` (or ``{name: [choices]}``) of the parameters ``build_model``
        reads; the objective must suggest them with the same distributions. Other parameters the
        objective suggests (a learning rate ...) come from the base sampler, drawn with each candidate.
    proxy : a proxy or ensemble name (``gradsign``, ``synflow``, ``gradsign+synflow``, ``recommended``).
    k : candidates per trial (1: the base sampler alone, nothing scored).
    inputs, targets : the minibatch the proxy sees.
    store : a :class:`~gradsign.storage.ResultsStore` or a path: where proxy scores are cached.
    space_name, dataset, seed, options, loss_fn, logits : see
        :class:`~gradsign.integrations.optuna.scoring.ModelProxyScorer`; ``seed`` also seeds the
        default TPE sampler.
    scorer : instead of ``build_model`` and the minibatch, any
        :class:`~gradsign.integrations.optuna.scoring.CandidateScorer` (e.g. a ``ProviderScorer``
        over stored benchmark scores).
    """

    def __init__(self, base_sampler: BaseSampler | None = None, build_model: Callable[[dict[str, Any]], Any] | None = None,
                 *, search_space: Mapping[str, Any], proxy: str = "gradsign", k: int = 8, inputs: Any = None,
                 targets: Any = None, store: ResultsStore | str | Path | None = None, space_name: str | None = None,
                 dataset: str = "user", seed: int = 0, options: Mapping[str, Mapping[str, Any]] | None = None,
                 loss_fn: Callable | None = None, logits: Any = None, scorer: CandidateScorer | None = None) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"k (candidates screened per trial) must be a whole number >= 1, got {k!r}")
        if base_sampler is not None and not isinstance(base_sampler, BaseSampler):
            raise ConfigError(f"base_sampler must be an Optuna sampler, got {base_sampler!r}")
        self._space = _as_search_space(search_space)
        if scorer is None:
            if build_model is None:
                raise ConfigError("give build_model(params) -> torch.nn.Module (or a scorer) to screen candidates")
            scorer = ModelProxyScorer(build_model, proxy, inputs, targets, store=store, space_name=space_name,
                                      dataset=dataset, seed=seed, options=options, loss_fn=loss_fn, logits=logits)
        elif build_model is not None or inputs is not None or store is not None:
            raise ConfigError("give either a scorer or build_model (with inputs, store ...), not both")
        elif not isinstance(scorer, CandidateScorer):
            raise ConfigError(f"scorer must be a CandidateScorer, got {scorer!r}")
        self.scorer = scorer
        self.k = int(k)
        self._base = base_sampler if base_sampler is not None else optuna.samplers.TPESampler(seed=seed)
        #: screenings by trial number (one sampler per study, as for Optuna's own seeded samplers)
        self.screenings: dict[int, Screening] = {}
        self._screened_keys: dict[tuple[int, int], set[str]] = {}
        self._warned_mismatch = False

    @property
    def base_sampler(self) -> BaseSampler:
        return self._base

    @property
    def search_space(self) -> dict[str, BaseDistribution]:
        return dict(self._space)

    def __str__(self) -> str:
        return f"ProxyScreeningSampler({self._base}, proxy={self.scorer.name!r}, k={self.k})"

    # --- the BaseSampler interface ------------------------------------------------------------
    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {**self._base.infer_relative_search_space(study, trial), **self._space}

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        if trial.system_attrs.get("fixed_params"):
            # an enqueued trial's parameters are fixed: the base sampler fills the rest, nothing is screened
            return {}
        joint = {name: self._space.get(name, dist)
                 for name, dist in self._base.infer_relative_search_space(study, trial).items() if name in search_space}
        candidates = [self._draw(study, trial, joint) for _ in range(self.k)]
        if self.k == 1:
            return self._relative(candidates[0], search_space)
        archs = [{name: c[name] for name in self._space} for c in candidates]
        scores = self.scorer.score(archs)
        values = self.scorer.rank_values(scores.matrix)
        chosen = int(np.argmax(values))  # the first of equal values: deterministic
        seen = self._screened_keys.setdefault((id(study._storage), study._study_id), set())
        charged, new = 0.0, 0
        for arch, seconds in zip(archs, scores.seconds):
            key = params_key(arch)
            if key not in seen:
                seen.add(key)
                charged += float(seconds)
                new += 1
        screening = Screening(trial.number, tuple(candidates), tuple(float(v) for v in values), chosen, charged, new,
                              int(scores.computed.sum()))
        self.screenings[trial.number] = screening
        value = float(values[chosen])
        # Optuna's own samplers record per-trial data through the storage the same way (system attrs).
        for attr, data in ((ATTRS["proxy"], self.scorer.name), (ATTRS["candidates"], self.k),
                           (ATTRS["proxy_seconds"], charged), (ATTRS["proxy_computed"], screening.computed),
                           (ATTRS["proxy_value"], value if np.isfinite(value) else None)):
            study._storage.set_trial_user_attr(trial._trial_id, attr, data)
        return self._relative(candidates[chosen], search_space)

    def _draw(self, study: Study, trial: FrozenTrial, joint: dict[str, BaseDistribution]) -> dict[str, Any]:
        """One candidate (every screened parameter, and the base sampler's relative ones), asked of the
        base sampler as Optuna asks it for a trial's parameters."""
        params = dict(self._base.sample_relative(study, trial, joint)) if joint else {}
        for name, dist in self._space.items():
            if name not in params:
                params[name] = self._base.sample_independent(study, trial, name, dist)
        return params

    @staticmethod
    def _relative(params: dict[str, Any], search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        # only what Optuna asked for (a wrapping sampler may have narrowed the space)
        return {name: value for name, value in params.items() if name in search_space}

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._base.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._base.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        screening = self.screenings.get(trial.number)
        if screening is not None and not self._warned_mismatch:
            # Optuna refuses other categorical choices itself; for numbers it uses a relative value only
            # when it lies in the objective's range, else it samples the parameter anew: say so once.
            differ = [name for name, dist in trial.distributions.items() if name in self._space and dist != self._space[name]]
            if differ:
                self._warned_mismatch = True
                warnings.warn(f"the objective suggests {', '.join(differ)} with a distribution other than "
                              "search_space's: Optuna uses a screened value only where it lies in the objective's "
                              "range and samples the others anew; suggest them exactly as in search_space",
                              UserWarning, stacklevel=2)
        self._base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._base.reseed_rng()


def proxy_seconds(trial: FrozenTrial) -> float:
    """Seconds a finished trial's screening cost (0 for a trial the sampler did not screen)."""
    return float(trial.user_attrs.get(ATTRS["proxy_seconds"], 0.0))


__all__ = ["ATTRS", "ProxyScreeningSampler", "Screening", "proxy_seconds"]
