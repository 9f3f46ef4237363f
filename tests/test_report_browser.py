"""The report in a real browser: headless Chromium loads it, its script runs without a console message,
every table and plot is there, sorting by a column header works, and a screenshot is kept.

Skipped (with the reason) where no Chromium is installed; ``.ci/run`` installs the Debian
``chromium`` package. The screenshot and the page are copied to ``test-artifacts/``.
"""

from __future__ import annotations

import shutil
from html.parser import HTMLParser

import pytest

from gradsign.reports import build_report
from gradsign.reports.browser import find_chromium, load_page
from report_runs import COMMITTED_EVALUATE, COMMITTED_PREDICTORS, COMMITTED_RANK, REPO, evaluate_run, search_run

CHROMIUM = find_chromium()
# slow: building the page and one browser start take 5-7 s on a busy 2-core machine
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (.ci/run installs the Debian "
                                                          "'chromium' package; or set $GRADSIGN_CHROMIUM)")]
ARTIFACTS = REPO / "test-artifacts"
SEED_SPREAD = REPO / "results" / "seed_spread_nb201_cifar10_synflow"  # the seed-spread table


class SortedTables(HTMLParser):
    """Per sortable table: the column it says it is sorted by, its header types, each row's sort values."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict] = {}
        self.plots = 0
        self._table: dict | None = None
        self._row: list | None = None
        self._figure = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "sortable" in (a.get("class") or ""):
            self._table = {"sorted": a.get("data-sorted"), "types": [], "rows": [], "aria": []}
            self.tables[a["id"]] = self._table
        elif tag == "th" and self._table is not None:
            self._table["types"].append(a.get("data-type"))
            self._table["aria"].append(a.get("aria-sort"))
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._row.append(a.get("data-sort"))
        elif tag == "figure":
            self._figure += 1
        elif tag in ("svg", "img") and self._figure:
            self.plots += 1

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            if self._row:
                self._table["rows"].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "figure":
            self._figure -= 1


def tables_of(html: str) -> SortedTables:
    parsed = SortedTables()
    parsed.feed(html)
    return parsed


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    """The report built, then opened once in #selftest mode (its script sorts every table) with a screenshot."""
    tmp = tmp_path_factory.mktemp("report")
    runs = [evaluate_run(tmp / "eval", seed=0), COMMITTED_EVALUATE, SEED_SPREAD, search_run(tmp / "search"),
            COMMITTED_RANK, COMMITTED_PREDICTORS]
    page = build_report(runs, tmp / "report.html", title="browser test").path
    shot = tmp / "report.png"
    opened = load_page(page, fragment="selftest", screenshot_to=shot, width=1280, height=1600, chromium=CHROMIUM)
    return page, opened, shot


def test_page_runs_cleanly_tables_and_plots_present_and_sorting_works(visit):
    page, opened, _ = visit
    before = tables_of(page.read_text())
    assert opened.console == []  # no error, warning or log message from the page
    html = opened.dom
    root = html[html.index("<html"):html.index(">", html.index("<html"))]  # where the page's script reports
    assert 'data-script="ready"' in root and "data-js-errors" not in root
    after = tables_of(html)
    n = len(before.tables)
    assert n == 8 and f'data-selftest="{n}/{n} tables sorted"' in root
    assert set(after.tables) == set(before.tables) and after.plots == before.plots > 0
    changed = 0
    for table_id, table in after.tables.items():
        col, direction = table["sorted"].split(":")
        col = int(col)
        assert table["aria"][col] == direction and sum(a is not None for a in table["aria"]) == 1
        assert table["types"][col] == "num"
        values = [row[col] for row in table["rows"]]
        present = [float(v) for v in values if v is not None]
        # blanks last; the rest in the order the header shows
        assert values[:len(present)] == [v for v in values if v is not None], table_id
        assert present == sorted(present, reverse=direction == "descending"), table_id
        assert sorted(map(tuple, table["rows"]), key=str) == sorted(map(tuple, before.tables[table_id]["rows"]),
                                                                     key=str)  # same rows, reordered
        changed += [row[col] for row in table["rows"]] != [row[col] for row in before.tables[table_id]["rows"]]
    assert changed >= 1  # at least one table was not already in that order


def test_screenshot_is_kept_as_an_artifact(visit):
    page, _, shot = visit
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a rendered page, not a blank image
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "report_browser_test.png")
    shutil.copy(page, ARTIFACTS / "report_browser_test.html")
