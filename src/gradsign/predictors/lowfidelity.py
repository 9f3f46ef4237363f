"""The low-fidelity accuracy as a predictor (White et al.'s "early stopping" family).

On NB201 this is the 12-epoch validation accuracy of the same training setting
as the 200-epoch target (see :func:`~.features.nb201_lowfidelity`). It needs
no labels (``fit`` is a no-op); its cost is a 12-epoch training run per
queried architecture, which the evaluation reports as the feature cost.
"""

from __future__ import annotations

import numpy as np

from gradsign.predictors.base import Predictor, register_predictor


@register_predictor
class LowFidelity(Predictor):
    name = "lowfidelity"
    family = "low-fidelity"
    needs = frozenset({"lowfidelity"})
    description = "accuracy after a short training run (NB201: 12 epochs, validation split)"

    def _predict(self, archs: list[str]) -> np.ndarray:
        values = self.features.lowfidelity(archs)
        # A missing value ranks last rather than poisoning the correlation with NaN.
        return np.where(np.isfinite(values), values, -np.inf)
