"""Finished training runs in SQLite, keyed by (space, arch, recipe key, seed): resume without retraining.

A run is written when it finishes, in one transaction, so an interrupted
benchmark loses at most the runs in flight. Exports are gzip CSV files with
deterministic bytes (committed under ``results/``) and import back exactly.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from gradsign.errors import StoreError
from gradsign.training.trainer import TrainingRun

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trainings (
    space TEXT NOT NULL, arch TEXT NOT NULL, recipe_key TEXT NOT NULL, seed INTEGER NOT NULL,
    recipe TEXT NOT NULL, test_accuracy REAL NOT NULL, val_accuracy TEXT NOT NULL, train_loss TEXT NOT NULL,
    epoch_seconds TEXT NOT NULL, seconds REAL NOT NULL, environment TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (space, arch, recipe_key, seed)
)
"""
COLUMNS = ("space", "arch", "recipe_key", "seed", "recipe", "test_accuracy", "val_accuracy", "train_loss",
           "epoch_seconds", "seconds", "environment", "created")


class TrainingStore:
    """The training runs of one SQLite file (created with its folder on first write, never on read)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None

    def _connect(self, write: bool) -> sqlite3.Connection | None:
        if self._conn is not None:
            return self._conn
        if not self.path.exists():
            if not write:
                return None
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, timeout=60)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: not a usable training store ({exc})") from exc
        self._conn = conn
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def put(self, space: str, run: TrainingRun, recipe: dict, environment: dict) -> None:
        conn = self._connect(write=True)
        with conn:
            conn.execute(
                f"INSERT OR REPLACE INTO trainings ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                (space, run.arch, run.recipe_key, run.seed, json.dumps(recipe, sort_keys=True), run.test_accuracy,
                 json.dumps(run.val_accuracy), json.dumps(run.train_loss), json.dumps(run.epoch_seconds),
                 run.seconds, json.dumps(environment, sort_keys=True), time.time()))

    def done(self, space: str, recipe_key: str) -> set[tuple[str, int]]:
        """(arch, seed) of every stored run of this space and recipe."""
        conn = self._connect(write=False)
        if conn is None:
            return set()
        rows = conn.execute("SELECT arch, seed FROM trainings WHERE space = ? AND recipe_key = ?",
                            (space, recipe_key))
        return {(a, int(s)) for a, s in rows}

    def runs(self, space: str, recipe_key: str) -> list[TrainingRun]:
        conn = self._connect(write=False)
        if conn is None:
            return []
        rows = conn.execute(
            "SELECT arch, seed, recipe_key, train_loss, val_accuracy, test_accuracy, epoch_seconds, seconds "
            "FROM trainings WHERE space = ? AND recipe_key = ? ORDER BY arch, seed", (space, recipe_key))
        return [TrainingRun(arch=a, seed=int(s), recipe_key=k, train_loss=json.loads(tl), val_accuracy=json.loads(va),
                            test_accuracy=float(te), epoch_seconds=json.loads(es), seconds=float(sec))
                for a, s, k, tl, va, te, es, sec in rows]

    def _rows(self) -> Iterator[tuple]:
        conn = self._connect(write=False)
        if conn is None:
            return iter(())
        return conn.execute(f"SELECT {', '.join(COLUMNS)} FROM trainings ORDER BY space, recipe_key, arch, seed")

    def export_csv(self, path: str | Path) -> int:
        """Every run to a CSV file (gzip when the name ends in .gz, without a time stamp); returns the count."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(COLUMNS)
        n = 0
        for row in self._rows():
            writer.writerow([repr(v) if isinstance(v, float) else v for v in row])
            n += 1
        data = buf.getvalue().encode()
        path = Path(path)
        if str(path).endswith(".gz"):
            out = io.BytesIO()
            with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
                gz.write(data)
            data = out.getvalue()
        path.write_bytes(data)
        return n

    def import_csv(self, path: str | Path) -> int:
        """Runs from an export (existing keys are replaced by the file's); returns the count."""
        path = Path(path)
        try:
            text = read_text(path)
        except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
            raise StoreError(f"{path}: cannot read a training export ({exc})") from exc
        reader = csv.reader(io.StringIO(text))
        header = tuple(next(reader, ()))
        if header != COLUMNS:
            raise StoreError(f"{path}: not a training export (header {','.join(header)[:80]!r})")
        rows = list(reader)
        conn = self._connect(write=True)
        with conn:
            conn.executemany(f"INSERT OR REPLACE INTO trainings ({', '.join(COLUMNS)}) "
                             f"VALUES ({', '.join('?' * len(COLUMNS))})", (_parse(r, path) for r in rows))
        return len(rows)


def read_text(path: Path) -> str:
    """A CSV export's text, gunzipped when the bytes are gzip (whatever the name); OSError and decode errors propagate."""
    raw = Path(path).read_bytes()
    return gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()


def _parse(row: list[str], path: Path) -> tuple:
    if len(row) != len(COLUMNS):
        raise StoreError(f"{path}: a row has {len(row)} fields, expected {len(COLUMNS)}")
    try:
        return (row[0], row[1], row[2], int(row[3]), row[4], float(row[5]), row[6], row[7], row[8], float(row[9]),
                row[10], float(row[11]))
    except ValueError as exc:
        raise StoreError(f"{path}: malformed row for {row[1]!r}: {exc}") from exc

