"""scripts/search_proxy_assisted.py: the GradSign-paper search table from stored proxy scores.

The store here is filled with a data-free proxy's key (``params``) whose values are
the NB201 table's own parameter counts, so no network is built; what is under test
is the script's plumbing: it refuses an incomplete store with the command to run,
charges the stored seconds, and writes the three tables, the plots and the JSONs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import json

import pytest
from benchmark_scripts import load_benchmark_script

from gradsign.storage import ResultsStore
from gradsign.workflows.scoring import Scorer, ScoringSetup

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def script():
    return load_benchmark_script("search_proxy_assisted.py")


def _fill(store_path: Path, data_dir: Path, n: int, proxy: str = "params", column: str = "params_m") -> None:
    """Store ``n`` cells' ``proxy`` as the NB201 table's ``column`` (0.5 s each): a stand-in score."""
    from gradsign.benchmarks.nb201 import NB201Table

    table = NB201Table.load(data_dir)
    values = np.asarray(table.column(column), dtype=np.float64)
    scorer = Scorer(ScoringSetup(space="nb201", dataset="cifar10", proxies=(proxy,)), None)
    key = scorer.keys[proxy]
    with ResultsStore(store_path) as store:
        store.put_many(key, [(table.arch(i), float(values[i]), 0.5) for i in range(n)])


def test_refuses_an_incomplete_store_with_the_command(script, data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRADSIGN_DATA", str(data_dir))
    store = tmp_path / "s.sqlite"
    _fill(store, data_dir, 100)
    assert script.main(["--proxies", "params", "--store", str(store), "--runs", "1", "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "params for 100 of 15,625" in err and "--precompute" in err and err.count("\n") == 1


def test_an_ensemble_needs_every_member_on_every_cell(script, data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRADSIGN_DATA", str(data_dir))
    store = tmp_path / "s.sqlite"
    _fill(store, data_dir, 15_625)
    _fill(store, data_dir, 50, proxy="flops", column="flops_m")
    assert script.main(["--proxies", "params+flops", "--store", str(store), "--runs", "1",
                        "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "params+flops for 50 of 15,625" in err and err.count("\n") == 1
    assert ("gradsign store import results/nb201_cifar10_allcells_seed0_bs64_params.csv.gz "
            "results/nb201_cifar10_allcells_seed0_bs64_flops.csv.gz") in err


@pytest.mark.slow
def test_writes_tables_plots_and_runs(script, data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRADSIGN_DATA", str(data_dir))
    store = tmp_path / "s.sqlite"
    _fill(store, data_dir, 15_625)
    out = tmp_path / "o"
    assert script.main(["--proxies", "params", "--store", str(store), "--runs", "3", "--algos", "random,rea",
                        "--output", str(out)]) == 0
    text = (out / "table.md").read_text()
    assert "params 0.50 s" in text
    for label in ("random", "rea", "random+params(K=10, charged)", "rea+params(K=10, free)"):
        assert f"| {label} |" in text and f"| {label} (cifar10) |" in text
    assert text.count("| rea+params(K=10, charged) | ") == 2  # accuracy table and gain table
    # a note that holds for some settings only names them: "NOT charged" is the free settings' alone
    not_charged = [line for line in text.splitlines() if "NOT charged" in line]
    assert not_charged == ["* every setting marked 'free': proxy seconds were NOT charged to "
                           "the budget (the GradSign / Abdelfattah et al. setting); they are recorded in proxy_seconds"]
    assert "* a cell trained twice is paid twice (no training cache), as in NB201's scripts" in text  # every setting's
    assert (out / "trajectory_random.png").exists() and (out / "trajectory_rea.png").exists()
    assert len(list(out.glob("*.json"))) == 7  # one per setting + summary.json
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == 3 and len(summary["settings"]) == 6
    free = [r for r in summary["settings"] if r["proxy"] == "params" and not r["charge_proxy"]]
    assert len(free) == 2 and all(r["candidates"] == 10 and r["runs"] == 3 for r in free)
    assert {"cifar10", "cifar100", "ImageNet16-120"} <= set(free[0]["reported"])
    # charged runs pay 0.5 s per scored cell out of the same 12,000 s
    from gradsign.search import SearchResults

    charged = SearchResults.load(out / "random+params(K=10_charged).json")
    assert all(r.proxy_seconds == pytest.approx(0.5 * r.proxy_scored) for r in charged.runs)
    assert all(r.charged_seconds <= 12_000 for r in charged.runs)
    # saved without trajectories: loading works, plotting them says why it cannot
    from gradsign.errors import ConfigError

    with pytest.raises(ConfigError, match="without trajectories"):
        charged.trajectory()


@pytest.mark.slow
def test_an_ensemble_searches_and_is_ranked_over_the_whole_space(script, data_dir, tmp_path, monkeypatch):
    from scipy import stats

    from gradsign.benchmarks.nb201 import NB201Table
    from gradsign.proxies.ensemble import rank_aggregate
    from gradsign.search import SearchResults, nb201_oracle

    monkeypatch.setenv("GRADSIGN_DATA", str(data_dir))
    store = tmp_path / "s.sqlite"
    _fill(store, data_dir, 15_625)
    _fill(store, data_dir, 15_625, proxy="flops", column="flops_m")
    out = tmp_path / "o"
    assert script.main(["--proxies", "params+flops", "--store", str(store), "--runs", "2", "--algos", "random",
                        "--output", str(out)]) == 0
    text = (out / "table.md").read_text()
    assert "params+flops 1.00 s" in text  # the members' seconds, summed
    # the ranking row is the log-rank aggregate of both members over all 15,625 cells
    table = NB201Table.load(data_dir)
    members = np.stack([table.column("params_m"), table.column("flops_m")], axis=1).astype(np.float64)
    whole = rank_aggregate(members, [True, True], "logrank")[0]
    rho = stats.spearmanr(whole, nb201_oracle(table, "cifar10").test, nan_policy="omit").statistic
    assert "| params+flops | " in text and f" {rho:.3f} | 1.00 |" in text
    charged = SearchResults.load(out / "random+params+flops(K=10_charged).json")
    assert all(r.proxy_seconds == pytest.approx(1.0 * r.proxy_scored) for r in charged.runs)


def _fill_gradsign(store_path: Path, data_dir: Path, n: int, mean_cells: int = 0) -> None:
    """Fake gradsign values (index + 1) for the first ``n`` cells, gradsign_mean = value / weights for a few."""
    from gradsign.benchmarks.nb201 import NB201Table
    from gradsign.spaces import count_nb201_prunable_weights

    table = NB201Table.load(data_dir)
    scorer = Scorer(ScoringSetup(space="nb201", dataset="cifar10", proxies=("gradsign", "gradsign_mean"),
                                 data_dir=data_dir), None)
    with ResultsStore(store_path) as store:
        store.put_many(scorer.keys["gradsign"], [(table.arch(i), i + 1.0, 0.25) for i in range(n)])
        store.put_many(scorer.keys["gradsign_mean"],
                       [(table.arch(i), (i + 1.0) / count_nb201_prunable_weights(table.arch(i)), 0.25)
                        for i in range(mean_cells)])


@pytest.mark.slow
def test_gradsign_mean_is_derived_from_stored_gradsign_and_checked(script, data_dir, tmp_path, monkeypatch):
    from gradsign.errors import ConfigError
    from gradsign.spaces import count_nb201_prunable_weights, nb201_arch_at
    from gradsign.workflows.search import StoreBackedProvider, gradsign_mean_from_gradsign
    from gradsign.workflows.search_store import benchmark_store_provider

    monkeypatch.setenv("GRADSIGN_DATA", str(data_dir))
    path = tmp_path / "s.sqlite"
    _fill_gradsign(path, data_dir, 15_625, mean_cells=3)
    with ResultsStore(path) as store:
        provider, note = script.proxy_provider("gradsign_mean", store, 64, 0)
        for i in (0, 1, 2, 7_000, 15_624):
            assert provider.score(i) == (i + 1.0) / count_nb201_prunable_weights(nb201_arch_at(i))
            assert provider.seconds(i) == 0.25
        assert "for 3 cells" in note and "difference from those: 0.0e+00" in note
        plain, none = script.proxy_provider("gradsign", store, 64, 0)
        assert none is None and plain.score(7) == 8.0
        with pytest.raises(ConfigError, match="not from 'gradsign_mean'"):
            gradsign_mean_from_gradsign(benchmark_store_provider("gradsign_mean", store, complete=False))
    # a cell without gradsign: refused, not imputed
    partial = tmp_path / "p.sqlite"
    _fill_gradsign(partial, data_dir, 15_624)
    with ResultsStore(partial) as store:
        gs = StoreBackedProvider(Scorer(ScoringSetup(proxies=("gradsign",), data_dir=data_dir), store), "gradsign")
        with pytest.raises(ConfigError, match="missing for 1 of 15,625 cells"):
            gradsign_mean_from_gradsign(gs)


@pytest.mark.slow
def test_derived_mean_warmup_settings_and_the_ranking_table(script, data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRADSIGN_DATA", str(data_dir))
    store = tmp_path / "s.sqlite"
    _fill_gradsign(store, data_dir, 15_625)
    out = tmp_path / "o"
    assert script.main(["--proxies", "gradsign_mean", "--store", str(store), "--runs", "2", "--algos", "rea",
                        "--warmup-pool", "30", "--output", str(out)]) == 0
    text = (out / "table.md").read_text()
    for label in ("rea+gradsign_mean(K=10, charged)", "rea+gradsign_mean(warmup=30, charged)",
                  "rea+gradsign_mean(warmup=30, free)"):
        assert f"| {label} |" in text
    assert len(list(out.glob("*.json"))) == 6  # one per setting + summary.json
    assert "gradsign_mean = stored gradsign / Conv2d+Linear weight count" in text and "for 0 cells" in text
    # the ranking section: one row per proxy, with the mean seconds charged per cell
    row = next(line for line in text.splitlines() if line.startswith("| gradsign_mean | "))
    observed, reported, seconds = (float(c) for c in row.strip("| ").split(" | ")[1:])
    assert -1 <= observed <= 1 and -1 <= reported <= 1 and seconds == 0.25


@pytest.fixture(scope="module")
def params_flops_store(data_dir, tmp_path_factory) -> Path:
    """A store with the stand-in params and flops scores on every NB201 cell (read-only use: shared)."""
    store = tmp_path_factory.mktemp("params_flops") / "s.sqlite"
    _fill(store, data_dir, 15_625)
    _fill(store, data_dir, 15_625, proxy="flops", column="flops_m")
    return store


@pytest.mark.slow
def test_local_ranking_report(data_dir, params_flops_store, tmp_path, capsys, monkeypatch):
    """scripts/search_local_ranking.py: space-wide and neighbourhood ranking, mutant picks, final cells."""
    from scipy import stats

    from gradsign.benchmarks.nb201 import NB201Table
    from gradsign.search import nb201_oracle

    local = load_benchmark_script("search_local_ranking.py")
    monkeypatch.setenv("GRADSIGN_DATA", str(data_dir))
    store = params_flops_store
    # bad input: one line each, nothing created
    for argv, message in ((["--setting", "rea"], "--setting needs --results"),
                          (["--cells", "0"], "--cells must be between 1 and 15,625, got 0"),
                          (["--results", str(tmp_path), "--setting", "nope"], "nope.json does not exist")):
        assert local.main(["--store", str(store), *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert local.main(["--store", str(tmp_path / "missing.sqlite")]) == 2 and "missing.sqlite" in capsys.readouterr().err
    assert not (tmp_path / "missing.sqlite").exists()
    (tmp_path / "bad.json").write_text('{"runs": [{"arch": 3}]}')
    assert local.main(["--store", str(store), "--results", str(tmp_path), "--setting", "bad"]) == 2
    assert "is not a search results file" in capsys.readouterr().err
    nb = local.neighbourhood(0)
    assert len(nb) == 25 and nb[0] == 0 and len(set(nb.tolist())) == 25

    # a fake setting whose runs ended at cells 7 (twice) and 11
    (tmp_path / "fake.json").write_text(json.dumps({"runs": [{"incumbent": 7}, {"incumbent": 11}, {"incumbent": 7}]}))
    out = tmp_path / "new" / "local.md"  # its folder is made
    assert local.main(["--store", str(store), "--proxies", "params,params+flops", "--cells", "5", "--parents", "3",
                       "--draws", "2", "--results", str(tmp_path), "--setting", "fake", "--output", str(out)]) == 0
    text = out.read_text()
    assert text == capsys.readouterr().out
    # space-wide: params against the 200-epoch test accuracy, as scipy computes it
    table = NB201Table.load(data_dir)
    oracle = nb201_oracle(table, "cifar10")
    rho = stats.spearmanr(table.column("params_m"), oracle.test, nan_policy="omit").statistic
    assert f"| params | {rho:.4f} / " in text and "| params+flops | " in text
    assert "| a random mutant | " in text and "| the best mutant (hindsight) | " in text and "1.000 |" in text
    assert "* cell 7: 2 runs" in text and "* cell 11: 1 runs" in text
    # examined: the two best cells of the space (the first ranks 1st by test among its 25), then 7 and 11
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ") and line.split(" | ")[0][2:].isdigit()]
    assert [int(r[0][2:]) for r in rows][2:] == [7, 11] and rows[0][2] == "1"
    # each proxy's top neighbour is a neighbour, never the cell itself
    for r in rows:
        cell = int(r[0][2:])
        for col in (5, 7):
            top = int(r[col].split(" ")[0])
            assert top != cell and top in local.neighbourhood(cell)


@pytest.mark.slow
def test_rea_trace_report(data_dir, params_flops_store, tmp_path, capsys, monkeypatch):
    """scripts/search_rea_trace.py: replays search_proxy_assisted's REA runs and counts what they trained."""
    from gradsign.benchmarks.nb201 import NB201Table
    from gradsign.search import nb201_oracle, run_searches
    from gradsign.workflows.search_store import benchmark_store_provider

    trace = load_benchmark_script("search_rea_trace.py")
    monkeypatch.setenv("GRADSIGN_DATA", str(data_dir))
    store = params_flops_store
    # bad input: one line each, nothing created
    for argv, message in ((["--runs", "0"], "--runs must be at least 1, got 0"),
                          (["--seed", "-1"], "--seed must be at least 0, got -1"),
                          (["--proxies", "nope"], "nope")):
        assert trace.main(["--store", str(store), *argv, "--output", str(tmp_path / "bad.md")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert not (tmp_path / "bad.md").exists()
    assert trace.main(["--store", str(tmp_path / "missing.sqlite")]) == 2 and "missing.sqlite" in capsys.readouterr().err
    assert not (tmp_path / "missing.sqlite").exists()
    _fill(tmp_path / "part.sqlite", data_dir, 10)
    assert trace.main(["--store", str(tmp_path / "part.sqlite"), "--proxies", "params"]) == 2
    assert "params for 10 of 15,625" in capsys.readouterr().err

    out = tmp_path / "new" / "trace.md"  # its folder is made
    assert trace.main(["--store", str(store), "--proxies", "params,params+flops", "--runs", "3",
                       "--output", str(out)]) == 0
    text = out.read_text()
    assert text == capsys.readouterr().out
    # the replayed runs are search_proxy_assisted's: the same final test accuracy, setting by setting
    oracle = nb201_oracle(NB201Table.load(data_dir), "cifar10")
    with ResultsStore(store, read_only=True) as s:
        params = benchmark_store_provider("params", s)
    from gradsign.search.evolution import RegularizedEvolution
    from gradsign.search.runner import run_search

    population = RegularizedEvolution().population_size
    best2 = set(np.argsort(-np.asarray(oracle.signal), kind="stable")[:2].tolist())
    for label, provider in (("rea", None), ("rea+params (K=10, charged)", params)):
        res = run_searches("rea", oracle, provider, runs=3, seed=0, candidates=10 if provider else None)
        row = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
        cols = row.split(" | ")
        assert cols[1] == f"{np.mean([r.test for r in res.runs]):.2f}"
        assert float(cols[2]) == pytest.approx(np.mean([r.evaluations for r in res.runs]), abs=0.05)
        # distinct cells and retrained children, counted here from each run's trainings
        distinct, retrained, children_signal = [], [], []
        for r in range(3):
            run = run_search("rea", oracle, provider, seed=0, run=r, candidates=10 if provider else None,
                             record_events=True)
            cells = [int(e[1]) for e in run.events if e[0] == "train"]
            children = cells[population:]
            distinct.append(len(set(cells)))
            retrained.append(sum(c in cells[:population + i] for i, c in enumerate(children)) / len(children))
            children_signal.append(np.mean([oracle.signal[c] for c in children]))
        assert cols[3] == f"{np.mean(distinct):.1f}" and cols[4] == f"{100 * np.mean(retrained):.0f}%"
        assert cols[5] == f"{np.mean(children_signal):.2f}"
        assert cols[6] == f"{sum(int(r.incumbent) in best2 for r in res.runs)} of 3 |"
    # the neighbourhood table ranks the hub's 24 neighbours, the best one somewhere in 1..24
    hub_rows = [line for line in text.splitlines() if line.startswith("| params")]
    assert len(hub_rows) == 2 and all(1 <= int(r.split(" | ")[1]) <= 24 for r in hub_rows)
    assert all(0 <= int(r.split(" | ")[-1].split(" of ")[0]) <= 24 and r.endswith(" of 24 |") for r in hub_rows)
    assert "was trained most often by the proxy-assisted settings" in text and "Cells:" in text
    # the hub is the assisted settings' most trained cell, and each count is recomputed here
    hub = int(text.split("Cell ")[1].split(" ")[0])
    around = trace.neighbours(hub)
    assert len(around) == 24 and hub not in around
    from gradsign.search import ranked_values

    for r, provider in zip(hub_rows, (params, None)):
        if provider is None:
            continue
        pulled = sum(trace.neighbours(c)[int(np.argmax(ranked_values(provider, trace.neighbours(c))))] == hub
                     for c in around)
        assert r.endswith(f" | {pulled} of 24 |")
