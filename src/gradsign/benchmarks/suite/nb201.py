"""NAS-Bench-201 (Dong & Yang, ICLR 2020): every cell of the space trained on three datasets.

Ground truth, the 12-epoch low-fidelity accuracy and the table's reference
columns come from :class:`~gradsign.benchmarks.nb201.NB201Table`; NASLib's
reference scores from :func:`~gradsign.benchmarks.naslib_zc.naslib_sample`; the
simulated training a search runs on is the table's :class:`SearchOracle`.

CIFAR-10 follows the GradSign paper's code: the target is the ``cifar10-valid``
setting (trained on the 25k train split), and its 12-epoch validation accuracy
is the low-fidelity feature, so no feature reads the target's test split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from gradsign.benchmarks.literature import LITERATURE_SOURCE, literature_spearman
from gradsign.benchmarks.registry import Benchmark, register_benchmark
from gradsign.benchmarks.tables import GroundTruth, LowFidelityTable, ZeroCostTable
from gradsign.errors import ConfigError, DataError

PathLike = str | Path | None


def _setting(dataset: str) -> str:
    """The NB201 training setting behind ``dataset``'s target (CIFAR-10: ``cifar10-valid``)."""
    return "cifar10-valid" if dataset == "cifar10" else dataset


@register_benchmark("nb201", aliases=("nasbench201", "nats-tss"))
class NB201Benchmark(Benchmark):
    """NAS-Bench-201 / NATS-Bench topology search space: 15,625 cells, CIFAR-10, CIFAR-100, ImageNet16-120."""

    space = "nb201"
    datasets = ("cifar10", "cifar100", "ImageNet16-120")
    description = "NAS-Bench-201: every cell trained 200 epochs (and 12) on three datasets"
    provides = frozenset({"lowfidelity", "zerocost", "objective"})

    def ground_truth(self, dataset: str, target: str = "test", data_dir: PathLike = None) -> GroundTruth:
        """CIFAR-10 -> the ``cifar10-valid`` setting's test (the paper's target) or valid accuracy;
        CIFAR-100 and ImageNet16-120 -> their 200-epoch test or valid accuracy."""
        from gradsign.benchmarks.nb201 import NB201Table

        ds = self.dataset(dataset)
        if target not in ("test", "valid"):
            raise ConfigError(f"unknown target {target!r}; valid: test, valid")
        table = NB201Table.load(data_dir)
        setting = _setting(ds)
        column_acc = table.accuracy(setting, target, 200)  # raises DataError when the column is absent

        def _indices(archs: Sequence[str]) -> np.ndarray:
            return np.asarray(table.indices(list(archs)), dtype=np.int64)

        def accuracy(archs: Sequence[str]) -> np.ndarray:
            return np.asarray(column_acc, dtype=np.float64)[_indices(archs)]

        def noise_ceiling(archs: Sequence[str]) -> dict[str, Any] | None:
            return _seed_agreement(table.per_seed()[_indices(archs)], ds)

        return GroundTruth(
            space=self.space, dataset=ds, target=target,
            description=f"NAS-Bench-201 {setting} {target} accuracy after 200 epochs ({setting}/{target}_acc@200)",
            accuracy=accuracy, noise_ceiling=noise_ceiling,
        )

    def lowfidelity(self, dataset: str, data_dir: PathLike = None) -> LowFidelityTable:
        """The 12-epoch *validation* accuracy of the setting whose 200-epoch accuracy is the target.

        Validation, not test, so the feature never reads the test split of any
        run. Cost: 12 x the recorded per-epoch time (CIFAR-10 only; the CSVs have
        no times for the others, NaN there).
        """
        from gradsign.benchmarks.nb201 import NB201Table

        setting = _setting(self.dataset(dataset))
        table = NB201Table.load(data_dir)
        values = np.asarray(table.accuracy(setting, "valid", 12), dtype=np.float64)
        try:
            seconds = np.asarray(table.train_time(setting, epochs=12, total=True), dtype=np.float64)
        except DataError:
            seconds = None
        return LowFidelityTable(list(table.archs), values, seconds,
                                f"NB201 {setting}/valid_acc@12 (12-epoch validation accuracy)")

    def zerocost_sources(self) -> tuple[str, ...]:
        return ("naslib", "nb201-table")

    def zerocost(self, source: str, dataset: str, data_dir: PathLike = None) -> ZeroCostTable:
        """``naslib``: NASLib's scores of its sampled cells; ``nb201-table``: the table's reference
        ``naswot`` (NASWOT by its authors, the first version's Jacobian-covariance score, i.e. our
        ``jacob_cov``; NaN for the cells with no input-output path) and ``params`` (millions) of every
        cell, the same on every dataset (computed on CIFAR-10 inputs / the 10-class network)."""
        ds = self.dataset(dataset)
        if source == "naslib":
            from gradsign.benchmarks.naslib_zc import naslib_sample

            return naslib_sample(self.space, ds, data_dir).zerocost
        if source != "nb201-table":
            return super().zerocost(source, ds, data_dir)
        from gradsign.benchmarks.nb201 import NB201Table

        table = NB201Table.load(data_dir)
        values = np.stack([table.column("naswot_score"), table.column("params_m")], axis=1).astype(np.float64)
        return ZeroCostTable(list(table.archs), ("naswot", "params"), values, None,
                             "NB201 reference columns (naswot_score, params_m)", {"naswot": True, "params": False})

    published_source = LITERATURE_SOURCE

    def published_spearman(self, proxy: str, dataset: str) -> float | None:
        """Published |rho| on all 15,625 cells, batch 64 (:mod:`gradsign.benchmarks.literature`)."""
        return literature_spearman(proxy, self.dataset(dataset))

    def objective(self, dataset: str, data_dir: PathLike = None) -> Any:
        """The NB201 search protocol's simulated training on ``dataset``: a :class:`SearchOracle`."""
        from gradsign.benchmarks.nb201 import NB201Table
        # The oracle is defined in the search layer (gradsign.search.oracle) for now; this is the one
        # place a benchmark reaches up, lazily, so that search can ask the benchmark for its objective.
        from gradsign.search.oracle import nb201_oracle

        return nb201_oracle(NB201Table.load(data_dir), self.dataset(dataset))


def _seed_agreement(runs: np.ndarray, dataset: str) -> dict[str, Any] | None:
    """Seed-1 vs seed-2 rank agreement of the CIFAR-10 per-seed accuracies of some cells (None under 10)."""
    from scipy import stats

    have = ~np.isnan(runs)
    multi = have.sum(axis=1) >= 2
    if multi.sum() < 10:
        return None
    order = np.argsort(~have, axis=1, kind="stable")
    rows = np.nonzero(multi)[0]
    first, second = runs[rows, order[rows, 0]], runs[rows, order[rows, 1]]
    return {
        "spearman": float(stats.spearmanr(first, second).statistic),
        "kendall": float(stats.kendalltau(first, second).statistic),
        "n_archs": int(multi.sum()),
        "what": "CIFAR-10 test accuracy, training seed 1 vs seed 2, on the sampled cells with 2+ runs"
                + ("" if dataset == "cifar10" else f" (the table has per-seed results for CIFAR-10 only; "
                                                   f"an indication for {dataset}, not its own ceiling)"),
    }
