"""Model-based predictors whose features include zero-cost scores and the low-fidelity accuracy.

White et al. (NeurIPS 2021, Sec. 6) combine families: a model-based predictor
that also sees each architecture's zero-cost scores and its low-fidelity
accuracy beats every single family. Here:

``omni``
    gradient-boosted trees (:mod:`.boosting`, same backend and defaults) on
    ``[one-hot encoding, zero-cost scores, low-fidelity accuracy]``.
``omni-linear``
    Bayesian ridge (:mod:`.linear`) on the same features: a low-variance
    companion for very small training sets, where trees have little to split.

Both *need* labels and zero-cost scores and use the low-fidelity accuracy
*when the provider has it* (NB201: 12-epoch validation accuracy; NB101 and
DARTS have none here, so there they run on encoding + zero-cost scores). The
zero-cost scores are signed-log transformed and standardised with the
training archs' statistics only (:class:`~.features.ZeroCostScaler`); a score
that failed (-inf/NaN) gets a value derived from the training archs, never
from the test archs.
"""

from __future__ import annotations

from typing import Any

from gradsign.predictors._tabular import TabularPredictor
from gradsign.predictors.base import register_predictor
from gradsign.predictors.boosting import _Boosted


@register_predictor
class Omni(_Boosted):
    name = "omni"
    family = "combined"
    needs = frozenset({"labels", "zerocost", "data"})
    optional = frozenset({"lowfidelity"})
    description = "gradient-boosted trees on one-hot + zero-cost scores + low-fidelity accuracy"


@register_predictor
class OmniLinear(TabularPredictor):
    name = "omni-linear"
    family = "combined"
    needs = frozenset({"labels", "zerocost", "data"})
    optional = frozenset({"lowfidelity"})
    description = "Bayesian ridge on one-hot + zero-cost scores + low-fidelity accuracy"

    def make_model(self) -> Any:
        from sklearn.linear_model import BayesianRidge

        return BayesianRidge(**{"max_iter": 300, **self.params})
