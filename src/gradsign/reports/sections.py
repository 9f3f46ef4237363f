"""The report's sections, one builder per kind of run: the context each template block renders.

Evaluate runs (a sortable proxy table, score-vs-accuracy scatter plots) and, with several, the
same proxy across them; seed spreads; searches (trajectories with bounded bands, the final
table); predictors (correlation vs training-set size); rank; score tables; provenance.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from gradsign.reports import plots
from gradsign.reports.cells import cell, ci_text, number, seconds_text, shown, text_cell
from gradsign.reports.loaders import Run

SECTION_TITLES = {"evaluate": "Proxy evaluations", "comparison": "The same proxy across runs",
                  "seeds": "The same proxy across seeds",
                  "search": "Searches", "predictors": "Predictors", "rank": "Models ranked at initialization",
                  "score": "Scores", "provenance": "Provenance"}


# --------------------------------------------------------------------------- evaluate


def _evaluate_label(run: Run) -> str:
    s = run.summary
    return f"{s.get('space', '?')} {s.get('dataset', '?')} ({s.get('n_archs', '?')} cells, seed {s.get('seed', '?')})"


EVAL_COLUMNS = [("proxy", "text"), ("Spearman rho [95% CI]", "num"), ("Kendall tau [95% CI]", "num"),
                ("top-10% precision", "num"), ("NaN", "num"), ("failed", "num"), ("s/cell", "num"),
                ("literature rho", "num"), ("better", "text")]


def evaluate_section(run: Run, index: int) -> dict[str, Any]:
    s = run.summary
    rows = []
    for name, p in s["proxies"].items():
        rows.append([
            text_cell(name),
            cell(p.get("spearman"), text=ci_text(p.get("spearman"), p.get("spearman_ci"))),
            cell(p.get("kendall"), text=ci_text(p.get("kendall"), p.get("kendall_ci"))),
            cell(p.get("top10_precision"), 2),
            cell(p.get("n_nan", 0)),
            cell(p.get("n_failed", 0)),
            cell(p.get("seconds_per_arch"), text=seconds_text(p.get("seconds_per_arch")) or "–"),
            cell(p.get("literature_spearman"), 2),
            text_cell("higher" if p.get("higher_is_better", True) else "lower"),
        ])
    figures = []
    scores = run.scores
    with_accuracy = scores is not None and "accuracy" in scores.columns
    for name, p in s["proxies"].items():
        caption = f"{name}: Spearman {ci_text(p.get('spearman'), p.get('spearman_ci'))}"
        if with_accuracy and name in scores.columns:
            uri = plots.scatter(np.asarray(scores[name], dtype=float), np.asarray(scores["accuracy"], dtype=float),
                                title=f"{s.get('space')} {s.get('dataset')}: {name}",
                                xlabel=f"{name} score" + ("" if p.get("higher_is_better", True) else " (lower is better)"),
                                ylabel=f"{s.get('dataset')} {s.get('target', '')} accuracy (%)")
            figures.append({"uri": uri, "caption": caption, "origin": "drawn from scores.csv"})
        elif name in run.scatter_images:
            figures.append({"uri": plots.file_data_uri(run.scatter_images[name]), "caption": caption,
                            "origin": f"{run.scatter_images[name].name} of the run"})
    missing_scatter = [n for n in s["proxies"] if not any(f["caption"].startswith(f"{n}:") for f in figures)]
    ceiling = s.get("noise_ceiling") or None
    facts = [("target", s.get("target_description") or s.get("target")), ("cells", s.get("n_archs")),
             ("data", s.get("data")), ("batch size", s.get("batch_size")), ("seed", s.get("seed")),
             ("sampling", s.get("sampling")),
             ("noise ceiling", f"Spearman {ceiling['spearman']:.3f} ({ceiling.get('what', '')})" if ceiling else None),
             ("literature", s.get("literature_source"))]
    return {"id": f"evaluate-{index}", "title": f"{_evaluate_label(run)}: {run.name}", "run": run,
            "facts": [(k, shown(v)) for k, v in facts if v not in (None, "")],
            "table": {"id": f"evaluate-{index}-table", "columns": EVAL_COLUMNS, "rows": rows, "default_sort": 1},
            "figures": figures, "missing_scatter": missing_scatter}


def comparison_section(runs: list[Run]) -> dict[str, Any] | None:
    if len(runs) < 2:
        return None
    # Short column labels: space, dataset, cells (and the seed when the runs' seeds differ); runs that
    # share them are told apart by name.
    seeds = {r.summary.get("seed") for r in runs}
    short = [f"{r.summary.get('space', '?')} {r.summary.get('dataset', '?')} ({r.summary.get('n_archs', '?')}"
             + (f", seed {r.summary.get('seed')})" if len(seeds) > 1 else ")") for r in runs]
    labels = [f"{s} {r.name}" if short.count(s) > 1 else s for s, r in zip(short, runs)]
    proxies: list[str] = []
    for r in runs:
        proxies.extend(p for p in r.summary["proxies"] if p not in proxies)
    values: dict[tuple[str, str], tuple[float, float, float] | None] = {}
    rows = []
    for proxy in proxies:
        row = [text_cell(proxy)]
        for r, label in zip(runs, labels):
            p = r.summary["proxies"].get(proxy)
            if p is None or number(p.get("spearman")) is None:
                row.append(cell(None, text="–"))
                values[(proxy, label)] = None
                continue
            ci = p.get("spearman_ci") or [None, None]
            values[(proxy, label)] = (float(p["spearman"]), number(ci[0]) or math.nan, number(ci[1]) or math.nan)
            interval = ci_text(p["spearman"], ci)
            row.append(cell(p["spearman"], sub=interval[interval.index("["):] if "[" in interval else None))
        rows.append(row)
    columns = [("proxy", "text")] + [(label, "num") for label in labels]
    return {"id": "comparison", "labels": labels,
            "table": {"id": "comparison-table", "columns": columns, "rows": rows, "default_sort": 1,
                      "compact": True},
            "figure": plots.correlation_comparison(proxies, labels, values)}


# --------------------------------------------------------------------------- seed spread


SEED_COLUMNS = [("seed", "num"), ("Spearman rho [95% CI]", "num"), ("Kendall tau", "num"),
                ("top-10% precision", "num"), ("NaN", "num")]


def _seed_label(run: Run, duplicates: bool) -> str:
    return run.name if duplicates else str(run.summary.get("proxy"))


def seeds_section(runs: list[Run]) -> dict[str, Any] | None:
    """Seed-spread runs: one table per run (a proxy scored under several minibatch / init seeds on the same
    cells), and one plot of every run's rho per seed side by side."""
    if not runs:
        return None
    proxies = [r.summary.get("proxy") for r in runs]
    duplicates = len(set(proxies)) < len(proxies)
    articles = []
    values: dict[tuple[str, str], tuple[float, float, float] | None] = {}
    seed_labels: list[str] = []
    for index, run in enumerate(runs):
        s = run.summary
        rows = []
        for p in s["per_seed"]:
            rho = cell(p.get("spearman"), text=ci_text(p.get("spearman"), p.get("spearman_ci")))
            rows.append([cell(p.get("seed")), rho, cell(p.get("kendall")), cell(p.get("top10_precision"), 2),
                         cell(p.get("nan", 0))])
            label = f"seed {p.get('seed')}"
            if label not in seed_labels:
                seed_labels.append(label)
            ci = p.get("spearman_ci") or [None, None]
            if number(p.get("spearman")) is not None:
                values[(_seed_label(run, duplicates), label)] = (float(p["spearman"]), number(ci[0]) or math.nan,
                                                                number(ci[1]) or math.nan)
        spread = None
        if number(s.get("spearman_mean")) is not None:
            spread = (f"mean {s['spearman_mean']:.3f}, sd {number(s.get('spearman_sd')) or 0:.3f}, range "
                      f"[{number(s.get('spearman_min')) or math.nan:.3f}, {number(s.get('spearman_max')) or math.nan:.3f}]")
        agreement = None
        if number(s.get("score_agreement_mean")) is not None:
            agreement = (f"mean {s['score_agreement_mean']:.3f}, lowest "
                         f"{number(s.get('score_agreement_min')) or math.nan:.3f}")
        facts = [("proxy", s.get("proxy")), ("space / dataset", f"{s.get('space', '?')} / {s.get('dataset', '?')}"),
                 ("cells", s.get("cells")), ("batch size", s.get("batch_size")), ("target", s.get("target")),
                 ("Spearman over seeds", spread), ("seed-to-seed score agreement (Spearman)", agreement),
                 ("literature rho", s.get("literature"))]
        articles.append({"id": f"seeds-{index}", "title": f"{s.get('proxy')} on {s.get('space')} "
                                                          f"{s.get('dataset')}: {run.name}", "run": run,
                         "facts": [(k, shown(v)) for k, v in facts if v not in (None, "")],
                         "table": {"id": f"seeds-{index}-table", "columns": SEED_COLUMNS, "rows": rows,
                                   "default_sort": 0}})
    figure = plots.correlation_comparison([_seed_label(r, duplicates) for r in runs], seed_labels, values)
    return {"id": "seeds", "articles": articles, "figure": figure}


