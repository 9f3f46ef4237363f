"""Zero-cost proxies as predictors: one proxy, or the rank average of several.

``zc:<proxy>``
    the proxy's score itself (higher = better). Non-finite scores (a proxy
    that failed) become ``-inf``: ranked below every finite score, so they
    count as "predicted worst" instead of being dropped (dropping them would
    evaluate a proxy on an easier subset).
``zc-ensemble``
    for every proxy, the rank of each queried arch among the queried archs
    (non-finite = lowest rank), averaged over the proxies and divided by the
    number of archs (Abdelfattah et al. 2021 "vote" family, as a mean of
    ranks). Uses every proxy of the provider, or those given as
    ``proxies=[...]``, fixed in advance and not selected by accuracy.
    Predictions are therefore *relative to the query batch*: only their order
    is meaningful, and an arch's value depends on the other queried archs'
    scores (never on any accuracy).

Neither needs labels; ``fit`` is a no-op. Both need zero-cost scores and, for
data-dependent proxies, a minibatch of images ("data").
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.stats import rankdata

from gradsign.errors import ConfigError
from gradsign.predictors.base import Predictor, register_predictor


def rank_average(scores: np.ndarray) -> np.ndarray:
    """Mean over columns of each row's rank within its column, divided by the row count.

    Ties get their average rank; non-finite scores rank lowest (all tied there).
    Returns values in ``(0, 1]``; higher = better on average.
    """
    z = np.asarray(scores, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"rank_average expects a 2-d array (archs x proxies), got shape {z.shape}")
    n = z.shape[0]
    if n == 0:
        return np.zeros(0)
    z = np.where(np.isfinite(z), z, -np.inf)
    ranks = rankdata(z, axis=0, method="average")
    return ranks.mean(axis=1) / n


@register_predictor
class ZeroCost(Predictor):
    name = "zc"
    family = "zero-cost"
    needs = frozenset({"zerocost", "data"})
    param = "proxy"
    description = "one zero-cost proxy's score"

    def __init__(self, features, *, seed: int = 0, proxy: str) -> None:
        self.proxy = proxy  # first: error messages of the base constructor use the label
        super().__init__(features, seed=seed)
        if proxy not in features.zc_names:
            raise ConfigError(f"zero-cost proxy {proxy!r} is not available "
                              f"(the provider has {', '.join(features.zc_names) or 'none'})")

    @classmethod
    def expand(cls, features) -> list[str]:
        """The arguments ``zc:*`` stands for: every proxy of the provider."""
        return list(features.zc_names)

    @property
    def label(self) -> str:
        return f"zc:{self.proxy}"

    @property
    def proxies(self) -> list[str]:
        return [self.proxy]

    def info(self) -> dict:
        d = super().info()
        d["proxies"] = [self.proxy]
        return d

    def _predict(self, archs: list[str]) -> np.ndarray:
        v = self.features.zerocost(archs, [self.proxy])[:, 0]
        return np.where(np.isfinite(v), v, -np.inf)


@register_predictor
class ZeroCostEnsemble(Predictor):
    name = "zc-ensemble"
    family = "zero-cost"
    needs = frozenset({"zerocost", "data"})
    description = "rank average of all zero-cost proxies (order only, relative to the query batch)"

    def __init__(self, features, *, seed: int = 0, proxies: Sequence[str] | None = None) -> None:
        super().__init__(features, seed=seed)
        names = list(features.zc_names if proxies is None else proxies)
        unknown = [p for p in names if p not in features.zc_names]
        if unknown or not names:
            raise ConfigError(f"zc-ensemble proxies {unknown or names} not available "
                              f"(the provider has {', '.join(features.zc_names) or 'none'})")
        self.proxies = names

    def info(self) -> dict:
        d = super().info()
        d["proxies"] = list(self.proxies)
        return d

    def _predict(self, archs: list[str]) -> np.ndarray:
        return rank_average(self.features.zerocost(archs, self.proxies))
