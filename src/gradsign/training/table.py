"""A trained-architecture table read from a training export: the small real benchmark as data.

:class:`TrainingTable` reads the gzip CSV that :meth:`TrainingStore.export_csv
<gradsign.training.store.TrainingStore.export_csv>` writes (the committed
``results/real_benchmark/nb201_small_cifar10.csv.gz``), validates it (untrusted
input: one-line :class:`~gradsign.errors.DataError` naming the file and the
culprit) and serves per-arch arrays: the test and validation accuracy of each
seed, the learning curves and the seconds each run took.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradsign.errors import DataError
from gradsign.training.store import COLUMNS, read_text


@dataclass(frozen=True)
class TrainingTable:
    """The runs of one (space, recipe) of a training export, as arrays over :attr:`archs` x :attr:`seeds`.

    ``test[i, j]``, ``val[i, j]`` (final validation accuracy), ``seconds[i, j]``
    are NaN where arch ``i`` has no run under seed ``seeds[j]``;
    ``val_curve[i, j, e]`` and ``train_loss[i, j, e]`` are per epoch.
    """

    space: str
    recipe_key: str
    recipe: dict
    archs: tuple[str, ...]
    seeds: tuple[int, ...]
    test: np.ndarray
    val: np.ndarray
    seconds: np.ndarray
    val_curve: np.ndarray
    train_loss: np.ndarray
    epoch_seconds: np.ndarray
    source: str

    # --- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, *, space: str | None = None, recipe_key: str | None = None) -> "TrainingTable":
        """Read and validate an export; ``space`` / ``recipe_key`` select one benchmark when it holds several."""
        path = Path(path)
        try:
            text = read_text(path)
        except FileNotFoundError:
            raise DataError(f"{path}: no such training export") from None
        except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
            raise DataError(f"{path}: cannot read a training export ({exc})") from None
        reader = csv.reader(io.StringIO(text))
        header = tuple(next(reader, ()))
        if header != COLUMNS:
            raise DataError(f"{path}: not a training export (header {','.join(header)[:80]!r})")
        rows = [r for r in reader if r]
        keys = sorted({(r[0], r[2]) for r in rows if len(r) == len(COLUMNS)})
        if space is not None:
            keys = [k for k in keys if k[0] == space]
        if recipe_key is not None:
            keys = [k for k in keys if k[1] == recipe_key]
        if not keys:
            raise DataError(f"{path}: no runs" + (f" of space {space!r}" if space else "")
                            + (f" with recipe {recipe_key!r}" if recipe_key else ""))
        if len(keys) > 1:
            raise DataError(f"{path}: runs of several benchmarks ({', '.join(f'{s}/{k}' for s, k in keys)}); "
                            "name the space and recipe key")
        space_name, key = keys[0]
        runs: dict[tuple[str, int], dict[str, Any]] = {}
        recipe: dict | None = None
        for n, row in enumerate(rows, start=2):
            if len(row) != len(COLUMNS):
                raise DataError(f"{path}: line {n} has {len(row)} fields, expected {len(COLUMNS)}")
            if (row[0], row[2]) != (space_name, key):
                continue
            try:
                run = {"seed": int(row[3]), "recipe": json.loads(row[4]), "test": float(row[5]),
                       "val": json.loads(row[6]), "loss": json.loads(row[7]), "epoch_seconds": json.loads(row[8]),
                       "seconds": float(row[9])}
            except ValueError as exc:
                raise DataError(f"{path}: line {n} ({row[1]!r}) is malformed: {exc}") from None
            recipe = recipe if recipe is not None else run["recipe"]
            if run["recipe"] != recipe:
                raise DataError(f"{path}: line {n}: recipe {key} is stored with two different definitions")
            epochs = recipe.get("epochs")
            for field in ("val", "loss", "epoch_seconds"):
                values = run[field]
                if not isinstance(values, list) or len(values) != epochs or not all(
                        isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                    raise DataError(f"{path}: line {n} ({row[1]!r}): {field} is not {epochs} finite numbers")
            if not (math.isfinite(run["test"]) and 0 <= run["test"] <= 100 and all(0 <= v <= 100 for v in run["val"])):
                raise DataError(f"{path}: line {n} ({row[1]!r}): accuracies must be percentages in [0, 100]")
            if not (math.isfinite(run["seconds"]) and run["seconds"] > 0):
                raise DataError(f"{path}: line {n} ({row[1]!r}): seconds must be positive, got {run['seconds']}")
            runs[(row[1], run["seed"])] = run
        archs = tuple(sorted({a for a, _ in runs}))
        seeds = tuple(sorted({s for _, s in runs}))
        epochs = int(recipe["epochs"]) if recipe else 0
        shape = (len(archs), len(seeds))
        test, val, secs = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
        curve, loss, esecs = (np.full((*shape, epochs), np.nan) for _ in range(3))
        a_index = {a: i for i, a in enumerate(archs)}
        s_index = {s: j for j, s in enumerate(seeds)}
        for (arch, seed), run in runs.items():
            i, j = a_index[arch], s_index[seed]
            test[i, j], val[i, j], secs[i, j] = run["test"], run["val"][-1], run["seconds"]
            curve[i, j], loss[i, j], esecs[i, j] = run["val"], run["loss"], run["epoch_seconds"]
        return cls(space=space_name, recipe_key=key, recipe=recipe or {}, archs=archs, seeds=seeds, test=test,
                   val=val, seconds=secs, val_curve=curve, train_loss=loss, epoch_seconds=esecs, source=str(path))

    # --- views -------------------------------------------------------------------------------
    @property
    def n_runs(self) -> int:
        return int(np.isfinite(self.test).sum())

    def complete(self) -> "TrainingTable":
        """Only the archs trained under every seed of the table."""
        keep = np.isfinite(self.test).all(axis=1)
        return TrainingTable(
            space=self.space, recipe_key=self.recipe_key, recipe=self.recipe,
            archs=tuple(a for a, k in zip(self.archs, keep) if k), seeds=self.seeds, test=self.test[keep],
            val=self.val[keep], seconds=self.seconds[keep], val_curve=self.val_curve[keep],
            train_loss=self.train_loss[keep], epoch_seconds=self.epoch_seconds[keep], source=self.source)

    def mean_test(self) -> np.ndarray:
        """Test accuracy averaged over the seeds each arch has."""
        return np.nanmean(self.test, axis=1)

    def mean_val(self) -> np.ndarray:
        return np.nanmean(self.val, axis=1)

    def cpu_hours(self) -> float:
        """Seconds of every run, summed, in hours (wall clock of one thread per run)."""
        return float(np.nansum(self.seconds) / 3600)

    def noise_ceiling(self, which: str = "test") -> dict[str, Any] | None:
        """Seed-to-seed agreement (first two seeds) of the archs trained under both; None under 10 such archs."""
        from scipy import stats

        values = {"test": self.test, "val": self.val}[which]
        if values.shape[1] < 2:
            return None
        both = np.isfinite(values[:, :2]).all(axis=1)
        if both.sum() < 10:
            return None
        a, b = values[both, 0], values[both, 1]
        return {"spearman": float(stats.spearmanr(a, b).statistic),
                "kendall": float(stats.kendalltau(a, b).statistic),
                "n_archs": int(both.sum()),
                "mean_abs_diff": float(np.mean(np.abs(a - b))),
                "what": f"{'test' if which == 'test' else 'final validation'} accuracy, training seed "
                        f"{self.seeds[0]} vs seed {self.seeds[1]}"}


__all__ = ["TrainingTable"]
