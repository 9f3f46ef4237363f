"""The benchmark registry, and the worked example of docs/extending.md: a benchmark in one module.

``tinyconv`` is a search space of three-layer convnets (a width per layer) and
``tinybench`` its benchmark, with made-up "trained" accuracies: a benchmark
needs nothing but its own module. The tests run it end to end through the
``evaluate`` and ``predictors evaluate`` workflows, and through the command line
with ``--plugin`` (this file is the plug-in). No data files are read.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest
from torch import nn

from gradsign.benchmarks.registry import Benchmark, available_benchmarks, get_benchmark, register_benchmark
from gradsign.benchmarks.tables import GroundTruth, LowFidelityTable, ZeroCostTable
from gradsign.errors import ArchError, ConfigError
from gradsign.spaces.base import SearchSpace, as_generator, register_space

# =========================================================================== the worked example

WIDTHS = (4, 8, 16, 32)
LAYERS = 3


@register_space("tinyconv")
class TinyConvSpace(SearchSpace[tuple]):
    """Three 3x3 convolutions of 4, 8, 16 or 32 channels: 64 archs, written ``c8-16-4``."""

    def parse(self, text: str) -> tuple:
        try:
            widths = tuple(int(w) for w in str(text).removeprefix("c").split("-"))
        except ValueError:
            widths = ()
        if len(widths) != LAYERS or any(w not in WIDTHS for w in widths):
            raise ArchError(f"not a tinyconv arch: {text!r} (expected c<w>-<w>-<w>, widths {WIDTHS})")
        return widths

    def to_string(self, arch: tuple) -> str:
        return "c" + "-".join(str(w) for w in arch)

    @property
    def num_archs(self) -> int:
        return len(WIDTHS) ** LAYERS

    def arch_at(self, index: int) -> tuple:
        return tuple(itertools.product(WIDTHS, repeat=LAYERS))[index]

    def index_of(self, arch: tuple) -> int:
        return tuple(itertools.product(WIDTHS, repeat=LAYERS)).index(tuple(arch))

    def sample(self, n: int, seed=None, *, replace: bool = False) -> list[tuple]:
        picks = as_generator(seed).choice(self.num_archs, size=n, replace=replace)
        return [self.arch_at(int(i)) for i in picks]

    def mutate(self, arch: tuple, seed=None) -> tuple:
        rng = as_generator(seed)
        layer = int(rng.integers(LAYERS))
        width = int(rng.choice([w for w in WIDTHS if w != arch[layer]]))
        return tuple(width if i == layer else w for i, w in enumerate(arch))

    def build_network(self, arch: tuple, num_classes: int = 10, **options) -> nn.Module:
        layers, channels = [], 3
        for width in arch:
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            channels = width
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))


def tiny_params(arch: tuple, num_classes: int = 10) -> int:
    """The parameter count of ``arch``'s network (what the ``params`` proxy counts)."""
    sizes = (3, *arch)
    return sum(9 * a * b + b for a, b in zip(sizes, sizes[1:])) + arch[-1] * num_classes + num_classes


def tiny_accuracy(arch: tuple) -> float:
    """The made-up 'trained' accuracy: increasing in the parameter count."""
    return 100.0 - 1000.0 / math.sqrt(tiny_params(arch))


@register_benchmark("tinybench")
class TinyBench(Benchmark):
    """Every tinyconv arch 'trained' on CIFAR-10, with a low-fidelity accuracy and a reference score."""

    space = "tinyconv"
    datasets = ("cifar10",)
    description = "toy benchmark of the docs' worked example"
    provides = frozenset({"lowfidelity", "zerocost"})
    lacking = {"objective": "it records no training times"}

    def _archs(self) -> list[str]:
        return [self.search_space.to_string(a) for a in self.search_space]

    def ground_truth(self, dataset: str, target: str = "test", data_dir=None) -> GroundTruth:
        ds = self.dataset(dataset)

        def accuracy(archs: Sequence[str]) -> np.ndarray:
            return np.array([tiny_accuracy(self.search_space.parse(a)) for a in archs])

        return GroundTruth(space=self.space, dataset=ds, target=target, description="tinybench accuracy",
                           accuracy=accuracy, noise_ceiling=lambda archs: None)

    def lowfidelity(self, dataset: str, data_dir=None) -> LowFidelityTable:
        archs = self._archs()
        truth = self.ground_truth(dataset).accuracy(archs)
        return LowFidelityTable(archs, truth / 2, np.full(len(archs), 1.0), "half the accuracy")

    def zerocost_sources(self) -> tuple[str, ...]:
        return ("tiny-table",)

    def zerocost(self, source: str, dataset: str, data_dir=None) -> ZeroCostTable:
        if source != "tiny-table":
            return super().zerocost(source, dataset, data_dir)
        archs = self._archs()
        widths = np.array([sum(self.search_space.parse(a)) for a in archs], dtype=np.float64)
        return ZeroCostTable(archs, ("width_sum",), widths[:, None], None, "tinybench widths",
                             {"width_sum": False})

    def encoders(self):
        return {"onehot": lambda arch: np.eye(len(WIDTHS), dtype=np.float32)[[WIDTHS.index(w) for w in arch]].ravel()}


