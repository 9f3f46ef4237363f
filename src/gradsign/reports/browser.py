"""Open a report in headless Chromium: the DOM after its scripts ran, console messages, a screenshot.

Used by the browser test and by ``scripts/make_report_screenshot.py``; it
drives the ``chromium`` command line (no Python browser package needed). The
page is a local file written by :func:`gradsign.reports.build_report`, so the
renderer sandbox is turned off (``--no-sandbox``): the sandbox refuses to start
as root, which is how CI containers run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gradsign.errors import ConfigError

#: Executable names tried in turn; ``$GRADSIGN_CHROMIUM`` overrides them.
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
_CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]? ?(.*)")


def find_chromium() -> str | None:
    """The Chromium executable to use, or None when there is none."""
    explicit = os.environ.get("GRADSIGN_CHROMIUM")
    if explicit:
        return explicit if shutil.which(explicit) else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageRun:
    """What headless Chromium made of a page."""

    dom: str  # the document after its scripts ran (``--dump-dom``)
    console: list[str]  # every console message the page logged (errors, warnings, logs)
    stderr: str


def _base(chromium: str | None) -> list[str]:
    exe = chromium or find_chromium()
    if exe is None:
        raise ConfigError("no Chromium found (install the 'chromium' package or set $GRADSIGN_CHROMIUM)")
    return [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--disable-extensions", "--enable-logging=stderr", "--v=0"]


def _url(page: Path, fragment: str) -> str:
    return Path(page).resolve().as_uri() + (f"#{fragment}" if fragment else "")


def load_page(page: str | os.PathLike[str], *, fragment: str = "", screenshot_to: str | os.PathLike[str] | None = None,
              width: int = 1400, height: int = 1800, chromium: str | None = None, timeout: float = 60.0) -> PageRun:
    """Load ``page`` (``#fragment`` appended), run its scripts, return the DOM and the console messages.

    With ``screenshot_to``, the same visit also saves a PNG of the top ``width`` x
    ``height`` pixels there (after the scripts ran), so one browser start does both.
    """
    args = [*_base(chromium), f"--window-size={width},{height}", "--dump-dom"]
    target = None
    if screenshot_to is not None:
        target = Path(screenshot_to).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        args.append(f"--screenshot={target}")
    done = subprocess.run([*args, _url(Path(page), fragment)], capture_output=True, text=True, timeout=timeout)
    console = [m.group(1) for line in done.stderr.splitlines() if (m := _CONSOLE.search(line))]
    if done.returncode != 0 or (target is not None and not target.is_file()):
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return PageRun(done.stdout, console, done.stderr)


def screenshot(page: str | os.PathLike[str], out: str | os.PathLike[str], *, width: int = 1400, height: int = 1800,
               fragment: str = "", chromium: str | None = None, timeout: float = 60.0) -> Path:
    """A PNG of the top ``width`` x ``height`` pixels of ``page`` at ``out``."""
    target = Path(out).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([*_base(chromium), f"--window-size={width},{height}", f"--screenshot={target}",
                           _url(Path(page), fragment)], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not target.is_file():
        raise RuntimeError(f"chromium screenshot failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return target


__all__ = ["CANDIDATES", "PageRun", "find_chromium", "load_page", "screenshot"]
