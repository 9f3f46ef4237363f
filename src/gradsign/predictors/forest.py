"""Random forest on the architecture encoding (White et al.'s "RF").

Fixed defaults, chosen before any evaluation and never tuned on test cells:
200 trees (enough that more trees change little), half of the features tried
per split (one-hot features are individually weak, so trying only sqrt(d) of
30 tends to miss the informative op), fully grown trees, one thread.
"""

from __future__ import annotations

from typing import Any

from gradsign.predictors._tabular import TabularPredictor
from gradsign.predictors.base import register_predictor


@register_predictor
class RandomForest(TabularPredictor):
    name = "forest"
    family = "model-based"
    needs = frozenset({"labels"})
    description = "random forest (200 trees) on the one-hot encoding"

    def make_model(self) -> Any:
        from sklearn.ensemble import RandomForestRegressor

        defaults = {"n_estimators": 200, "max_features": 0.5, "min_samples_leaf": 1, "n_jobs": 1}
        return RandomForestRegressor(**{**defaults, **self.params, "random_state": self.seed})
