"""What an architecture actually achieved: the target an evaluation correlates against.

The benchmark of the space knows it (:mod:`gradsign.benchmarks.registry`); these
functions ask it.
"""

from __future__ import annotations

from pathlib import Path

from gradsign.benchmarks.registry import get_benchmark
from gradsign.benchmarks.tables import GroundTruth


def ground_truth(space: str, dataset: str, target: str = "test", data_dir: Path | None = None) -> GroundTruth:
    """The ground truth of the benchmark of ``space`` (a space or benchmark name) on ``dataset``."""
    return get_benchmark(space).ground_truth(dataset, target, data_dir)


def nb201_truth(dataset: str, target: str = "test", data_dir: Path | None = None) -> GroundTruth:
    """NB201 targets as the GradSign paper's code uses them (see :class:`NB201Benchmark`)."""
    return get_benchmark("nb201").ground_truth(dataset, target, data_dir)


def naslib_sample_truth(space: str, dataset: str, target: str = "test", data_dir: Path | None = None) -> GroundTruth:
    """Ground truth of a space whose only benchmark data here is NASLib's sample (NB101, DARTS/NB301)."""
    return get_benchmark(space).ground_truth(dataset, target, data_dir)


__all__ = ["GroundTruth", "ground_truth", "naslib_sample_truth", "nb201_truth"]
