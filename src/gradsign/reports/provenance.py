"""What produced an output: recorded under ``provenance`` in every summary a workflow writes.

:func:`collect` returns a JSON-able dict: the command line, the library version
and git commit (when the package runs from a git checkout; never an error when
it does not), python / torch / numpy versions, platform, device and thread
count, the data files the process read (with their sha256), the seeds and the
wall time. The data files are those the data layer resolved in this process
(:func:`gradsign.data.paths.used_data_files`): for one command that is exactly
the run's inputs; a Python session that ran several jobs lists every file read
so far (said in ``data_files_scope``).

Hashing a large image archive takes a moment, so each file is hashed once per
process (keyed by path, size and modification time).

Summaries written before this existed have no ``provenance`` key; readers use
:func:`of_summary`, which returns an empty dict for them.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

#: Version of the ``provenance`` block's layout (bumped when a field changes meaning).
PROVENANCE_FORMAT = "gradsign.provenance/1"

_HASHES: dict[tuple[str, int, int], str] = {}
_GIT: dict[str, dict[str, Any] | None] = {}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file (a directory: of its files' names and hashes, sorted), computed once per process."""
    from gradsign.data.paths import sha256_of

    p = Path(path)
    if p.is_dir():
        import hashlib

        h = hashlib.sha256()
        for member in sorted(q for q in p.rglob("*") if q.is_file()):
            h.update(f"{member.relative_to(p).as_posix()}\0{file_sha256(member)}\n".encode())
        return h.hexdigest()
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = sha256_of(p)
    return _HASHES[key]


def _size(p: Path) -> int:
    if p.is_dir():
        return sum(q.stat().st_size for q in p.rglob("*") if q.is_file())
    return p.stat().st_size


def describe_files(paths: Iterable[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """``{"path", "bytes", "sha256"}`` per existing path (a vanished one: ``"missing": true``), in the given order."""
    out = []
    seen: set[str] = set()
    for path in paths:
        p = Path(path)
        if str(p) in seen:
            continue
        seen.add(str(p))
        try:
            out.append({"path": str(p), "bytes": _size(p), "sha256": file_sha256(p)})
        except OSError:
            out.append({"path": str(p), "missing": True})
    return out


def git_state(start: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git checkout holding ``start`` (default: this package), or None.

    None when there is no checkout, no git, or git fails in any way: provenance
    is a record, never a reason for a run to fail.
    """
    where = Path(start) if start is not None else Path(__file__).resolve().parent
    key = str(where)
    if key in _GIT:
        return _GIT[key]
    state = None
    try:
        def git(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10)

        head = git("rev-parse", "HEAD")
        if head.returncode == 0 and head.stdout.strip():
            # Only tracked files count: untracked scratch files do not change what the code does.
            dirty = git("status", "--porcelain", "--untracked-files=no")
            state = {"commit": head.stdout.strip(),
                     "dirty": bool(dirty.stdout.strip()) if dirty.returncode == 0 else None}
    except (OSError, subprocess.SubprocessError):
        state = None
    _GIT[key] = state
    return state


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _torch_threads() -> int | None:
    torch = sys.modules.get("torch")  # never import torch just to ask
    return int(torch.get_num_threads()) if torch is not None else None


_IMPORTED_AT = time.time()


def process_started() -> float:
    """When this process started (``time.time()`` scale): the start of a command-line run.

    Read from ``/proc`` on Linux; elsewhere the time this module was first
    imported, which for the command line is within the start-up.
    """
    try:
        stat = Path("/proc/self/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22: starttime, clock ticks after boot
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration, AttributeError):
        return _IMPORTED_AT


def collect(
    argv: Sequence[str] | None = None,
    data_files: Iterable[str | os.PathLike[str]] | None = None,
    seeds: Sequence[int] | int | None = None,
    started: float | None = None,
    *,
    device: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """The provenance block of an output (see the module docstring).

    ``argv``: the command line (default ``sys.argv``); ``data_files``: the files
    read (default: every data file this process resolved); ``seeds``: the run's
    seeds; ``started``: ``time.time()`` when the run began (gives
    ``started_at`` and ``wall_seconds``); ``device`` / ``threads``: where and
    with how many torch threads the numbers were computed (``threads`` defaults
    to torch's current setting when torch is loaded).
    """
    import gradsign
    from gradsign.plugins import loaded_plugin_files

    if data_files is None:
        from gradsign.data.paths import used_data_files

        files, scope = used_data_files(), "every data file this process read"
    else:
        files, scope = list(data_files), "as given"
    args = list(sys.argv if argv is None else argv)
    if args and args[0].endswith(("gradsign", "gradsign.exe", "__main__.py")):
        args[0] = "gradsign"
    seed_list = [seeds] if isinstance(seeds, int) else (list(seeds) if seeds is not None else [])
    now = time.time()
    git = git_state()
    return {
        "format": PROVENANCE_FORMAT,
        "command": shlex.join(str(a) for a in args),
        "gradsign_version": gradsign.__version__,
        "git_commit": git["commit"] if git else None,
        "git_dirty": git["dirty"] if git else None,
        "python": platform.python_version(),
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "platform": platform.platform(),
        "device": device,
        "threads": threads if threads is not None else _torch_threads(),
        "data_files": describe_files(files),
        "data_files_scope": scope,
        # the code of plug-in proxies / spaces / benchmarks (`--plugin`), so that two runs can be told apart
        "plugins": describe_files(loaded_plugin_files()),
        "seeds": seed_list,
        "started_at": (datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds")
                       if started is not None else None),
        "finished_at": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(now - started, 3) if started is not None else None,
    }


def of_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The provenance block of a loaded summary; ``{}`` for summaries written before provenance was recorded."""
    block = summary.get("provenance") if isinstance(summary, Mapping) else None
    return dict(block) if isinstance(block, Mapping) else {}


__all__ = ["PROVENANCE_FORMAT", "collect", "describe_files", "file_sha256", "git_state", "of_summary", "process_started"]
