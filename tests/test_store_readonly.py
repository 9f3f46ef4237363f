"""Reading the results store never creates anything, and works on a read-only file system.

Root ignores permission bits, so "read-only" is made real with a read-only bind mount
in a private mount namespace (`unshare -m`); those tests skip where that is not allowed.
A path whose parent is a regular file stands in for an uncreatable location.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gradsign.cli.main import main
from gradsign.errors import StoreError
from gradsign.storage import ResultsStore
from gradsign.storage.store import connect_read_only
from store_keys import score_key

KEY = score_key(proxy="params")


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


def _filled_store(path: Path, n: int = 3) -> Path:
    with ResultsStore(path) as s:
        s.put_many(KEY, [(f"arch{i}", float(i), 0.01) for i in range(n)])
    return path


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# --------------------------------------------------------------------------- mistyped paths


def test_read_only_open_of_a_missing_store_names_it_and_creates_nothing(tmp_path):
    target = tmp_path / "typo" / "deeper" / "store.sqlite"
    with pytest.raises(StoreError, match="does not exist") as exc:
        ResultsStore(target, read_only=True)
    assert str(target) in str(exc.value) and "\n" not in str(exc.value)
    assert _tree(tmp_path) == []


def test_file_as_parent_is_a_one_line_error_read_only_or_not(tmp_path):
    (tmp_path / "afile").write_text("x")
    target = tmp_path / "afile" / "store.sqlite"
    with pytest.raises(StoreError, match="does not exist"):
        ResultsStore(target, read_only=True)
    with pytest.raises(StoreError, match="cannot create the folder") as exc:  # writing: was a raw OSError
        ResultsStore(target)
    assert str(target) in str(exc.value)


@pytest.mark.parametrize("argv", [
    ["store", "info"],
    ["store", "export", "--output", "{tmp}/out/x.csv"],
    ["evaluate", "--space", "nb201", "--dataset", "cifar10", "--proxies", "params", "--sample", "5",
     "--stored-only", "--data-dir", "{tmp}"],
])
def test_reading_commands_refuse_a_mistyped_store_and_create_nothing(argv, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    store = work / "typo" / "store.sqlite"
    argv = [a.replace("{tmp}", str(work)) for a in argv] + ["--store", str(store)]
    code, out, err = run(argv, capsys)
    assert code != 0
    assert str(store) in err and "does not exist" in err
    assert len(err.strip().splitlines()) == 1
    assert _tree(work) == []  # no folder, no empty database, no output folder


def test_empty_or_foreign_database_is_not_a_store_when_reading(tmp_path):
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    with pytest.raises(StoreError, match="not a gradsign store"):
        ResultsStore(empty, read_only=True)
    assert empty.stat().st_size == 0  # the writable open would have created the schema
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a readable SQLite database"):
        ResultsStore(garbage, read_only=True)


def test_read_only_store_reads_and_refuses_writes(tmp_path):
    path = _filled_store(tmp_path / "s.sqlite")
    before = path.read_bytes()
    with ResultsStore(path, read_only=True) as s:
        assert s.count() == 3
        assert s.get_many(KEY, ["arch1"])["arch1"].value == 1.0
        with pytest.raises(StoreError, match="read-only"):
            s.put(KEY, "new", 1.0, 0.0)
        with pytest.raises(StoreError, match="read-only"):
            s.put_error(KEY, "new", "boom")
        csv = tmp_path / "x.csv"
        assert s.export_csv(csv) == 3
        with pytest.raises(StoreError, match="read-only"):
            s.import_csv(csv)
    assert path.read_bytes() == before  # the database file itself is untouched


def test_store_info_reads_without_writing(tmp_path, capsys):
    path = _filled_store(tmp_path / "s.sqlite")
    before = path.read_bytes()
    code, out, _ = run(["store", "info", "--store", str(path)], capsys)
    assert code == 0 and "params" in out
    assert path.read_bytes() == before


def test_path_with_uri_special_characters(tmp_path):
    path = _filled_store(tmp_path / "odd ?#% name.sqlite")
    with ResultsStore(path, read_only=True) as s:
        assert s.count() == 3


# --------------------------------------------------------------------------- read-only file system


def _can_mount_read_only() -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    try:
        r = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind /tmp /tmp && mount -o remount,ro,bind /tmp"],
                           capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


needs_ro_mount = pytest.mark.skipif(not _can_mount_read_only(),
                                    reason="cannot make a read-only bind mount here (unshare -m / mount not permitted)")


def _run_on_read_only(folder: Path, code: str) -> subprocess.CompletedProcess:
    """Run Python ``code`` with ``folder`` bind-mounted read-only over itself (private mount namespace)."""
    d = str(folder)
    script = f'mount --bind "{d}" "{d}" && mount -o remount,ro,bind "{d}" && exec "$0" -c "$1"'
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(["unshare", "-m", "sh", "-c", script, sys.executable, code],
                          capture_output=True, text=True, timeout=120, env=env)


_CLI_MAIN = "from gradsign.cli.main import main"


@pytest.mark.slow
@needs_ro_mount
def test_store_on_a_read_only_file_system_can_be_read(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    path = _filled_store(ro / "s.sqlite")
    assert sorted(os.listdir(ro)) == ["s.sqlite"]  # closed cleanly: no -wal / -shm to help SQLite
    out_csv = tmp_path / "out.csv"
    r = _run_on_read_only(ro, f"open({str(ro / 'probe')!r}, 'w')")  # the mount really is read-only
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    info = _run_on_read_only(ro, f"{_CLI_MAIN}; main(['store','info','--store',{str(ro / 's.sqlite')!r}])")
    assert info.returncode == 0, info.stderr
    assert "params" in info.stdout and "3" in info.stdout
    export = _run_on_read_only(ro, f"{_CLI_MAIN}; main(['store','export','--store',"
                                   f"{str(ro / 's.sqlite')!r},'--output',{str(out_csv)!r}])")
    assert export.returncode == 0, export.stderr
    assert len(out_csv.read_text().splitlines()) == 4
    assert sorted(os.listdir(ro)) == ["s.sqlite"]


@pytest.mark.slow
@needs_ro_mount
def test_read_only_file_system_with_unreadable_wal_is_refused_not_misread(tmp_path):
    """A copy taken while a writer had uncheckpointed pages: -wal without -shm on read-only media."""
    src = tmp_path / "live.sqlite"
    s = ResultsStore(src)
    s._conn.execute("PRAGMA wal_autocheckpoint=0")
    s.put_many(KEY, [("a", 1.0, 0.0)])
    ro = tmp_path / "ro"
    ro.mkdir()
    shutil.copy(src, ro / "s.sqlite")
    shutil.copy(f"{src}-wal", ro / "s.sqlite-wal")
    s.close()
    r = _run_on_read_only(ro, f"{_CLI_MAIN}; main(['store','info','--store',{str(ro / 's.sqlite')!r}])")
    assert r.returncode == 2
    assert "write-ahead log" in r.stderr and str(ro / "s.sqlite") in r.stderr


@needs_ro_mount
def test_read_only_file_system_with_wal_and_shm_present_reads_them(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    path = _filled_store(ro / "s.sqlite")
    connect_read_only(path).close()  # a read-only reader leaves -wal / -shm behind (SQLite's own files)
    assert (ro / "s.sqlite-shm").exists()
    r = _run_on_read_only(ro, "from gradsign.storage import ResultsStore; "
                              f"print(ResultsStore({str(path)!r}, read_only=True).count())")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "3"


def test_connect_read_only_does_not_create(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        connect_read_only(tmp_path / "nope.sqlite")
    assert _tree(tmp_path) == []
    conn = connect_read_only(_filled_store(tmp_path / "s.sqlite"))
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM scores")
    conn.close()


def test_store_info_without_a_default_store_says_so_and_creates_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GRADSIGN_STORE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    code, _, err = run(["store", "info"], capsys)
    assert code == 2 and "no results store at the default location" in err and "--store" in err
    assert _tree(tmp_path) == []


@pytest.mark.slow
@needs_ro_mount
def test_scoring_commands_read_a_read_only_store_and_refuse_only_to_write(tmp_path):
    """score with every score already stored works on a read-only store; new cells get one true line."""
    ro = tmp_path / "ro"
    ro.mkdir()
    store = ro / "s.sqlite"
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    # filled by a separate process, which closes the store cleanly (WAL checkpointed, no -wal / -shm left)
    filled = subprocess.run([sys.executable, "-c", f"{_CLI_MAIN}; main(['score','--arch',{arch!r},'--proxies',"
                             f"'params','--store',{str(store)!r}])"], capture_output=True, text=True, timeout=120)
    assert filled.returncode == 0, filled.stderr
    assert sorted(os.listdir(ro)) == ["s.sqlite"]
    again = _run_on_read_only(ro, f"{_CLI_MAIN}; main(['score','--arch',{arch!r},'--proxies','params','--store',"
                                  f"{str(store)!r},'--format','csv'])")
    assert again.returncode == 0, again.stderr
    assert "params" in again.stdout
    new = _run_on_read_only(ro, f"{_CLI_MAIN}; main(['score','--index','7','--proxies','params','--store',"
                                f"{str(store)!r}])")
    assert new.returncode == 2
    assert "cannot be written here" in new.stderr and "scoring 1 cell(s) needs to write it" in new.stderr
    assert "not a readable SQLite database" not in new.stderr


def test_store_info_counts_other_versions_and_options_apart(tmp_path, capsys, monkeypatch):
    import dataclasses

    path = tmp_path / "s.sqlite"
    with ResultsStore(path) as s:
        s.put_many(KEY, [("a", 1.0, 0.1), ("b", 2.0, 0.1)])
        s.put_many(dataclasses.replace(KEY, options='{"broadcast": false}'), [("a", 3.0, 0.1)])
        s.put_many(dataclasses.replace(KEY, proxy_version="2"), [("a", 4.0, 0.1)])
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = run(["store", "info", "--store", str(path)], capsys)
    assert code == 0
    rows = [line for line in out.splitlines() if KEY.proxy in line]
    assert len(rows) == 3 and any('{"broadcast": false}' in r for r in rows)  # were one line of 4 cells
