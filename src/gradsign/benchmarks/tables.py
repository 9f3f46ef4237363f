"""The data a benchmark hands out: ground truth, zero-cost score tables, low-fidelity accuracies.

Plain containers of a lower layer (numpy only), so that benchmarks
(:mod:`gradsign.benchmarks.registry`) can build them and predictors, evaluation
and search read them without importing each other. They were defined in
``gradsign.predictors.features`` and ``gradsign.workflows.ground_truth``, which
still re-export them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from gradsign.errors import ConfigError, DataError

__all__ = ["GroundTruth", "LowFidelityTable", "ZeroCostTable"]


@dataclass
class GroundTruth:
    """Accuracies of archs of one space on one dataset's target split."""

    space: str
    dataset: str
    target: str
    description: str  # which column of which benchmark
    accuracy: Callable[[Sequence[str]], np.ndarray]
    # Seed-to-seed agreement on the given archs (None where the data has one run per arch).
    noise_ceiling: Callable[[Sequence[str]], dict[str, Any] | None]
    # The archs that have ground truth, for spaces whose benchmark covers only a sample
    # (None: every arch of the space has it).
    archs: list[str] | None = None


@dataclass
class ZeroCostTable:
    """Zero-cost scores of some archs: ``values[i, j]`` = proxy ``names[j]`` on ``archs[i]``.

    Scores are oriented so that higher = predicted better (every proxy of this
    project and of NASLib's files already is). Non-finite values are kept (a
    proxy that failed, NASLib's ``-inf``); predictors decide how to treat them.
    ``seconds`` (same shape, NaN where unknown) is what computing each score
    cost, for the report of feature costs. ``needs_data`` says per proxy whether
    it looks at images.
    """

    archs: list[str]
    names: tuple[str, ...]
    values: np.ndarray
    seconds: np.ndarray | None = None
    source: str = ""
    needs_data: dict[str, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.values.shape != (len(self.archs), len(self.names)):
            raise DataError(f"zero-cost table {self.source!r}: values have shape {self.values.shape}, expected "
                            f"({len(self.archs)}, {len(self.names)})")
        if self.seconds is not None:
            self.seconds = np.asarray(self.seconds, dtype=np.float64)
            if self.seconds.shape != self.values.shape:
                raise DataError(f"zero-cost table {self.source!r}: seconds shape {self.seconds.shape} differs from "
                                f"values {self.values.shape}")
        if len(set(self.archs)) != len(self.archs):
            raise DataError(f"zero-cost table {self.source!r}: duplicate archs")
        if len(set(self.names)) != len(self.names) or not self.names:
            raise DataError(f"zero-cost table {self.source!r}: proxy names must be unique and non-empty")
        self._row = {a: i for i, a in enumerate(self.archs)}

    def rows(self, archs: Sequence[str]) -> np.ndarray:
        try:
            return np.fromiter((self._row[a] for a in archs), dtype=np.int64, count=len(archs))
        except KeyError as exc:
            raise DataError(f"no zero-cost scores ({self.source}) for arch {exc.args[0]!r}") from None

    def select(self, names: Sequence[str]) -> "ZeroCostTable":
        """A table with only the proxies ``names`` (in that order)."""
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise ConfigError(f"zero-cost proxies {', '.join(unknown)} are not in {self.source} "
                              f"(it has {', '.join(self.names)})")
        cols = [self.names.index(n) for n in names]
        return ZeroCostTable(list(self.archs), tuple(names), self.values[:, cols],
                             None if self.seconds is None else self.seconds[:, cols], self.source,
                             {n: self.needs_data.get(n, True) for n in names})

    def with_ensembles(self, names: Sequence[str]) -> "ZeroCostTable":
        """The table plus one column per ensemble in ``names`` (``a+b``, ``meanrank(a+b)``) not yet in it.

        The ensemble ranks the table's cells by each member (columns are already
        higher-is-better) and aggregates the ranks (:mod:`gradsign.proxies.ensemble`):
        label-free, over the whole table, so every train/test split sees the same
        feature. Its seconds are its members' summed.
        """
        from gradsign.proxies.ensemble import is_ensemble_name, parse_ensemble, rank_aggregate

        table = self
        for name in names:
            if name in table.names or not is_ensemble_name(name):
                continue
            spec = parse_ensemble(name)
            lacking = [m for m in spec.members if m not in table.names]
            if lacking:
                raise ConfigError(f"ensemble {name!r}: {', '.join(lacking)} not in {table.source} "
                                  f"(it has {', '.join(table.names)})")
            cols = [table.names.index(m) for m in spec.members]
            value, _ = rank_aggregate(table.values[:, cols], [True] * len(cols), spec.aggregation)
            values = np.column_stack([table.values, value])
            seconds = None if table.seconds is None else np.column_stack([table.seconds, table.seconds[:, cols].sum(axis=1)])
            needs = {**table.needs_data, spec.name: any(table.needs_data.get(m, True) for m in spec.members)}
            table = ZeroCostTable(list(table.archs), (*table.names, spec.name), values, seconds, table.source, needs)
        return table

    def restrict(self, archs: Iterable[str]) -> "ZeroCostTable":
        """Only the rows of ``archs`` that the table has (order of ``archs``)."""
        keep = [a for a in archs if a in self._row]
        rows = self.rows(keep)
        return ZeroCostTable(keep, self.names, self.values[rows],
                             None if self.seconds is None else self.seconds[rows], self.source, dict(self.needs_data))


@dataclass
class LowFidelityTable:
    """A cheap accuracy of some archs (percent), e.g. NB201's 12-epoch validation accuracy."""

    archs: list[str]
    values: np.ndarray
    seconds: np.ndarray | None = None  # training seconds per arch (NaN where unknown)
    description: str = ""

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64).reshape(-1)
        if len(self.values) != len(self.archs):
            raise DataError(f"low-fidelity table: {len(self.archs)} archs but {len(self.values)} values")
        if self.seconds is not None:
            self.seconds = np.asarray(self.seconds, dtype=np.float64).reshape(-1)
        self._row = {a: i for i, a in enumerate(self.archs)}

    def rows(self, archs: Sequence[str]) -> np.ndarray:
        try:
            return np.fromiter((self._row[a] for a in archs), dtype=np.int64, count=len(archs))
        except KeyError as exc:
            raise DataError(f"no low-fidelity accuracy ({self.description}) for arch {exc.args[0]!r}") from None