# --------------------------------------------------------------------------- search


SEARCH_COLUMNS = [("setting", "text"), ("dataset", "text"), ("runs", "num"), ("test accuracy mean ± std", "num"),
                  ("95% CI", "num"), ("trainings/run", "num"), ("charged s/run", "num"), ("proxy s/run", "num")]


def _search_notes(searches: list[dict], summary: dict) -> list[str]:
    """Notes every setting shares, then each setting's own prefixed by its label (one list, no repeats)."""
    from gradsign.search.results import shared_notes

    per_setting = [(d.get("label", "?"), list(d.get("notes", []))) for d in searches]
    common = set(summary.get("notes", [])) | set(shared_notes([ns for _, ns in per_setting]))
    per_setting += [(label, list(ns)) for label, ns in summary.get("setting_notes", {}).items()]
    own = [f"{label}: {n}" for label, ns in per_setting for n in ns if n not in common]
    return sorted(common) + list(dict.fromkeys(own))


def _search_rows(run: Run) -> list[list[dict[str, Any]]]:
    rows = []
    if run.searches:
        for d in run.searches:
            s = d.get("summary", {})
            rows.append([text_cell(d.get("label")), text_cell(d.get("dataset")), cell(s.get("n")),
                         cell(s.get("mean"), text=f"{number(s.get('mean')) or math.nan:.2f} ± {number(s.get('std')) or math.nan:.2f}"),
                         cell(s.get("ci_low"), text=f"[{number(s.get('ci_low')) or math.nan:.2f}, {number(s.get('ci_high')) or math.nan:.2f}]"),
                         cell(s.get("evaluations_mean"), 1), cell(s.get("charged_seconds_mean"), 0),
                         cell(s.get("proxy_seconds_mean"), 0)])
        return rows
    for s in run.summary.get("settings", []):
        label = s.get("setting") or s.get("label")
        rows.append([text_cell(label), text_cell(s.get("dataset")), cell(s.get("runs") or s.get("n")),
                     cell(s.get("mean"), text=f"{number(s.get('mean')) or math.nan:.2f} ± {number(s.get('std')) or math.nan:.2f}"),
                     cell(s.get("ci_low"), text=f"[{number(s.get('ci_low')) or math.nan:.2f}, {number(s.get('ci_high')) or math.nan:.2f}]"),
                     cell(s.get("trainings") or s.get("evaluations_mean"), 1),
                     cell(s.get("charged_s") or s.get("charged_seconds_mean"), 0),
                     cell(s.get("proxy_s") if "proxy_s" in s else s.get("proxy_seconds_mean"), 0)])
    return rows


