"""gradsign.storage.read_score_export: store exports read into pandas with the store's rule."""

from __future__ import annotations

import math

import pytest

from gradsign.errors import StoreError
from gradsign.storage import ResultsStore, ScoreKey, read_score_export
from store_keys import score_key


_key = score_key


def test_an_export_reads_back_with_text_keys_and_missing_values_as_nan(tmp_path):
    store = ResultsStore(tmp_path / "s.sqlite")
    store.put_many(_key(), [("|a~0|", 1.25, 2.0), ("|b~0|", float("nan"), 3.0)])
    path = tmp_path / "e.csv.gz"
    store.export_csv(path)
    frame = read_score_export(path)
    assert tuple(frame.columns) == ResultsStore.EXPORT_COLUMNS
    by_arch = frame.set_index("arch")
    assert by_arch.loc["|a~0|", "value"] == 1.25 and by_arch.loc["|a~0|", "status"] == "ok"
    assert math.isnan(by_arch.loc["|b~0|", "value"]) and by_arch.loc["|b~0|", "status"] == "nan"
    # Key columns stay exactly the text the store wrote (the options string is not parsed).
    assert set(frame["options"]) == {ScoreKey.canonical_options({})} and set(frame["proxy_version"]) == {"1"}


@pytest.mark.parametrize("content, reason", [
    (b"arch,gradsign\n|a~0|,1\n", "not a gradsign score export"),
    (b"", "cannot read"),
])
def test_a_file_that_is_not_an_export_is_one_line_error(tmp_path, content, reason):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(StoreError, match=reason) as info:
        read_score_export(path)
    assert "\n" not in str(info.value)


def test_a_truncated_gzip_export_is_refused(tmp_path):
    store = ResultsStore(tmp_path / "s.sqlite")
    store.put_many(_key(), [(f"|a~{i}|", float(i), 1.0) for i in range(2000)])
    path = tmp_path / "e.csv.gz"
    store.export_csv(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match="cannot read"):
        read_score_export(path)
    with pytest.raises(StoreError):
        read_score_export(tmp_path / "missing.csv.gz")
