"""`gradsign search --objective FILE.py:train`: a real-training search on a user's own space from the command line.

The user's file (written to a tmp folder) registers a tiny space and defines the training
function; the command trains through it, charges its measured seconds, journals every
training (a rerun replays them) and screens with a named proxy on the space's networks.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from gradsign.cli.main import main
from gradsign.errors import ConfigError

USER_FILE = '''
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gradsign.spaces.base import SearchSpace, as_generator, register_space

CHOICES = (3, 3)  # width, depth
CALLS = Path(__file__).with_suffix(".calls")


@register_space("toy-user-cli")
class ToyUserSpace(SearchSpace):
    def parse(self, text):
        return tuple(int(x) for x in text.split("-"))

    def to_string(self, arch):
        return "-".join(map(str, arch))

    @property
    def num_archs(self):
        return 9

    def sample(self, n, seed=None, *, replace=False):
        rng = as_generator(seed)
        return [tuple(int(rng.integers(c)) for c in CHOICES) for _ in range(n)]

    def mutate(self, arch, seed=None):
        rng = as_generator(seed)
        dim = int(rng.integers(2))
        return arch[:dim] + ((arch[dim] + 1 + int(rng.integers(2))) % 3,) + arch[dim + 1:]

    def choices(self):
        return CHOICES

    def to_choices(self, arch):
        return tuple(arch)

    def from_choices(self, choices):
        return tuple(int(c) for c in choices)

    def build_network(self, arch, num_classes=10, **options):
        width = (4, 8, 12)[arch[0]]
        layers = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU()]
        for _ in range(arch[1]):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))


def train(arch):
    time.sleep(0.005)  # "training": the search charges these measured seconds
    with open(CALLS, "a") as f:
        f.write("-".join(map(str, arch)) + "\\n")
    return 40.0 + 5.0 * arch[0] + 2.0 * arch[1]


def test(arch):
    return 39.0 + 5.0 * arch[0] + 2.0 * arch[1]


def batch():
    torch.manual_seed(0)
    return torch.randn(8, 3, 8, 8), torch.arange(8) % 4


WIDTHS = 3
'''


@pytest.fixture
def user_file(tmp_path):
    from gradsign.spaces.base import _INSTANCES, _SPACES

    path = tmp_path / "my_training.py"
    path.write_text(textwrap.dedent(USER_FILE))
    yield path
    _SPACES.pop("toy-user-cli")
    _INSTANCES.pop("toy-user-cli", None)


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


def test_a_journaled_search_with_a_training_function_resumes_without_retraining(user_file, tmp_path, capsys):
    journal = tmp_path / "runs" / "j.sqlite"
    argv = ["search", "--objective", f"{user_file}:train", "--test", f"{user_file}:test", "--space", "toy-user-cli",
            "--algo", "rea", "--budget", "12evals", "--runs", "2", "--journal", str(journal),
            "--output", str(tmp_path / "out")]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    calls = user_file.with_suffix(".calls")
    trained = calls.read_text().split()
    assert len(trained) == 24  # 2 runs x 12 trainings, each by the user's function
    assert f"journal {journal}: 24 trainings done, 0 taken from the journal" in out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["space"] == "toy-user-cli" and summary["journal"]["trainings_done"] == 24
    runs = json.loads((tmp_path / "out" / "runs_rea.json").read_text())["runs"]
    assert all(r["test"] == r["signal"] - 1.0 for r in runs)  # --test reports the picks
    assert any("measured wall-clock seconds" in n for n in summary["notes"])

    code, out, err = run(argv, capsys)  # the same command again: every training replays
    assert code == 0, err
    assert calls.read_text().split() == trained
    assert f"journal {journal}: 0 trainings done, 24 taken from the journal" in out
    assert json.loads((tmp_path / "out" / "runs_rea.json").read_text())["runs"] == runs


def test_a_named_proxy_screens_the_user_space_on_a_batch_from_the_file(user_file, tmp_path, capsys):
    code, out, err = run(["search", "--objective", f"{user_file}:train", "--space", "toy-user-cli",
                          "--algo", "random", "--budget", "8evals", "--runs", "1", "--proxy", "synflow",
                          "--candidates", "3", "--proxy-batch", f"{user_file}:batch", "--num-classes", "4",
                          "--journal", str(tmp_path / "j.sqlite")], capsys)
    assert code == 0, err
    assert "random+synflow(K=3, charged)" in out and "journal" in out
    from gradsign.search import Journal

    journal = Journal(tmp_path / "j.sqlite")  # the measured proxy scores are journaled too, keyed by their minibatch
    keys = {k for (k,) in journal._db.execute("SELECT DISTINCT proxy FROM proxy_scores")}
    assert len(keys) == 1 and keys.pop().startswith("synflow|minibatch#")
    # the same search with another proxy seed reuses none of them (they were keyed by the name alone)
    before = journal._db.execute("SELECT COUNT(*) FROM proxy_scores").fetchone()[0]
    code, out, err = run(["search", "--objective", f"{user_file}:train", "--space", "toy-user-cli",
                          "--algo", "random", "--budget", "8evals", "--runs", "1", "--proxy", "synflow",
                          "--candidates", "3", "--proxy-batch", f"{user_file}:batch", "--num-classes", "4",
                          "--seed", "1", "--journal", str(tmp_path / "j.sqlite")], capsys)
    assert code == 0, err
    assert len({k for (k,) in journal._db.execute("SELECT DISTINCT proxy FROM proxy_scores")}) == 2
    assert journal._db.execute("SELECT COUNT(*) FROM proxy_scores").fetchone()[0] > before


def test_a_seconds_budget_charges_the_measured_seconds(user_file):
    import gradsign

    report = gradsign.search("random", objective=f"{user_file}:train", space="toy-user-cli", budget="0.1s", runs=1)
    run = report.results[0].runs[0]
    assert run.evaluations >= 2 and 0 < run.charged_seconds <= 0.1
    assert run.charged_seconds == run.train_seconds  # measured by the library around each call


def test_a_budget_no_training_fits_in_is_an_error_not_a_nan_table(user_file):
    import gradsign

    with pytest.raises(ConfigError, match="no run of any setting finished a single training"):
        gradsign.search("random", objective=f"{user_file}:train", space="toy-user-cli", budget="1e-9s", runs=2)


@pytest.mark.parametrize("objective, extra, needle", [
    ("{f}:training", [], "has no 'training'; functions defined there: batch, test, train"),
    ("{f}:WIDTHS", [], "'WIDTHS' is of type int, not a function"),
    ("{d}/absent.py:train", [], "no such file"),
    ("{f}", [], "write path/to/file.py:function"),
    ("{f}:train", ["--budget", None], "needs a budget"),
    ("{f}:train", ["--proxy", "synflow", "--proxy-batch", "{f}:batch"], "num_classes"),
    ("{f}:train", ["--proxy", "synflow", "--proxy-batch", "{f}:test"], "proxy batch"),
    ("{f}:train", ["--proxy", "synflow", "--option", "synflow.x=1"], "--option applies to benchmark"),
    ("{f}:train", ["--warmup-pool", "5"], "--warmup-pool 5 ranks cells by a proxy: give --proxy"),
])
def test_bad_input_is_one_line_naming_the_culprit(user_file, tmp_path, capsys, objective, extra, needle):
    fill = {"f": str(user_file), "d": str(tmp_path)}
    argv = ["search", "--objective", objective.format(**fill), "--space", "toy-user-cli", "--runs", "1",
            "--budget", "4evals"]
    if extra[:2] == ["--budget", None]:
        argv = argv[:-2]
        extra = []
    argv += [e.format(**fill) for e in extra]
    code, _, err = run(argv, capsys)
    assert code != 0 and needle in err and "Traceback" not in err, err
    assert len([line for line in err.splitlines() if line.strip()]) <= 3  # one error line (wrapped at most)


def test_an_import_error_in_the_file_is_one_line(tmp_path):
    import gradsign

    broken = tmp_path / "broken.py"
    broken.write_text("import not_a_module_anywhere\n")
    with pytest.raises(ConfigError, match=r"importing .*broken.py failed \(ModuleNotFoundError"):
        gradsign.search("rea", objective=f"{broken}:train", space="nb201", budget="4evals", runs=1)
    with pytest.raises(ConfigError, match="test goes with a training function"):
        gradsign.search("rea", space="nb201", test=lambda a: 1.0, runs=1)
