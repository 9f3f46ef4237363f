"""Predictor-guided search: BANANAS-style local search driven by any `gradsign.predictors` predictor.

BANANAS (White, Neiswanger, Savani, AAAI 2021) and White et al. (NeurIPS 2021,
Sec. 7: "predictor-guided search"): train a few random cells; then repeat
*fit a performance predictor on every cell trained so far, propose candidates
by mutating the best cells, train the ones the predictor ranks highest*. With
a predictor that sees zero-cost features ("omni") this is the combination
White et al. recommend.

Settings follow NASLib's BANANAS defaults where they exist (``num_init=10``,
``k=10`` cells trained per predictor fit, ``num_candidates=100``,
``num_arches_to_mutate`` parents, one-edge mutations):

* ``initial`` distinct random cells are trained first;
* each round: ``fit`` on (trained cell, observed accuracy) -- the
  12-epoch validation accuracy the search paid for, never a test accuracy;
  candidates are ``pool`` distinct untrained cells, one-edge mutations of the
  ``parents`` best trained cells (random cells fill the pool if mutations run
  out); the ``batch`` highest predictions are trained, best first.

Deliberate differences from BANANAS: the acquisition is the predictor's mean
prediction (pure exploitation) instead of independent Thompson sampling over
an ensemble, because most predictors here are not ensembles; it is the
"mutation + mean" variant White et al. also evaluate.

Honest cost accounting: if the predictor reads zero-cost scores, every cell
whose features it reads (trained cells and candidates) pays its zero-cost
seconds once per run, through :meth:`Study.pay_proxy_seconds`
(``charge_proxy=False`` records without charging, as for proxies). The
seconds come from the feature table (``FeatureProvider.feature_seconds``) or
from ``zc_seconds`` when the table records none. The predictor's own fit and
query wall time is *not* charged: it is machine-dependent (charging it would
make runs irreproducible) and about a second per fit against ~100 simulated
seconds per training; it is recorded as ``fit`` events when events are on.

A low-fidelity feature is refused: on NB201 it is the 12-epoch accuracy, i.e.
exactly what training a candidate reveals; reading it for untrained
candidates would be a free look at the search's own signal.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradsign.errors import ConfigError
from gradsign.search.registry import SearchAlgorithm, register_search
from gradsign.search.study import Study


@register_search("predictor", aliases=("bananas", "predictor_guided", "predictor-guided", "pgs"))
class PredictorGuidedSearch(SearchAlgorithm):
    """Fit a predictor on the trained cells, train the best-predicted mutations; see the module docstring.

    ``features`` is a :class:`gradsign.predictors.FeatureProvider` of the
    searched benchmark whose archs are the oracle's arch strings (NB201). It
    must not carry a low-fidelity table.
    """

    accepts_proxy = False

    def __init__(
        self,
        features: Any = None,
        predictor: str = "forest",
        initial: int = 10,
        batch: int = 10,
        pool: int = 100,
        parents: int = 10,
        zc_seconds: float | None = None,
        predictor_params: dict[str, Any] | None = None,
    ) -> None:
        from gradsign.predictors import make_predictor  # validate the name now, not mid-run

        if features is None:
            raise ConfigError("predictor-guided search needs features=FeatureProvider(...) of the searched benchmark")
        for name, value in (("initial", initial), ("batch", batch), ("pool", pool), ("parents", parents)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ConfigError(f"predictor-guided search: {name} must be a whole number >= 1, got {value!r}")
        if batch > pool:
            raise ConfigError(f"predictor-guided search: batch ({batch}) cannot exceed pool ({pool})")
        if zc_seconds is not None and not (math.isfinite(zc_seconds) and zc_seconds >= 0):
            raise ConfigError(f"zc_seconds must be a finite number >= 0, got {zc_seconds!r}")
        probe = make_predictor(predictor, features, seed=0, **(predictor_params or {}))
        if "lowfidelity" in probe.uses:
            raise ConfigError(
                f"predictor {predictor!r} would read the low-fidelity (12-epoch) accuracy of untrained candidates, "
                "which is what the search pays to observe; build the FeatureProvider without lowfidelity")
        if probe.needs_labels and initial < probe.min_train:
            raise ConfigError(f"predictor {predictor!r} needs {probe.min_train} trained cells; initial={initial}")
        self.features = features
        self.predictor = str(predictor)
        self.predictor_params = dict(predictor_params or {})
        self.initial, self.batch, self.pool, self.parents = int(initial), int(batch), int(pool), int(parents)
        self.uses_zerocost = "zerocost" in probe.uses
        self.zc_seconds = None if zc_seconds is None else float(zc_seconds)
        if self.uses_zerocost and self.zc_seconds is None and features.zc.seconds is None:
            raise ConfigError(f"the zero-cost table ({features.zc.source}) records no seconds; "
                              "give zc_seconds, --zc-seconds on the command line (the cost of one cell's zero-cost features)")

    def params(self) -> dict[str, Any]:
        return {
            "predictor": self.predictor, "predictor_params": self.predictor_params, "initial": self.initial,
            "batch": self.batch, "pool": self.pool, "parents": self.parents,
            "features": self.features.describe(), "zc_seconds": self.zc_seconds,
            "uses_zerocost": self.uses_zerocost,
        }

    def notes(self, study: Study) -> list[str]:
        out = ["predictor-guided search: the predictor is refitted after every "
               f"{self.batch} trainings on the observed (12-epoch) accuracies; its wall time is not charged"]
        if self.uses_zerocost:
            cost = f"{self.zc_seconds:g} s per cell (given)" if self.zc_seconds is not None else "the table's seconds"
            out.append(f"zero-cost features ({', '.join(self.features.zc_names)}) of every cell the predictor reads "
                       f"are paid once per run at {cost}" + ("" if study.charge_proxy else " (recorded, not charged)"))
        return out

    # --- one run -------------------------------------------------------------------------
    def _pay(self, study: Study, arch: Any) -> None:
        if not self.uses_zerocost:
            return
        if self.zc_seconds is not None:
            seconds = self.zc_seconds
        else:
            seconds = self.features.feature_seconds([study.space.to_string(arch)], ("zerocost",))
        study.pay_proxy_seconds(arch, seconds, what="zero-cost features")

    def run(self, study: Study) -> None:
        from gradsign.predictors import make_predictor

        space, rng = study.space, study.rng
        name = space.to_string
        if space.num_archs is None:
            raise ConfigError(f"predictor-guided search needs an enumerable space; {space.name!r} is not")
        observed: dict[Any, float] = {}  # trained arch -> observed accuracy (insertion order = training order)
        for arch in space.sample(min(self.initial, space.num_archs), rng):
            self._pay(study, arch)
            observed[arch] = study.evaluate(arch)
        while True:
            model = make_predictor(self.predictor, self.features, seed=int(rng.integers(2**31)),
                                   **self.predictor_params)
            archs = list(observed)
            model.fit([name(a) for a in archs], [observed[a] for a in archs])
            candidates = self._candidates(study, observed)
            for arch in candidates:
                self._pay(study, arch)
            predicted = model.predict([name(a) for a in candidates])
            predicted = np.where(np.isfinite(predicted), predicted, -np.inf)
            order = np.argsort(-predicted, kind="stable")[: self.batch]
            study.event("fit", len(archs), model.fit_seconds, model.query_seconds)
            for j in order.tolist():
                arch = candidates[j]
                observed[arch] = study.evaluate(arch)

    def _candidates(self, study: Study, observed: dict[Any, float]) -> list[Any]:
        """``pool`` distinct untrained archs: mutations of the best trained archs, then random fill."""
        space, rng = study.space, study.rng
        best = sorted(observed, key=lambda a: -observed[a])[: self.parents]  # stable: earlier trained first on ties
        per_parent = -(-self.pool // len(best))
        seen: dict[Any, None] = {}
        for parent in best:
            for c in [space.mutate(parent, rng) for _ in range(per_parent)]:
                if c not in observed:
                    seen.setdefault(c, None)
        out = list(seen)[: self.pool]
        untrained = space.num_archs - len(observed)
        tries = 0
        while len(out) < min(self.pool, untrained) and tries < 100:
            for c in space.sample(self.pool, rng, replace=True):
                if c not in observed and c not in seen:
                    seen[c] = None
                    out.append(c)
                    if len(out) >= self.pool:
                        break
            tries += 1
        if not out:  # every arch trained: retrain (paid again), as the other algorithms may
            out = space.sample(self.batch, rng, replace=True)
        return out


__all__ = ["PredictorGuidedSearch"]
