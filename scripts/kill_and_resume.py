"""Kill a scoring run mid-way, resume it, and count what was lost (a demonstration, not a test).

    .venv/bin/python scripts/kill_and_resume.py                    # process and ray, 40 cells
    .venv/bin/python scripts/kill_and_resume.py --backends process --cells 20 --proxies params,synflow

For each backend and each fault it runs the real command line,

    gradsign score --sample N --seed S --proxies P --backend B --workers 2 --store STORE

in its own session, and:

* ``driver``: once at least ``--after`` cells are stored, SIGKILLs the driver's whole process
  group (driver, workers, a private Ray instance: no clean-up code runs), then runs the same
  command again;
* ``worker``: once at least ``--after`` cells are stored, SIGKILLs one worker process (a
  process-pool child, or a Ray actor's process) and lets the run finish on its own.

It then counts the stored rows, checks that every row stored before the kill kept its creation
time (so nothing finished was computed again), and compares every score with a reference run
of the same command in-process with one torch thread and no faults (bit-for-bit equality of
the float64 values). Linux only (finds workers through /proc).
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def score_command(store: Path, args: argparse.Namespace, backend: str) -> list[str]:
    cmd = [sys.executable, "-m", "gradsign.cli.main", "score", "--space", "nb201", "--dataset", args.dataset,
           "--sample", str(args.cells), "--seed", str(args.seed), "--proxies", args.proxies,
           "--store", str(store), "--no-progress", "--format", "csv", "--output", str(store.with_suffix(".csv")),
           "--backend", backend]
    if backend != "inprocess":
        cmd += ["--workers", "2"]
    return cmd


def rows(store: Path) -> dict[tuple[str, str], tuple[float | None, float]]:
    """(arch, proxy) -> (value, created) of every stored row."""
    if not store.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as con:
            return {(a, p): (v, c) for a, p, v, c in con.execute("SELECT arch, proxy, value, created FROM scores")}
    except sqlite3.Error:  # created but not yet initialised by the driver
        return {}


def _processes():
    """(pid, parent pid, session id, command line) of every live process, from /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        # The command name is in parentheses and may contain spaces: split after its closing one.
        fields = stat[stat.rindex(")") + 2:].split()  # state, ppid, pgrp, session, ...
        yield int(entry.name), int(fields[1]), int(fields[3]), cmdline


def find_worker(driver: int, backend: str) -> int | None:
    """A pool worker (a spawned child of the driver) or a Ray actor process (in the driver's session)."""
    for pid, ppid, sid, cmdline in _processes():
        if backend == "process" and ppid == driver and "multiprocessing" in cmdline \
                and "resource_tracker" not in cmdline:
            return pid
        if backend == "ray" and sid == driver and "_ScoringActor" in cmdline:
            return pid
    return None


