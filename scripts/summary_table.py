"""Markdown table of a ``gradsign evaluate`` run, from its ``summary.json``.

The tables in docs/results.md are this script's output, so no figure is typed
by hand. Rows sorted by Spearman (highest first); the best is in bold.

Usage::

    python scripts/summary_table.py results/eval_nb201_cifar100/summary.json [--no-seconds]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def _num(x: float | None, fmt: str = ".3f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def _ci(ci: list[float] | None) -> str:
    return "" if not ci else f" [{_num(ci[0])}, {_num(ci[1])}]"


def table(summary: dict, seconds: bool = True) -> str:
    rows = sorted(summary["proxies"].items(),
                  key=lambda kv: -(kv[1]["spearman"] if kv[1]["spearman"] is not None and not math.isnan(kv[1]["spearman"]) else -9))
    head = "| proxy | Spearman [95% CI] | Kendall [95% CI] | top-10% | literature | NaN | failed |" + (" s/cell |" if seconds else "")
    lines = [head, "|" + "---|" * head.count(" |")]
    for i, (name, p) in enumerate(rows):
        rho = _num(p["spearman"])
        rho = f"**{rho}**" if i == 0 else rho
        line = (f"| {name} | {rho}{_ci(p.get('spearman_ci'))} | {_num(p['kendall'])}{_ci(p.get('kendall_ci'))} "
                f"| {_num(p.get('top10_precision'), '.2f')} | {_num(p.get('literature_spearman'), '.2f')} "
                f"| {p.get('n_nan', 0)} | {p.get('n_failed', 0)} |")
        if seconds:
            line += f" {_num(p.get('seconds_per_arch'))} |"
        lines.append(line)
    nc = summary.get("noise_ceiling")
    foot = [f"\n{summary['space']} / {summary['dataset']}: {summary['n_archs']} cells, target: "
            f"{summary.get('target_description', summary['target'])}; batch {summary['batch_size']}, seed {summary['seed']}; "
            f"data: {summary.get('data')}"]
    if nc:
        foot.append(f"noise ceiling: Spearman {nc['spearman']:.3f}, Kendall {nc['kendall']:.3f} ({nc['n_archs']} cells; {nc['what']})")
    return "\n".join(lines + foot)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("summary", type=Path, nargs="+")
    ap.add_argument("--no-seconds", action="store_true")
    args = ap.parse_args(argv)
    for path in args.summary:
        try:
            summary = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            return 2
        print(table(summary, seconds=not args.no_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
