"""Ray execution: score chunks of cells on Ray actors, locally or on a cluster.

``RayBackend(workers, address=None)``:

* ``address=None`` starts a private local Ray instance with ``workers`` CPUs
  (and shuts it down afterwards); ``"auto"`` or ``"HOST:PORT"`` joins a running
  cluster (``ray start --head`` ...) and leaves it running.
* One actor per worker; each builds its scorer once from the setup and the
  driver's minibatch, both shipped with the task (no data folder needed on
  worker nodes; see docs/scaling.md),
  and runs PyTorch with ``threads_per_worker`` intra-op threads. An actor asks
  Ray for one CPU, or one GPU when the setup's device is CUDA.
* Chunks of ``chunk_size`` cells are dispatched with at most two chunks per
  actor in flight, so an interruption loses little; results stream back to the
  driver, which alone writes the results store (SQLite never leaves the
  driver's machine).
* Faults: an actor whose process dies (killed, out of memory, node lost) is
  restarted by Ray and its in-flight chunk retried (``max_restarts`` /
  ``max_task_retries``); a chunk that still cannot finish is reported as
  failed cells ("WorkerDied: ..."), recorded in the store like any failure and
  retried on the next run, never a crash of the whole sweep.
* Interrupting the driver kills the actors (and the private Ray instance); the
  cells in flight are simply not stored and are recomputed on resume.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator

from gradsign.errors import ConfigError, DataError
from gradsign.execution.backends import CellResult, CellTask, _take, compute_cell, worker_died


class _ScoringActor:
    """One Ray worker: a scorer built once, then chunks of cells."""

    def __init__(self, make_scorer: Callable[[], Any], threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.scorer = make_scorer()

    def pid(self) -> int:
        return os.getpid()

    def run_chunk(self, tasks: list[CellTask]) -> list[CellResult]:
        return [compute_cell(self.scorer, t) for t in tasks]


class RayBackend:
    """Score chunks of cells on ``workers`` Ray actors; see the module docstring."""

    name = "ray"

    def __init__(
        self,
        workers: int | None = None,
        *,
        address: str | None = None,
        chunk_size: int = 2,
        threads_per_worker: int = 1,
        max_restarts: int = 2,
        max_chunk_attempts: int = 3,
    ) -> None:
        import ray  # noqa: F401  (get_backend checked that it is installed)

        self.workers = workers or max(1, os.cpu_count() or 1)
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        if chunk_size < 1:
            raise ConfigError(f"chunk size must be at least 1, got {chunk_size}")
        self.address = address
        self.chunk_size = chunk_size
        self.threads = threads_per_worker
        self.max_restarts = max_restarts
        self.max_chunk_attempts = max_chunk_attempts
        #: pids of the live actors (filled while ``run`` is active; for fault-injection tests)
        self.actor_pids: list[int] = []

    # -- ray lifecycle ---------------------------------------------------------
    def _connect(self) -> bool:
        """Connect to (or start) Ray; True when this backend started it and must shut it down."""
        import ray

        if ray.is_initialized():
            return False
        common = dict(include_dashboard=False, logging_level="ERROR", log_to_driver=False,
                      configure_logging=True)
        try:
            if self.address is None:
                ray.init(num_cpus=self.workers, **common)
            else:
                ray.init(address=self.address, **common)
        except ConnectionError as exc:
            raise ConfigError(f"cannot reach the Ray cluster at {self.address!r}: {exc}") from None
        return True

    def run(self, make_scorer: Callable[[], Any], scorer: Any, tasks: list[CellTask]) -> Iterator[CellResult]:
        if not tasks:
            return
        import ray

        started = self._connect()
        device = str(getattr(getattr(scorer, "setup", None), "device", "cpu"))
        resources = {"num_gpus": 1, "num_cpus": 1} if device.startswith("cuda") else {"num_cpus": 1}
        actor_cls = ray.remote(**resources, max_restarts=self.max_restarts,
                               max_task_retries=self.max_restarts)(_ScoringActor)
        # The factory is small (a setup): passed by value, so a restarted actor can always rebuild
        # (arguments held in the object store can be lost with their owner; ray issue 53727).
        factory = make_scorer
        actors = [actor_cls.remote(factory, self.threads) for _ in range(self.workers)]
        chunks = [tasks[i:i + self.chunk_size] for i in range(0, len(tasks), self.chunk_size)]
        pending: dict[Any, tuple[int, Any, list[CellTask], int]] = {}  # ref -> (slot, actor, chunk, attempt)
        load = [0] * len(actors)
        it = iter(chunks)

        def submit(chunk: list[CellTask], attempt: int, slot: int | None = None) -> None:
            slot = min(range(len(actors)), key=load.__getitem__) if slot is None else slot
            ref = actors[slot].run_chunk.remote(chunk)
            pending[ref] = (slot, actors[slot], chunk, attempt)
            load[slot] += 1

        try:
            self.actor_pids = ray.get([a.pid.remote() for a in actors])
            for chunk in _take(it, 2 * len(actors)):
                submit(chunk, 1)
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                ref = done[0]
                slot, actor, chunk, attempt = pending.pop(ref)
                load[slot] -= 1
                try:
                    results = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                        ray.exceptions.ObjectLostError, ray.exceptions.RayTaskError) as exc:
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, (ConfigError, DataError)):
                        raise cause from None  # bad run-wide input: stop, as in-process would
                    if attempt < self.max_chunk_attempts:
                        # The actor is gone for good (restarts used up): replace it once -- the other
                        # chunks it held fail too and must land on the same replacement -- and retry.
                        if actors[slot] is actor:
                            actors[slot] = actor_cls.remote(factory, self.threads)
                        submit(chunk, attempt + 1, slot)
                        continue
                    results = worker_died(chunk, f"{type(exc).__name__} after {attempt} attempts\n{exc}")
                yield from results
                for nxt in _take(it, 1):
                    submit(nxt, 1)
        finally:
            for actor in actors:
                try:
                    ray.kill(actor, no_restart=True)
                except Exception:  # noqa: BLE001 - already dead
                    pass
            self.actor_pids = []
            if started:
                ray.shutdown()
            # when not finished, the cells in flight are simply not stored: a resumed run recomputes them


__all__ = ["RayBackend"]
