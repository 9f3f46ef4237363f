"""scripts/publish_eval.py: an evaluate output goes to results/ without the benchmark's accuracies."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from benchmark_scripts import load_benchmark_script


@pytest.fixture(scope="module")
def publish_eval():
    return load_benchmark_script("publish_eval.py")


def _evaluate_output(folder):
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({"n_archs": 2}))
    (folder / "scatter_gradsign.png").write_bytes(b"\x89PNG fake")
    # Text as evaluate wrote it before full precision (%.10g), including a NaN score: kept as text either way.
    (folder / "scores.csv").write_text(
        "index,arch,accuracy,gradsign,jacob_cov\n"
        "0,|a~0|,81.52,835386,-186.0643509\n"
        "7,|b~0|,90.51333333,5131938,\n"
    )
    return folder


@pytest.mark.parametrize("gzip", [False, True])
def test_accuracy_column_is_dropped_and_scores_kept_verbatim(publish_eval, tmp_path, gzip):
    src = _evaluate_output(tmp_path / "run")
    dst = tmp_path / "results" / "eval"
    written = publish_eval.publish(src, dst, gzip=gzip)
    name = "scores.csv.gz" if gzip else "scores.csv"
    assert sorted(p.name for p in written) == sorted(["scatter_gradsign.png", "summary.json", name])
    assert (dst / "summary.json").read_text() == (src / "summary.json").read_text()
    frame = pd.read_csv(dst / name, dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["index", "arch", "gradsign", "jacob_cov"]
    assert frame["gradsign"].tolist() == ["835386", "5131938"]
    assert frame["jacob_cov"].tolist() == ["-186.0643509", ""]  # NaN stays an empty field


def test_in_place_replaces_scores_csv_and_leaves_no_temporary_file(publish_eval, tmp_path):
    src = _evaluate_output(tmp_path / "run")
    publish_eval.publish(src, src)
    assert sorted(p.name for p in src.iterdir()) == ["scatter_gradsign.png", "scores.csv", "summary.json"]
    assert "accuracy" not in (src / "scores.csv").read_text().splitlines()[0]


def test_a_folder_that_is_not_an_evaluate_output_is_refused(publish_eval, tmp_path):
    with pytest.raises(SystemExit, match="not a gradsign evaluate output"):
        publish_eval.publish(tmp_path, tmp_path / "out")
