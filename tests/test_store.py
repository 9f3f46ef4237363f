import math
import os
import sqlite3

import pytest

from gradsign.errors import StoreError
from gradsign.storage import ImportSummary, ResultsStore, ScoreKey
from store_keys import score_key


def _key(**kw):
    return score_key(**{"proxy": "snip", **kw})


def test_roundtrip_and_special_values(tmp_path):
    store = ResultsStore(tmp_path / "s.sqlite")
    k = _key()
    store.put_many(k, [("a", 1.5, 0.1), ("b", float("nan"), 0.2), ("c", float("inf"), 0.3), ("d", -float("inf"), 0.0)])
    got = store.get_many(k, ["a", "b", "c", "d", "missing"])
    assert set(got) == {"a", "b", "c", "d"}
    assert got["a"].value == 1.5 and got["a"].status == "ok" and got["a"].seconds == 0.1
    assert math.isnan(got["b"].value) and got["b"].status == "nan"
    assert got["c"].value == float("inf") and got["d"].value == -float("inf")
    assert store.count() == 4


def test_key_separates_everything_that_changes_a_score(tmp_path):
    store = ResultsStore(tmp_path / "s.sqlite")
    variants = [_key(), _key(seed=1), _key(batch_size=32), _key(proxy_version="2"), _key(dataset="cifar100"),
                _key(options=ScoreKey.canonical_options({"engine": "fast"})), _key(sampling="grasp"),
                _key(init="kaiming"), _key(space="nb101"), _key(proxy="grad_norm")]
    for i, k in enumerate(variants):
        store.put(k, "arch", float(i), 0.0)
    for i, k in enumerate(variants):
        assert store.get_many(k, ["arch"])["arch"].value == float(i)


def test_canonical_options_order_independent():
    assert ScoreKey.canonical_options({"b": 1, "a": 2}) == ScoreKey.canonical_options({"a": 2, "b": 1})


def test_persists_across_connections_and_concurrent_reader(tmp_path):
    path = tmp_path / "s.sqlite"
    writer = ResultsStore(path)
    reader = ResultsStore(path)
    k = _key()
    writer.put(k, "a", 2.0, None)
    assert reader.get_many(k, ["a"])["a"].value == 2.0
    writer.close()
    assert ResultsStore(path).get_many(k, ["a"])["a"].value == 2.0


def test_errors_counted_and_overwritten_by_success(tmp_path):
    store = ResultsStore(tmp_path / "s.sqlite")
    k = _key()
    assert store.put_error(k, "a", "RuntimeError: out of memory") == 1
    assert store.put_error(k, "a", "RuntimeError: out of memory") == 2
    rec = store.get_many(k, ["a"])["a"]
    assert rec.status == "error" and rec.attempts == 2 and "out of memory" in rec.error
    store.put(k, "a", 3.0, 1.0)
    assert store.get_many(k, ["a"])["a"].status == "ok"


def test_rejects_other_schema_and_garbage(tmp_path):
    old = tmp_path / "old.sqlite"
    con = sqlite3.connect(old)
    con.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT)")
    con.execute("INSERT INTO meta VALUES ('schema_version', '0')")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="schema version 0"):
        ResultsStore(old)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a readable SQLite"):
        ResultsStore(garbage)
    foreign = tmp_path / "foreign.sqlite"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE x(a)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not a gradsign store"):
        ResultsStore(foreign)


def test_export_import_roundtrip(tmp_path):
    src = ResultsStore(tmp_path / "a.sqlite")
    k = _key()
    src.put_many(k, [("a", 1.25, 0.5), ("b", float("nan"), 0.1), ("c", float("-inf"), None)])
    src.put_error(k, "d", "RuntimeError: boom")
    src.put(_key(dataset="cifar100"), "a", 7.0, 1.0)
    csv_path = tmp_path / "x.csv"
    assert src.export_csv(csv_path, where={"dataset": "cifar10"}) == 4
    dst = ResultsStore(tmp_path / "b.sqlite")
    assert dst.import_csv(csv_path) == 4
    assert dst.import_csv(csv_path) == 0  # idempotent
    got = dst.get_many(k, ["a", "b", "c", "d"])
    assert got["a"].value == 1.25 and got["a"].seconds == 0.5
    assert math.isnan(got["b"].value) and got["c"].value == -float("inf")
    assert got["d"].status == "error" and "boom" in got["d"].error


