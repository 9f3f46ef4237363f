"""Shared machinery of the predictors that learn a regressor on a feature matrix.

The matrix of an arch is the concatenation of

* its encoding (``onehot`` by default; see :mod:`gradsign.predictors.encodings`),
* if the predictor uses ``zerocost``: its proxy scores through a
  :class:`~gradsign.predictors.features.ZeroCostScaler` fitted on the training
  archs only,
* if it uses ``lowfidelity``: its low-fidelity accuracy, standardised with the
  training archs' mean and std.

Targets are standardised with the training mean and std (one set of default
hyperparameters then suits every dataset's accuracy range) and mapped back.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradsign.errors import ConfigError
from gradsign.predictors.base import Predictor, TargetScaler
from gradsign.predictors.features import ZeroCostScaler
from gradsign.spaces.encodings import ENCODINGS


class TabularPredictor(Predictor):
    """Base of sklearn-like regressors on ``[encoding, zero-cost, low-fidelity]`` features."""

    #: Encoding used when the caller does not choose one (``None``: no encoding, features only).
    default_encoding: str | None = "onehot"

    def __init__(self, features, *, seed: int = 0, encoding: str | None = "default", **params: Any) -> None:
        super().__init__(features, seed=seed)
        enc = self.default_encoding if encoding == "default" else encoding
        if enc is not None and enc not in ENCODINGS:
            raise ConfigError(f"unknown encoding {enc!r}; valid: {', '.join(ENCODINGS)}")
        if enc == "graph":
            raise ConfigError(f"predictor {self.label!r} takes a vector encoding (onehot or path), not graph")
        if enc is not None and not features.supports(enc):
            # The path encoding is not defined for DARTS: fall back to the one every space has.
            enc = "onehot"
        if enc is None and not ({"zerocost", "lowfidelity"} & set(self.uses)):
            raise ConfigError(f"predictor {self.label!r} would have no features (no encoding, no zero-cost, "
                              "no low-fidelity)")
        self.encoding = enc
        self.params = params
        try:  # an unknown hyperparameter should fail here, in one line, not deep inside the first fit
            self.make_model()
        except TypeError as exc:
            raise ConfigError(f"predictor {self.label!r}: {exc}") from None

    def info(self) -> dict[str, Any]:
        d = super().info()
        d["encoding"] = self.encoding
        return d

    def _matrix(self, archs: list[str], *, fit: bool) -> np.ndarray:
        parts: list[np.ndarray] = []
        if self.encoding is not None:
            parts.append(self.features.encode(archs, self.encoding).astype(np.float64))
        uses = set(self.uses)
        if "zerocost" in uses:
            z = self.features.zerocost(archs)
            if fit:
                self._zc_scaler = ZeroCostScaler().fit(z)
            parts.append(self._zc_scaler.transform(z))
        if "lowfidelity" in uses:
            lf = self.features.lowfidelity(archs).reshape(-1, 1)
            if fit:
                fin = lf[np.isfinite(lf)]
                self._lf_mean = float(fin.mean()) if len(fin) else 0.0
                self._lf_std = float(fin.std()) if len(fin) and fin.std() > 1e-12 else 1.0
            lf = np.where(np.isfinite(lf), lf, self._lf_mean)
            parts.append((lf - self._lf_mean) / self._lf_std)
        return np.hstack(parts)

    def make_model(self) -> Any:
        """A fresh unfitted regressor with ``fit(X, y)`` / ``predict(X)``."""
        raise NotImplementedError

    def _fit(self, archs: list[str], y: np.ndarray) -> None:
        x = self._matrix(archs, fit=True)
        self._y = TargetScaler(y)
        self.model = self.make_model()
        self.model.fit(x, self._y.forward(y))

    def _predict(self, archs: list[str]) -> np.ndarray:
        return self._y.inverse(self.model.predict(self._matrix(archs, fit=False)))
