"""The small real benchmark as data (issue #25): training tables, proxy tables, the registered benchmark.

Everything here is built from synthetic runs written through the project's own
TrainingStore (the official export format), never from committed results.
"""

from __future__ import annotations

import csv
import json
import gzip
import io
import math

import numpy as np
import pytest
import torch

import gradsign
from gradsign.benchmarks.registry import get_benchmark
from gradsign.errors import DataError
from gradsign.spaces import get_space
from gradsign.training import SMALL_CIFAR10, TrainingRun, TrainingStore
from gradsign.training.proxy_table import ProxyScoreTable
from gradsign.training.scoring import proxy_minibatch, score_as_trained
from gradsign.training.table import TrainingTable
from gradsign.training.trainer import TrainingData

SPACE = get_space("nb201")
ARCHS = [SPACE.to_string(a) for a in SPACE.sample(30, 0)]


def _quality(arch: str) -> float:
    """A made-up 'true' accuracy: convolutions help, as they tend to."""
    return 40.0 + 1.5 * arch.count("conv_3x3") + 0.8 * arch.count("conv_1x1") - 2.0 * arch.count("none")


def _write_export(path, archs=ARCHS, seeds=(1, 2), noise=0.3, drop=()):
    store = TrainingStore(path.with_suffix(".sqlite"))
    rng = np.random.default_rng(0)
    epochs = SMALL_CIFAR10.epochs
    for arch in archs:
        for seed in seeds:
            if (arch, seed) in drop:
                continue
            final = _quality(arch) + noise * rng.standard_normal()
            curve = list(np.linspace(20.0, final, epochs))
            run = TrainingRun(arch=arch, seed=seed, recipe_key=SMALL_CIFAR10.key(), train_loss=[2.0] * epochs,
                              val_accuracy=curve, test_accuracy=final + 0.1 * rng.standard_normal(),
                              epoch_seconds=[1.0] * epochs, seconds=10.0 + arch.count("conv"))
            store.put("nb201", run, SMALL_CIFAR10.to_dict(), {"torch": torch.__version__})
    store.export_csv(path)
    store.close()
    return path


@pytest.fixture()
def bench_dir(tmp_path, monkeypatch):
    folder = tmp_path / "rb"
    folder.mkdir()
    _write_export(folder / "nb201_small_cifar10.csv.gz", drop={(ARCHS[0], 2)})
    table = ProxyScoreTable()
    for i, arch in enumerate(ARCHS):
        table.rows[(arch, "params")] = (float(arch.count("conv")), 0.01)
        table.rows[(arch, "jacob_cov")] = (float(-i), 0.02)  # an arbitrary score, lower-is-better flag off
    table.save(folder / "proxy_scores_seed0.csv.gz")
    monkeypatch.setenv("GRADSIGN_REAL_BENCHMARK", str(folder))
    return folder


def test_training_table_reads_an_export_and_keeps_complete_archs(tmp_path):
    path = _write_export(tmp_path / "t.csv.gz", drop={(ARCHS[0], 2)})
    table = TrainingTable.load(path)
    assert table.seeds == (1, 2) and len(table.archs) == 30 and table.n_runs == 59
    assert math.isnan(table.test[table.archs.index(ARCHS[0]), 1])
    done = table.complete()
    assert len(done.archs) == 29 and ARCHS[0] not in done.archs and np.isfinite(done.test).all()
    assert done.val_curve.shape == (29, 2, SMALL_CIFAR10.epochs)
    ceiling = done.noise_ceiling()
    assert ceiling["n_archs"] == 29 and ceiling["spearman"] > 0.8  # small seed noise against a wide spread
    assert table.cpu_hours() == pytest.approx(sum(10.0 + a.count("conv") for a in ARCHS) * 2 / 3600 - (
        10.0 + ARCHS[0].count("conv")) / 3600)


def test_training_table_refuses_bad_files_in_one_line(tmp_path):
    bad = tmp_path / "bad.csv.gz"
    bad.write_bytes(gzip.compress(b"arch,score\nx,1\n"))
    with pytest.raises(DataError, match="not a training export"):
        TrainingTable.load(bad)
    with pytest.raises(DataError, match="no such training export"):
        TrainingTable.load(tmp_path / "absent.csv.gz")
    good = _write_export(tmp_path / "g.csv")
    rows = list(csv.reader(io.StringIO(good.read_text())))
    rows[1][5] = "150.0"  # one run's test accuracy, not a percentage
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    (tmp_path / "b.csv").write_text(out.getvalue())
    with pytest.raises(DataError, match=r"line 2 .*percentages"):
        TrainingTable.load(tmp_path / "b.csv")
    with pytest.raises(DataError, match="no runs of space 'nb101'"):
        TrainingTable.load(good, space="nb101")


