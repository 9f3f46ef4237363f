"""Copy `gradsign predictors evaluate` outputs into docs/predictors/ and rebuild the headline table.

    .venv/bin/python scripts/collect_predictor_docs.py runs/predictors_t10 [--docs docs]

For every run folder under the given directory that has ``summary.json``,
``summary.md``, ``summary.csv`` and ``correlation_vs_train_size.png``, copies
them to ``docs/predictors/<run>.{md,csv,png}``, rewrites the block between
``<!-- headline:start -->`` and ``<!-- headline:end -->`` in
``docs/predictors.md`` from the runs' ``headline`` entries (Spearman at 100
training archs or the nearest evaluated size), and the per-run sections between
``<!-- runs:start -->`` and ``<!-- runs:end -->``. Nothing is typed by hand.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

ORDER = ["nb201_c10_table", "nb201_c10_naslib", "nb201_c100_naslib", "nb201_in16_naslib", "nb201_c10_store",
         "nb201_c10_store_table", "nb101_naslib", "darts_naslib"]


def _cell(entry: dict | None) -> str:
    if not entry:
        return "-"
    lo, hi = entry["ci"]
    return f"`{entry['predictor']}` {entry['spearman']:.3f} [{lo:.2f}, {hi:.2f}]"


def _replace(text: str, tag: str, body: str) -> str:
    start, end = f"<!-- {tag}:start -->", f"<!-- {tag}:end -->"
    a, b = text.index(start) + len(start), text.index(end)
    return text[:a] + "\n" + body.rstrip() + "\n" + text[b:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path)
    ap.add_argument("--docs", type=Path, default=Path("docs"))
    args = ap.parse_args()
    runs = {p.name: p for p in sorted(args.runs.iterdir()) if (p / "summary.json").exists()}
    names = [n for n in ORDER if n in runs] + [n for n in runs if n not in ORDER]
    out_dir = args.docs / "predictors"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, sections = [], []
    trials = set()
    for name in names:
        run = runs[name]
        meta = json.loads((run / "summary.json").read_text())
        trials.add(meta["trials"])
        shutil.copyfile(run / "summary.md", out_dir / f"{name}.md")
        shutil.copyfile(run / "summary.csv", out_dir / f"{name}.csv")
        shutil.copyfile(run / "correlation_vs_train_size.png", out_dir / f"{name}.png")
        h = meta.get("headline") or {}
        rows.append(f"| [{name}](#{name}) | {meta['pool_size']} / {meta['test_size']} | {h.get('train_size', '-')} | "
                    f"{_cell(h.get('best_combined'))} | {_cell(h.get('best_model_based_without_zero_cost'))} | "
                    f"{_cell(h.get('best_single_zero_cost'))} | {_cell(h.get('zero_cost_ensemble'))} | "
                    f"{_cell(h.get('low_fidelity'))} |")
        md = (run / "summary.md").read_text().strip()
        spearman_only = md.split("**Kendall's tau**")[0].strip()
        sections.append(
            f"### {name}\n\nFeatures: {meta['features']}. Target: {meta['target']}. "
            f"Zero-cost source: `{meta.get('zc_source', '-')}`.\n\n{spearman_only}\n\n"
            f"![{name}](predictors/{name}.png)\n\n"
            f"Kendall's tau and top-10% precision: [predictors/{name}.md](predictors/{name}.md); "
            f"numbers: [predictors/{name}.csv](predictors/{name}.csv).\n")
    t = "/".join(str(x) for x in sorted(trials))
    head = [f"Spearman's rho at 100 training archs (or the nearest evaluated size, column n), "
            f"mean [95% CI over {t} trials]:", "",
            "| run | pool / test | n | best combined | best model-based, no zero-cost | best single zero-cost | "
            "zero-cost rank ensemble | 12-epoch accuracy |", "|---|---|---|---|---|---|---|---|", *rows]
    doc = args.docs / "predictors.md"
    text = doc.read_text()
    text = _replace(text, "headline", "\n".join(head))
    text = _replace(text, "runs", "\n".join(sections))
    doc.write_text(text)
    print(f"collected {len(names)} runs into {out_dir} and {doc}")


if __name__ == "__main__":
    main()
