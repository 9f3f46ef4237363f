"""SQLite results store.

One file holds every proxy score ever computed, keyed by everything that can
change the number: search space, architecture, dataset, proxy name, proxy
implementation version, proxy options, batch size, seed, data sampling and
initialization scheme. A run looks up what is already there and computes only
the rest, so a second run is free and an interrupted run resumes where it
stopped: each result is committed as soon as it exists.

SQLite in WAL mode gives safe concurrent readers while one process writes;
writers from several processes on one machine are serialized by SQLite's lock
(with a busy timeout). The store must not be shared across machines over a
network file system (SQLite's locking is unreliable there): distributed
backends send results back to the single writing driver instead.

Commands that only read (``store info``, ``store export``, ``evaluate
--stored-only``, the predictors' store source) open it with ``read_only=True``
(:func:`connect_read_only`): a missing file is an error rather than a new empty
store, nothing is written, and a store on a read-only file system can be read.
"""

from __future__ import annotations

import io

import json
import math
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from gradsign.errors import StoreError

SCHEMA_VERSION = 1

_KEY_COLUMNS = (
    "space", "arch", "dataset", "proxy", "proxy_version", "options",
    "batch_size", "seed", "sampling", "init",
)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scores (
    space TEXT NOT NULL,
    arch TEXT NOT NULL,
    dataset TEXT NOT NULL,
    proxy TEXT NOT NULL,
    proxy_version TEXT NOT NULL,
    options TEXT NOT NULL,
    batch_size INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    sampling TEXT NOT NULL,
    init TEXT NOT NULL,
    value REAL,                -- NULL for NaN (SQLite has no NaN); see status
    status TEXT NOT NULL,      -- ok | nan | inf | -inf | error
    error TEXT,
    seconds REAL,
    attempts INTEGER NOT NULL DEFAULT 1,
    created REAL NOT NULL,
    PRIMARY KEY ({", ".join(_KEY_COLUMNS)})
);
CREATE INDEX IF NOT EXISTS scores_lookup ON scores (space, dataset, proxy, batch_size, seed);
"""


@dataclass(frozen=True)
class ImportSummary:
    """What :meth:`ResultsStore.import_csv` did with a file's rows."""

    added: int  # keys the store did not have
    replaced_failures: int  # stored failures replaced by the file's score
    already_stored: int  # keys the store had (a score, or a failure the file has no score for), kept as stored
    disagreeing: int  # of those, how many the file gives another value or status
    disagreeing_in_file: int = 0  # keys the file itself gives two values (the first is imported)