def test_proxy_score_table_round_trips_deterministically(tmp_path):
    table = ProxyScoreTable({("b", "p"): (1.5, 0.1), ("a", "p"): (-math.inf, 0.2), ("a", "q"): (math.nan, 0.0)})
    table.save(tmp_path / "s.csv.gz")
    first = (tmp_path / "s.csv.gz").read_bytes()
    back = ProxyScoreTable.load(tmp_path / "s.csv.gz")
    assert back.rows[("b", "p")] == (1.5, 0.1) and back.rows[("a", "p")][0] == -math.inf
    assert math.isnan(back.rows[("a", "q")][0]) and back.proxies == ["p", "q"]
    back.save(tmp_path / "s.csv.gz")
    assert (tmp_path / "s.csv.gz").read_bytes() == first  # no time stamp, sorted rows
    scores, seconds = back.column("p", ["a", "b", "c"])
    assert scores[1] == 1.5 and math.isnan(scores[2]) and back.missing("q", ["a", "b"]) == 1
    (tmp_path / "dup.csv").write_text("arch,proxy,score,seconds\na,p,1,0\na,p,2,0\n")
    with pytest.raises(DataError, match="appears twice"):
        ProxyScoreTable.load(tmp_path / "dup.csv")


def test_scoring_as_trained_uses_the_recipe_network_and_is_reproducible():
    torch.manual_seed(123)
    data = TrainingData(torch.randn(100, 3, 16, 16), torch.randint(0, 10, (100,)), None, None, None, None, 10, "toy")
    batch = proxy_minibatch(data, 16, seed=0)
    assert torch.equal(batch[0], proxy_minibatch(data, 16, seed=0)[0])
    state = torch.get_rng_state()
    arch = SPACE.parse(ARCHS[1])
    v1, s1 = score_as_trained(SPACE, arch, SMALL_CIFAR10, data, ["params", "meco_opt", "gradsign"], batch=batch)
    v2, _ = score_as_trained(SPACE, arch, SMALL_CIFAR10, data, ["params", "meco_opt", "gradsign"], batch=batch)
    assert v1 == v2 and set(s1) == {"params", "meco_opt", "gradsign"}
    assert torch.equal(state, torch.get_rng_state())  # the caller's RNG is untouched
    small = SPACE.build_network(arch, 10, C=SMALL_CIFAR10.width, N=SMALL_CIFAR10.cells_per_stage)
    assert v1["params"] == sum(p.numel() for p in small.parameters())  # the recipe's network, not NB201's


def test_the_registered_benchmark_serves_ground_truth_zero_cost_and_search(bench_dir):
    bench = get_benchmark("nb201_small")
    assert get_benchmark("real") is bench and bench.space == "nb201"
    gt = bench.ground_truth("c10")
    assert len(gt.archs) == 29 and ARCHS[0] not in gt.archs  # only archs with both seeds
    acc = gt.accuracy(gt.archs)
    truth = np.array([_quality(a) for a in gt.archs])
    assert np.corrcoef(acc, truth)[0, 1] > 0.95
    assert gt.noise_ceiling(gt.archs)["n_archs"] == 29
    with pytest.raises(DataError, match="not in the trained table"):
        gt.accuracy([ARCHS[0]])
    low = bench.lowfidelity("cifar10")
    assert low.archs == gt.archs and np.all(low.seconds == 2.0) and "after epoch 2 of 8" in low.description
    zc = bench.zerocost("as-trained", "cifar10")
    assert zc.names == ("jacob_cov", "params") and zc.values.shape == (29, 2)
    assert zc.seconds[0, 1] == 0.01
    objective = bench.objective("cifar10")
    assert objective.num_archs == 29 and objective.default_budget > 0
    run = gradsign.search.run_search(gradsign.search.get_search("rea"), objective, budget=200.0, seed=0)
    assert run.arch in gt.archs and run.test == pytest.approx(acc[gt.archs.index(run.arch)])
    # The whole-table Spearman of a proxy against it, through the ordinary evaluation API.
    names = [r["name"] for r in gradsign.describe_benchmarks()] if hasattr(gradsign, "describe_benchmarks") else []
    assert not names or "nb201_small" in names