#: At most this many settings share one trajectory plot (more are split by algorithm).
MAX_CURVES = 9


def search_section(run: Run, index: int) -> dict[str, Any]:
    from gradsign.search import SearchResults
    from gradsign.search.report import trajectory_xlabel

    figures = []
    with_traj = [d for d in run.searches if d.get("runs") and d["runs"][0].get("trajectory")]
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for d in with_traj:
        groups[(str(d.get("dataset")),)].append(d)
    if any(len(g) > MAX_CURVES for g in groups.values()):
        groups = defaultdict(list)
        for d in with_traj:
            groups[(str(d.get("dataset")), str(d.get("algo")))].append(d)
    for key, docs in groups.items():
        curves = [SearchResults.from_dict(d).trajectory(num_points=81, n_bootstrap=300) for d in docs]
        kind = (docs[0].get("budget") or {}).get("kind")
        space = str(docs[0].get("space") or "").upper() or "search"
        figures.append({"svg": plots.trajectories(curves, title=f"{space} {' / '.join(key)}: mean incumbent accuracy",
                                                  xlabel=trajectory_xlabel("spent", kind)),
                        "caption": f"{' / '.join(key)}: mean over runs, band = {curves[0]['ci_method']} "
                                   f"(bounded by the runs' min and max)"})
    folder = Path(run.source)
    if not figures and folder.is_dir():  # stored without trajectories: the run's own plots
        for png in sorted(folder.glob("trajectory*.png")):
            figures.append({"uri": plots.file_data_uri(png), "caption": f"{png.name} of the run"})
    s = run.summary
    facts = [("searches", len(run.searches) or len(s.get("settings", []))), ("runs per setting", s.get("runs")),
             ("seed", s.get("seed")), ("algorithm", s.get("algo")), ("proxy", s.get("proxy")),
             ("budget", s.get("budget"))]
    notes = _search_notes(run.searches, s)
    return {"id": f"search-{index}", "title": run.name, "run": run,
            "facts": [(k, shown(v)) for k, v in facts if v not in (None, "", [])],
            "table": {"id": f"search-{index}-table", "columns": SEARCH_COLUMNS, "rows": _search_rows(run),
                      "default_sort": 3},
            "figures": figures, "notes": notes,
            "no_trajectories": not with_traj}


