"""Tables written to a file or pipe are not wrapped or truncated: each row is one line and parses."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gradsign.storage import ResultsStore
from store_keys import score_key

LONG_PROXY = "a_proxy_name_long_enough_that_an_eighty_column_table_would_have_to_fold_it_over_lines"


def _cli(*argv: str) -> subprocess.CompletedProcess:
    """The CLI in a subprocess, stdout a pipe; COLUMNS=80 as a terminal-sized environment would set."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-c", "import sys; from gradsign.cli.main import main; main(sys.argv[1:])",
                           *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          text=True, env=env, timeout=120)


def _cells(line: str) -> list[str]:
    line = line.replace("┃", "│")  # the header row's separator
    return [c.strip() for c in line.strip().strip("│").split("│")]


@pytest.mark.slow
def test_store_info_rows_stay_one_line_in_a_pipe(tmp_path):
    deep = tmp_path / ("very_long_folder_name_" * 4) / ("another_long_folder_name_" * 3)
    store = deep / "store.sqlite"
    with ResultsStore(store) as s:
        s.put_many(score_key(proxy=LONG_PROXY), [("a", 1.0, 0.25), ("b", 2.0, 0.75)])
        s.put_many(score_key(proxy="params"), [("a", 1.0, 0.5)])
    r = _cli("store", "info", "--store", str(store))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].strip() == f"results store {store}"  # the title is not wrapped either
    header = next(ln for ln in lines if "space" in ln and "proxy" in ln)
    rows = [_cells(ln) for ln in lines if ln.startswith("│")]
    assert _cells(header)[:3] == ["space", "dataset", "proxy"]
    assert len(rows) == 2
    by_proxy = {row[2]: row for row in rows}
    assert by_proxy[LONG_PROXY] == ["nb201", "cifar10", LONG_PROXY, "1", "-", "64", "0", "default", "ok", "2",
                                    "0.500"]  # version 1, default options
    assert by_proxy["params"][9] == "1"
    widths = {len(ln) for ln in lines[1:] if ln.strip()}
    assert len(widths) == 1 and widths.pop() > 80  # one table width, wider than the 80 columns of COLUMNS


def test_data_listing_one_line_per_resource_in_a_pipe(tmp_path):
    ddir = tmp_path / ("a_data_directory_with_a_long_name_" * 3)
    ddir.mkdir()
    r = _cli("data", "--data-dir", str(ddir))
    assert r.returncode == 0, r.stderr
    rows = [_cells(ln) for ln in r.stdout.splitlines() if ln.startswith("│")]
    keys = [row[0] for row in rows]
    assert "cifar10-official" in keys and "nb201-per-seed" in keys
    assert all(k for k in keys)  # no continuation lines (an empty first cell)
    for row in rows:
        assert row[1] == "missing" and f"expected: {ddir}" in row[2] and "obtain:" in row[2]


@pytest.mark.slow
def test_long_error_message_is_one_line_on_stderr_pipe(tmp_path):
    missing = tmp_path / ("no_such_folder_with_a_long_name_" * 4) / "store.sqlite"
    r = _cli("store", "info", "--store", str(missing))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and str(missing) in r.stderr


def test_console_wraps_on_a_terminal_only():
    import io

    from gradsign.cli.common import UNWRAPPED_WIDTH, _Console

    piped = _Console(file=io.StringIO())
    assert not piped.is_terminal and piped.width == UNWRAPPED_WIDTH
    term = _Console(file=io.StringIO(), force_terminal=True, width=72)
    assert term.width == 72
    term_auto = _Console(file=io.StringIO(), force_terminal=True)
    assert term_auto.width < UNWRAPPED_WIDTH