def test_the_benchmark_refuses_a_missing_or_tiny_table_in_one_line(tmp_path, monkeypatch):
    bench = get_benchmark("nb201_small")
    monkeypatch.setenv("GRADSIGN_REAL_BENCHMARK", str(tmp_path))
    with pytest.raises(DataError, match="no table at .*GRADSIGN_REAL_BENCHMARK"):
        bench.ground_truth("cifar10")
    _write_export(tmp_path / "nb201_small_cifar10.csv.gz", archs=ARCHS[:5])
    with pytest.raises(DataError, match="has 5 archs trained under every seed; at least 10"):
        bench.objective("cifar10")
    with pytest.raises(Exception, match="dataset"):
        bench.ground_truth("cifar100")


def test_named_proxies_and_ensembles_search_the_benchmark_from_its_own_scores(bench_dir):
    bench = get_benchmark("nb201_small")
    objective = bench.objective("cifar10")
    single = bench.proxy_provider("params")
    assert single.score(0) == float(objective.name_of(0).count("conv")) and single.seconds(0) == 0.01
    ens = bench.proxy_provider("params+jacob_cov")
    assert ens.member_scores(3).shape == (2,) and ens.seconds(3) == pytest.approx(0.03)
    assert ens.aggregate(np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 3.0]])).argmax() == 2
    with pytest.raises(DataError, match="synflow not scored .*score_real_benchmark.py --proxies synflow"):
        bench.proxy_provider("synflow")
    # The typed API: a named proxy on this benchmark reads the benchmark's scores, charged.
    report = gradsign.search("rea", space="nb201_small", proxy="params+jacob_cov", runs=3, budget="150s",
                             charge_proxy=True, progress=False)
    assisted = [r for r in report.results if r.proxy is not None][0]
    assert len(assisted.runs) == 3 and all(run.proxy_seconds > 0 for run in assisted.runs)
    trained = set(bench.ground_truth("cifar10").archs)
    assert all(run.arch in trained for r in report.results for run in r.runs)


def test_a_score_the_proxy_cannot_give_ranks_last_in_a_simulated_search(bench_dir):
    # jacob_cov is NaN on a cell whose output ignores its input: scored, undefined. The simulated
    # search ranks it last (as the store-backed and the measured providers do) instead of stopping
    # with "no score for cell ... score it first", which would be untrue.
    table = ProxyScoreTable.load(bench_dir / "proxy_scores_seed0.csv.gz")
    table.rows[(ARCHS[5], "jacob_cov")] = (math.nan, 0.02)
    table.save(bench_dir / "proxy_scores_seed0.csv.gz")
    bench = get_benchmark("nb201_small")
    objective = bench.objective("cifar10")
    provider = bench.proxy_provider("jacob_cov")
    undefined = [objective.name_of(i) for i in range(len(provider))].index(ARCHS[5])
    assert provider.score(undefined) == -math.inf and provider.seconds(undefined) == pytest.approx(0.02)
    finite = [provider.score(i) for i in range(len(provider)) if i != undefined]
    assert all(math.isfinite(v) for v in finite)
    # Ten candidates per step, one of 29 cells undefined: it is never the one trained.
    report = gradsign.search("random", space="nb201_small", proxy="jacob_cov", runs=3, budget="150s",
                             charge_proxy=True, progress=False)
    assisted = [r for r in report.results if r.proxy is not None][0]
    assert len(assisted.runs) == 3
    assert all(run.evaluations > 0 and run.proxy_scored > 0 and run.arch != ARCHS[5] for run in assisted.runs)
    assert report.summary["proxy_nonfinite_cells_seen"] == 1  # the search says one cell ranked last


