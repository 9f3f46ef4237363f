"""The small real benchmark (issue #25): NB201 cells trained by this project on 2 CPU cores.

500 NB201 cells (``NB201Space().sample(500, 0)``) trained under
:data:`~gradsign.training.recipe.SMALL_CIFAR10` (width 8, one cell per stage,
5,000 CIFAR-10 training images at 16x16, 8 epochs) with training seeds 1 and 2
by ``scripts/train_real_benchmark.py``; docs/real_benchmark.md. The table is the
project's own result, committed as ``results/real_benchmark/nb201_small_cifar10.csv.gz``
(a training export), with every proxy scored on the networks as trained in
``results/real_benchmark/proxy_scores_seed0.csv.gz`` (``scripts/score_real_benchmark.py``).

* ground truth: the CIFAR-10 **test** accuracy (10,000 images) averaged over the
  seeds, or the final **valid**ation accuracy (1,000 held-out training images)
  averaged likewise; the noise ceiling is seed 1 vs seed 2;
* objective (search): a search observes the seed-1 run's final validation
  accuracy and is charged its measured seconds, and the arch it picks is
  reported by its mean test accuracy. The 500 cells are a 3% sample of the
  space: the search space is those cells, and a move that leaves them lands on
  the nearest one (:class:`~gradsign.search.tabular.TableSpace`, ``off_table="nearest"``);
* zero-cost source ``as-trained``: every registered proxy on the recipe's
  network and images (oriented higher = better), with its measured seconds.

Only the archs trained under both seeds count (a partially regenerated table
serves what it has; the description says how many).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from gradsign.benchmarks.registry import Benchmark, register_benchmark
from gradsign.benchmarks.tables import GroundTruth, LowFidelityTable, ZeroCostTable
from gradsign.errors import ConfigError, DataError

PathLike = str | Path | None

#: file names inside the benchmark's folder
TABLE_FILE = "nb201_small_cifar10.csv.gz"
SCORES_FILE = "proxy_scores_seed0.csv.gz"
#: where a checkout keeps them (src/gradsign/benchmarks/suite -> the repository root)
CHECKOUT_DIR = Path(__file__).resolve().parents[4] / "results" / "real_benchmark"
#: the fewest archs with every seed the benchmark serves
MIN_ARCHS = 10
#: seconds budget of a search on it when none is given (about 25 trainings of the 500)
DEFAULT_BUDGET = 400.0


def benchmark_dir(data_dir: PathLike = None) -> Path:
    """Where the table is: ``data_dir`` if it holds it, else ``$GRADSIGN_REAL_BENCHMARK``, else the checkout's."""
    if data_dir is not None and (Path(data_dir) / TABLE_FILE).exists():
        return Path(data_dir)
    env = os.environ.get("GRADSIGN_REAL_BENCHMARK")
    return Path(env) if env else CHECKOUT_DIR