# --------------------------------------------------------------------------- predictors


def predictor_section(run: Run, index: int) -> dict[str, Any]:
    frame = run.table.copy()
    if "label_free" not in frame:
        frame["label_free"] = False
    frame["label_free"] = frame["label_free"].map(lambda v: str(v).lower() in ("true", "1"))
    sizes = sorted(int(s) for s in set(frame["train_size"]))
    trained_sizes = sorted(int(s) for s in set(frame.loc[~frame["label_free"], "train_size"])) or sizes
    columns = [("predictor", "text"), ("family", "text")] + [(f"n={n}", "num") for n in trained_sizes]
    rows = []
    for name, sub in frame.groupby("predictor", sort=False):
        by_size = {int(r["train_size"]): r for _, r in sub.iterrows()}
        free = bool(sub["label_free"].iloc[0])
        row = [text_cell(name), text_cell(sub["family"].iloc[0] if "family" in sub else "")]
        for n in trained_sizes:
            r = by_size.get(n) if not free else by_size.get(n, next(iter(by_size.values())))
            if r is None:
                row.append(cell(None))
                continue
            lo, hi = r.get("spearman_lo"), r.get("spearman_hi")
            row.append(cell(r["spearman"], text=ci_text(r["spearman"], [lo, hi], 3)))
        rows.append(row)
    m = run.summary
    where = " / ".join(str(m[k]) for k in ("space", "dataset") if m.get(k))
    title = f"{where}: {run.name}" if where else run.name
    facts = [("description", m.get("description")), ("features", m.get("features")), ("trials", m.get("trials")),
             ("test cells", m.get("test_size")), ("pool", m.get("pool_size")), ("intervals", m.get("ci")),
             ("seed", m.get("seed"))]
    return {"id": f"predictors-{index}", "title": title, "run": run,
            "facts": [(k, shown(v)) for k, v in facts if v not in (None, "")],
            "table": {"id": f"predictors-{index}-table", "columns": columns, "rows": rows,
                      "default_sort": len(columns) - 1},
            "figure": plots.predictor_curves(frame, title=f"{title}: Spearman rho vs training-set size")}


# --------------------------------------------------------------------------- rank and score