def test_the_summary_script_reports_the_ceiling_and_every_proxy(bench_dir, tmp_path, capsys, monkeypatch):
    from benchmark_scripts import load_benchmark_script

    script = load_benchmark_script("real_benchmark_report.py")
    out = tmp_path / "out"
    assert script.main(["--output", str(out), "--resamples", "100", "--extra", ""]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["archs"] == 29 and summary["runs"] == 58 and summary["seeds"] == [1, 2]
    ceiling = summary["noise_ceiling_test"]
    assert ceiling["n_archs"] == 29 and ceiling["two_seed_reliability"] == pytest.approx(
        2 * ceiling["spearman"] / (1 + ceiling["spearman"]))
    by_name = {r["proxy"]: r for r in summary["proxies"]}
    # params counts convolutions here, as the made-up truth rewards them: a strong, positive proxy.
    assert by_name["params"]["spearman"] > 0.5 and set(by_name) == {"params", "jacob_cov"}
    assert (out / "noise_and_proxies.png").stat().st_size > 0 and (out / "learning_curves.png").exists()
    assert "| params |" in (out / "summary.md").read_text()
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("GRADSIGN_REAL_BENCHMARK", str(tmp_path / "empty"))
    assert script.main(["--output", str(out)]) == 2
    assert "no table at" in capsys.readouterr().err


def test_the_real_benchmark_joins_the_leave_one_benchmark_out_set_once_complete(bench_dir):
    from dataclasses import replace

    from benchmark_scripts import load_benchmark_script

    se = load_benchmark_script("select_ensemble.py")
    src = next(s for s in se.BENCHMARKS if s.name == "nb201-small")
    assert src.role == "lobo" and src.min_archs == 500
    assert se.available(src) == "nb201-small left out: 29 of the 500 archs it needs so far"
    ready = replace(src, min_archs=29)
    assert se.available(ready) is None
    bench, seconds, description = se.load_benchmark(ready)
    assert len(bench.archs) == 29 and set(bench.proxies) == {"params", "jacob_cov"}
    assert seconds["params"] == pytest.approx(0.01) and "mean of seeds" in description
    # Scores go back to each proxy's own definition (the selection orients them itself).
    zc = get_benchmark("nb201_small").zerocost("as-trained", "cifar10")
    assert np.array_equal(bench.scores["params"], zc.values[:, zc.names.index("params")])
    # The predictors' few-shot comparison runs on it too: its cells are NB201's, its low fidelity its own.
    trials, meta = se.predictor_trials(ready, bench, (5,), 10, 2, 0, "linear")
    assert meta["space"] == "nb201" and set(trials["benchmark"]) == {bench.name}
    assert {"linear", "lowfidelity", "omni (no low-fidelity)"} <= set(trials["rule"])


def test_predictor_reports_name_the_benchmark_not_only_its_space(bench_dir, tmp_path):
    """nb201_small trains NB201 cells: its predictor tables and plots say nb201_small, not bare nb201."""
    from gradsign.workflows.predictors.protocol import evaluate_predictors
    from gradsign.workflows.predictors.report import summary_markdown
    from gradsign.workflows.predictors.sources import build_problem

    problem = build_problem("nb201_small", "cifar10", zc_source="as-trained", lowfidelity=False)
    assert problem.benchmark == "nb201_small" and problem.features.space_name == "nb201"
    ev = evaluate_predictors(problem, ["zc:params"], train_sizes=[0], test_size=20, trials=1, progress=False)
    assert ev.meta["benchmark"] == "nb201_small" and ev.meta["space"] == "nb201"
    assert summary_markdown(ev).startswith("nb201_small (nb201 cells) / cifar10: 1 trials")
    # the report reads a summary CSV alone (no JSON) through the Markdown's first line: both names come back
    from gradsign.reports.loaders import _predictor_meta_from_md
    from gradsign.workflows.predictors.report import write_outputs

    write_outputs(ev, tmp_path / "pred")
    meta = _predictor_meta_from_md(tmp_path / "pred" / "summary.csv")
    assert (meta["benchmark"], meta["space"], meta["dataset"]) == ("nb201_small", "nb201", "cifar10")


def test_bohb_notes_name_the_benchmark_s_own_schedule(bench_dir):
    """BOHB's note says what one evaluation is: the recipe's 8 epochs here, NB201's 12 there, nothing assumed
    for a user's objective."""
    from types import SimpleNamespace

    from gradsign.search import CallableObjective
    from gradsign.search.bohb import BOHB
    from gradsign.spaces import get_space

    objective = get_benchmark("nb201_small").objective("cifar10")
    assert objective.training_epochs == 8
    note = BOHB().notes(SimpleNamespace(objective=objective))[0]  # notes read the study's objective only
    assert "observes the 8-epoch result and pays 8 epochs again" in note
    user = CallableObjective(get_space("nb201"), lambda arch: 50.0)
    assert "the objective's one result" in BOHB().notes(SimpleNamespace(objective=user))[0]
