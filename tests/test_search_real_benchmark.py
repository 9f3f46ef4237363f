"""Searching the small real benchmark: scripts/search_real_benchmark.py and the Optuna path on nb201_small.

The benchmark folder is synthetic (runs written through the project's TrainingStore,
proxy scores made up), pointed to by GRADSIGN_REAL_BENCHMARK as in
tests/test_real_benchmark.py: no data files, no committed results.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from benchmark_scripts import load_benchmark_script

from gradsign.benchmarks.registry import get_benchmark
from gradsign.search import SearchResults
from gradsign.spaces import get_space
from gradsign.proxies import get_proxy
from gradsign.training import SMALL_CIFAR10, TrainingRun, TrainingStore
from gradsign.training.proxy_table import ProxyScoreTable

SPACE = get_space("nb201")
ARCHS = [SPACE.to_string(a) for a in SPACE.sample(40, 1)]
#: every proxy the scripts use by default: gradsign, synflow and the members of `recommended`
PROXIES = ("gradsign", "synflow", *get_proxy("recommended").members)


def _quality(arch: str) -> float:
    return 40.0 + 1.5 * arch.count("conv_3x3") + 0.8 * arch.count("conv_1x1") - 2.0 * arch.count("none")


@pytest.fixture()
def bench_dir(tmp_path, monkeypatch):
    folder = tmp_path / "rb"
    folder.mkdir()
    store = TrainingStore(tmp_path / "runs.sqlite")
    rng = np.random.default_rng(0)
    epochs = SMALL_CIFAR10.epochs
    for arch in ARCHS:
        for seed in (1, 2):
            final = _quality(arch) + 0.3 * rng.standard_normal()
            store.put("nb201", TrainingRun(
                arch=arch, seed=seed, recipe_key=SMALL_CIFAR10.key(), train_loss=[2.0] * epochs,
                val_accuracy=list(np.linspace(20.0, final, epochs)), test_accuracy=final + 0.1 * rng.standard_normal(),
                epoch_seconds=[2.0] * epochs, seconds=16.0 + arch.count("conv")), SMALL_CIFAR10.to_dict(),
                {"torch": torch.__version__})
    store.export_csv(folder / "nb201_small_cifar10.csv.gz")
    store.close()
    scores = ProxyScoreTable()
    for arch in ARCHS:
        for k, proxy in enumerate(PROXIES):
            # informative but noisy made-up scores; synflow is inverted, so it misleads the search
            value = _quality(arch) * (-1.0 if proxy == "synflow" else 1.0) + (k + 1) * rng.standard_normal()
            scores.rows[(arch, proxy)] = (float(value), 0.05 * (k + 1))
    scores.save(folder / "proxy_scores_seed0.csv.gz")
    monkeypatch.setenv("GRADSIGN_REAL_BENCHMARK", str(folder))
    return folder


@pytest.fixture(scope="module")
def search_script():
    return load_benchmark_script("search_real_benchmark.py")


def test_search_script_writes_every_setting_on_a_partial_table(search_script, bench_dir, tmp_path, capsys):
    out = tmp_path / "search"
    argv = ["--runs", "3", "--budget", "120s", "--algos", "random,rea", "--output", str(out)]
    assert search_script.main(argv) == 0
    printed = capsys.readouterr().out
    text = (out / "table.md").read_text()
    assert text in printed
    assert f"{len(ARCHS)} archs trained under seeds 1, 2 (recipe {SMALL_CIFAR10.key()}" in text
    labels = ["random", "rea", *(f"{a}+{p}(K=10, charged)" for a in ("random", "rea")
                                 for p in ("gradsign", "synflow", "recommended"))]
    for label in labels:
        assert f"| {label} | 3 |" in text
    # the recommended ensemble resolved to its members' as-trained scores and their summed seconds
    members = len(get_proxy("recommended").members)
    summed = sum(0.05 * (k + 1) for k in range(2, 2 + members))  # the members' seconds (fixture: 0.05 * (k + 1))
    assert f"recommended {summed:.3f} s" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["archs"] == len(ARCHS) and summary["recipe_key"] == SMALL_CIFAR10.key()
    assert summary["command"] == "scripts/search_real_benchmark.py " + " ".join(argv)
    assert summary["budget"] == {"kind": "seconds", "amount": 120.0} and len(summary["settings"]) == len(labels)
    assert (out / "trajectory_random.png").exists() and (out / "trajectory_rea.png").exists()
    assert len(list(out.glob("*.json"))) == len(labels) + 1
    charged = SearchResults.load(out / "rea+gradsign(K=10_charged).json")
    trained = set(get_benchmark("nb201_small").ground_truth("cifar10").archs)
    for run in charged.runs:
        assert run.proxy_seconds == pytest.approx(0.05 * run.proxy_scored)  # gradsign's seconds, every new candidate
        assert run.charged_seconds <= 120.0 and run.arch in trained
    # same command -> same numbers
    first = [r["mean"] for r in summary["settings"]]
    assert search_script.main(argv) == 0
    assert [r["mean"] for r in json.loads((out / "summary.json").read_text())["settings"]] == first


def test_search_script_errors_in_one_line(search_script, bench_dir, tmp_path, capsys):
    assert search_script.main(["--runs", "1", "--proxies", "snip", "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "snip not scored" in err and err.count("\n") == 1
    (tmp_path / "file").write_text("")
    assert search_script.main(["--runs", "1", "--output", str(tmp_path / "file")]) == 2
    assert "--output" in capsys.readouterr().err


def test_optuna_on_nb201_small_lands_off_sample_trials_on_the_nearest_trained_cell(bench_dir):
    pytest.importorskip("optuna")
    from gradsign.integrations.optuna import nb201_arch, nb201_params

    script = load_benchmark_script("optuna_nb201.py")
    objective = get_benchmark("nb201_small").objective("cifar10")
    to_row = script.nb201_small_row(objective)
    for arch in ARCHS[:5]:  # a trained cell is its own row
        assert objective.name_of(to_row(nb201_params(SPACE.parse(arch).index()))) == arch
    outside = next(i for i in range(15_625) if SPACE.to_string(nb201_arch(nb201_params(i))) not in ARCHS)
    params = nb201_params(outside)
    row = to_row(params)
    distance = (objective.encodings != np.asarray(SPACE.to_choices(nb201_arch(params)))).sum(axis=1)
    assert distance[row] == distance.min() >= 1  # the nearest trained cell, and always the same one
    assert to_row(dict(params)) == row and objective.name_of(row) in ARCHS


def test_optuna_script_on_nb201_small(bench_dir, tmp_path, capsys):
    pytest.importorskip("optuna")
    script = load_benchmark_script("optuna_nb201.py")
    out = tmp_path / "optuna"
    argv = ["--benchmark", "nb201_small", "--runs", "2", "--budget", "120", "--output", str(out)]
    assert script.main(argv) == 0
    text = (out / "table.md").read_text()
    assert text in capsys.readouterr().out
    for label in ("optuna-tpe", "optuna-tpe+gradsign(K=10, charged)", "optuna-tpe+recommended(K=10, charged)"):
        assert f"| {label} | 2 |" in text
    assert f"{len(ARCHS)} NB201 cells trained under seeds 1, 2" in text and "nearest trained cell" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["benchmark"] == "nb201_small" and summary["k"] == 10 and summary["archs"] == len(ARCHS)
    assert (out / "trajectory.png").exists()
    screened = SearchResults.load(out / "optuna-tpe+recommended(K=10_charged).json")
    trained = set(ARCHS)
    assert all(r.arch in trained and r.proxy_seconds > 0 and r.charged_seconds <= 120 for r in screened.runs)
    first = [r["mean"] for r in summary["settings"]]
    assert script.main(argv) == 0  # seeded: the same numbers again
    assert [r["mean"] for r in json.loads((out / "summary.json").read_text())["settings"]] == first
