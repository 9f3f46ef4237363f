"""scripts/check_nonfinite_cells.py: non-finite scores set against the cells that ignore their input."""

from __future__ import annotations

import pytest
from benchmark_scripts import load_benchmark_script
from store_keys import score_key

from gradsign.storage import ResultsStore

CONNECTED = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
DISCONNECTED = "|none~0|+|skip_connect~0|none~1|+|none~0|nor_conv_1x1~1|none~2|"


@pytest.fixture(scope="module")
def chk():
    return load_benchmark_script("check_nonfinite_cells.py")


def _export(tmp_path, rows):
    store = ResultsStore(tmp_path / "s.sqlite")
    store.put_many(score_key(proxy="jacob_cov"), rows)
    path = tmp_path / "e.csv.gz"
    store.export_csv(path)
    return path


def test_nan_exactly_on_the_disconnected_cells_passes(chk, tmp_path, capsys):
    path = _export(tmp_path, [(CONNECTED, 1.0, 0.1), (DISCONNECTED, float("nan"), 0.1)])
    assert chk.main([str(path)]) == 0
    assert "| jacob_cov | 2 | 1 | 1 | 1 | 0 | 0 |" in capsys.readouterr().out


def test_a_nan_on_a_connected_cell_is_reported_and_fails(chk, tmp_path, capsys):
    path = _export(tmp_path, [(CONNECTED, float("nan"), 0.1), (DISCONNECTED, float("nan"), 0.1)])
    assert chk.main([str(path)]) == 1
    assert "| jacob_cov | 2 | 2 | 1 | 1 | 1 | 0 |" in capsys.readouterr().out


def test_not_an_export_is_a_one_line_error(chk, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert chk.main([str(bad)]) == 2
    assert "not a gradsign score export" in capsys.readouterr().err
