"""Entry point of the ``gradsign`` console command.

Each command lives in its own module; this file only wires them together and
turns library errors into one-line messages with a non-zero exit status.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from gradsign import __version__
from gradsign.cli import data_cmd, proxies_cmd, scoring_cmds, search_cmd, store_cmd
from gradsign.cli import benchmarks_cmd, predictors_cmd
from gradsign.cli import rank_cmd
from gradsign.cli import report_cmd
from gradsign.cli.common import OUTPUT_FALLBACK_EXIT, err_console, interrupt_message, take_fell_back
from gradsign.errors import GradsignError

app = typer.Typer(
    name="gradsign",
    help="Model performance inference: zero-cost proxies (GradSign, ...), NAS benchmarks, predictors, search.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"gradsign {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    plugin: list[str] = typer.Option(
        [], "--plugin", help="Import your module (a name, or a path to a .py file) first: its @register_proxy / "
        "register_space / register_predictor / register_model_source / register_benchmark entries work in every "
        "command. "
        "Repeatable; also $GRADSIGN_PLUGINS and the 'gradsign.plugins' entry-point group.", show_default=False),
) -> None:
    """Model performance inference: zero-cost proxies (GradSign, ...), NAS benchmarks, predictors, search."""
    from gradsign.plugins import load_plugins

    load_plugins(plugin)


app.command("data")(data_cmd.data)
app.command("proxies")(proxies_cmd.proxies)
app.command("benchmarks")(benchmarks_cmd.benchmarks)
app.command("score")(scoring_cmds.score)
app.command("evaluate")(scoring_cmds.evaluate)
app.command("search")(search_cmd.search)
app.add_typer(store_cmd.store_app, name="store")
app.add_typer(predictors_cmd.app, name="predictors")
app.command("rank")(rank_cmd.rank)
app.command("report")(report_cmd.report)


def _interrupt(signum, frame):  # noqa: ARG001
    # Said here because Typer turns KeyboardInterrupt into a silent exit 130. What is
    # kept depends on the command and its mode; each command says (set_interrupt_note).
    err_console.print(interrupt_message(), highlight=False, soft_wrap=True)
    raise KeyboardInterrupt


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ARG001
    """Warnings as one line a user can read (no source file or code line), each text once per run."""
    text = " ".join(str(message).split())
    if text in _SHOWN_WARNINGS:
        return
    _SHOWN_WARNINGS.add(text)
    label = "warning" if issubclass(category, UserWarning) else f"warning ({category.__name__})"
    err_console.print(f"{label}: {escape(text)}", highlight=False, soft_wrap=True)


_SHOWN_WARNINGS: set[str] = set()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; library errors become `error: ...` on stderr and exit status 2.

    SIGTERM (a batch system or `kill`) is handled like Ctrl-C: worker processes are
    stopped, the message says what was kept (the store holds every finished cell when
    there is one; `rank` writes the finished models), and the exit status is 130.
    """
    import signal
    import warnings

    from gradsign.cli.common import set_interrupt_note

    set_interrupt_note("nothing was computed yet")  # each computing command says what it keeps
    _SHOWN_WARNINGS.clear()
    saved = {"showwarning": warnings.showwarning}
    warnings.showwarning = _one_line_warning
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            saved[signal.SIGTERM] = signal.signal(signal.SIGTERM, _interrupt)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            saved[signal.SIGINT] = signal.signal(signal.SIGINT, _interrupt)
    except ValueError:  # not the main thread (embedded use): keep the host's handlers
        pass
    take_fell_back()
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as done:
        # Outputs written to a fallback path instead of the one asked for: nothing is lost,
        # but the exit status says so (a script would otherwise look for files that are not there).
        if take_fell_back() and done.code in (0, None):
            sys.exit(OUTPUT_FALLBACK_EXIT)
        raise
    except GradsignError as exc:
        # Escaped: messages quote user input and file names, which may contain [brackets].
        # soft_wrap: one line however long (the terminal wraps it; rich would insert newlines).
        # emoji=False: "file.py:x:" in a message is the user's text, not rich's ":x:" emoji code.
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True, emoji=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print(interrupt_message(), highlight=False, soft_wrap=True)
        sys.exit(130)
    finally:  # an embedding program (or a test session) gets its own handlers back
        warnings.showwarning = saved.pop("showwarning")
        for signum, handler in saved.items():
            signal.signal(signum, handler)


if __name__ == "__main__":  # pragma: no cover
    main()
