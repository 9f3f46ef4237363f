"""scripts/search_real_training.py on a tiny fake recipe: end-to-end and simulated loops agree; a killed run resumes.

The fake trainer answers each cell with the table's own seed-1 numbers and advances a fake
clock by the table's seconds (dyadic numbers, so sums are exact): the real loop then sees
exactly what the tabular objective sees, and must make the same decisions. It also sleeps a
little in real time so that a SIGTERM from another process lands mid-search.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import load_benchmark_script

TESTS = Path(__file__).resolve().parent
CELLS = 40


@pytest.fixture(scope="module")
def e2e():
    return load_benchmark_script("search_real_training.py")


def fake_cells() -> dict[str, dict]:
    """Per NB201 cell (a fixed sample of CELLS): per-seed val/test accuracy, seconds, and proxy scores."""
    from gradsign.proxies import get_proxy
    from gradsign.spaces import get_space

    space = get_space("nb201")
    rng = np.random.default_rng(7)
    proxies = ("gradsign", "synflow", *get_proxy("recommended").members)
    cells = {}
    for arch in space.sample(CELLS, 3):
        cells[space.to_string(arch)] = {
            "val": {s: float(rng.integers(3000, 5000)) / 100 for s in (1, 2)},
            "test": {s: float(rng.integers(3000, 5000)) / 100 for s in (1, 2)},
            "seconds": {s: 16 + float(rng.integers(0, 33)) / 4 for s in (1, 2)},  # dyadic: exact sums
            "proxies": {p: (float(rng.normal()), float(rng.integers(1, 9)) / 8) for p in proxies},
        }
    return cells


def fake_run(arch: str, seed: int, val: float, test: float, seconds: float):
    """A training run with the recipe's number of epochs (a flat curve ending at ``val``)."""
    from gradsign.training import SMALL_CIFAR10
    from gradsign.training.trainer import TrainingRun

    epochs = SMALL_CIFAR10.epochs
    return TrainingRun(arch, seed, SMALL_CIFAR10.key(), [1.0] * epochs, [val] * epochs, test,
                       [seconds / epochs] * epochs, seconds)


def write_table(folder: Path, cells: dict[str, dict]) -> None:
    """The cells as the benchmark's two files (a training export and an as-trained proxy table)."""
    from gradsign.benchmarks.suite.nb201_small import SCORES_FILE, TABLE_FILE
    from gradsign.training import SMALL_CIFAR10, TrainingStore
    from gradsign.training.proxy_table import ProxyScoreTable

    folder.mkdir(parents=True, exist_ok=True)
    store = TrainingStore(folder / "build.sqlite")
    for arch, c in cells.items():
        for s in (1, 2):
            store.put("nb201", fake_run(arch, s, c["val"][s], c["test"][s], c["seconds"][s]),
                      SMALL_CIFAR10.to_dict(), {})
    store.export_csv(folder / TABLE_FILE)
    store.close()
    ProxyScoreTable({(a, p): v for a, c in cells.items() for p, v in c["proxies"].items()}).save(folder / SCORES_FILE)


class FakeTrainer:
    """The recipe's interface, answered from the fake table (unknown cells: numbers drawn from their name)."""

    def __init__(self, cells: dict[str, dict], delay: float = 0.0, log: Path | None = None,
                 slowdown: float = 1.0) -> None:
        from gradsign.training import SMALL_CIFAR10

        self.cells, self.delay, self.log, self.slowdown = cells, delay, log, slowdown
        self.recipe = SMALL_CIFAR10
        self.description = "fake recipe (the table's own numbers)"
        self.now = 0.0
        self.trained: list[str] = []

    def clock(self) -> float:
        return self.now

    def _cell(self, arch: str) -> dict:
        if arch not in self.cells:
            rng = np.random.default_rng(list(arch.encode()))
            self.cells[arch] = {"val": {1: float(rng.integers(3000, 5000)) / 100},
                                "test": {1: float(rng.integers(3000, 5000)) / 100}, "seconds": {1: 20.0},
                                "proxies": {p: (float(rng.normal()), 0.25) for p in
                                            next(iter(self.cells.values()))["proxies"]}}
        return self.cells[arch]

    def train(self, arch: str):
        c = self._cell(arch)
        time.sleep(self.delay)
        self.now += c["seconds"][1] * self.slowdown  # a busier machine: the same training, more seconds
        self.trained.append(arch)
        if self.log is not None:
            with open(self.log, "a") as f:
                f.write(arch + "\n")
        return fake_run(arch, 1, c["val"][1], c["test"][1], c["seconds"][1])

    def score(self, arch: str, proxies):
        c = self._cell(arch)
        seconds = {p: c["proxies"][p][1] for p in proxies}
        self.now += sum(seconds.values())
        return {p: c["proxies"][p][0] for p in proxies}, seconds


