"""scripts/seconds_per_cell.py: per-proxy seconds of store exports, split by the day computed."""

from __future__ import annotations

import pandas as pd
import pytest
from benchmark_scripts import load_benchmark_script

from gradsign.storage import ResultsStore

DAY1 = 1795000000.0  # 2026-11-18 UTC
DAY2 = DAY1 + 3 * 86400


@pytest.fixture(scope="module")
def spc():
    return load_benchmark_script("seconds_per_cell.py")


def test_means_are_split_by_day_and_since_keeps_the_later_rows(spc, tmp_path):
    path = tmp_path / "grasp.csv.gz"
    # An export as `gradsign store export` writes it; rows computed on two days (e.g. two machines).
    rows = pd.DataFrame({"space": "nb201", "arch": ["|a~0|", "|b~0|", "|c~0|", "|a~0|"], "dataset": "cifar10",
                         "proxy": ["grasp"] * 3 + ["snip"], "proxy_version": "1", "options": "{}",
                         "batch_size": 64, "seed": 0, "sampling": "random", "init": "default",
                         "value": 1.5, "status": "ok", "error": "", "seconds": [8.0, 2.0, 4.0, 0.5],
                         "attempts": 1, "created": [DAY1, DAY2, DAY2, DAY2]})
    rows[list(ResultsStore.EXPORT_COLUMNS)].to_csv(path, index=False)
    text = spc.report(spc.load([path]), since="2026-11-20")
    assert "grasp      2026-11-18       1 rows  8.000 s" in text
    assert "grasp      2026-11-21       2 rows  3.000 s" in text
    assert "| grasp | 2 | 3.000 | 3.000 |" in text  # the 8 s row of the earlier day is left out
    assert "| snip | 1 | 0.500 | 0.500 |" in text


def test_a_file_that_is_not_a_store_export_is_refused(spc, tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("arch,gradsign\n|a~0|,1\n")
    with pytest.raises(SystemExit, match="not a gradsign score export"):
        spc.load([path])
