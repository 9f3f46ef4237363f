"""Output paths: checked before any work starts, and never the reason finished work is lost.

Every command that writes files calls :func:`check_output_file` or
:func:`check_output_dir` while validating its arguments, so a read-only
directory, a missing permission or a path whose parent is a regular file is
reported in one line before minutes of scoring. The check writes (and removes)
a probe file: permission bits say nothing for root or on a read-only mount,
trying does.

Things can still go wrong at the end (a full disk, a mount that went away):
:func:`write_with_fallback` then writes the same content to a fallback file in
the temporary directory and the message names it.
"""

from __future__ import annotations

import atexit
import itertools
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from gradsign.errors import GradsignError


class OutputError(GradsignError):
    """An output path cannot be written."""


def _probe_dir(directory: Path, what: str) -> None:
    try:
        fd, probe = tempfile.mkstemp(prefix=".gradsign-probe-", dir=directory)
    except OSError as exc:
        raise OutputError(f"{what}: cannot write in {directory} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output_dir(path: str | Path, what: str = "--output") -> Path:
    """``path`` as a directory this process can write files into; created if missing.

    The folders it creates (``path`` and missing parents) are removed again when the process
    exits if nothing was written into them, so a run stopped before its outputs leaves no
    empty folder behind; folders that existed are never removed.

    Raises OutputError (one line, naming ``what`` and the path) when it is a
    file, lies under a file, or cannot be written.
    """
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise OutputError(f"{what} {out}: exists and is not a directory")
    anchor = _nearest_existing(out)
    if not anchor.is_dir():
        raise OutputError(f"{what} {out}: {anchor} is a file, not a directory")
    created = list(itertools.takewhile(lambda p: p != anchor, (out, *out.parents)))  # to be made, deepest first
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{what} {out}: cannot create the directory ({exc.strerror or exc})") from None
    if created:
        # Made only to be checked: a run interrupted or stopped by an error before writing anything
        # would leave an empty folder that reads like a run's output. Removed at exit if still empty.
        atexit.register(_remove_if_still_empty, created)
    _probe_dir(out, f"{what} {out}")
    return out


def _remove_if_still_empty(created: list[Path]) -> None:
    """Remove the folders ``check_output_dir`` created (deepest first) that are still empty."""
    for folder in created:
        try:
            folder.rmdir()  # fails on a folder with anything in it, which then stays, with its parents
        except OSError:
            return


def check_output_file(path: str | Path, what: str = "--output") -> Path:
    """``path`` as a file this process can (over)write; its missing parent folders are not created yet.

    Raises OutputError when it is a directory, its parent is a file, or the
    nearest existing folder cannot be written.
    """
    out = Path(path).expanduser()
    if out.is_dir():
        raise OutputError(f"{what} {out}: is a directory, expected a file name")
    anchor = _nearest_existing(out.parent)
    if not anchor.is_dir():
        raise OutputError(f"{what} {out}: {anchor} is a file, not a directory")
    if out.exists() and not os.access(out, os.W_OK):
        raise OutputError(f"{what} {out}: the file is not writable")
    _probe_dir(anchor, f"{what} {out}")
    return out


def fallback_path(name: str) -> Path:
    """A fresh path in the temporary directory for output that could not go where it was asked."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.gettempdir()) / f"gradsign-{stamp}-{os.getpid()}-{name}"


def write_text_safely(path: str | Path, text: str, what: str = "--output") -> tuple[Path, str | None]:
    """Write ``text`` to ``path`` (parents created); if that fails, to a fallback file.

    Returns ``(where it was written, None)`` or ``(fallback, reason)``; raises
    OutputError only when the fallback cannot be written either, and then the
    message says so.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return target, None
    except OSError as exc:
        reason = f"{what} {target}: {exc.strerror or exc}"
    alt = fallback_path(target.name)
    try:
        alt.write_text(text)
    except OSError as exc:
        raise OutputError(f"{reason}; the fallback {alt} failed too ({exc.strerror or exc})") from None
    return alt, reason


def write_with_fallback(write: Callable[[Path], list[Path]], out_dir: str | Path,
                        what: str = "--output") -> tuple[list[Path], str | None]:
    """Run ``write(directory)``; if it raises OSError, run it again on a fallback directory.

    Returns ``(files written, None)`` or ``(files in the fallback, reason)``.
    """
    target = Path(out_dir)
    try:
        return write(target), None
    except OSError as exc:
        reason = f"{what} {target}: {exc.strerror or exc}"
    alt = fallback_path(target.name or "output")
    try:
        alt.mkdir(parents=True, exist_ok=True)
        return write(alt), reason
    except OSError as exc:
        raise OutputError(f"{reason}; the fallback {alt} failed too ({exc.strerror or exc})") from None


def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN / infinite float (numpy scalars included) replaced by None, recursively.

    JSON has no NaN: Python's ``json`` writes a bare ``NaN`` that other readers refuse.
    Lists, tuples and dicts are rebuilt; numpy scalars become Python numbers.
    """
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    obj = _python_scalar(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _python_scalar(obj: Any) -> Any:
    """A numpy scalar (or 0-d array) as the Python number it holds; anything else unchanged."""
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)) and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    return obj


def refuse_input_as_output(output: str | Path, inputs: dict[str, Any], what: str = "--output") -> None:
    """An OutputError when ``output`` is one of the ``inputs`` files (``{"--archs-file": path, ...}``; None skipped).

    The command would replace what it reads (a model's source file, the list of archs) with its result.
    """
    target = Path(output).expanduser().resolve()
    for option, path in inputs.items():
        if path is not None and Path(path).expanduser().resolve() == target:
            raise OutputError(f"{what} {output} is the {option} input: writing the result there would replace it; "
                              "give the output another name")


def nonfinite_text(value: Any) -> str | None:
    """``"nan"``, ``"inf"`` or ``"-inf"`` for a non-finite float (numpy scalars included), else None."""
    value = _python_scalar(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return None


def mark_nonfinite(record: dict[str, Any], columns: Any) -> dict[str, Any]:
    """``record`` (strict-JSON ready, see :func:`json_safe`) with a ``nonfinite`` entry when a score is NaN or infinite.

    JSON writes every non-finite number as null; ``nonfinite: {"zen": "-inf"}`` keeps what it was, since
    -inf (e.g. a cell whose input cannot reach the output) ranks last and NaN is no score at all.
    Only ``columns`` are looked at; the record is returned unchanged when none is non-finite.
    """
    marks = {c: text for c in columns if c in record and (text := nonfinite_text(record[c])) is not None}
    safe = json_safe(record)
    if marks:
        safe["nonfinite"] = marks
    return safe


def dumps_json(obj: Any, *, indent: int | None = 2, default: Callable[[Any], Any] | None = None) -> str:
    """Strict JSON text of ``obj`` (non-finite numbers as null), newline-terminated."""
    if default is not None:
        # Let `default` turn unknown objects into JSON-able ones first, then sanitize them too.
        obj = json.loads(json.dumps(obj, default=default, allow_nan=True))
    return json.dumps(json_safe(obj), indent=indent, allow_nan=False) + "\n"


__all__ = ["OutputError", "check_output_dir", "check_output_file", "dumps_json", "fallback_path", "json_safe",
           "mark_nonfinite", "nonfinite_text", "refuse_input_as_output", "write_text_safely", "write_with_fallback"]
