"""A search's trainings and proxy scores on disk (SQLite), so that a killed search resumes without retraining.

Every run is deterministic given its seed and what it observed, so resuming is
replaying: a study with a :class:`Journal` asks it before each training; a
training it has recorded (same setting, seed, run and step, same arch) returns
the recorded accuracy and seconds, and the budget is charged those seconds
again, so the resumed run is the run that was interrupted. Only trainings the
journal lacks are computed (and recorded at once). A measured proxy score
(:class:`~gradsign.search.providers.CallableProxyProvider`) is recorded per
(proxy, arch) the same way. One journal per experiment: a replayed step whose
arch differs from the recorded one is refused (the search changed).

A journal also records what it is a journal *of*: the objective's space, dataset and
training (:func:`objective_identity`: for your own training function, its name and a
digest of its source). Another objective is refused, so that a CIFAR-100 search never
replays a CIFAR-10 journal's accuracies, nor an edited training function the old one's.
A proxy score is recorded under the proxy's identity (:func:`callable_identity`; for a
named proxy on your space, a digest of its minibatch, seed and options too).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import sqlite3
import warnings
from pathlib import Path
from typing import Any

from gradsign.errors import DataError

#: The tables of a journal; a database with any other table (a results store, ...) is not one.
_TABLES = {"trainings", "proxy_scores", "journal_meta"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trainings (
    setting TEXT NOT NULL, seed INTEGER NOT NULL, run INTEGER NOT NULL, step INTEGER NOT NULL,
    arch TEXT NOT NULL, high INTEGER NOT NULL, accuracy REAL NOT NULL, seconds REAL NOT NULL,
    PRIMARY KEY (setting, seed, run, step));
CREATE TABLE IF NOT EXISTS proxy_scores (
    proxy TEXT NOT NULL, arch TEXT NOT NULL, score REAL NOT NULL, seconds REAL NOT NULL,
    PRIMARY KEY (proxy, arch));
CREATE TABLE IF NOT EXISTS journal_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def callable_identity(fn: Any) -> str:
    """``qualname#<12 hex digits of its source>`` of a function, method or class (a callable object: its class).

    What a journal knows your code by: an edit of the function's own source gives another
    identity (code it calls is not covered). Without source (a builtin, code typed into a
    REPL) the name alone. The module is left out, so moving the file changes nothing.
    """
    if isinstance(fn, functools.partial):  # the function it wraps, and the arguments it fixes
        inner = callable_identity(fn.func)
        return f"partial({inner}, {fn.args!r}, {sorted(fn.keywords.items())!r})"
    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isclass(fn) else type(fn)
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    if inspect.isbuiltin(fn):
        return getattr(fn, "__qualname__", name)
    try:
        source = inspect.getsource(target)
    except (OSError, TypeError):
        return name
    return f"{name}#{hashlib.sha256(source.encode()).hexdigest()[:12]}"


def _split_source(identity: str) -> tuple[str, str]:
    """``"train#abc123"`` -> ``("train", "abc123")``: what a journal refuses to mix, and what it only warns about.

    A partial keeps its digests in the first part: other wrapped code, other arguments.
    """
    if identity.startswith("partial("):
        return identity, ""
    name, _, digest = identity.partition("#")
    return name, digest


def objective_identity(objective: Any) -> dict[str, str]:
    """What a search journal records about ``objective`` (its own ``identity()`` when it has one).

    The space, the dataset label, and the training: gradsign's own objectives by class name
    (a benchmark table does not change with the library's code), any other by
    :func:`callable_identity`.
    """
    own = getattr(objective, "identity", None)
    if callable(own):
        return {str(k): str(v) for k, v in own().items()}
    cls = type(objective)
    training = cls.__qualname__ if cls.__module__.startswith("gradsign.") else callable_identity(cls)
    return {"space": str(getattr(getattr(objective, "space", None), "name", "")),
            "dataset": str(getattr(objective, "dataset", "")), "objective": training}


class Journal:
    """The SQLite file ``path`` (created if missing) recording trainings and measured proxy scores."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path))
            other = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} - _TABLES
            if other:  # adding the journal's tables to someone else's database would change it
                self._db.close()
                raise DataError(f"{self.path} is not a search journal (it holds the tables {', '.join(sorted(other))}"
                                + (": a results store" if "scores" in other else "") + "); give --journal a new file")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise DataError(f"cannot open the search journal {self.path}: {exc}") from None
        self.replayed = 0  # trainings answered from the journal
        self.recorded = 0  # trainings computed and recorded
        self._checked: Any = None  # the objective last found to be this journal's
        # Proxy scores recorded before 2026-12-07, keyed by the proxy's name alone (keys now hold '|').
        self.legacy = self._db.execute("SELECT 1 FROM proxy_scores WHERE instr(proxy, '|') = 0 LIMIT 1").fetchone() \
            is not None

    def check_objective(self, objective: Any) -> None:
        """Record what this journal is of (first use), or refuse an objective other than the one it recorded.

        Another space, dataset or training function (by name) is refused. The same function with
        other source (a bug fixed after a crash, the usual reason to resume) is replayed with a
        warning that the recorded trainings come from the earlier code, and the new source is
        recorded. A journal written before identities were recorded (2026-12-07) adopts the first
        objective it meets: its trainings cannot be checked.
        """
        if objective is self._checked:
            return
        current = objective_identity(objective)
        rows = self._db.execute("SELECT key, value FROM journal_meta WHERE key LIKE 'objective.%'").fetchall()
        stored = {k.removeprefix("objective."): json.loads(v) for k, v in rows}
        if stored:
            def name(key: str, identity: dict[str, str]) -> str:
                return _split_source(identity.get(key, ""))[0]

            differ = sorted(k for k in stored.keys() | current.keys() if name(k, stored) != name(k, current))
            if differ:
                was = ", ".join(f"{k} {name(k, stored)!r}" for k in differ)
                now = ", ".join(f"{k} {name(k, current)!r}" for k in differ)
                raise DataError(f"search journal {self.path} records a search with {was}; this search has {now}: "
                                "its trainings are not this search's; give --journal a new file (or rerun as "
                                "recorded)")
            if stored != current:  # same names: the training function's source changed
                warnings.warn(f"search journal {self.path}: the {name('objective', current)} function's source "
                              "changed since the journal was written; its recorded trainings are replayed as the "
                              "earlier code gave them (use a new journal if the change alters accuracies)",
                              UserWarning, stacklevel=4)
        if stored != current:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO journal_meta VALUES (?, ?)",
                                     [(f"objective.{k}", json.dumps(v)) for k, v in current.items()])
        self._checked = objective

    def run(self, setting: str, seed: int, run: int) -> "RunJournal":
        """The journal of one run (``setting``: e.g. the results' label)."""
        rows = self._db.execute("SELECT step, arch, high, accuracy, seconds FROM trainings "
                                "WHERE setting = ? AND seed = ? AND run = ?", (setting, seed, run)).fetchall()
        return RunJournal(self, (setting, seed, run), {r[0]: r[1:] for r in rows})

    def _record(self, key: tuple[str, int, int], step: int, arch: str, high: bool, accuracy: float,
                seconds: float) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO trainings VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (*key, step, arch, int(high), accuracy, seconds))
        self.recorded += 1

    def proxy_score(self, proxy: str, arch: str, legacy_name: str | None = None) -> tuple[float, float] | None:
        """The recorded (score, seconds) of ``arch`` under the proxy key ``proxy``, or None.

        ``legacy_name``: the proxy's bare name, under which a journal written before 2026-12-07
        recorded it (looked up only in such a journal, so that resuming one recomputes nothing).
        """
        keys = [proxy] + ([legacy_name] if legacy_name is not None and self.legacy else [])
        for key in keys:
            row = self._db.execute("SELECT score, seconds FROM proxy_scores WHERE proxy = ? AND arch = ?",
                                   (key, arch)).fetchone()
            if row is not None:
                return float(row[0]), float(row[1])
        return None

    def record_proxy_score(self, proxy: str, arch: str, score: float, seconds: float) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO proxy_scores VALUES (?, ?, ?, ?)", (proxy, arch, score, seconds))

    def close(self) -> None:
        self._db.close()

    def __repr__(self) -> str:
        return f"<Journal {self.path}: {self.replayed} replayed, {self.recorded} recorded>"


