"""Searches on the real NAS-Bench-201 table (skipped when the data folder is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from gradsign.errors import ConfigError
from gradsign.search import ArrayProxyProvider, nb201_dataset, nb201_oracle, run_searches
from gradsign.spaces.nb201 import nb201_arch_at

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def table(data_dir):
    from gradsign.benchmarks.nb201 import NB201Table

    return NB201Table.load(data_dir)


def test_dataset_names():
    assert nb201_dataset("CIFAR-10") == "cifar10" and nb201_dataset("cifar10-valid") == "cifar10"
    assert nb201_dataset("imagenet16-120") == "ImageNet16-120"
    with pytest.raises(ConfigError):
        nb201_dataset("mnist")


def test_cifar10_oracle_follows_the_nb201_protocol(table):
    o = nb201_oracle(table, "cifar10")
    assert o.num_archs == 15_625 and o.default_budget == 12_000
    i = 1
    assert o.arch_name(i) == nb201_arch_at(i).to_string() == table.arch(i)
    assert o.space.name == "nb201" and o.space.to_choices(o.space.arch_at(i)) == nb201_arch_at(i).ops
    assert o.signal[i] == pytest.approx(table.accuracy("cifar10-valid", "valid", 12, archs=i))
    assert o.test[i] == pytest.approx(table.accuracy("cifar10", "test", 200, archs=i))
    assert o.test.max() == pytest.approx(94.37, abs=0.01)
    # 12 epochs + one validation pass: about 113 s on average, so ~100 trainings in 12,000 s
    assert 100 < o.cost.mean() < 125
    assert o.has_high_fidelity and set(o.reported) >= {"cifar10", "cifar100", "ImageNet16-120"}


def test_other_datasets_scale_costs_and_say_so(table):
    c10 = nb201_oracle(table, "cifar10")
    c100 = nb201_oracle(table, "cifar100")
    assert c100.test.max() == pytest.approx(73.51, abs=0.01)
    assert c100.default_budget == 24_000
    assert any("derived" in n for n in c100.notes)
    assert np.corrcoef(c10.cost, c100.cost)[0, 1] > 0.99 and c100.cost.mean() > 1.8 * c10.cost.mean()


def test_searches_on_cifar10(table):
    o = nb201_oracle(table, "cifar10")
    # a cheap proxy for the test: parameter count, one second per cell
    params = np.asarray(table.column("params_m"), dtype=np.float64)
    prov = ArrayProxyProvider(params, seconds=1.0, name="params")
    for algo in ("random", "rea", "reinforce", "bohb"):
        res = run_searches(algo, o, runs=3, seed=0)
        for r in res.runs:
            assert 85 < r.test <= o.test.max() and 80 < r.evaluations < 130
            assert r.charged_seconds <= 12_000
            assert set(r.reported) >= {"cifar10", "cifar100", "ImageNet16-120"}
        helped = run_searches(algo, o, prov, runs=2, seed=0)
        assert all(r.proxy_seconds > 0 and r.charged_seconds <= 12_000 for r in helped.runs)
        assert any("search signal: cifar10-valid" in n for n in res.notes)


def test_search_command_runs_the_predictor_guided_search(data_dir, tmp_path, capsys):
    import json

    from gradsign.cli.main import main

    out = tmp_path / "pgs"
    argv = ["search", "--data-dir", str(data_dir), "--algo", "bananas", "--predictor", "omni-linear",
            "--zc-seconds", "1", "--runs", "2", "--budget", "30evals", "--output", str(out)]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert (exc.value.code or 0) == 0
    printed = capsys.readouterr().out
    assert "predictor[omni-linear](charged)" in printed and "predictor[omni-linear](free)" in printed
    assert "the picked cells on every dataset" in printed and "| predictor[omni-linear](free) (cifar10) | " in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["predictor"] == "omni-linear" and summary["zc_source"] == "nb201-table"
    assert [s["runs"] for s in summary["settings"]] == [2, 2] and (out / "trajectory.png").exists()
    # a table without seconds needs --zc-seconds; the message says so in one line
    with pytest.raises(SystemExit) as exc:
        main(["search", "--data-dir", str(data_dir), "--algo", "predictor", "--predictor", "omni", "--runs", "1"])
    assert exc.value.code == 2
    assert "--zc-seconds" in capsys.readouterr().err


def test_transfer_table_reports_each_pick_on_every_dataset(table):
    """The NB201/GradSign papers' layout: search on CIFAR-10, report the pick on all three datasets."""
    from gradsign.search import format_transfer_table, results_table

    o = nb201_oracle(table, "cifar10")
    res = run_searches("rea", o, runs=4, seed=1)
    picks = [r.incumbent for r in res.runs]
    summary = res.reported_summary()
    for name in ("cifar10", "cifar100", "ImageNet16-120"):
        expected = [o.reported[name][i] for i in picks]
        assert summary[name]["n"] == 4
        assert summary[name]["mean"] == pytest.approx(np.mean(expected))
        assert summary[name]["std"] == pytest.approx(np.std(expected, ddof=1))
    # the CIFAR-10 column is the search's own final accuracy
    assert summary["cifar10"]["mean"] == pytest.approx(np.mean(res.tests()))
    text = format_transfer_table(results_table([res]))
    head, _, row = text.splitlines()
    assert head == "| setting (searched on) | cifar10 | cifar100 | ImageNet16-120 |"
    assert row.startswith("| rea (cifar10) | ") and f"{summary['cifar100']['mean']:.2f} ± " in row
    assert "reported_summary" in res.to_dict(trajectories=False)


def test_a_budget_below_one_training_is_refused_and_notes_name_their_setting(data_dir, tmp_path, capsys):
    import json

    from gradsign.cli.main import main

    with pytest.raises(ConfigError, match=r"--budget 10 s is below the cheapest training of nb201 cifar10 \("):
        import gradsign

        gradsign.search("random", budget="10s", runs=1, data_dir=data_dir)
    out = tmp_path / "s"
    with pytest.raises(SystemExit) as exc:
        main(["search", "--data-dir", str(data_dir), "--runs", "1", "--proxy", "synflow", "--candidates", "3",
              "--budget", "8evals", "--store", str(tmp_path / "s.sqlite"), "--output", str(out), "--no-progress"])
    assert (exc.value.code or 0) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    free = [label for label in summary["setting_notes"] if label.endswith("free)")]
    assert len(free) == 1 and any("NOT charged" in n for n in summary["setting_notes"][free[0]])
    assert not any("NOT charged" in n for n in summary["notes"])  # not a note of every setting
    assert f"note ({free[0]}): proxy seconds were NOT charged" in printed
    assert "note: proxy seconds were NOT charged" not in printed
    assert any("a cell trained twice is paid twice" in n for n in summary["notes"])  # shared by all three


def test_the_search_api_takes_a_store_path_like_evaluate(data_dir, tmp_path):
    import gradsign
    from gradsign.storage import ResultsStore

    path = tmp_path / "s.sqlite"  # used to be an AttributeError deep inside ('str' has no 'iter_key')
    report = gradsign.search("rs", proxy="params", runs=1, budget="10evals", store=path, data_dir=data_dir,
                             progress=False)
    assert len(report.results) == 3 and all(len(r.runs) == 1 for r in report.results)
    assert ResultsStore(path, read_only=True).count() > 0  # the params scores it computed are kept
