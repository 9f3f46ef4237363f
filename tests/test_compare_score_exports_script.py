"""scripts/compare_score_exports.py: row-by-row comparison of two store exports."""

import pytest

from benchmark_scripts import load_benchmark_script
from gradsign.storage import ResultsStore
from store_keys import score_key


@pytest.fixture(scope="module")
def cmp():
    return load_benchmark_script("compare_score_exports.py")


_key = score_key


def _export(tmp_path, name, rows_by_key):
    store = ResultsStore(tmp_path / f"{name}.sqlite")
    for key, rows in rows_by_key:
        store.put_many(key, rows)
    path = tmp_path / f"{name}.csv.gz"
    store.export_csv(path)
    return path


def test_identical_values_compare_equal_and_seconds_ratio_is_reported(cmp, tmp_path, capsys):
    old = _export(tmp_path, "old", [(_key(), [("a", 1.25, 2.0), ("b", float("-inf"), 4.0), ("c", 3.0, 1.0)])])
    new = _export(tmp_path, "new", [(_key(), [("a", 1.25, 1.0), ("b", float("-inf"), 2.0), ("d", 5.0, 1.0)])])
    assert cmp.main([str(old), str(new)]) == 0
    (row,) = cmp.compare(cmp.read_export(old), cmp.read_export(new))
    assert row == {"proxy": "gradsign", "only_old": 1, "only_new": 1, "shared": 2, "identical": 2,
                   "status_differs": 0, "max_rel_diff": 0.0, "median_seconds_ratio": 0.5}
    assert "| gradsign | 2 | 2 | 0 |" in capsys.readouterr().out


def test_a_different_value_or_status_is_counted_and_fails(cmp, tmp_path):
    old = _export(tmp_path, "old", [(_key(), [("a", 1.0, 1.0), ("b", 2.0, 1.0)]),
                                    (_key(proxy="synflow"), [("a", 7.0, 1.0)])])
    new = _export(tmp_path, "new", [(_key(), [("a", 1.0 + 1e-6, 1.0), ("b", float("nan"), 1.0)]),
                                    (_key(proxy="synflow"), [("a", 7.0, 1.0)])])
    rows = {r["proxy"]: r for r in cmp.compare(cmp.read_export(old), cmp.read_export(new))}
    assert rows["gradsign"]["identical"] == 0 and rows["gradsign"]["status_differs"] == 1
    assert rows["gradsign"]["max_rel_diff"] == pytest.approx(1e-6)
    assert rows["synflow"]["identical"] == 1
    assert cmp.main([str(old), str(new)]) == 1
    assert cmp.main([str(old), str(new), "--proxies", "synflow"]) == 0


def test_rows_of_another_key_are_not_compared(cmp, tmp_path):
    old = _export(tmp_path, "old", [(_key(batch_size=64), [("a", 1.0, 1.0)])])
    new = _export(tmp_path, "new", [(_key(batch_size=128), [("a", 9.0, 1.0)])])
    (row,) = cmp.compare(cmp.read_export(old), cmp.read_export(new))
    assert row["shared"] == 0 and row["only_old"] == 1 and row["only_new"] == 1


def test_not_an_export_is_a_one_line_error(cmp, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    good = _export(tmp_path, "good", [(_key(), [("a", 1.0, 1.0)])])
    assert cmp.main([str(bad), str(good)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "not a gradsign score export" in err and "\n" not in err
