"""Gaussian process regression on the architecture encoding (White et al.'s "GP").

Kernel: ``constant * Matern(nu=2.5) + white noise``, isotropic, on the one-hot
encoding; its hyperparameters (scale, length scale, noise) are fitted by
maximising the marginal likelihood of the *training* data (two restarts from
seeded random starts), so the test cells play no part in choosing them.
Targets are standardised with the training mean and std.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from gradsign.predictors._tabular import TabularPredictor
from gradsign.predictors.base import register_predictor


@register_predictor
class GaussianProcess(TabularPredictor):
    name = "gp"
    family = "model-based"
    needs = frozenset({"labels"})
    description = "Gaussian process (Matern 5/2 + noise, marginal-likelihood fit) on the one-hot encoding"

    def make_model(self) -> Any:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(length_scale=2.0, length_scale_bounds=(1e-2, 1e3), nu=2.5) \
            + WhiteKernel(0.1, (1e-5, 1e1))
        defaults = {"kernel": kernel, "normalize_y": False, "n_restarts_optimizer": 2}
        return GaussianProcessRegressor(**{**defaults, **self.params, "random_state": self.seed})

    def _fit(self, archs: list[str], y: np.ndarray) -> None:
        # Hitting a bound of the length scale on a tiny training set is expected, not news.
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            super()._fit(archs, y)