# =========================================================================== the tests


def test_registry_finds_benchmarks_by_name_alias_and_space():
    assert {"nb201", "nb101", "nb301", "tinybench"} <= set(available_benchmarks())
    assert get_benchmark("darts") is get_benchmark("nb301") and get_benchmark("nb301").space == "darts"
    assert get_benchmark("NAS-Bench-201") is get_benchmark("nb201")
    assert get_benchmark("tinyconv") is get_benchmark("tinybench")
    with pytest.raises(ConfigError, match=r"unknown benchmark 'nb999'; available: .*nb201"):
        get_benchmark("nb999")


def test_datasets_come_from_the_one_table_and_unknown_ones_are_refused_in_one_line():
    assert get_benchmark("nb201").dataset("in16") == "ImageNet16-120"
    assert get_benchmark("nb201").dataset("cifar10-valid") == "cifar10"
    with pytest.raises(ConfigError, match=r"^unknown nb101 dataset 'c100'; valid: cifar10$"):
        get_benchmark("nb101").dataset("c100")
    with pytest.raises(RuntimeError, match="not a canonical name"):
        register_benchmark("bad")(type("Bad", (TinyBench,), {"datasets": ("c10",)}))


@pytest.mark.parametrize("name", ["nb101", "nb301", "tinybench"])
def test_missing_data_is_refused_in_one_line(name):
    bench = get_benchmark(name)
    assert not bench.supports("objective")
    with pytest.raises(ConfigError) as excinfo:
        bench.objective("cifar10")
    message = str(excinfo.value)
    assert message.startswith(f"{name}: no simulated training (") and "search needs" in message
    assert "\n" not in message


def test_nb201_serves_every_capability():
    bench = get_benchmark("nb201")
    assert all(bench.supports(c) for c in ("lowfidelity", "zerocost", "objective"))
    assert bench.zerocost_sources() == ("naslib", "nb201-table") and set(bench.encoders()) == {"onehot", "path", "graph"}
    from gradsign.benchmarks.literature import LITERATURE_SPEARMAN_NB201

    assert bench.published_spearman("gradsign", "c10") == LITERATURE_SPEARMAN_NB201["gradsign"]["cifar10"]
    assert get_benchmark("tinybench").published_spearman("gradsign", "c10") is None


def test_toy_benchmark_runs_through_evaluate(tmp_path):
    import gradsign

    result = gradsign.evaluate("tinyconv", "c10", ["params"], sample=20, n_bootstrap=200, output=tmp_path)
    assert isinstance(result, gradsign.EvaluationResult)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary == json.loads(result.to_json())
    assert summary["space"] == "tinyconv" and summary["n_archs"] == 20 and summary["dataset"] == "cifar10"
    # the toy's accuracy is increasing in the parameter count, so `params` ranks it perfectly
    frame = result.to_frame().set_index("proxy")
    assert frame.at["params", "spearman"] == pytest.approx(1.0) == summary["proxies"]["params"]["spearman"]
    assert summary["literature_source"] is None and frame.at["params", "literature_spearman"] is None
    archs = [TinyConvSpace().parse(a) for a in result.archs]
    assert list(result.scores_frame()["params"]) == [tiny_params(a) for a in archs]


def test_evaluate_on_too_few_cells_says_why_its_figures_are_nan(tmp_path):
    import gradsign

    notes: list[str] = []
    result = gradsign.evaluate("tinyconv", "c10", ["params"], sample=3, n_bootstrap=200, note=notes.append)
    row = result.to_frame().set_index("proxy").loc["params"]
    assert row["spearman"] == pytest.approx(1.0) and math.isnan(row["spearman_lo"])
    assert notes == ["3 cell(s): a Spearman or Kendall needs 3 cells with finite scores and its confidence interval 5 "
                     "(NaN / no interval below that), and top-10% is the best cell alone; hundreds of cells give "
                     "figures worth reporting"]
    notes.clear()
    gradsign.evaluate("tinyconv", "c10", ["params"], sample=5, n_bootstrap=200, note=notes.append)
    assert notes == []


