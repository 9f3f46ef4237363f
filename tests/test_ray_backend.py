"""The Ray backend on a local Ray instance (2 CPUs): same scores as in-process, faults lose nothing.

Skipped when Ray is not installed (``pip install 'gradsign[ray]'``); the README's
set-up installs it, so CI runs these.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from gradsign.execution import CellTask, get_backend
from gradsign.storage import ResultsStore
from gradsign.workflows.scoring import Scorer, ScoringSetup

ray = pytest.importorskip("ray", reason="Ray not installed: pip install 'gradsign[ray]'")

pytestmark = pytest.mark.slow  # every test here starts Ray or its workers: 8-70 s each

DATA_FREE = ("params", "l2_norm", "synflow")


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance (2 CPUs) for the module; the backend joins it instead of starting its own."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


def _setup(**kw):
    base = dict(space="nb201", dataset="cifar10", proxies=DATA_FREE, batch_size=8, seed=0)
    base.update(kw)
    return ScoringSetup(**base)


def _in_process_one_thread(setup, archs):
    # Ray workers run one torch thread; so does the reference here, so float64
    # reductions (synflow) are summed in the same order and agree exactly.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return Scorer(setup).score_archs(archs, progress=False)
    finally:
        torch.set_num_threads(threads)


def _archs(n, seed):
    from gradsign.spaces import get_space

    return get_space("nb201").sample(n, seed)


@pytest.mark.usefixtures("local_ray")
def test_ray_gives_exactly_the_in_process_scores_and_the_driver_writes_the_store(tmp_path):
    archs = _archs(6, seed=21)
    local = _in_process_one_thread(_setup(), archs)
    store = ResultsStore(tmp_path / "s.sqlite")
    remote = Scorer(_setup(), store).score_archs(archs, progress=False, backend=get_backend("ray", 2, chunk_size=1))
    for p in DATA_FREE:
        np.testing.assert_array_equal(local.scores[p], remote.scores[p])
    assert remote.n_computed == len(archs) * len(DATA_FREE) and store.count() == len(archs) * len(DATA_FREE)
    again = Scorer(_setup(), store).score_archs(archs, progress=False, backend=get_backend("ray", 2))
    assert again.n_computed == 0  # resumed from the store: nothing recomputed, no actor needed


@pytest.mark.data
@pytest.mark.usefixtures("local_ray")
def test_ray_matches_in_process_on_data_dependent_proxies(data_dir):
    setup = _setup(proxies=("gradsign", "snip", "jacob_cov"), data_dir=data_dir)
    archs = _archs(3, seed=4)
    local = _in_process_one_thread(setup, archs)
    remote = Scorer(setup).score_archs(archs, progress=False, backend=get_backend("ray", 2, chunk_size=1))
    for p in setup.proxies:
        np.testing.assert_array_equal(local.scores[p], remote.scores[p])


@pytest.mark.usefixtures("local_ray")
def test_a_killed_worker_is_replaced_and_no_cell_is_lost():
    scorer = Scorer(_setup())
    archs = _archs(10, seed=8)
    tasks = [CellTask(scorer.space.to_string(a), DATA_FREE) for a in archs]
    backend = get_backend("ray", 2, chunk_size=1)
    results = []
    gen = backend.run(scorer.worker_factory(), scorer, tasks)
    results.append(next(gen))
    victim = backend.actor_pids[0]
    os.kill(victim, signal.SIGKILL)  # a worker process dies mid-run (OOM killer, node loss...)
    results.extend(gen)
    assert sorted(r.arch for r in results) == sorted(t.arch for t in tasks)  # every cell came back once
    assert all(r.error is None for r in results), [r.error for r in results if r.error]
    local = _in_process_one_thread(_setup(), archs)
    by_arch = {r.arch: r for r in results}
    for i, a in enumerate(local.archs):
        for p in DATA_FREE:
            assert by_arch[a].values[p] == local.scores[p][i]


@pytest.mark.usefixtures("local_ray")
def test_a_failing_cell_is_a_recorded_failure_as_in_process():
    from gradsign.execution import InProcessBackend

    scorer = Scorer(_setup())
    tasks = [CellTask("not-an-arch", DATA_FREE), CellTask(scorer.space.to_string(_archs(1, seed=2)[0]), DATA_FREE)]
    remote = list(get_backend("ray", 1).run(scorer.worker_factory(), scorer, tasks))
    local = list(InProcessBackend().run(scorer.worker_factory(), scorer, tasks))
    assert [r.arch for r in remote] == [t.arch for t in tasks]
    assert remote[0].error is not None and remote[0].error.splitlines()[0] == local[0].error.splitlines()[0]
    assert remote[1].error is None and remote[1].values == local[1].values


def test_killing_the_driver_loses_nothing_after_resume(tmp_path):
    """SIGKILL the whole `gradsign score --backend ray` process group mid-run, then resume."""
    store = tmp_path / "s.sqlite"
    cmd = [sys.executable, "-m", "gradsign.cli.main", "score", "--sample", "60", "--seed", "3",
           "--proxies", ",".join(DATA_FREE), "--batch-size", "8", "--store", str(store), "--no-progress",
           "--backend", "ray", "--workers", "2", "--format", "csv", "--output", str(tmp_path / "o.csv")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 180
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.3)
        if store.exists():
            try:
                done = ResultsStore(store).count()
            except Exception:  # noqa: BLE001 - the file may be mid-creation
                continue
            if done >= 3 * len(DATA_FREE):
                break
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()[1][-2000:]}"
    os.killpg(proc.pid, signal.SIGKILL)  # driver, its Ray instance and workers: no clean-up runs
    proc.communicate(timeout=60)
    before = _rows(store)
    kept = len(before)
    assert done <= kept < 60 * len(DATA_FREE)
    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = _rows(store)
    assert len(after) == 60 * len(DATA_FREE)
    # nothing finished before the kill was recomputed: those rows keep their creation time
    assert all(after[k] == created for k, created in before.items())


def _rows(path):
    import sqlite3

    with sqlite3.connect(path) as con:
        return {(a, p): c for a, p, c in con.execute("SELECT arch, proxy, created FROM scores")}


@pytest.mark.usefixtures("local_ray")
def test_an_actor_gone_for_good_is_replaced_once_and_its_chunks_retried():
    # No Ray restarts: the dead actor's chunks fail with RayActorError and the backend itself
    # must replace the actor (once, however many chunks it held) and resubmit them.
    scorer = Scorer(_setup())
    archs = _archs(8, seed=12)
    tasks = [CellTask(scorer.space.to_string(a), DATA_FREE) for a in archs]
    backend = get_backend("ray", 2, chunk_size=1, max_restarts=0)
    gen = backend.run(scorer.worker_factory(), scorer, tasks)
    results = [next(gen)]
    os.kill(backend.actor_pids[0], signal.SIGKILL)
    results.extend(gen)
    assert sorted(r.arch for r in results) == sorted(t.arch for t in tasks)
    assert all(r.error is None for r in results), [r.error for r in results if r.error]
