"""In-process and process-pool execution of per-cell scoring tasks.

A worker process gets the scoring setup and the driver's minibatch once (its
initializer builds its own scorer without a store; no data folder is read) and
then scores chunks of cells. Workers run PyTorch with one intra-op thread each:
on a small machine, N single-threaded processes beat one N-threaded process by
a wide margin for NB201-sized networks (OpenMP threads spin and oversubscribe
as soon as anything else runs).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from gradsign.errors import ConfigError, DataError


@dataclass(frozen=True)
class CellTask:
    arch: str  # canonical arch string
    proxies: tuple[str, ...]  # the proxies still missing for this cell


@dataclass(frozen=True)
class CellResult:
    arch: str
    values: dict[str, float]
    seconds: dict[str, float]
    error: str | None = None  # "ExcType: first line\n<short traceback>" when the whole cell failed
    elapsed: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)  # proxy -> its error, when only some proxies failed

    def error_of(self, proxy: str) -> str | None:
        """The error that left ``proxy`` unscored on this cell (the cell's, or the proxy's own), else None."""
        return self.error if self.error is not None else self.errors.get(proxy)


def _attempt(compute: Callable[[], Any]) -> tuple[Any, str | None]:
    """``(compute(), None)``, or ``(None, "ExcType: first line\n<short traceback>")`` when it raised.

    Bad run-wide input (ConfigError, DataError) still raises: it would fail every cell alike.
    """
    try:
        return compute(), None
    except (ConfigError, DataError):
        raise
    except MemoryError as exc:
        return None, f"MemoryError: {exc}".strip()
    except Exception as exc:  # noqa: BLE001 - failures are data (ProxyError, out of memory, NaN loss...)
        first = str(exc).splitlines()[0] if str(exc) else ""
        return None, f"{type(exc).__name__}: {first}\n{traceback.format_exc(limit=3)}"


def compute_cell(scorer: Any, task: CellTask) -> CellResult:
    """Score one cell; an exception becomes a recorded failure (bad run-wide input still raises).

    When the proxies scored together raise, each is scored alone, so that one failing proxy
    (a plug-in's bug, one that runs out of memory) costs only its own scores: the others keep
    theirs (the same values: every proxy is reseeded, and the shared passes give the bits of
    the separate ones), and each failure is recorded with its own error.
    """
    start = time.perf_counter()
    arch, error = _attempt(lambda: scorer.space.parse(task.arch))
    if error is None:
        scored, error = _attempt(lambda: scorer.score_one(arch, task.proxies))
        if error is None:
            return CellResult(task.arch, *scored, None, time.perf_counter() - start)
        if len(task.proxies) > 1:
            values, seconds, errors = {}, {}, {}
            for proxy in task.proxies:
                scored, errors[proxy] = _attempt(lambda: scorer.score_one(arch, (proxy,)))
                if errors[proxy] is None:
                    del errors[proxy]
                    values.update(scored[0])
                    seconds.update(scored[1])
            return CellResult(task.arch, values, seconds, None, time.perf_counter() - start, errors)
    return CellResult(task.arch, {}, {}, error, time.perf_counter() - start)


class InProcessBackend:
    """Score cells one after another in this process (the default)."""

    name = "inprocess"

    def __init__(self, workers: int = 1) -> None:
        self.workers = 1

    def run(self, make_scorer: Callable[[], Any], scorer: Any, tasks: list[CellTask]) -> Iterator[CellResult]:
        for task in tasks:
            yield compute_cell(scorer, task)


# -- process pool ---------------------------------------------------------------

_WORKER_SCORER: Any = None


def _init_worker(make_scorer: Callable[[], Any], threads: int) -> None:
    global _WORKER_SCORER
    import torch

    from gradsign.plugins import load_plugins

    load_plugins()  # the user's proxies / spaces ($GRADSIGN_PLUGINS, set by the driver's --plugin)

    torch.set_num_threads(threads)
    _WORKER_SCORER = make_scorer()


def _run_chunk(tasks: list[CellTask]) -> list[CellResult]:
    return [compute_cell(_WORKER_SCORER, t) for t in tasks]


class ProcessPoolBackend:
    """Score chunks of cells in ``workers`` processes (spawned, one torch thread each).

    A worker that dies (killed, out of memory) breaks a ``ProcessPoolExecutor``
    and every chunk in flight with it: the pool is then rebuilt and those
    chunks resubmitted, each at most ``max_chunk_attempts`` times in all; a
    chunk that still cannot finish comes back as failed cells
    ("WorkerDied: ..."), recorded like any failure, never a crash of the run.
    """

    name = "process"

    def __init__(self, workers: int | None = None, *, chunk_size: int = 2, threads_per_worker: int = 1,
                 max_chunk_attempts: int = 3) -> None:
        self.workers = workers or max(1, os.cpu_count() or 1)
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        self.chunk_size = chunk_size
        self.threads = threads_per_worker
        self.max_chunk_attempts = max_chunk_attempts
        #: pids of the live worker processes (while ``run`` is active; for fault-injection tests)
        self.worker_pids: list[int] = []

    def _pool(self, make_scorer: Callable[[], Any]) -> ProcessPoolExecutor:
        ctx = mp.get_context("spawn")  # fork after torch/OpenMP initialised is unsafe
        return ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(make_scorer, self.threads))

    def run(self, make_scorer: Callable[[], Any], scorer: Any, tasks: list[CellTask]) -> Iterator[CellResult]:
        if not tasks:
            return
        chunks = [tasks[i:i + self.chunk_size] for i in range(0, len(tasks), self.chunk_size)]
        pool = self._pool(make_scorer)
        pending: dict[Future, tuple[list[CellTask], int]] = {}  # future -> (chunk, attempt)
        it = iter(chunks)
        finished = False

        # Chunks that could not be submitted because the pool had just broken (a worker died
        # between a result and the next submission): resubmitted to the rebuilt pool.
        unsent: list[tuple[list[CellTask], int]] = []

        def submit(chunk: list[CellTask], attempt: int) -> None:
            try:
                pending[pool.submit(_run_chunk, chunk)] = (chunk, attempt)
            except BrokenProcessPool:
                unsent.append((chunk, attempt - 1))  # never ran: the rebuild resubmits it at the same attempt
                return
            self.worker_pids = [p.pid for p in getattr(pool, "_processes", {}).values()]

        try:
            # Keep at most 2 chunks per worker in flight, so an interruption loses little.
            for chunk in _take(it, 2 * self.workers):
                submit(chunk, 1)
            while pending or unsent:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED) if pending else (set(), set())
                broken: list[tuple[list[CellTask], int]] = []
                for fut in done:
                    chunk, attempt = pending.pop(fut)
                    try:
                        results = fut.result()
                    except BrokenProcessPool:
                        broken.append((chunk, attempt))
                        continue
                    yield from results
                    for chunk in _take(it, 1):
                        submit(chunk, 1)
                if broken or unsent:
                    # A worker died: the pool and everything in flight are lost. Rebuild it and
                    # resubmit those chunks (bounded), the rest of the queue follows as before.
                    broken += list(pending.values()) + unsent
                    pending.clear()
                    unsent.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = self._pool(make_scorer)
                    for chunk, attempt in broken:
                        if attempt < self.max_chunk_attempts:
                            submit(chunk, attempt + 1)
                        else:
                            yield from worker_died(chunk, f"a worker process died {attempt} times on this chunk")
                    for chunk in _take(it, max(0, 2 * self.workers - len(pending))):
                        submit(chunk, 1)
            finished = True
        finally:
            for fut in pending:
                fut.cancel()
            if not finished:
                # Interrupted or failed: stop the workers now; their in-flight cells are
                # simply not stored and get recomputed on resume.
                for proc in list(getattr(pool, "_processes", {}).values()):
                    proc.terminate()
            pool.shutdown(wait=finished, cancel_futures=True)
            self.worker_pids = []


def worker_died(chunk: list[CellTask], detail: str) -> list[CellResult]:
    """The cells of a chunk no worker could finish, as recorded failures (retried on the next run)."""
    return [CellResult(t.arch, {}, {}, f"WorkerDied: {detail}"[:2000]) for t in chunk]


def _take(it: Iterator, n: int) -> list:
    out = []
    for _ in range(n):
        try:
            out.append(next(it))
        except StopIteration:
            break
    return out


BACKENDS = {"inprocess": InProcessBackend, "process": ProcessPoolBackend}


def get_backend(name: str = "inprocess", workers: int | None = None, **kwargs: Any):
    if name == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ConfigError("the ray backend needs Ray: pip install 'gradsign[ray]'")
        from gradsign.execution.ray_backend import RayBackend

        return RayBackend(workers, **kwargs)
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; available: {', '.join([*BACKENDS, 'ray'])}")
    return BACKENDS[name](workers, **kwargs) if name == "process" else BACKENDS[name]()
