"""A progress bar with throughput and ETA for long jobs (rich)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _RateColumn(ProgressColumn):
    """Items per second (or seconds per item when slower than one a second)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed:
            return Text(f"- {self.unit}/s", style="progress.data.speed")
        if speed >= 1:
            return Text(f"{speed:.2f} {self.unit}/s", style="progress.data.speed")
        return Text(f"{1 / speed:.2f} s/{self.unit}", style="progress.data.speed")


@contextmanager
def progress_bar(description: str, total: int, *, unit: str = "cells", enabled: bool = True,
                 console: Console | None = None) -> Iterator[callable]:
    """Yield ``advance(n=1)``; shows a bar with count, rate, elapsed time and ETA when enabled."""
    if not enabled or total == 0:
        yield lambda n=1: None
        return
    console = console or Console(stderr=True)
    if not console.is_terminal:
        # Logs and CI: a plain line every 30 s (and at the end) instead of a live bar.
        yield from _plain_progress(description, total, unit, console)
        return
    columns = [
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        _RateColumn(unit), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as prog:
        task = prog.add_task(description, total=total)
        yield lambda n=1: prog.advance(task, n)


def _plain_progress(description: str, total: int, unit: str, console: Console, every: float = 30.0):
    import time

    start = last = time.monotonic()
    done = 0

    def report() -> None:
        elapsed = time.monotonic() - start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else float("nan")
        console.print(f"{description}: {done}/{total} {unit}, {rate:.3f} {unit}/s, "
                      f"elapsed {elapsed:.0f} s, ETA {eta:.0f} s", highlight=False, soft_wrap=True)

    def advance(n: int = 1) -> None:
        nonlocal done, last
        done += n
        now = time.monotonic()
        if now - last >= every or done == total:
            last = now
            report()

    yield advance
