"""Execution backends: where scoring tasks run.

Every backend takes the same :class:`CellTask` list and yields
:class:`CellResult` objects as they finish; the caller (one process, the only
store writer) commits each result before asking for the next, so a crash loses
at most the tasks in flight.
"""

from gradsign.execution.backends import (
    BACKENDS,
    CellResult,
    CellTask,
    InProcessBackend,
    ProcessPoolBackend,
    get_backend,
)

__all__ = ["BACKENDS", "CellResult", "CellTask", "InProcessBackend", "ProcessPoolBackend", "get_backend"]