@pytest.mark.parametrize("kwargs, needle", [
    ({"sample": 0}, "--sample must be a positive integer or 'all', got 0"),
    ({"n_bootstrap": 10}, "--bootstrap must be an integer of at least"),
    ({"proxies": "nope"}, "unknown proxy"),
    ({"dataset": "c100"}, "unknown tinybench dataset 'c100'; valid: cifar10"),
    ({"backend": "inprocess", "workers": 2}, "--workers needs --backend process or ray"),
])
def test_evaluate_checks_its_arguments_before_any_work(kwargs, needle, tmp_path):
    import gradsign

    args = {"proxies": ["params"], "sample": 5, **kwargs}
    with pytest.raises(ConfigError, match=re.escape(needle)):
        gradsign.evaluate("tinyconv", args.pop("dataset", "cifar10"), args.pop("proxies"), **args)


def test_toy_benchmark_runs_through_predictor_evaluation(tmp_path):
    import gradsign

    ev = gradsign.evaluate_predictors("tinyconv", "cifar10", predictors="lowfidelity,zc:width_sum,forest",
                                      train_sizes="0,10,20", test_size=30, trials=2, zc_source="tiny-table",
                                      n_bootstrap=100, output=tmp_path)
    assert isinstance(ev, gradsign.PredictorEvaluation)
    s = ev.to_frame()
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(ev.to_json())
    assert ev.meta["space"] == "tinyconv" and ev.meta["pool_size"] == len(TinyConvSpace())
    assert set(s["predictor"]) == {"lowfidelity", "zc:width_sum", "forest"}
    assert set(s.loc[s["predictor"] == "forest", "train_size"]) == {10, 20}
    # the low-fidelity accuracy is a monotone function of the accuracy: a perfect ranking
    assert (s.loc[s["predictor"] == "lowfidelity", "spearman"] == 1.0).all()
    assert np.isfinite(s["spearman"]).all()
    with pytest.raises(ConfigError, match="unknown zero-cost source 'naslib' for tinybench; valid: auto, store, "
                                          "tiny-table, none"):
        gradsign.evaluate_predictors("tinyconv", "cifar10", zc_source="naslib")
    with pytest.raises(ConfigError, match="--train-sizes must be comma-separated non-negative integers"):
        gradsign.evaluate_predictors("tinyconv", "cifar10", train_sizes="0,ten")


@pytest.mark.slow
def test_toy_benchmark_is_a_command_line_plugin(tmp_path):
    out = tmp_path / "eval"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("GRADSIGN_PLUGINS", None)
    r = subprocess.run([sys.executable, "-m", "gradsign.cli.main", "--plugin", str(Path(__file__)), "evaluate",
                        "--space", "tinyconv", "--proxies", "params", "--sample", "12", "--no-store",
                        "--no-progress", "--bootstrap", "200", "--output", str(out)],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["space"] == "tinyconv" and summary["proxies"]["params"]["spearman"] == pytest.approx(1.0)


def test_benchmarks_command_lists_every_benchmark_and_what_it_lacks(capsys):
    from gradsign.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["benchmarks"])
    out = capsys.readouterr().out
    assert (exc.value.code or 0) == 0
    for name in ("nb201", "nb101", "nb301", "tinybench"):
        assert name in out
    assert "tinybench: no simulated training (it records no training times)" in out


def test_a_benchmark_without_description_or_docstring_is_listed(capsys):
    from gradsign.benchmarks import registry
    from gradsign.benchmarks.registry import describe_benchmarks

    register_benchmark("tinybench_bare")(type("Bare", (TinyBench,), {"description": "", "__doc__": None}))
    try:
        row = next(r for r in describe_benchmarks() if r["name"] == "tinybench_bare")
        assert row["description"] == ""  # was an IndexError (the docs' abridged example has neither)
    finally:
        registry._CLASSES.pop("tinybench_bare")
        registry._INSTANCES.pop("tinybench_bare", None)


@pytest.mark.data
def test_nb201_objective_is_the_search_oracle_of_the_dataset(data_dir):
    from gradsign.benchmarks.nb201 import NUM_ARCHS
    from gradsign.search.oracle import NB201_SETTINGS

    oracle = get_benchmark("nb201").objective("c100", data_dir)
    assert oracle.num_archs == NUM_ARCHS and oracle.default_budget == NB201_SETTINGS["cifar100"].default_budget