def _args(tmp: Path, *extra: str) -> list[str]:
    return ["--table-dir", str(tmp / "bench"), "--workdir", str(tmp / "work"), "--output", str(tmp / "out"), *extra]


def test_settings_and_names(e2e):
    assert len(e2e.ALL_SETTINGS) == 16
    assert [s.name for s in e2e.parse_settings("rea,rea+recommended,rea")] == ["rea", "rea+recommended"]
    with pytest.raises(SystemExit, match="unknown algorithm 'tpe'"):
        e2e.parse_settings("tpe")
    with pytest.raises(SystemExit, match="unknown proxy 'jacov'"):
        e2e.parse_settings("rea+jacov")
    arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"
    assert e2e.short_name(arch) == "3/0s/p10"


@pytest.mark.parametrize("settings", ["rea,rea+gradsign,random+synflow", "reinforce+recommended,bohb"])
def test_real_loop_makes_the_simulated_decisions(e2e, tmp_path, capsys, settings):
    cells = fake_cells()
    write_table(tmp_path / "bench", cells)
    trainer = FakeTrainer(cells)
    assert e2e.main(_args(tmp_path, "--settings", settings, "--runs", "2", "--budget", "300"), trainer=trainer) == 0
    out = capsys.readouterr().out
    for name in settings.split(","):
        doc = json.loads((tmp_path / "out" / f"sample_{name}.json").read_text())
        assert len(doc["runs"]) == 2 and doc["sample"]["archs"] == CELLS
        for r in doc["runs"]:
            real, sim = r["real"], r["simulated"]
            assert r["same_arch"] and real["arch"] == sim["arch"] and r["same_decisions"]
            assert r["same_pick_at_common_trainings"] and r["common_trainings"] == real["trainings"]
            assert r["trained"]["real"] == r["trained"]["simulated"]
            assert real["test_seed1"] == sim["test_seed1"] and real["trainings"] == sim["trainings"] > 1
            assert real["charged_seconds"] == sim["charged_seconds"] <= 300
            if "+" in name:  # screened: K candidates scored per proposal, their seconds charged
                assert real["proxy_scored"] == sim["proxy_scored"] > 0
                assert real["proxy_seconds"] == sim["proxy_seconds"] > 0
        assert doc["reproduction"]["identical_to_table"] == doc["reproduction"]["cells_checked"] > 0
        assert doc["last_invocation"]["trainings_recomputed"] == 0
    table = (tmp_path / "out" / "table.md").read_text()
    assert "| rea | 0 |" in table or "| reinforce+recommended | 0 |" in table
    assert "Same cell picked in" in table and "run 1 (2/2)" in out
    docs = [json.loads((tmp_path / "out" / f"sample_{name}.json").read_text()) for name in settings.split(",")]
    n_real = sum(r["real"]["trainings"] for d in docs for r in d["runs"])
    hours = sum(r["real"]["train_seconds"] for d in docs for r in d["runs"]) / 3600
    assert f"Real runs, summed: {n_real} trainings charged, {hours:.2f} hours" in table
    # --table-only rewrites the table from the JSON files, trains nothing, needs no trainer
    (tmp_path / "out" / "table.md").unlink()
    assert e2e.main(["--output", str(tmp_path / "out"), "--table-only"]) == 0
    assert (tmp_path / "out" / "table.md").read_text() == table
    with pytest.raises(SystemExit):
        e2e.main(["--output", str(tmp_path / "absent"), "--table-only"])
    assert not (tmp_path / "absent").exists()
    (tmp_path / "out" / "stray.json").write_text('{"setting": "x"}')
    capsys.readouterr()
    assert e2e.main(["--output", str(tmp_path / "out"), "--table-only"]) == 2
    err = capsys.readouterr().err
    assert "stray.json: not a run file" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "out" / "stray.json").unlink()

    first = {name: json.loads((tmp_path / "out" / f"sample_{name}.json").read_text())["last_invocation"]
             for name in settings.split(",")}
    # the same command again: everything replays from the journals, nothing is trained
    trainer2 = FakeTrainer(cells)
    assert e2e.main(_args(tmp_path, "--settings", settings, "--runs", "2", "--budget", "300"), trainer=trainer2) == 0
    assert trainer2.trained == []
    assert "0 trainings done" in capsys.readouterr().out
    for name in settings.split(","):
        again = json.loads((tmp_path / "out" / f"sample_{name}.json").read_text())["last_invocation"]
        assert again["trainings_done"] == again["proxy_scores_computed"] == 0
        assert again["trainings_from_journal"] > 0 and (again["proxy_scores_from_journal"] > 0) == ("+" in name)
        assert again["proxy_scores_from_journal"] == first[name]["proxy_scores_computed"]  # cells, not rows


