"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console, ConsoleDimensions

# Width used when output goes to a file or pipe: wide enough that no table row or message
# wraps or is truncated (rich renders content at its natural width, not padded to this).
UNWRAPPED_WIDTH = 100_000


class _Console(Console):
    """A rich Console that wraps at the terminal width on a terminal and never otherwise.

    Written to a file or pipe, rich would lay tables out for 80 columns (or the width
    of whatever terminal stdin is), folding cells over several lines so that rows no
    longer parse; here each table row stays one line, each message one line.
    """

    def __init__(self, *args, **kwargs) -> None:
        # An explicit width is kept everywhere; $COLUMNS (which rich also reads) only on a terminal.
        self._unwrapped_off_terminal = kwargs.get("width") is None
        super().__init__(*args, **kwargs)

    def _unwrapped(self) -> bool:
        return self._unwrapped_off_terminal and not self.is_terminal

    @property
    def size(self) -> ConsoleDimensions:
        dims = super().size
        if self._unwrapped():
            return ConsoleDimensions(UNWRAPPED_WIDTH, dims.height)
        return dims

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)

    def print(self, *objects, **kwargs) -> None:
        if self._unwrapped():
            # A table's title is laid out at the table's width: keep a longer one on one line too.
            kwargs.setdefault("no_wrap", True)
            kwargs.setdefault("overflow", "ignore")
        super().print(*objects, **kwargs)


console = _Console()
err_console = _Console(stderr=True)

DataDirOption = Annotated[
    Optional[Path],
    typer.Option(
        "--data-dir",
        help="Data directory (default: $GRADSIGN_DATA, else ../shared/data beside the repository).",
        show_default=False,
    ),
]

ThreadsOption = Annotated[
    Optional[int],
    typer.Option(
        "--threads",
        help="torch intra-op threads per scoring process (default 1: the same scores on every backend and "
        "no oversubscription; another count changes the last bits, and where scores are stored it is part of the "
        "store key).",
        show_default=False,
    ),
]
DeviceOption = Annotated[
    str,
    typer.Option("--device", help="Torch device to compute on: cpu, cuda, cuda:N or mps (where torch has it)."),
]


# What an interruption (Ctrl-C, SIGTERM) leaves behind, said by main() when it happens.
# Each computing command sets it once it knows: it must be true in every mode.
_INTERRUPT_NOTE = ["nothing was computed yet"]


def set_interrupt_note(note: str) -> None:
    """What is kept if the command is interrupted from now on (one clause, no trailing period)."""
    _INTERRUPT_NOTE[0] = note


def interrupt_message() -> str:
    return f"interrupted: {_INTERRUPT_NOTE[0]}."


def store_interrupt_note(store) -> str:
    """The note for a command that commits each finished result to ``store`` (a store or its path; None: no store)."""
    if store is None:
        return "nothing is kept (--no-store): a rerun computes everything again"
    return f"finished results are kept in the store {getattr(store, 'path', store)}; rerun the same command to resume"


#: Exit status when the results were computed but written to a fallback path instead of
#: the requested one: nothing is lost, but a script must notice that the files moved.
OUTPUT_FALLBACK_EXIT = 3


def report_fallback(problem: str, where: object) -> None:
    """Say where the outputs went instead, and remember to exit with :data:`OUTPUT_FALLBACK_EXIT`."""
    err_console.print(f"could not write {problem}; the outputs were written to {where} instead",
                      highlight=False, markup=False, soft_wrap=True)
    _FELL_BACK[0] = True


_FELL_BACK = [False]


def take_fell_back() -> bool:
    """Whether :func:`report_fallback` was called in this command (and reset it); main() then exits 3."""
    fell, _FELL_BACK[0] = _FELL_BACK[0], False
    return fell