@register_benchmark("nb201_small", aliases=("nb201-small", "real"))
class NB201SmallBenchmark(Benchmark):
    """500 NB201 cells trained by the project at reduced size on CPU (2 seeds): the small real benchmark."""

    space = "nb201"
    datasets = ("cifar10",)
    description = ("500 NB201 cells trained 8 epochs at width 8 on 5k CIFAR-10 images at 16x16, 2 seeds "
                   "(regenerable on 2 CPU cores; docs/real_benchmark.md)")
    provides = frozenset({"lowfidelity", "zerocost", "objective"})
    #: the low-fidelity accuracy: seed 1's validation accuracy after this many of the recipe's epochs
    LOWFIDELITY_EPOCHS = 2

    # --- the data ------------------------------------------------------------------------
    def table(self, data_dir: PathLike = None):
        """The trained archs (those with every seed) as a :class:`~gradsign.training.table.TrainingTable`."""
        from gradsign.training import SMALL_CIFAR10
        from gradsign.training.table import TrainingTable

        path = benchmark_dir(data_dir) / TABLE_FILE
        if not path.exists():
            raise DataError(f"{self.name}: no table at {path} (a checkout has it under results/real_benchmark/; "
                            "elsewhere set GRADSIGN_REAL_BENCHMARK to its folder, or regenerate it with "
                            "scripts/train_real_benchmark.py)")
        table = TrainingTable.load(path, space="nb201", recipe_key=SMALL_CIFAR10.key()).complete()
        if len(table.archs) < MIN_ARCHS:
            raise DataError(f"{self.name}: {path} has {len(table.archs)} archs trained under every seed; "
                            f"at least {MIN_ARCHS} are needed")
        return table

    def ground_truth(self, dataset: str, target: str = "test", data_dir: PathLike = None) -> GroundTruth:
        """Mean over seeds of the test accuracy (``test``) or of the final validation accuracy (``valid``)."""
        ds = self.dataset(dataset)
        if target not in ("test", "valid"):
            raise ConfigError(f"unknown target {target!r}; valid: test, valid")
        table = self.table(data_dir)
        values = table.mean_test() if target == "test" else table.mean_val()
        per_seed = table.test if target == "test" else table.val
        index = {a: i for i, a in enumerate(table.archs)}

        def rows(archs: Sequence[str]) -> np.ndarray:
            missing = [a for a in archs if a not in index]
            if missing:
                raise DataError(f"{self.name}: {len(missing)} arch(s) not in the trained table, e.g. {missing[0]}")
            return np.asarray([index[a] for a in archs], dtype=np.int64)

        def accuracy(archs: Sequence[str]) -> np.ndarray:
            return values[rows(archs)]

        def noise_ceiling(archs: Sequence[str]) -> dict[str, Any] | None:
            from scipy import stats

            sub = per_seed[rows(archs)]
            if len(sub) < MIN_ARCHS or sub.shape[1] < 2:
                return None
            return {"spearman": float(stats.spearmanr(sub[:, 0], sub[:, 1]).statistic),
                    "kendall": float(stats.kendalltau(sub[:, 0], sub[:, 1]).statistic),
                    "n_archs": len(sub),
                    "what": f"{target} accuracy, training seed {table.seeds[0]} vs seed {table.seeds[1]} "
                            "(the ground truth averages the seeds, so its own ceiling is higher)"}

        what = "CIFAR-10 test (10k images)" if target == "test" else "final validation (1k held-out train images)"
        return GroundTruth(space=self.space, dataset=ds, target=target,
                           description=f"{self.name}: {what} accuracy after the 8-epoch recipe, mean of seeds "
                                       f"{', '.join(map(str, table.seeds))}, {len(table.archs)} archs",
                           accuracy=accuracy, noise_ceiling=noise_ceiling, archs=list(table.archs))

    def lowfidelity(self, dataset: str, data_dir: PathLike = None) -> LowFidelityTable:
        """Seed 1's validation accuracy after the recipe's first 2 epochs, charged those epochs' seconds.

        A prefix of the 8-epoch cosine schedule (the learning rate has not annealed), as a
        learning-curve predictor sees it; never the test split.
        """
        self.dataset(dataset)
        table = self.table(data_dir)
        e = self.LOWFIDELITY_EPOCHS
        return LowFidelityTable(list(table.archs), table.val_curve[:, 0, e - 1].copy(),
                                table.epoch_seconds[:, 0, :e].sum(axis=1),
                                f"{self.name}: seed-1 validation accuracy after epoch {e} of {table.recipe['epochs']}")

    def zerocost_sources(self) -> tuple[str, ...]:
        return ("as-trained",)

    def zerocost(self, source: str, dataset: str, data_dir: PathLike = None) -> ZeroCostTable:
        """``as-trained``: every proxy scored on the recipe's network and images (seed 0, batch 64)."""
        from gradsign.proxies.api import describe_proxies
        from gradsign.training.proxy_table import ProxyScoreTable

        ds = self.dataset(dataset)
        if source != "as-trained":
            return super().zerocost(source, ds, data_dir)
        archs = list(self.table(data_dir).archs)
        path = benchmark_dir(data_dir) / SCORES_FILE
        scores = ProxyScoreTable.load(path)
        info = {r["name"]: r for r in describe_proxies()}
        names = tuple(p for p in scores.proxies if p in info and scores.missing(p, archs) == 0)
        if not names:
            raise DataError(f"{self.name}: {path} scores none of the {len(archs)} trained archs with every proxy; "
                            "run scripts/score_real_benchmark.py")
        cols = [scores.column(p, archs) for p in names]
        sign = np.array([1.0 if info[p]["direction"] == "higher" else -1.0 for p in names])
        values = np.stack([c[0] for c in cols], axis=1) * sign
        seconds = np.stack([c[1] for c in cols], axis=1)
        return ZeroCostTable(archs, names, values, seconds,
                             f"{self.name}: proxies on the recipe's networks and images ({path.name})",
                             {p: bool(info[p]["needs_data"]) for p in names})

    def proxy_provider(self, proxy: str, dataset: str = "cifar10", data_dir: PathLike = None) -> Any:
        """A search provider for ``proxy`` (or an ensemble ``a+b``) from the as-trained scores, in objective order.

        Seconds: each proxy's measured cost on the recipe's network; an ensemble is
        charged the sum of its members' (an upper bound: members sharing a pass
        were timed each with the whole pass). A score the proxy cannot give
        (NaN or infinite) ranks below every finite one.
        """
        from gradsign.proxies import get_proxy
        from gradsign.search.providers import ArrayEnsembleProvider, ArrayProxyProvider

        spec = get_proxy(proxy)
        members = tuple(spec.members) if getattr(spec, "is_ensemble", False) else (spec.name,)
        zc = self.zerocost("as-trained", dataset, data_dir)
        missing = [m for m in members if m not in zc.names]
        if missing:
            raise DataError(f"{self.name}: {', '.join(missing)} not scored on every trained arch "
                            f"({SCORES_FILE}); run scripts/score_real_benchmark.py --proxies {','.join(missing)}")
        cols = [zc.names.index(m) for m in members]
        seconds = np.nansum(zc.seconds[:, cols], axis=1)
        if getattr(spec, "is_ensemble", False):
            return ArrayEnsembleProvider(zc.values[:, cols], seconds, name=spec.name, aggregation=spec.aggregation)
        # Every trained arch was scored (``zerocost`` keeps complete proxies only), so a NaN here is a
        # score the proxy cannot give (jacob_cov, epe_nas on a cell whose output ignores its input), not
        # a cell never scored: it ranks last, as the store-backed and the measured providers rank it.
        values = zc.values[:, cols[0]]
        return ArrayProxyProvider(np.where(np.isfinite(values), values, -np.inf), seconds, name=spec.name,
                                  arch_name=lambda i: zc.archs[i])

    def objective(self, dataset: str, data_dir: PathLike = None) -> Any:
        """Search on the trained archs: seed 1's validation accuracy observed, its seconds charged, mean test reported."""
        from gradsign.spaces import get_space
        # A benchmark reaching up to the search layer, lazily, as NB201's objective does.
        from gradsign.search.tabular import SearchOracle

        class TrainedSampleObjective(SearchOracle):
            """The trained sample as a tabular objective; named proxies come from the as-trained scores."""

            def proxy_provider(self, proxy: str) -> Any:
                return bench.proxy_provider(proxy, ds, data_dir)

        bench = self
        ds = self.dataset(dataset)
        table = self.table(data_dir)
        space = get_space("nb201")
        archs = list(table.archs)
        encodings = np.asarray([space.to_choices(space.parse(a)) for a in archs], dtype=np.int64)
        return TrainedSampleObjective(
            encodings, space.choices(), signal=table.val[:, 0], cost=table.seconds[:, 0], test=table.mean_test(),
            reported={f"test_seed{s}": table.test[:, j] for j, s in enumerate(table.seeds)},
            space=self.name, arch_name=lambda i: archs[i], off_table="nearest", dataset=ds,
            default_budget=DEFAULT_BUDGET, training_epochs=int(table.recipe["epochs"]),
            notes=(f"{self.name}: {len(archs)} trained NB201 cells (a sample of the space; moves off the sample land "
                   "on the nearest trained cell); observed: seed-1 final validation accuracy (1k images); cost: its "
                   "measured seconds on a 2-core CPU; reported: CIFAR-10 test accuracy averaged over seeds",))


__all__ = ["CHECKOUT_DIR", "DEFAULT_BUDGET", "NB201SmallBenchmark", "SCORES_FILE", "TABLE_FILE", "benchmark_dir"]