def test_a_slower_machine_makes_the_same_decisions_and_fewer_trainings(e2e, tmp_path):
    cells = fake_cells()
    write_table(tmp_path / "bench", cells)
    assert e2e.main(_args(tmp_path, "--settings", "rea+gradsign", "--runs", "2", "--budget", "300"),
                    trainer=FakeTrainer(cells, slowdown=2.0)) == 0
    doc = json.loads((tmp_path / "out" / "sample_rea+gradsign.json").read_text())
    for r in doc["runs"]:
        assert r["same_decisions"] and r["real"]["trainings"] < r["simulated"]["trainings"]
        assert r["trained"]["real"] == r["trained"]["simulated"][:r["real"]["trainings"]]
        assert r["same_pick_at_common_trainings"] and r["common_trainings"] == r["real"]["trainings"]
    assert "same decisions in 2" in (tmp_path / "out" / "table.md").read_text()


def test_full_space_runs_and_reports_cells_outside_the_sample(e2e, tmp_path):
    cells = fake_cells()
    write_table(tmp_path / "bench", cells)
    trainer = FakeTrainer(cells)
    assert e2e.main(_args(tmp_path, "--settings", "rea", "--runs", "1", "--budget", "200", "--space", "full"),
                    trainer=trainer) == 0
    doc = json.loads((tmp_path / "out" / "full_rea.json").read_text())
    assert doc["space"] == "full" and doc["runs"][0]["real"]["trainings"] >= 1
    assert any(a not in fake_cells() for a in trainer.trained)  # the full space leaves the sample


DRIVER = """
import sys
sys.path[:0] = [{tests!r}]
from pathlib import Path
from benchmark_scripts import load_benchmark_script
from test_search_real_training import FakeTrainer, fake_cells
e2e = load_benchmark_script("search_real_training.py")
raise SystemExit(e2e.main(sys.argv[1:], trainer=FakeTrainer(fake_cells(), delay={delay}, log=Path({log!r}))))
"""


def _journal_trainings(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM trainings").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


@pytest.mark.skipif(os.name != "posix", reason="sends SIGTERM / SIGINT to a child")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_killed_search_resumes_without_retraining(e2e, tmp_path, sig):
    cells = fake_cells()
    write_table(tmp_path / "bench", cells)
    log = tmp_path / "trained.log"
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(DRIVER.format(tests=str(TESTS), delay=0.25, log=str(log))))
    cmd = [sys.executable, str(driver), *_args(tmp_path, "--settings", "rea+gradsign", "--runs", "1",
                                               "--budget", "300")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    journal = tmp_path / "work" / "journals" / "sample" / "rea+gradsign.sqlite"
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 120
    while _journal_trainings(journal) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the search ended before it could be killed:\n" + proc.communicate()[0]
    proc.send_signal(sig)
    first = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, first
    assert "rerun the same command to resume" in first
    recorded = _journal_trainings(journal)
    assert recorded >= 3

    second = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=120)
    assert second.returncode == 0, second.stdout
    assert f"taken from the journal ({recorded} recorded before" in second.stdout
    assert "recomputed: 0)" in second.stdout
    doc = json.loads((tmp_path / "out" / "sample_rea+gradsign.json").read_text())
    done = doc["last_invocation"]
    assert done["trainings_from_journal"] == recorded and done["trainings_recomputed"] == 0
    total = _journal_trainings(journal)
    # every training of the run happened once: the ones before the kill (plus at most the one in
    # flight, which was not finished) and the rest after it
    trained = log.read_text().split()
    # (the journal also holds the training that did not fit in the budget and ended the run)
    assert total - doc["runs"][0]["real"]["trainings"] in (0, 1)
    assert len(trained) - total in (0, 1)

    # and the resumed run is the uninterrupted one
    e2e.main(["--table-dir", str(tmp_path / "bench"), "--workdir", str(tmp_path / "clean"), "--output",
              str(tmp_path / "clean_out"), "--settings", "rea+gradsign", "--runs", "1", "--budget", "300"],
             trainer=FakeTrainer(fake_cells()))
    clean = json.loads((tmp_path / "clean_out" / "sample_rea+gradsign.json").read_text())
    assert clean["runs"] == doc["runs"]


