"""Build the report of the committed results and take the README's screenshot of it.

Not part of the library: it runs ``gradsign report`` on the runs committed under
``results/`` and ``docs/predictors/`` (NB201 CIFAR-10 / CIFAR-100 / ImageNet16-120,
NB101 and DARTS evaluations, the seed spreads of three proxies, the proxy-assisted and
predictor-guided searches, the rank model zoo and the predictor curves), then opens
the page in headless Chromium and saves a PNG of the top of the section(s) named by ``--fragment``::

    python scripts/make_report_screenshot.py --output runs/report/report.html --screenshot docs/img/report.png

It prints the report's size, its sections and the warnings. Needs a Chromium
(``chromium`` on Debian) for the screenshot; ``--no-screenshot`` builds the page only.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The committed runs shown, in page order.
COMMITTED_RUNS = (
    "results/eval_nb201_cifar10",
    "results/eval_nb201_cifar100",
    "results/eval_nb201_ImageNet16-120",
    "results/eval_nb201_cifar10_later",
    "results/eval_nb201_cifar10_allcells",
    "results/eval_nb101",
    "results/eval_darts",
    "results/seed_spread_nb201_cifar10_gradsign",
    "results/seed_spread_nb201_cifar10_grasp",
    "results/seed_spread_nb201_cifar10_synflow",
    "results/search_proxy_assisted",
    "results/search_predictor_guided",
    "results/rank_zoo",
    "docs/predictors",
)


def _shown(path: Path) -> str:
    """``path`` relative to the repository root when it lies inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "runs" / "report" / "report.html",
                        help="the HTML report to write")
    parser.add_argument("--screenshot", type=Path, default=ROOT / "docs" / "img" / "report.png",
                        help="the PNG to write")
    parser.add_argument("--fragment", default="only=comparison",
                        help="address fragment: only=ID[,ID] shows just those sections (comparison, evaluate, "
                             "seeds, search, predictors, rank, provenance)")
    parser.add_argument("--width", type=int, default=1280, help="screenshot width in pixels")
    parser.add_argument("--height", type=int, default=1000, help="screenshot height in pixels")
    parser.add_argument("--no-screenshot", action="store_true", help="build the report only")
    args = parser.parse_args(argv)

    from gradsign.reports import build_report
    from gradsign.reports.browser import find_chromium, screenshot

    title = "gradsign: the committed results (NB201, NB101, DARTS; seed spreads; searches; predictors; rank)"
    # The same page from the command line, run in the repository root:
    command = shlex.join(["gradsign", "report", *COMMITTED_RUNS, "--output", _shown(args.output), "--title", title])
    result = build_report([ROOT / r for r in COMMITTED_RUNS], args.output, title=title, command=command)
    kinds: dict[str, int] = {}
    for kind, _, _ in result.runs:
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"wrote {result.path}: {result.bytes:,} bytes ({result.bytes / 1e6:.2f} MB), {len(result.runs)} runs "
          f"({', '.join(f'{n} {k}' for k, n in kinds.items())}), sections {', '.join(result.sections)}")
    print(f"{len(result.without_provenance)} of {len(result.runs)} runs predate provenance records and were read as they are")
    for warning in result.warnings:
        print(f"warning: {warning}")
    if args.no_screenshot:
        return 0
    if find_chromium() is None:
        print("no Chromium found: install the 'chromium' package (or set $GRADSIGN_CHROMIUM)", file=sys.stderr)
        return 1
    shot = screenshot(result.path, args.screenshot, width=args.width, height=args.height, fragment=args.fragment)
    print(f"wrote {shot} ({shot.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
