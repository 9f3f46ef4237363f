"""scripts/export_checkpoints.sh: checkpoint exports of a long scoring run, and never a smaller one over a larger."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gradsign.storage import ResultsStore, ScoreKey

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "export_checkpoints.sh"
GRADSIGN = Path(sys.executable).parent / "gradsign"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("bash") is None or shutil.which("git") is None, reason="needs bash and git"),
    pytest.mark.skipif(not GRADSIGN.exists(), reason=f"no gradsign console script next to {sys.executable}"),
]


def _key(proxy: str) -> ScoreKey:
    return ScoreKey(space="nb201", dataset="cifar10", proxy=proxy, proxy_version="1", options="{}",
                    batch_size=64, seed=0, sampling="random", init="default")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path):
    """A throw-away repository with the script where it lives (it writes results/ next to scripts/)."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    (root / "results").mkdir()
    shutil.copy(SCRIPT, root / "scripts" / SCRIPT.name)
    _git(root, "init", "-q")
    _git(root, "config", "user.email", "test@example.com")
    _git(root, "config", "user.name", "test")
    _git(root, "add", "scripts")
    _git(root, "commit", "-q", "-m", "start")
    return root


def _run(repo: Path, *args: str, note: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CHECKPOINT_NOTE"}
    env.update(GRADSIGN=str(GRADSIGN), HOME=str(repo))  # HOME: no user git config reaches the commits
    if note is not None:
        env["CHECKPOINT_NOTE"] = note
    return subprocess.run(["bash", str(repo / "scripts" / SCRIPT.name), *args], capture_output=True, text=True,
                          env=env, timeout=120)


def _rows(path: Path) -> int:
    with gzip.open(path, "rt") as f:
        return sum(1 for _ in f) - 1


def test_interval_zero_exports_commits_once_and_never_shrinks_an_export(repo, tmp_path):
    store = tmp_path / "s.sqlite"
    with ResultsStore(store) as s:
        s.put_many(_key("snip"), [("a", 1.0, 0.1), ("b", 2.0, 0.1), ("c", 3.0, 0.1)])
        s.put_many(_key("synflow"), [("a", 4.0, 0.1), ("b", 5.0, 0.1), ("c", 6.0, 0.1)])
    out = {p: repo / "results" / f"nb201_cifar10_allcells_seed0_bs64_{p}.csv.gz" for p in ("snip", "synflow")}

    r = _run(repo, "--commit", str(store), "cifar10", "0", "snip", "synflow", note="final export, evaluate exit 0")
    assert r.returncode == 0, r.stderr
    assert _rows(out["snip"]) == 3 and _rows(out["synflow"]) == 3
    assert _git(repo, "log", "-1", "--format=%s").strip() == (
        "results: NB201 cifar10 all-cells run (snip,synflow), 3 rows of "
        "nb201_cifar10_allcells_seed0_bs64_snip.csv.gz (final export, evaluate exit 0)")
    assert _git(repo, "status", "--porcelain") == ""  # both files committed, no .part file left

    # A store the exports were not imported into (here: one cell of snip, all of synflow, one more):
    # snip's committed export is kept, synflow's grows; the exit status says something was refused.
    fresh = tmp_path / "fresh.sqlite"
    with ResultsStore(fresh) as s:
        s.put_many(_key("snip"), [("a", 1.0, 0.1)])
        s.put_many(_key("synflow"), [("a", 4.0, 0.1), ("b", 5.0, 0.1), ("c", 6.0, 0.1), ("d", 7.0, 0.1)])
    before = out["snip"].read_bytes()
    r = _run(repo, "--commit", str(fresh), "cifar10", "0", "snip", "synflow")
    assert r.returncode == 1
    assert f"lacks 2 snip rows of results/{out['snip'].name}; kept" in r.stderr
    assert f"gradsign store import results/{out['snip'].name} --store {fresh}" in r.stderr
    assert out["snip"].read_bytes() == before and _rows(out["synflow"]) == 4
    assert _git(repo, "log", "-1", "--format=%s").strip().endswith(
        "4 rows of nb201_cifar10_allcells_seed0_bs64_synflow.csv.gz (checkpoint export)")
    assert _git(repo, "status", "--porcelain") == ""
    assert not list((repo / "results").glob("*.part.gz"))


def test_bad_arguments_are_a_usage_line(repo, tmp_path):
    for args in (["s.sqlite", "cifar10", "snip"], ["s.sqlite", "cifar10", "ten", "snip"]):
        r = _run(repo, *args)
        assert r.returncode == 2 and r.stderr.startswith("usage:") and r.stderr.count("\n") == 1
    assert not list((repo / "results").iterdir())


def test_rows_are_csv_records_so_rescored_failures_with_long_messages_replace_the_export(repo, tmp_path):
    store = tmp_path / "s.sqlite"
    traceback = "Traceback (most recent call last):\n  File x, line 1\nRuntimeError: out of memory"
    with ResultsStore(store) as s:
        s.put_many(_key("snip"), [("a", 1.0, 0.1)])
        for arch in ("b", "c"):
            s.put_error(_key("snip"), arch, traceback)  # three lines each in the export
    out = repo / "results" / "nb201_cifar10_allcells_seed0_bs64_snip.csv.gz"
    assert _run(repo, "--commit", str(store), "cifar10", "0", "snip").returncode == 0
    assert _git(repo, "log", "-1", "--format=%s").strip().endswith("3 rows of " + out.name + " (checkpoint export)")
    with ResultsStore(store) as s:  # the failures are scored after all (--retry-failed): fewer lines, same rows
        s.put_many(_key("snip"), [("b", 2.0, 0.1), ("c", 3.0, 0.1)])
    r = _run(repo, "--commit", str(store), "cifar10", "0", "snip")
    assert r.returncode == 0, r.stderr
    with gzip.open(out, "rt") as f:
        assert "error" not in f.read().split("\n", 1)[1]
    assert _git(repo, "status", "--porcelain") == ""
