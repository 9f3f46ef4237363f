"""Provenance: what produced an output is recorded in every summary, and older summaries still read."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gradsign.reports import provenance
from gradsign.reports.provenance import collect, describe_files, file_sha256, git_state, of_summary

REPO = Path(__file__).resolve().parents[1]
FIELDS = ("command", "gradsign_version", "git_commit", "python", "torch", "numpy", "platform", "device", "threads",
          "data_files", "seeds", "started_at", "wall_seconds")


def test_collect_records_command_versions_files_seeds_and_wall_time(tmp_path):
    data = tmp_path / "table.csv"
    data.write_bytes(b"arch,accuracy\na,1\n")
    started = time.time() - 2.0
    block = collect(["gradsign", "evaluate", "--seed", "3"], [data], [3, 4], started, device="cpu", threads=1)
    assert set(FIELDS) <= set(block)
    assert block["command"] == "gradsign evaluate --seed 3"
    import gradsign
    import numpy

    assert block["gradsign_version"] == gradsign.__version__ and block["numpy"] == numpy.__version__
    assert block["data_files"] == [{"path": str(data), "bytes": data.stat().st_size,
                                    "sha256": hashlib.sha256(data.read_bytes()).hexdigest()}]
    assert block["seeds"] == [3, 4] and block["device"] == "cpu" and block["threads"] == 1
    assert block["wall_seconds"] >= 2.0
    json.dumps(block, allow_nan=False)  # JSON as it is


def test_loaded_plugins_are_recorded_with_their_hashes(tmp_path, monkeypatch):
    from gradsign import plugins

    plugin = tmp_path / "prov_plugin.py"
    plugin.write_text("X = 1\n")
    monkeypatch.setenv("GRADSIGN_PLUGINS", "")  # undone after: load_plugins exports the path for workers
    monkeypatch.setattr(plugins, "_LOADED", set())
    assert collect(["gradsign"])["plugins"] == []
    plugins.load_plugins([str(plugin)], entry_points=False)
    assert collect(["gradsign"])["plugins"] == [{"path": str(plugin.resolve()), "bytes": 6,
                                                 "sha256": hashlib.sha256(b"X = 1\n").hexdigest()}]


def test_a_file_is_hashed_once_per_process_and_again_when_it_changes(tmp_path, monkeypatch):
    data = tmp_path / "big.bin"
    data.write_bytes(b"x" * 1000)
    calls = []
    from gradsign.data import paths

    real = paths.sha256_of
    monkeypatch.setattr(paths, "sha256_of", lambda p: calls.append(p) or real(p))
    first = file_sha256(data)
    assert file_sha256(data) == first and len(calls) == 1
    data.write_bytes(b"y" * 1001)  # new size: hashed again
    assert file_sha256(data) != first and len(calls) == 2


def test_missing_file_and_directory(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_text("1")
    rows = describe_files([tmp_path / "d", tmp_path / "gone"])
    assert rows[0]["bytes"] == 1 and len(rows[0]["sha256"]) == 64
    assert rows[1] == {"path": str(tmp_path / "gone"), "missing": True}


def test_no_git_checkout_gives_none_not_an_error(tmp_path, monkeypatch):
    assert git_state(tmp_path) is None
    monkeypatch.setenv("PATH", str(tmp_path))  # no git binary at all
    provenance._GIT.clear()
    assert git_state(tmp_path / "elsewhere") is None
    provenance._GIT.clear()


def test_git_commit_when_running_from_a_checkout():
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("not a git checkout")
    provenance._GIT.clear()
    assert git_state()["commit"] == head.stdout.strip()


def test_data_files_default_to_what_the_data_layer_resolved(tmp_path, monkeypatch):
    from gradsign.data import paths

    monkeypatch.setattr(paths, "_USED", {})
    (tmp_path / "nb201").mkdir()
    f = tmp_path / "x.csv"
    f.write_text("1")
    paths.note_used(f)
    block = collect(["gradsign"])
    assert [d["path"] for d in block["data_files"]] == [str(f)]
    assert block["wall_seconds"] is None and block["data_files_scope"].startswith("every data file")


def test_older_summaries_without_provenance_read_as_empty():
    old = json.loads((REPO / "results" / "eval_nb201_cifar10" / "summary.json").read_text())
    assert "provenance" not in old and of_summary(old) == {}
    assert of_summary({"provenance": {"gradsign_version": "0.1.0"}}) == {"gradsign_version": "0.1.0"}


def test_process_started_is_before_now():
    assert 0 <= time.time() - provenance.process_started() < 24 * 3600


@pytest.mark.data
def test_evaluate_summary_has_provenance_with_the_benchmark_files(data_dir, tmp_path, monkeypatch):
    from gradsign.data import paths
    from gradsign.storage import ResultsStore

    monkeypatch.setattr(paths, "_USED", {})  # as in a fresh process: not the files earlier tests read (and deleted)
    from gradsign.workflows.evaluate import run_evaluate
    from gradsign.workflows.scoring import ScoringSetup

    out = tmp_path / "out"
    run_evaluate(ScoringSetup(proxies=("params",), batch_size=8, seed=2), sample=10, n_bootstrap=20,
                 store=ResultsStore(tmp_path / "s.sqlite"), output=out, progress=False)
    block = json.loads((out / "summary.json").read_text())["provenance"]
    assert block["seeds"] == [2] and block["threads"] == 1 and block["device"] == "cpu"
    names = {Path(d["path"]).name for d in block["data_files"]}
    assert "ochoa_cifar10_avg.csv" in names  # the NB201 ground truth read for the target
    assert all(len(d["sha256"]) == 64 for d in block["data_files"]) and block["wall_seconds"] > 0


def test_score_json_output_has_provenance(tmp_path, capsys):
    from gradsign.cli.main import main

    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    with pytest.raises(SystemExit) as exc:
        main(["score", "--arch", arch, "--proxies", "params", "--seed", "5", "--format", "json", "--no-store",
              "--no-progress"])
    assert (exc.value.code or 0) == 0
    block = json.loads(capsys.readouterr().out)["provenance"]
    assert block["seeds"] == [5] and block["device"] == "cpu" and block["wall_seconds"] >= 0


def test_rank_json_output_has_provenance(tmp_path, capsys, monkeypatch):
    import numpy as np

    from gradsign.cli.main import main
    from gradsign.data import images

    models = tmp_path / "models.py"
    models.write_text("import torch.nn as nn\n\ndef small():\n    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))\n")
    rng = np.random.default_rng(0)
    fake = images.ImageSet("cifar10", "test", rng.integers(0, 256, size=(20, 32, 32, 3), dtype=np.uint8),
                           np.arange(20, dtype=np.int64) % 10)
    monkeypatch.setattr(images, "load_image_set", lambda *a, **k: fake)
    with pytest.raises(SystemExit) as exc:
        main(["rank", f"{models}:small", "--proxies", "params", "--batch-size", "4", "--seed", "1", "--format", "json"])
    assert (exc.value.code or 0) == 0
    block = json.loads(capsys.readouterr().out)["provenance"]
    assert block["seeds"] == [1] and block["device"] == "cpu"