def test_a_failing_setting_does_not_stop_the_others_and_fails_the_command(e2e, tmp_path, monkeypatch, capsys):
    cells = fake_cells()
    write_table(tmp_path / "bench", cells)
    real_run_setting = e2e.run_setting

    def flaky(setting, *args, **kwargs):
        if setting.name == "rea":
            raise RuntimeError("disk full")
        return real_run_setting(setting, *args, **kwargs)

    monkeypatch.setattr(e2e, "run_setting", flaky)
    code = e2e.main(_args(tmp_path, "--settings", "rea,random", "--runs", "1", "--budget", "200"),
                    trainer=FakeTrainer(cells))
    out = capsys.readouterr().out
    assert code == 1 and "[rea] FAILED: RuntimeError: disk full" in out and "1 setting(s) failed: rea" in out
    assert (tmp_path / "out" / "sample_random.json").exists() and not (tmp_path / "out" / "sample_rea.json").exists()
    assert "| random | 0 |" in (tmp_path / "out" / "table.md").read_text()
    assert not list((tmp_path / "out").glob("*.partial"))


def test_a_named_ensemble_s_members_name_its_journal_and_guard_merging(e2e, tmp_path):
    from gradsign.proxies import get_proxy

    members = tuple(get_proxy("recommended").members)
    setting = e2e.parse_settings("rea+recommended")[0]
    assert e2e.proxy_members(setting) == members
    assert e2e.journal_name(setting, members) == f"rea+recommended={'+'.join(members)}.sqlite"
    spelled = e2e.parse_settings("rea+gradsign")[0]
    assert e2e.journal_name(spelled, e2e.proxy_members(spelled)) == "rea+gradsign.sqlite"
    # runs recorded with other members are not merged into this invocation's document
    keys = {"sample": {"archs": 3}, "budget_seconds": 400.0, "seed": 0, "candidates": 10, "recipe_key": "k"}
    path = tmp_path / "doc.json"
    path.write_text(json.dumps({**keys, "proxy_members": ["meco", "zen"], "runs": [{"run": 0}, {"run": 1}]}))
    doc = {**keys, "proxy_members": list(members), "runs": [{"run": 0}], "real_results": {"runs": [{}]}}
    assert e2e.merge_previous(dict(doc), path)["runs"] == [{"run": 0}]
    path.write_text(json.dumps({**keys, "proxy_members": list(members), "runs": [{"run": 0}, {"run": 1}]}))
    merged = e2e.merge_previous(dict(doc), path)
    assert merged["runs"] == [{"run": 0}, {"run": 1}] and "runs 1..1 come from an earlier invocation" in merged["note"]


def test_the_sample_is_frozen_once_whole(e2e, tmp_path):
    from gradsign.benchmarks.suite.nb201_small import SCORES_FILE, TABLE_FILE

    cells = fake_cells()
    write_table(tmp_path / "bench", cells)
    frozen = e2e.freeze_sample(tmp_path / "bench", tmp_path / "work")
    assert sorted(p.name for p in frozen.iterdir()) == sorted([SCORES_FILE, TABLE_FILE])  # no partial copies left
    write_table(tmp_path / "bench", dict(list(cells.items())[:10]))  # the benchmark moves on: the frozen copy stays
    assert e2e.freeze_sample(tmp_path / "bench", tmp_path / "work") == frozen
    from gradsign.benchmarks.registry import get_benchmark

    assert len(get_benchmark("nb201_small").table(frozen).archs) == CELLS