def rank_section(run: Run, index: int) -> dict[str, Any]:
    doc = run.summary
    proxies = list(doc.get("proxies") or doc["higher_is_better"])
    models = [m["model"] for m in doc["models"]]
    columns = [("model", "text"), ("params", "num"), ("flops", "num")]
    columns += [(p, "num") for p in proxies if p not in ("params", "flops")]
    columns += [(f"#{p}", "rank") for p in proxies] + [("s/model", "num"), ("failed", "text")]
    rows, ranks, remarks = [], {}, []
    errors = doc.get("errors") or {}
    for m in doc["models"]:
        row = [text_cell(m["model"]), cell(m.get("params"), text=f"{int(m['params']):,}" if number(m.get("params")) else "–"),
               cell(m.get("flops"), text=f"{m['flops']:.3g}" if number(m.get("flops")) else "–")]
        row += [cell(m.get(p), text=score_text(m, p, ".4g")) for p in proxies if p not in ("params", "flops")]
        for p in proxies:
            r = number(m.get(f"rank_{p}"))
            ranks[(m["model"], p)] = r if r is not None else math.nan
            row.append(cell(r, text=str(int(r)) if r is not None else "–"))
        failed = errors.get(m["model"]) or {}
        row += [cell(m.get("seconds"), text=seconds_text(m.get("seconds")) or "–"), text_cell(", ".join(failed))]
        rows.append(row)
        if m.get("notes"):
            remarks.append((m["model"], f"note: {m['notes']}"))
        remarks.extend((m["model"], f"error: {why}") for why in failed.values())
    shape = "×".join(map(str, doc["input_shape"])) if doc.get("input_shape") else None
    facts = [("data", doc.get("data")), ("input shape", shape), ("batch size", doc.get("batch_size")),
             ("seed", doc.get("seed")), ("device", doc.get("device")), ("torch", doc.get("torch")),
             ("better is", ", ".join(f"{p} {'higher' if h else 'lower'}" for p, h in doc["higher_is_better"].items()))]
    return {"id": f"rank-{index}", "title": f"{doc.get('dataset', '')}: {run.name}", "run": run,
            "facts": [(k, shown(v)) for k, v in facts if v not in (None, "")],
            "table": {"id": f"rank-{index}-table", "columns": columns, "rows": rows,
                      "default_sort": len(columns) - 2 - len(proxies)},
            "remarks": remarks, "figure": plots.rank_chart(models, proxies, ranks)}


def score_text(record: dict[str, Any], key: str, spec: str) -> str:
    """A score of a score / rank JSON record as shown: formatted, or what its ``nonfinite`` mark says it was
    (``-inf``, ``inf``; ``NaN`` for a null without one: older files, failed scores)."""
    value = number(record.get(key))
    if value is not None:
        return format(value, spec)
    mark = (record.get("nonfinite") or {}).get(key)
    return mark if mark in ("inf", "-inf") else "NaN"


def score_section(run: Run, index: int) -> dict[str, Any]:
    doc = run.summary
    records = doc["scores"]
    keys = [k for k in (records[0] if records else {}) if k not in ("arch", "nonfinite")]
    columns = [("arch", "text")] + [(k, "num") for k in keys]
    rows = [[text_cell(r.get("arch"))] + [cell(r.get(k), text=score_text(r, k, ".6g")) for k in keys] for r in records]
    facts = [("space", doc.get("space")), ("dataset", doc.get("dataset")), ("data", doc.get("data")),
             ("batch size", doc.get("batch_size")), ("seed", doc.get("seed"))]
    return {"id": f"score-{index}", "title": run.name, "run": run,
            "facts": [(k, shown(v)) for k, v in facts if v not in (None, "")],
            "table": {"id": f"score-{index}-table", "columns": columns, "rows": rows, "default_sort": 1 if keys else 0}}


# --------------------------------------------------------------------------- provenance


PROVENANCE_FIELDS = (("command", "command"), ("gradsign_version", "gradsign"), ("git_commit", "git commit"),
                     ("git_dirty", "uncommitted changes"), ("python", "python"), ("torch", "torch"),
                     ("numpy", "numpy"), ("platform", "platform"), ("device", "device"), ("threads", "threads"),
                     ("seeds", "seeds"), ("started_at", "started"), ("wall_seconds", "wall time (s)"))


def provenance_entry(run: Run) -> dict[str, Any]:
    p = run.provenance
    rows = [(label, shown(p[key])) for key, label in PROVENANCE_FIELDS if p.get(key) is not None]
    recorded = {k: shown(run.summary.get(k)) for k in ("data", "batch_size", "seed", "device", "torch", "store")
                if run.summary.get(k) not in (None, "")}
    return {"run": run, "rows": rows, "files": p.get("data_files", []), "scope": p.get("data_files_scope"),
            "recorded": recorded}