def test_import_rejects_foreign_csv(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(StoreError, match="not a gradsign score export"):
        ResultsStore(tmp_path / "s.sqlite").import_csv(bad)


def test_put_results_writes_several_keys_in_one_transaction(tmp_path):
    store = ResultsStore(tmp_path / "s.sqlite")
    a, b = _key(proxy="gradsign"), _key(proxy="synflow")
    store.put_results([(a, "cell1", 1.5, 0.2), (b, "cell1", float("nan"), 0.1)])
    ra, rb = store.get_many(a, ["cell1"])["cell1"], store.get_many(b, ["cell1"])["cell1"]
    assert (ra.value, ra.status, ra.seconds) == (1.5, "ok", 0.2)
    assert rb.status == "nan" and rb.value != rb.value
    created = {c for (c,) in store._conn.execute("SELECT created FROM scores")}
    assert len(created) == 1 and store.count() == 2  # one write, same timestamp


def test_import_replaces_failures_keeps_scores_and_counts_disagreements(tmp_path):
    k = _key()
    src = ResultsStore(tmp_path / "elsewhere.sqlite")  # the other machine: a, b, c scored, d failed
    src.put_many(k, [("a", 1.0, 0.1), ("b", 2.0, 0.1), ("c", 3.0, 0.1)])
    src.put_error(k, "d", "RuntimeError: boom")
    exported = tmp_path / "x.csv"
    src.export_csv(exported)
    dst = ResultsStore(tmp_path / "here.sqlite")  # here: a the same, b another value, c failed, d ok
    dst.put_many(k, [("a", 1.0, 0.5), ("b", 2.5, 0.5), ("d", 4.0, 0.5)])
    dst.put_error(k, "c", "RuntimeError: out of memory")
    assert dst.import_csv(exported) == 0  # no new key
    assert dst.last_import == ImportSummary(added=0, replaced_failures=1, already_stored=3, disagreeing=1)
    got = dst.get_many(k, ["a", "b", "c", "d"])
    assert got["c"].status == "ok" and got["c"].value == 3.0  # the failure gave way to the other machine's score
    assert got["b"].value == 2.5 and got["d"].value == 4.0  # stored scores kept (d: a stored score beats an error)
    assert got["a"].seconds == 0.5
    assert dst.import_csv(exported) == 0
    assert dst.last_import == ImportSummary(added=0, replaced_failures=0, already_stored=4, disagreeing=1)
    fresh = ResultsStore(tmp_path / "fresh.sqlite")
    assert fresh.import_csv(exported) == 4
    assert fresh.last_import == ImportSummary(added=4, replaced_failures=0, already_stored=0, disagreeing=0)


def test_put_error_counts_attempts_and_never_overwrites_a_score(tmp_path):
    k = _key()
    s = ResultsStore(tmp_path / "s.sqlite")
    assert s.put_error(k, "a", "RuntimeError: 1") == 1 and s.put_error(k, "a", "RuntimeError: 2") == 2
    rec = s.get_many(k, ["a"])["a"]
    assert rec.status == "error" and rec.attempts == 2 and rec.error == "RuntimeError: 2"
    s.put_many(k, [("b", 5.0, 0.1)])  # e.g. imported while a retry of b was running
    assert s.put_error(k, "b", "RuntimeError: late") == 0
    assert s.get_many(k, ["b"])["b"].value == 5.0


def test_a_score_later_in_one_file_replaces_an_earlier_failure_of_its_key(tmp_path):
    k = _key()
    a, b = ResultsStore(tmp_path / "a.sqlite"), ResultsStore(tmp_path / "b.sqlite")
    a.put_error(k, "x", "RuntimeError: boom")
    b.put_many(k, [("x", 7.0, 0.1)])
    joined = tmp_path / "joined.csv"
    a.export_csv(tmp_path / "a.csv")
    b.export_csv(tmp_path / "b.csv")
    body_b = (tmp_path / "b.csv").read_text().splitlines()[1:]
    joined.write_text((tmp_path / "a.csv").read_text() + "\n".join(body_b) + "\n")  # error first, then the score
    fresh = ResultsStore(tmp_path / "fresh.sqlite")
    assert fresh.import_csv(joined) == 1 and fresh.get_many(k, ["x"])["x"].value == 7.0
    stuck = ResultsStore(tmp_path / "stuck.sqlite")
    stuck.put_error(k, "x", "RuntimeError: here too")
    assert stuck.import_csv(joined) == 0 and stuck.get_many(k, ["x"])["x"].value == 7.0
    assert stuck.last_import.replaced_failures == 1


def test_gzip_export_roundtrips_and_a_truncated_one_is_a_clear_error(tmp_path):
    src = ResultsStore(tmp_path / "a.sqlite")
    src.put_many(_key(), [(f"cell{i}", float(i), 0.1) for i in range(200)])
    gz = tmp_path / "x.csv.gz"
    assert src.export_csv(gz) == 200
    assert gz.read_bytes()[:2] == b"\x1f\x8b"  # really gzip
    dst = ResultsStore(tmp_path / "b.sqlite")
    assert dst.import_csv(gz) == 200 and dst.get_many(_key(), ["cell7"])["cell7"].value == 7.0
    # Deterministic bytes (no time stamp or name in the header): re-exporting unchanged scores,
    # later and under another name, is no change to commit.
    again = tmp_path / "other_name.csv.gz"
    os.utime(gz, (0, 0))
    assert src.export_csv(again) == 200 and again.read_bytes() == gz.read_bytes()
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(gz.read_bytes()[: gz.stat().st_size // 2])
    with pytest.raises(StoreError, match="cannot read"):
        ResultsStore(tmp_path / "c.sqlite").import_csv(cut)


def test_export_onto_the_store_itself_is_refused_and_the_store_kept(tmp_path):
    store = ResultsStore(tmp_path / "s.sqlite")
    store.put_many(_key(), [("a", 1.5, 0.1)])
    for target in ("s.sqlite", "s.sqlite-wal", "s.sqlite-shm", "./s.sqlite"):
        with pytest.raises(StoreError, match="cannot export the store .* would overwrite the store's own data"):
            store.export_csv(tmp_path / target)
    assert ResultsStore(tmp_path / "s.sqlite").get_many(_key(), ["a"])["a"].value == 1.5
    assert store.is_own_file(tmp_path / "sub" / ".." / "s.sqlite") and not store.is_own_file(tmp_path / "s.csv")


@pytest.mark.parametrize("name", ["x.csv", "x.csv.gz"])
def test_an_export_cut_short_leaves_the_earlier_file_and_no_partial_one(tmp_path, monkeypatch, name):
    import csv

    store = ResultsStore(tmp_path / "s.sqlite")
    store.put_many(_key(), [(f"a{i}", float(i), 0.1) for i in range(50)])
    path = tmp_path / name
    assert store.export_csv(path) == 50
    before = path.read_bytes()
    store.put_many(_key(), [("b", 2.0, 0.1)])

    class DiskFull:
        def __init__(self, f):
            self.rows = 0

        def writerow(self, row):
            self.rows += 1
            if self.rows > 10:
                raise OSError(28, "No space left on device")

    monkeypatch.setattr(csv, "writer", DiskFull)
    with pytest.raises(OSError, match="No space left"):
        store.export_csv(path)
    assert path.read_bytes() == before  # was truncated and left with the rows written so far
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("s.sqlite")) == [name]


def _exported_lines(tmp_path, rows):
    src = ResultsStore(tmp_path / "src.sqlite")
    src.put_many(_key(), rows)
    src.export_csv(tmp_path / "x.csv")
    header, *body = (tmp_path / "x.csv").read_text().splitlines()
    return header, body


@pytest.mark.parametrize("value, status, why", [
    ("", "ok", "status ok needs a finite value, got none"),
    ("nan", "ok", "status ok needs a finite value, got nan"),
    ("inf", "ok", "status ok needs a finite value, got inf"),
    ("777.0", "nan", "status nan is stored without a value, got 777.0"),
    ("1.0", "error", "status error is stored without a value"),
    ("1.0", "bogus", "unknown status 'bogus'"),
])
def test_import_refuses_rows_no_store_writes_and_changes_nothing(tmp_path, value, status, why):
    header, body = _exported_lines(tmp_path, [("a", 1.5, 0.1), ("b", 2.5, 0.1)])
    cols = header.split(",")
    fields = body[1].split(",")
    fields[cols.index("value")], fields[cols.index("status")] = value, status
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([header, body[0], ",".join(fields)]) + "\n")
    store = ResultsStore(tmp_path / "s.sqlite")
    with pytest.raises(StoreError, match=f"bad.csv:3: {why}"):  # such a row crashed every read, or was served
        store.import_csv(bad)
    assert store.count() == 0


def test_import_warns_of_a_key_the_file_itself_scores_twice(tmp_path):
    header, body = _exported_lines(tmp_path, [("a", 1.5, 0.1)])
    cols = header.split(",")
    other = body[0].split(",")
    other[cols.index("value")] = "9.5"
    twice = tmp_path / "twice.csv"
    twice.write_text("\n".join([header, body[0], ",".join(other), body[0]]) + "\n")
    store = ResultsStore(tmp_path / "s.sqlite")
    assert store.import_csv(twice) == 1 and store.get_many(_key(), ["a"])["a"].value == 1.5  # the first
    assert store.last_import.disagreeing_in_file == 1
    same = tmp_path / "same.csv"
    same.write_text("\n".join([header, body[0], body[0]]) + "\n")
    other = ResultsStore(tmp_path / "t.sqlite")
    assert other.import_csv(same) == 1 and other.last_import.disagreeing_in_file == 0  # the same twice: no warning


def test_importing_several_files_checks_them_all_before_importing_any(tmp_path):
    from gradsign.workflows.store_exchange import import_exports

    header, body = _exported_lines(tmp_path, [("a", 1.5, 0.1)])
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("\n".join([header, *body]) + "\n")
    bad.write_text(header + "\nnot,a,row\n")
    store_path = tmp_path / "s.sqlite"
    ResultsStore(store_path).put_many(_key(proxy="synflow"), [("z", 1.0, 0.1)])
    with pytest.raises(StoreError, match="bad.csv:2: expected 16 fields, got 3"):
        import_exports(store_path, [good, bad])
    assert ResultsStore(store_path).count() == 1  # good.csv was not imported either
    with pytest.raises(StoreError, match="is a directory, not an export file"):
        import_exports(store_path, [tmp_path])