def count_rows(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    except sqlite3.Error:  # created but not yet initialised by the driver
        return 0


def wait_for_rows(store: Path, proc: subprocess.Popen, n_rows: int, timeout: float, log: Path) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        have = count_rows(store)
        if have >= n_rows:
            return have
        time.sleep(0.2)
    raise SystemExit(f"error: the run ended or stalled before {n_rows} rows were stored (exit {proc.poll()}): "
                     f"{log.read_text()[-1500:]}")


def run_fault(backend: str, fault: str, args: argparse.Namespace, workdir: Path,
              reference: dict) -> dict:
    store = workdir / f"{backend}_{fault}.sqlite"
    cmd = score_command(store, args, backend)
    n_proxies = len(args.proxies.split(","))
    # stderr to a file, not a pipe: nobody reads it while the run goes, and a full pipe would block it.
    log = store.with_suffix(".log")
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    wait_for_rows(store, proc, args.after * n_proxies, timeout=600, log=log)
    if fault == "driver":
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=120)
        before = rows(store)
        t0 = time.monotonic()
        resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if resumed.returncode != 0:
            raise SystemExit(f"error: the resumed run failed: {resumed.stderr[-1500:]}")
        exit_code, worker = resumed.returncode, None
    else:
        worker = None
        deadline = time.monotonic() + 60
        while worker is None and time.monotonic() < deadline and proc.poll() is None:
            worker = find_worker(proc.pid, backend)
            time.sleep(0.1)
        if worker is None:
            raise SystemExit(f"error: no {backend} worker process found to kill")
        before = rows(store)
        os.kill(worker, signal.SIGKILL)
        t0 = time.monotonic()
        exit_code = proc.wait(timeout=1800)
        if exit_code != 0:
            raise SystemExit(f"error: the run with a killed worker failed: {log.read_text()[-1500:]}")
    if len(before) >= args.cells * n_proxies:
        raise SystemExit(f"error: the {backend} run had stored every row before the {fault} was killed, so the "
                         "kill proved nothing; give more --cells, a lower --after or slower --proxies")
    after = rows(store)
    kept = sum(1 for k, (_, created) in before.items() if after.get(k, (None, None))[1] == created)
    shared = [k for k in after if k in reference]
    identical = sum(1 for k in shared if _same(after[k][0], reference[k][0]))
    diffs = [abs(after[k][0] - reference[k][0]) / max(abs(reference[k][0]), 1e-300) for k in shared
             if after[k][0] is not None and reference[k][0] is not None]
    return {"backend": backend, "fault": fault, "rows_expected": args.cells * n_proxies,
            "rows_before_kill": len(before), "rows_after": len(after), "kept_unrecomputed": kept,
            "identical_to_reference": identical, "compared": len(shared),
            "max_rel_diff": max(diffs) if diffs else 0.0, "exit": exit_code,
            "seconds_after_kill": time.monotonic() - t0, "killed_pid": worker}


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == b or (np.isnan(a) and np.isnan(b))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backends", default="process,ray")
    ap.add_argument("--faults", default="driver,worker")
    ap.add_argument("--cells", type=int, default=40)
    ap.add_argument("--after", type=int, default=8, help="kill once this many cells are stored")
    ap.add_argument("--proxies", default="gradsign,synflow")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=None, help="default: a temporary directory")
    args = ap.parse_args(argv)
    if args.after >= args.cells:
        raise SystemExit("error: --after must be below --cells, or nothing is left to lose")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    if set(faults) - {"driver", "worker"} or set(backends) - {"process", "ray"}:
        raise SystemExit("error: --faults takes driver,worker and --backends process,ray")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        ref_store = workdir / "reference.sqlite"
        env = dict(os.environ, OMP_NUM_THREADS="1")  # in-process with one torch thread, as the workers
        ref = subprocess.run(score_command(ref_store, args, "inprocess"), capture_output=True, text=True, env=env)
        if ref.returncode != 0:
            raise SystemExit(f"error: the reference run failed: {ref.stderr[-1500:]}")
        reference = rows(ref_store)
        print(f"{args.cells} NB201 cells (gradsign score --sample {args.cells} --seed {args.seed}), proxies "
              f"{args.proxies}; kill after >= {args.after} cells stored; reference: in-process, 1 thread, "
              f"{len(reference)} rows\n")
        print("| backend | fault | rows stored at the kill | rows after | stored before and kept (not recomputed) "
              "| identical to reference | largest relative difference |")
        print("|---|---|---|---|---|---|---|")
        ok = True
        for backend in backends:
            for fault in faults:
                r = run_fault(backend, fault, args, workdir, reference)
                ok &= (r["rows_after"] == r["rows_expected"] and r["kept_unrecomputed"] == r["rows_before_kill"]
                       and r["identical_to_reference"] == r["compared"] == r["rows_expected"])
                what = "driver's process group SIGKILLed, same command rerun" if fault == "driver" else \
                    f"one worker (pid {r['killed_pid']}) SIGKILLed, run left to finish"
                print(f"| {backend} | {what} | {r['rows_before_kill']} | {r['rows_after']} / {r['rows_expected']} "
                      f"| {r['kept_unrecomputed']} / {r['rows_before_kill']} | {r['identical_to_reference']} / "
                      f"{r['compared']} | {r['max_rel_diff']:.1e} |", flush=True)
    print("\nRESULT:", "nothing lost, nothing recomputed, identical scores" if ok else "MISMATCH (see the table)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
