"""What an architecture actually achieved: the target an evaluation correlates against."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from gradsign.errors import ArchError, ConfigError


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


def nb201_truth(dataset: str, target: str = "test", data_dir: Path | None = None) -> GroundTruth:
    """NB201 targets as the GradSign paper's code uses them.

    CIFAR-10 -> the ``cifar10-valid`` setting (trained on the train split): its test
    accuracy (``--target test``, the paper's target) or valid accuracy. CIFAR-100
    and ImageNet16-120 -> their 200-epoch test accuracy.
    """
    from gradsign.benchmarks import NB201Table
    from gradsign.data.images import canonical_dataset

    ds = canonical_dataset(dataset)
    if target not in ("test", "valid"):
        raise ConfigError(f"unknown target {target!r}; valid: test, valid")
    table = NB201Table.load(data_dir)
    setting = "cifar10-valid" if ds == "cifar10" else ds
    column_acc = table.accuracy(setting, target, 200)  # raises DataError when the column is absent

    def _indices(archs: Sequence[str]) -> np.ndarray:
        return np.asarray(table.indices(list(archs)), dtype=np.int64)

    def accuracy(archs: Sequence[str]) -> np.ndarray:
        return np.asarray(column_acc, dtype=np.float64)[_indices(archs)]

    def noise_ceiling(archs: Sequence[str]) -> dict[str, Any] | None:
        from scipy import stats

        runs = table.per_seed()[_indices(archs)]
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
                    + ("" if ds == "cifar10" else f" (the table has per-seed results for CIFAR-10 only; "
                                                   f"an indication for {ds}, not its own ceiling)"),
        }

    return GroundTruth(
        space="nb201", dataset=ds, target=target,
        description=f"NAS-Bench-201 {setting} {target} accuracy after 200 epochs ({setting}/{target}_acc@200)",
        accuracy=accuracy, noise_ceiling=noise_ceiling,
    )


def naslib_sample_truth(space: str, dataset: str, target: str = "test", data_dir: Path | None = None) -> GroundTruth:
    """Spaces whose only ground truth here is the sample in NASLib's zero-cost files (NB101, DARTS/NB301).

    The accuracy is the file's ``val_accuracy`` (NB101: the benchmark's 108-epoch
    accuracy of one training repeat; NB301: the surrogate's prediction). NASLib's
    NB101 keys are unpruned specs, so several rows can be one cell (same string,
    or isomorphic graphs with the same benchmark hash): they are merged, their
    accuracies averaged, and the cell is represented by its first string in file
    order (the counts are in the description). Any string of a merged cell gets
    the merged accuracy.
    """
    from gradsign.benchmarks.naslib_zc import load_naslib_zc
    from gradsign.data.images import canonical_dataset
    from gradsign.spaces.base import get_space

    if target not in ("test", "valid"):
        raise ConfigError(f"unknown target {target!r}; valid: test, valid")
    ds = canonical_dataset(dataset)
    frame = load_naslib_zc(space, ds, data_dir=data_dir)
    space_obj = get_space(space)

    def identity(text: str) -> str:
        return space_obj.identity(space_obj.parse(text))

    ids = frame["arch"].map(identity)
    cells = frame.groupby(ids, sort=False).agg(arch=("arch", "first"), accuracy=("val_accuracy", "mean"))
    acc_of_id = cells["accuracy"].to_dict()
    id_of = dict(zip(frame["arch"], ids))
    n_rows, n_cells = len(frame), len(cells)

    def accuracy(archs: Sequence[str]) -> np.ndarray:
        out = np.empty(len(archs), dtype=np.float64)
        for i, a in enumerate(archs):
            key = id_of.get(a)
            if key is None:  # a string not in the file may still be one of its cells
                try:
                    key = identity(a)
                except ArchError:  # not even a valid arch string: certainly not in the file
                    key = None
            if key not in acc_of_id:
                if space_obj.name == "darts":  # name the NB301 rule a full-DARTS-space genotype breaks
                    from gradsign.spaces.darts import nb301_violation

                    try:
                        why = nb301_violation(a)
                    except ArchError:
                        why = None
                    if why is not None:
                        raise ConfigError(f"no ground truth for darts arch {a!r}: it is outside the NAS-Bench-301 "
                                          f"space of {Path(frame.attrs['source']).name} ({why})")
                raise ConfigError(f"no ground truth for {space} arch {a!r} in {frame.attrs['source']}")
            out[i] = acc_of_id[key]
        return out

    merged = f"; {n_rows} records, {n_cells} distinct cells (duplicates averaged)" if n_cells != n_rows else ""
    # The file holds one accuracy per record, so "valid" is reported whatever was asked.
    return GroundTruth(
        space=space, dataset=ds, target="valid",
        description=f"val_accuracy of {Path(frame.attrs['source']).name} ({space}, {ds}; the file's only accuracy, "
                    f"used for --target {target} too){merged}",
        accuracy=accuracy, noise_ceiling=lambda archs: None, archs=list(cells["arch"]),
    )


_PROVIDERS: dict[str, Callable[..., GroundTruth]] = {
    "nb201": nb201_truth,
    "nb101": lambda ds, target="test", data_dir=None: naslib_sample_truth("nb101", ds, target, data_dir),
    "darts": lambda ds, target="test", data_dir=None: naslib_sample_truth("darts", ds, target, data_dir),
}


def ground_truth(space: str, dataset: str, target: str = "test", data_dir: Path | None = None) -> GroundTruth:
    from gradsign.spaces import get_space

    name = get_space(space).name
    if name not in _PROVIDERS:
        raise ConfigError(f"no ground truth for search space {name!r}; available: {', '.join(sorted(_PROVIDERS))}")
    return _PROVIDERS[name](dataset, target, data_dir)