@dataclass(frozen=True)
class ScoreKey:
    """Everything that determines a stored score (arch and proxy aside, shared by a whole run)."""

    space: str
    dataset: str
    proxy: str
    proxy_version: str
    options: str  # canonical JSON of the proxy's options
    batch_size: int
    seed: int
    sampling: str | None  # None (reading only): any minibatch, for scores that use none
    init: str

    @staticmethod
    def canonical_options(options: dict | None) -> str:
        return json.dumps(options or {}, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class ScoreRecord:
    arch: str
    value: float  # nan / inf preserved
    status: str
    seconds: float | None
    error: str | None = None
    attempts: int = 1


def status_of(value: float) -> str:
    """'ok', 'nan', 'inf' or '-inf': how a score is recorded (SQLite has no NaN)."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return "ok"


def _value_of(value: float | None, status: str) -> float:
    if status == "nan" or status == "error":
        return float("nan")
    if status == "inf":
        return float("inf")
    if status == "-inf":
        return float("-inf")
    return float(value)


def _export_row_problem(payload: tuple) -> str | None:
    """What is wrong with an export row's ``(value, status, error, seconds, attempts, created)``, or None.

    As :meth:`ResultsStore.put_results` and ``put_error`` write them: a value only with status ``ok``,
    and then a finite one (NaN and infinities are the statuses ``nan``, ``inf``, ``-inf``, without value).
    """
    value, status, _error, seconds, attempts, created = payload
    if status not in ("ok", "nan", "inf", "-inf", "error"):
        return f"unknown status {status!r}"
    if status == "ok" and (value is None or not math.isfinite(value)):
        return "status ok needs a finite value, got " + ("none" if value is None else repr(value))
    if status != "ok" and value is not None:
        return f"status {status} is stored without a value, got {value!r}"
    if seconds is not None and not (math.isfinite(seconds) and seconds >= 0):
        return f"seconds must be a non-negative number, got {seconds!r}"
    if attempts < 1:
        return f"attempts must be at least 1, got {attempts}"
    if not math.isfinite(created):
        return f"created must be a time stamp, got {created!r}"
    return None


def _disagreements_within(rows: list[tuple]) -> int:
    """Keys that rows (as :meth:`ResultsStore.read_export` gives them) score twice, with another value or status.

    Failures are left out: a score replacing a failure of its key is the import's rule, not a disagreement.
    """
    n_key = len(_KEY_COLUMNS)
    first: dict[tuple, tuple] = {}
    disagreeing: set[tuple] = set()
    for row in rows:
        status = row[n_key + 1]
        if status == "error":
            continue
        key, outcome = row[:n_key], (status, row[n_key])
        if first.setdefault(key, outcome) != outcome:
            disagreeing.add(key)
    return len(disagreeing)


def _open_text(path: str | Path, mode: str):
    """A text file for the csv module; gzip-compressed when the name ends in ``.gz``."""
    if str(path).endswith(".gz"):
        import gzip

        if "r" in mode:
            return gzip.open(path, mode + "t", newline="", encoding="utf-8")
        # No time stamp or file name in the gzip header: the same rows give the same bytes,
        # so a re-export of unchanged scores is no change to commit.
        raw = open(path, mode + "b")
        try:
            return _ClosingTextWrapper(gzip.GzipFile(filename="", mode=mode + "b", fileobj=raw, mtime=0), raw)
        except BaseException:
            raw.close()
            raise
    return open(path, mode, newline="", encoding="utf-8")


class _ClosingTextWrapper(io.TextIOWrapper):
    """A UTF-8 text view of a GzipFile that also closes the file the GzipFile writes into."""

    def __init__(self, gz, raw) -> None:
        super().__init__(gz, encoding="utf-8", newline="")
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


def connect_read_only(path: str | Path, *, timeout: float = 60.0) -> sqlite3.Connection:
    """A read-only connection to the existing SQLite file ``path``; creates nothing.

    ``mode=ro`` first. A WAL database (the store's journal mode) on a read-only
    file system cannot be opened that way unless its ``-shm`` file is already
    there; then it is opened ``immutable=1``, which is exact when no ``-wal``
    file holds uncommitted-to-the-main-file pages. With a non-empty ``-wal``
    and no way to read it, this refuses rather than return stale scores.
    Raises :class:`StoreError` (one line, naming the path) on any failure.
    """
    p = Path(path)
    if not p.exists():
        raise StoreError(f"results store {p} does not exist (check the --store path)")
    if not p.is_file():
        raise StoreError(f"results store {p} is not a file")
    uri = p.resolve().as_uri()  # percent-encodes '?', '#', '%' and spaces in the path
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=timeout, isolation_level=None)
        try:
            conn.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            if getattr(exc, "sqlite_errorname", None) != "SQLITE_CANTOPEN" and "unable to open" not in str(exc):
                raise
            # Read-only file system and no -shm file: SQLite cannot set up WAL shared memory.
            wal = Path(f"{p}-wal")
            if wal.is_file() and wal.stat().st_size > 0:
                raise StoreError(
                    f"results store {p} cannot be read here: its write-ahead log {wal} holds scores that a "
                    f"read-only file system keeps SQLite from reading ({exc}); copy the store files to a "
                    "writable place"
                ) from None
            conn = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, timeout=timeout, isolation_level=None)
            conn.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
            return conn
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"results store {p} is not a readable SQLite database ({exc})") from None


def _writable(path: Path) -> bool:
    """Whether a file in ``path``'s folder can be created and ``path`` opened for writing (tried, not guessed)."""
    import os
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".gradsign-probe-", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
        with open(path, "ab"):
            pass
        return True
    except OSError:
        return False


class ResultsStore:
    """A results store in one SQLite file (created on first use, unless ``read_only``).

    ``read_only=True`` is for commands that only read: the file must exist
    (no folders or empty database are created for a mistyped path), it is opened
    with :func:`connect_read_only`, and the writing methods raise :class:`StoreError`.
    """

    def __init__(self, path: str | Path, *, timeout: float = 60.0, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.last_import: ImportSummary | None = None
        if read_only:
            self._conn = connect_read_only(self.path, timeout=timeout)
            try:
                self._check_schema()
            except BaseException:
                self._conn.close()
                raise
            return
        if self.path.exists() and not self.path.is_file():
            raise StoreError(f"results store {self.path} is not a file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of results store {self.path} ({exc.strerror or exc})") from None
        try:
            self._conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._init_schema()
        except sqlite3.DatabaseError as exc:
            # An existing store that cannot be written here (a read-only file system, a file
            # without write permission) is still readable: open it read-only, and refuse only
            # when something must be written (`unwritable` says why; see require_writable).
            if self.path.is_file() and not _writable(self.path):
                self._conn = connect_read_only(self.path, timeout=timeout)
                self.read_only = True
                self.unwritable = f"results store {self.path} cannot be written here ({exc})"
                self._check_schema()
                return
            raise StoreError(f"results store {self.path} is not a readable SQLite database ({exc})") from None

    #: why a store opened for writing fell back to reading only (None: writable, or asked read-only)
    unwritable: str | None = None

    def require_writable(self, what: str) -> None:
        """A one-line StoreError before ``what`` (e.g. "scoring 12 cells") when this store cannot be written."""
        if self.read_only:
            why = self.unwritable or f"results store {self.path} was opened read-only"
            raise StoreError(f"{why}; {what} needs to write it: use --no-store, or a copy of the store in a "
                             "writable place (what it holds can be reported with evaluate --stored-only)")

    def _check_schema(self) -> None:
        """Validate an existing store opened read-only (an empty database is not a store)."""
        try:
            tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"results store {self.path} is not a readable SQLite database ({exc})") from None
        if "meta" not in tables or "scores" not in tables:
            what = "an empty database" if not tables else "no meta/scores table"
            raise StoreError(f"results store {self.path} is not a gradsign store ({what})")
        self._init_schema()

    def _init_schema(self) -> None:
        tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise StoreError(f"results store {self.path} is not a gradsign store (no meta table)")
        if "meta" in tables:
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            found = int(row[0]) if row else 0
            if found != SCHEMA_VERSION:
                raise StoreError(
                    f"results store {self.path} has schema version {found}, this gradsign reads version "
                    f"{SCHEMA_VERSION}; use a new --store path (scores are not converted between versions)"
                )
            return
        self._conn.executescript(_SCHEMA)
        self._conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )

    # -- reading ---------------------------------------------------------------
    @staticmethod
    def _where(key: ScoreKey) -> tuple[str, list, bool]:
        """WHERE clause and parameters for ``key``, and whether it has wildcards (None matches any value)."""
        cols = [c for c in _KEY_COLUMNS if c != "arch" and getattr(key, c) is not None]
        return " AND ".join(f"{c}=?" for c in cols), [getattr(key, c) for c in cols], len(cols) < len(_KEY_COLUMNS) - 1

    # A wildcard key can match several rows of one arch (e.g. a data-free score stored
    # under two minibatch descriptions); they are the same computation, so any will do,
    # but a successful one is preferred over a recorded failure: failures are read first
    # and overwritten.
    _FAILURES_FIRST = " ORDER BY (status = 'error') DESC"

    def get_many(self, key: ScoreKey, archs: Iterable[str]) -> dict[str, ScoreRecord]:
        """Stored records (including errors) for ``archs`` under ``key`` (None fields match anything)."""
        archs = list(archs)
        out: dict[str, ScoreRecord] = {}
        where, params, wildcard = self._where(key)
        # An exact key has one row per arch: no ordering needed on this hot path.
        order = self._FAILURES_FIRST if wildcard else ""
        # Chunk the IN list to stay under SQLite's variable limit.
        for i in range(0, len(archs), 500):
            chunk = archs[i:i + 500]
            q = (f"SELECT arch, value, status, seconds, error, attempts FROM scores WHERE {where} "
                 f"AND arch IN ({','.join('?' * len(chunk))})" + order)
            for arch, value, status, seconds, error, attempts in self._conn.execute(q, params + chunk):
                out[arch] = ScoreRecord(arch, _value_of(value, status), status, seconds, error, attempts)
        return out

    def iter_key(self, key: ScoreKey) -> Iterator[ScoreRecord]:
        """Every record under ``key`` (None fields match anything; then one record per arch)."""
        where, params, wildcard = self._where(key)
        q = f"SELECT arch, value, status, seconds, error, attempts FROM scores WHERE {where}"
        if wildcard:
            by_arch = {r[0]: r for r in self._conn.execute(q + self._FAILURES_FIRST, params)}
            rows = iter(by_arch.values())
        else:
            rows = self._conn.execute(q, params)
        for arch, value, status, seconds, error, attempts in rows:
            yield ScoreRecord(arch, _value_of(value, status), status, seconds, error, attempts)

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0])

    # -- writing ---------------------------------------------------------------
    def put(self, key: ScoreKey, arch: str, value: float, seconds: float | None) -> None:
        self.put_many(key, [(arch, value, seconds)])

    def put_many(self, key: ScoreKey, rows: Iterable[tuple[str, float, float | None]]) -> None:
        """Write finished scores of one key in one transaction (committed before returning)."""
        self.put_results((key, arch, value, seconds) for arch, value, seconds in rows)

    def put_results(self, rows: Iterable[tuple[ScoreKey, str, float, float | None]]) -> None:
        """Write finished scores of any keys (e.g. every proxy of one cell) in one transaction.

        One commit per cell instead of one per (cell, proxy): on a cluster sweep
        the single writer commits a dozen times less often.
        """
        now = time.time()
        data = []
        bases: dict[ScoreKey, list] = {}
        for key, arch, value, seconds in rows:
            base = bases.get(key)
            if base is None:
                base = bases[key] = [getattr(key, c) for c in _KEY_COLUMNS if c != "arch"]
                if any(v is None for v in base):
                    raise StoreError(f"cannot store a score under a key with unspecified fields (reading only): {key}")
            value = float(value)
            status = status_of(value)
            data.append(self._row(base, arch, value if status == "ok" else None, status, None, seconds, 1, now))
        self._write(data)

    def put_error(self, key: ScoreKey, arch: str, error: str, seconds: float | None = None) -> int:
        """Record a failure; returns how many attempts have failed so far for this cell.

        One statement, so a concurrent writer can neither lose an attempt nor be overwritten: a score
        stored meanwhile (by another run, or ``gradsign store import``) is kept, and 0 is returned.
        """
        self._refuse_if_read_only()
        base = [getattr(key, c) for c in _KEY_COLUMNS if c != "arch"]
        row = self._row(base, arch, None, "error", error[:2000], seconds, 1, time.time())
        cols = ", ".join(self.EXPORT_COLUMNS)
        upsert = (f"INSERT INTO scores ({cols}) VALUES ({','.join('?' * len(row))}) "
                  f"ON CONFLICT ({', '.join(_KEY_COLUMNS)}) DO UPDATE SET value = NULL, status = 'error', "
                  "error = excluded.error, seconds = excluded.seconds, attempts = scores.attempts + 1, "
                  "created = excluded.created WHERE scores.status = 'error'")
        same_key = " AND ".join(f"{c} = ?" for c in _KEY_COLUMNS)
        try:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute(upsert, row)
                status, attempts = self._conn.execute(f"SELECT status, attempts FROM scores WHERE {same_key}",
                                                      row[:len(_KEY_COLUMNS)]).fetchone()
        except sqlite3.OperationalError as exc:
            raise StoreError(f"could not write to results store {self.path}: {exc}") from None
        return int(attempts) if status == "error" else 0

    @staticmethod
    def _row(base, arch, value, status, error, seconds, attempts, now):
        # Column order: the key columns (arch second), then the payload.
        return (base[0], arch, *base[1:], value, status, error, seconds, attempts, now)

    def _refuse_if_read_only(self) -> None:
        if self.read_only:
            raise StoreError(f"results store {self.path} was opened read-only; cannot write to it")

    def _write(self, data: list[tuple]) -> None:
        self._refuse_if_read_only()
        if not data:
            return
        cols = ", ".join(_KEY_COLUMNS) + ", value, status, error, seconds, attempts, created"
        q = f"INSERT OR REPLACE INTO scores ({cols}) VALUES ({','.join('?' * 16)})"
        try:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany(q, data)
        except sqlite3.OperationalError as exc:
            raise StoreError(f"could not write to results store {self.path}: {exc}") from None

    # -- exchange ---------------------------------------------------------------
    EXPORT_COLUMNS = (*_KEY_COLUMNS, "value", "status", "error", "seconds", "attempts", "created")

    def export_csv(self, path: str | Path, where: dict[str, Any] | None = None) -> int:
        """Write every row (or those matching ``where`` on key columns) to a CSV file; returns the row count.

        The CSV is the portable form of computed scores: it can be committed as a
        result, shared, and loaded into another store with :meth:`import_csv`.
        A path ending in ``.gz`` is written gzip-compressed (about 10x smaller:
        the key columns repeat on every row).

        The rows go to a temporary file beside ``path``, renamed onto it once complete: an
        export cut short (full disk, interruption) leaves any earlier file at ``path`` as it
        was and no partial one. ``path`` must not be the store itself (or its SQLite side files).
        """
        import csv
        import os

        where = where or {}
        bad = set(where) - set(_KEY_COLUMNS)
        if bad:
            raise StoreError(f"cannot filter on {sorted(bad)}; key columns are {', '.join(_KEY_COLUMNS)}")
        path = Path(path)
        if self.is_own_file(path):
            raise StoreError(f"cannot export the store {self.path} onto {path}: that would overwrite the store's own "
                             "data; give the CSV another name")
        clause = " AND ".join(f"{c}=?" for c in where) or "1=1"
        q = f"SELECT {', '.join(self.EXPORT_COLUMNS)} FROM scores WHERE {clause} ORDER BY {', '.join(_KEY_COLUMNS)}"

        def write(target: Path) -> int:
            written = 0
            with _open_text(target, "w") as f:
                w = csv.writer(f)
                w.writerow(self.EXPORT_COLUMNS)
                for row in self._conn.execute(q, list(where.values())):
                    w.writerow(["" if v is None else (repr(v) if isinstance(v, float) else v) for v in row])
                    written += 1
            return written

        if path.is_symlink() or (path.exists() and not path.is_file()):
            return write(path)  # /dev/stdout, a pipe, a link: written where it leads, as before
        # ".gz" kept at the end of the temporary name: _open_text compresses by the name.
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial" + (".gz" if path.name.endswith(".gz") else ""))
        try:
            n = write(partial)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        return n

    def is_own_file(self, path: str | Path) -> bool:
        """Whether ``path`` is this store's database file or one of SQLite's files beside it (-wal, -shm, -journal)."""
        target = Path(path).expanduser().resolve()
        own = self.path.expanduser().resolve()
        return target in {own, *(own.with_name(own.name + s) for s in ("-wal", "-shm", "-journal"))}

    def distinct_values(self, column: str) -> list[Any]:
        """The distinct values of one key column, sorted: what an export filter on it can match."""
        if column not in _KEY_COLUMNS:
            raise StoreError(f"no key column {column!r}; key columns are {', '.join(_KEY_COLUMNS)}")
        return [r[0] for r in self._conn.execute(f"SELECT DISTINCT {column} FROM scores ORDER BY 1")]

    def import_csv(self, path: str | Path) -> int:
        """Load rows written by :meth:`export_csv` (plain or ``.gz``); returns the rows added (new keys).

        A stored score is kept when the file has the same key; a stored *failure* is replaced by the
        file's score for that key. :attr:`last_import` (an :class:`ImportSummary`) also counts the
        failures replaced, the keys already stored and, among those, the ones whose stored value
        differs from the file's (kept as stored: say so, since same key should mean same number).
        Every row is checked (:meth:`read_export`) before anything is written.
        """
        self._refuse_if_read_only()
        return self.import_rows(self.read_export(path))

    @classmethod
    def read_export(cls, path: str | Path) -> list[tuple]:
        """The rows of an :meth:`export_csv` file, as :meth:`import_rows` takes them; nothing is written.

        A one-line :class:`StoreError` (file and line) for a file that is not an export, a malformed
        number, or a row no store writes (a status without its value, a value without its status).
        """
        import csv

        path = Path(path)
        if path.is_dir():
            raise StoreError(f"{path}: is a directory, not an export file")
        try:
            with _open_text(path, "r") as f:
                reader = csv.reader(f)
                header = next(reader, None)
                if header is None or tuple(header) != cls.EXPORT_COLUMNS:
                    raise StoreError(f"{path}: not a gradsign score export (expected columns {', '.join(cls.EXPORT_COLUMNS)})")
                rows = []
                for lineno, rec in enumerate(reader, 2):
                    if len(rec) != len(cls.EXPORT_COLUMNS):
                        raise StoreError(f"{path}:{lineno}: expected {len(cls.EXPORT_COLUMNS)} fields, got {len(rec)}")
                    d = dict(zip(cls.EXPORT_COLUMNS, rec))
                    try:
                        rows.append((
                            *[int(d[c]) if c in ("batch_size", "seed") else d[c] for c in _KEY_COLUMNS],
                            float(d["value"]) if d["value"] else None, d["status"], d["error"] or None,
                            float(d["seconds"]) if d["seconds"] else None, int(d["attempts"]), float(d["created"]),
                        ))
                    except ValueError as exc:
                        raise StoreError(f"{path}:{lineno}: malformed number ({exc})") from None
                    problem = _export_row_problem(rows[-1][len(_KEY_COLUMNS):])
                    if problem is not None:  # stored, such a row was served as a wrong number or crashed every read
                        raise StoreError(f"{path}:{lineno}: {problem}")
        except (OSError, EOFError, UnicodeDecodeError) as exc:  # EOFError: truncated gzip
            raise StoreError(f"{path}: cannot read ({exc})") from None
        return rows

    def import_rows(self, rows: list[tuple]) -> int:
        """Import rows read by :meth:`read_export` (see :meth:`import_csv`); returns the rows added."""
        self._refuse_if_read_only()
        in_file = _disagreements_within(rows)
        cols = ", ".join(self.EXPORT_COLUMNS)
        keys = ", ".join(_KEY_COLUMNS)
        same_key = " AND ".join(f"s.{c} = i.{c}" for c in _KEY_COLUMNS)
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(f"CREATE TEMP TABLE incoming AS SELECT {cols} FROM scores WHERE 0")
            try:
                # First listed wins inside the import too (a key repeated later in the file is ignored),
                # except that a score replaces an earlier failure of its key.
                self._conn.execute(f"CREATE UNIQUE INDEX temp.incoming_key ON incoming ({keys})")
                payload = ", ".join(f"{c} = excluded.{c}" for c in self.EXPORT_COLUMNS[len(_KEY_COLUMNS):])
                self._conn.executemany(
                    f"INSERT INTO incoming ({cols}) VALUES ({','.join('?' * 16)}) ON CONFLICT ({keys}) DO UPDATE "
                    f"SET {payload} WHERE incoming.status = 'error' AND excluded.status != 'error'", rows)
                # A stored failure gives way to a score computed elsewhere; a stored score is kept, and
                # a different value for it is counted (never silently): same key, other number.
                better = (f"FROM incoming i CROSS JOIN scores s ON {same_key} "
                          "WHERE s.status = 'error' AND i.status != 'error'")
                replaced = self._conn.execute(
                    f"INSERT OR REPLACE INTO scores ({cols}) SELECT {', '.join('i.' + c for c in self.EXPORT_COLUMNS)} "
                    f"{better}").rowcount
                # One pass over the keys both have (the replaced failures now equal the file's rows).
                both, disagree = self._conn.execute(
                    f"SELECT COUNT(*), COALESCE(SUM(s.status != 'error' AND i.status != 'error' AND NOT "
                    f"(s.status = i.status AND s.value IS i.value)), 0) FROM incoming i CROSS JOIN scores s "
                    f"ON {same_key}").fetchone()
                kept = both - replaced
                added = self._conn.execute(
                    f"INSERT INTO scores ({cols}) SELECT {', '.join('i.' + c for c in self.EXPORT_COLUMNS)} "
                    f"FROM incoming i WHERE NOT EXISTS (SELECT 1 FROM scores s WHERE {same_key})").rowcount
            finally:
                self._conn.execute("DROP TABLE temp.incoming")
        self.last_import = ImportSummary(added=added, replaced_failures=replaced, already_stored=kept,
                                         disagreeing=disagree, disagreeing_in_file=in_file)
        return added

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
