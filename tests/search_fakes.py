"""Small fake benchmarks and proxies for the search tests (no data files needed)."""

from __future__ import annotations

import itertools

import numpy as np

from gradsign.search import SearchOracle


def toy_oracle(d: int = 3, c: int = 4, *, seed: int = 0, cost=None, signal=None, budget: float = 500.0) -> SearchOracle:
    """A full product space of ``c**d`` cells in shuffled index order.

    ``signal`` may be a function of the (n, d) encodings; default random. Costs
    are random in [5, 15) s unless given. A high fidelity (signal + 5, 10x
    cost) and a ``reported`` column are included.
    """
    rng = np.random.default_rng(seed)
    enc = np.array(list(itertools.product(range(c), repeat=d)), dtype=np.int64)
    enc = enc[rng.permutation(len(enc))]  # index order != encoding order, as in NB201
    n = len(enc)
    sig = np.asarray(signal(enc), dtype=np.float64) if signal is not None else rng.uniform(50, 90, size=n)
    costs = rng.uniform(5, 15, size=n) if cost is None else np.broadcast_to(np.asarray(cost, dtype=np.float64), (n,))
    test = sig + rng.normal(0, 1, size=n)
    return SearchOracle(
        enc, c, sig, costs, test, high_signal=sig + 5, high_cost=costs * 10,
        reported={"other": test - 1}, dataset="toy", space="toy", default_budget=budget,
        notes=("toy oracle",), training_epochs=12,  # modelled on NB201's 12 / 200-epoch fidelities
    )


class SpyProvider:
    """A proxy provider that records every call."""

    name = "spy"

    def __init__(self, scores, seconds=1.0):
        self.scores = np.asarray(scores, dtype=np.float64)
        self._seconds = seconds
        self.score_calls: list[int] = []
        self.seconds_calls: list[int] = []

    def score(self, arch: int) -> float:
        self.score_calls.append(arch)
        return float(self.scores[arch])

    def seconds(self, arch: int) -> float:
        self.seconds_calls.append(arch)
        return float(self._seconds)
