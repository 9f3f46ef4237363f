"""Benchmarks whose only ground truth here is the sample in NASLib's zero-cost file (NB101, NB301)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np

from gradsign.benchmarks.registry import Benchmark
from gradsign.benchmarks.tables import GroundTruth, ZeroCostTable
from gradsign.errors import ArchError, ConfigError

PathLike = str | Path | None


class NaslibSampleBenchmark(Benchmark):
    """Ground truth = the ``val_accuracy`` of the cells NASLib sampled; reference scores = NASLib's.

    NASLib's keys can be several strings of one cell (NB101: unpruned or
    isomorphic specs with one benchmark hash; DARTS: a node's two pairs in either
    order): rows with one :meth:`SearchSpace.identity` are merged, their
    accuracies averaged, and the cell is represented by its first string in file
    order. Any string of a merged cell gets the merged accuracy.
    """

    datasets = ("cifar10",)
    provides = frozenset({"zerocost"})
    #: the file's resource name, for the refusals
    naslib_file: ClassVar[str] = ""

    @property
    def lacking(self) -> dict[str, str]:  # type: ignore[override]
        sample = f"its only ground truth is the sample of cells in NASLib's {self.naslib_file}"
        return {"lowfidelity": f"{sample}, one accuracy per cell",
                "objective": f"no training times, and {sample}"}

    def ground_truth(self, dataset: str, target: str = "test", data_dir: PathLike = None) -> GroundTruth:
        """The file's ``val_accuracy`` (NB101: the benchmark's 108-epoch accuracy of one training repeat;
        NB301: the surrogate's prediction), whatever ``target`` asks: the file has one accuracy."""
        from gradsign.benchmarks.naslib_zc import load_naslib_zc

        if target not in ("test", "valid"):
            raise ConfigError(f"unknown target {target!r}; valid: test, valid")
        ds = self.dataset(dataset)
        frame = load_naslib_zc(self.space, ds, data_dir=data_dir)
        space_obj = self.search_space

        def identity(text: str) -> str:
            return space_obj.identity(space_obj.parse(text))

        ids = frame["arch"].map(identity)
        cells = frame.groupby(ids, sort=False).agg(arch=("arch", "first"), accuracy=("val_accuracy", "mean"))
        acc_of_id = cells["accuracy"].to_dict()
        id_of = dict(zip(frame["arch"], ids))
        source = frame.attrs["source"]

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
                    raise ConfigError(self.no_truth_message(a, source))
                out[i] = acc_of_id[key]
            return out

        n_rows, n_cells = len(frame), len(cells)
        merged = f"; {n_rows} records, {n_cells} distinct cells (duplicates averaged)" if n_cells != n_rows else ""
        return GroundTruth(
            space=self.space, dataset=ds, target="valid",
            description=f"val_accuracy of {Path(source).name} ({self.space}, {ds}; the file's only accuracy, "
                        f"used for --target {target} too){merged}",
            accuracy=accuracy, noise_ceiling=lambda archs: None, archs=list(cells["arch"]),
        )

    def no_truth_message(self, arch: str, source: str) -> str:
        """Why ``arch`` has no ground truth (a subclass may name the rule it breaks)."""
        return f"no ground truth for {self.space} arch {arch!r} in {source}"

    def zerocost_sources(self) -> tuple[str, ...]:
        return ("naslib",)

    def zerocost(self, source: str, dataset: str, data_dir: PathLike = None) -> ZeroCostTable:
        """NASLib's scores of its sampled cells, merged per cell as the ground truth is."""
        if source != "naslib":
            return super().zerocost(source, dataset, data_dir)
        from gradsign.benchmarks.naslib_zc import naslib_sample

        return naslib_sample(self.space, self.dataset(dataset), data_dir).zerocost
