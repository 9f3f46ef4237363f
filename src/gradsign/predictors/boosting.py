"""Gradient-boosted trees on the architecture encoding (White et al.'s "LGBoost"/"XGBoost").

Backend: LightGBM when it is installed (White et al. found LightGBM and XGBoost
about equal; LightGBM's CPU wheel pulls in no GPU libraries), otherwise
scikit-learn's :class:`~sklearn.ensemble.HistGradientBoostingRegressor`, the
same algorithm family with the same settings. The backend used is reported
(``info()["backend"]``) because the two do not give identical numbers.

Fixed defaults, chosen a priori for training sets of 10 to 1,000 archs and
never tuned on test cells: 300 trees, learning rate 0.05, at most 15 leaves,
leaves of at least 3 archs (the libraries' default of 20 would make every tree
a stump at 10-50 training archs), L2 penalty 1, one thread; LightGBM also
bags 80% of rows and columns per tree (seeded).
"""

from __future__ import annotations

from typing import Any

from gradsign.errors import ConfigError
from gradsign.predictors._tabular import TabularPredictor
from gradsign.predictors.base import register_predictor

BACKENDS = ("auto", "lightgbm", "sklearn")


def lightgbm_available() -> bool:
    try:
        import lightgbm  # noqa: F401
    except Exception:  # ImportError, or a broken native library
        return False
    return True


def resolve_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ConfigError(f"unknown boosting backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if backend == "auto":
        return "lightgbm" if lightgbm_available() else "sklearn"
    if backend == "lightgbm" and not lightgbm_available():
        raise ConfigError("boosting backend 'lightgbm' requested but lightgbm is not installed (pip install lightgbm)")
    return backend


def make_booster(backend: str, seed: int, **params: Any) -> Any:
    """A fresh regressor of ``backend`` ("lightgbm" or "sklearn") with the module's defaults."""
    if backend == "lightgbm":
        from lightgbm import LGBMRegressor

        defaults = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 3,
                    "min_data_in_bin": 1, "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8,
                    "reg_lambda": 1.0, "n_jobs": 1, "verbose": -1, "deterministic": True, "force_row_wise": True}
        return LGBMRegressor(**{**defaults, **params, "random_state": seed})
    from sklearn.ensemble import HistGradientBoostingRegressor

    params = dict(params)
    if "n_estimators" in params:  # one name for the number of trees, whichever backend is installed
        params["max_iter"] = params.pop("n_estimators")
    defaults = {"max_iter": 300, "learning_rate": 0.05, "max_leaf_nodes": 15, "min_samples_leaf": 3,
                "l2_regularization": 1.0, "early_stopping": False}
    return HistGradientBoostingRegressor(**{**defaults, **params, "random_state": seed})


class _Boosted(TabularPredictor):
    def __init__(self, features, *, seed: int = 0, encoding: str | None = "default", backend: str = "auto",
                 **params: Any) -> None:
        self.backend = resolve_backend(backend)  # before the base constructor, which builds a model to check params
        super().__init__(features, seed=seed, encoding=encoding, **params)

    def info(self) -> dict[str, Any]:
        d = super().info()
        d["backend"] = self.backend
        return d

    def make_model(self) -> Any:
        return make_booster(self.backend, self.seed, **self.params)


@register_predictor
class GradientBoosting(_Boosted):
    name = "boosting"
    family = "model-based"
    needs = frozenset({"labels"})
    description = "gradient-boosted trees (LightGBM, else sklearn HistGradientBoosting) on the one-hot encoding"