#: The first 16 bytes of every SQLite 3 database file.
SQLITE_HEADER = b"SQLite format 3\x00"


def is_journal_file(path: str | Path) -> bool:
    """Whether ``path`` is an SQLite file (a journal, or another database :func:`trained_accuracies` refuses)."""
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def trained_accuracies(path: str | Path, min_labels: int = 4) -> tuple[dict[str, float], str]:
    """``({arch: accuracy}, fidelity)`` of the archs a journaled search trained: what a user already paid for.

    The accuracy is the one the search observed (the objective's return value). Accuracies
    of two fidelities are not comparable (12 and 200 epochs), so one fidelity serves every
    arch: the high one when at least ``min_labels`` archs have it (BOHB with
    ``fidelity='12/200'`` records it at its top rung), else the ordinary one every algorithm
    records; ``fidelity`` says which ("high" or "ordinary"). An arch trained more than once
    at that fidelity (several runs, or BOHB's rungs) gets the mean of its trainings. The file
    is opened read-only: reading never creates or changes a file. Used as the few-shot
    rule's labels (``gradsign score --labels``).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"no search journal at {p}")
    try:
        # as_uri() percent-encodes '?', '#', '%' and spaces, so mode=ro always applies to this very file
        db = sqlite3.connect(p.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT arch, high, accuracy FROM trainings "
                              "ORDER BY setting, seed, run, step").fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise DataError(f"{p} is not a search journal of gradsign search --journal ({exc})") from None
    if not rows:
        raise DataError(f"the search journal {p} records no training yet")
    by_level: dict[int, dict[str, list[float]]] = {0: {}, 1: {}}
    for arch, high, accuracy in rows:
        by_level[1 if int(high) else 0].setdefault(str(arch), []).append(float(accuracy))
    level = 1 if len(by_level[1]) >= min_labels or not by_level[0] else 0
    chosen = by_level[level]
    return {arch: sum(v) / len(v) for arch, v in chosen.items()}, ("high" if level else "ordinary")


class RunJournal:
    """One run's recorded trainings, replayed in order by :meth:`train`."""

    def __init__(self, journal: Journal, key: tuple[str, int, int], steps: dict[int, tuple]) -> None:
        self.journal, self.key, self.steps = journal, key, steps
        self.step = 0

    def train(self, objective: Any, arch: Any, high: bool) -> tuple[float, float]:
        """The recorded result of this step's training, else ``objective.evaluate`` (then recorded)."""
        self.journal.check_objective(objective)
        name = objective.name_of(arch)
        step, self.step = self.step, self.step + 1
        recorded = self.steps.get(step)
        if recorded is not None:
            if recorded[0] != name or bool(recorded[1]) != high:
                raise DataError(f"search journal {self.journal.path}: run {self.key[2]} of {self.key[0]!r} (seed "
                                f"{self.key[1]}) trained {recorded[0]} at step {step}, this search {name}; "
                                "the search changed: use a new journal")
            self.journal.replayed += 1
            return float(recorded[2]), float(recorded[3])
        accuracy, seconds = objective.evaluate(arch, high=high)
        self.journal._record(self.key, step, name, high, float(accuracy), float(seconds))
        return accuracy, seconds


__all__ = ["Journal", "RunJournal", "SQLITE_HEADER", "callable_identity", "is_journal_file", "objective_identity",
           "trained_accuracies"]
