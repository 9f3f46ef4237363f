"""Bayesian linear regression on the architecture encoding (White et al.'s "BayesLin" / linear baseline).

:class:`sklearn.linear_model.BayesianRidge` sets its two regularisation
strengths by maximising the evidence of the *training* data, so there is no
hyperparameter to choose by hand (and none chosen by looking at test cells).
"""

from __future__ import annotations

from typing import Any

from gradsign.predictors._tabular import TabularPredictor
from gradsign.predictors.base import register_predictor


@register_predictor
class BayesianLinear(TabularPredictor):
    name = "linear"
    family = "model-based"
    needs = frozenset({"labels"})
    description = "Bayesian ridge regression on the one-hot encoding (evidence-maximised priors)"

    def make_model(self) -> Any:
        from sklearn.linear_model import BayesianRidge

        return BayesianRidge(**{"max_iter": 300, **self.params})
