"""``build_report``: one self-contained HTML page from finished runs.

The page holds everything it shows: figures are inline SVG or base64 PNG, the
style sheet and the table-sorting script are inline, nothing is fetched. It is
rendered by Jinja2 templates (``reports/templates/``) from a context built
here; the figures come from :mod:`gradsign.reports.plots`.

Sections, in order: the runs and any warnings; evaluate runs (a sortable proxy
table, score-vs-accuracy scatter plots) and, with several, the same proxy
across them side by side; seed spreads (one proxy under several seeds: a table
per run, a plot of all); searches (trajectories with their bounded confidence
bands, the final table); predictors (correlation vs training-set size); rank
(the models ranked by each proxy, table and plot); score tables; and the
provenance of every run. Warnings say, one line each, when compared runs differ
in something that changes the numbers (data, batch size, sampling, accuracy
target, versions, device, threads, uncommitted changes), or predate provenance
records.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from gradsign.errors import GradsignError
from gradsign.outputs import OutputError, check_output_file
from gradsign.reports import plots
from gradsign.reports.loaders import ReportInputError, Run, load_run

SECTION_TITLES = {"evaluate": "Proxy evaluations", "comparison": "The same proxy across runs",
                  "seeds": "The same proxy across seeds",
                  "search": "Searches", "predictors": "Predictors", "rank": "Models ranked at initialization",
                  "score": "Scores", "provenance": "Provenance"}


@dataclass
class ReportResult:
    """What :func:`build_report` wrote."""

    path: Path
    bytes: int
    sections: list[str]  # section ids present, in page order
    runs: list[tuple[str, str, str]]  # (kind, name, source) of every run shown
    warnings: list[str] = field(default_factory=list)
    without_provenance: list[str] = field(default_factory=list)  # runs written before provenance was recorded
    fallback_problem: str | None = None  # why ``output`` could not be written at the end (``path`` is then elsewhere)
    notes: list[str] = field(default_factory=list)  # about the inputs (e.g. a run given twice, shown once)


# --------------------------------------------------------------------------- formatting helpers


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def cell(value: Any, digits: int = 3, *, text: str | None = None, sub: str | None = None) -> dict[str, Any]:
    """A table cell: what is shown (``sub``: a second, smaller line), and the number the column sorts by
    (None: blank, sorted last)."""
    v = _num(value)
    if text is None:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            text = "–" if value is None else str(value)
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            text = f"{int(value):,}"
        elif v is not None:
            text = f"{v:.{digits}f}" if abs(v) < 1e5 or v == 0 else f"{v:.3g}"
        else:
            text = str(value)
    return {"text": text, "sort": v, "sub": sub}


def text_cell(value: Any) -> dict[str, Any]:
    return {"text": "" if value is None else str(value), "sort": None, "sub": None}


def ci_text(value: Any, ci: Sequence[Any] | None, digits: int = 3) -> str:
    v = _num(value)
    if v is None:
        return "–"
    lo, hi = (_num(ci[0]), _num(ci[1])) if ci is not None and len(ci) == 2 else (None, None)
    if lo is None or hi is None:
        return f"{v:.{digits}f}"
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _seconds(v: Any) -> str | None:
    f = _num(v)
    if f is None:
        return None
    return f"{f:.3f}" if f < 1 else f"{f:.2f}" if f < 100 else f"{f:,.0f}"


# --------------------------------------------------------------------------- evaluate


def _evaluate_label(run: Run) -> str:
    s = run.summary
    return f"{s.get('space', '?')} {s.get('dataset', '?')} ({s.get('n_archs', '?')} cells, seed {s.get('seed', '?')})"


EVAL_COLUMNS = [("proxy", "text"), ("Spearman rho [95% CI]", "num"), ("Kendall tau [95% CI]", "num"),
                ("top-10% precision", "num"), ("NaN", "num"), ("failed", "num"), ("s/cell", "num"),
                ("literature rho", "num"), ("better", "text")]


def _evaluate_section(run: Run, index: int) -> dict[str, Any]:
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
            cell(p.get("seconds_per_arch"), text=_seconds(p.get("seconds_per_arch")) or "–"),
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
            "facts": [(k, _shown(v)) for k, v in facts if v not in (None, "")],
            "table": {"id": f"evaluate-{index}-table", "columns": EVAL_COLUMNS, "rows": rows, "default_sort": 1},
            "figures": figures, "missing_scatter": missing_scatter}


def _comparison_section(runs: list[Run]) -> dict[str, Any] | None:
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
            if p is None or _num(p.get("spearman")) is None:
                row.append(cell(None, text="–"))
                values[(proxy, label)] = None
                continue
            ci = p.get("spearman_ci") or [None, None]
            values[(proxy, label)] = (float(p["spearman"]), _num(ci[0]) or math.nan, _num(ci[1]) or math.nan)
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


def _seeds_section(runs: list[Run]) -> dict[str, Any] | None:
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
            if _num(p.get("spearman")) is not None:
                values[(_seed_label(run, duplicates), label)] = (float(p["spearman"]), _num(ci[0]) or math.nan,
                                                                _num(ci[1]) or math.nan)
        spread = None
        if _num(s.get("spearman_mean")) is not None:
            spread = (f"mean {s['spearman_mean']:.3f}, sd {_num(s.get('spearman_sd')) or 0:.3f}, range "
                      f"[{_num(s.get('spearman_min')) or math.nan:.3f}, {_num(s.get('spearman_max')) or math.nan:.3f}]")
        agreement = None
        if _num(s.get("score_agreement_mean")) is not None:
            agreement = (f"mean {s['score_agreement_mean']:.3f}, lowest "
                         f"{_num(s.get('score_agreement_min')) or math.nan:.3f}")
        facts = [("proxy", s.get("proxy")), ("space / dataset", f"{s.get('space', '?')} / {s.get('dataset', '?')}"),
                 ("cells", s.get("cells")), ("batch size", s.get("batch_size")), ("target", s.get("target")),
                 ("Spearman over seeds", spread), ("seed-to-seed score agreement (Spearman)", agreement),
                 ("literature rho", s.get("literature"))]
        articles.append({"id": f"seeds-{index}", "title": f"{s.get('proxy')} on {s.get('space')} "
                                                          f"{s.get('dataset')}: {run.name}", "run": run,
                         "facts": [(k, _shown(v)) for k, v in facts if v not in (None, "")],
                         "table": {"id": f"seeds-{index}-table", "columns": SEED_COLUMNS, "rows": rows,
                                   "default_sort": 0}})
    figure = plots.correlation_comparison([_seed_label(r, duplicates) for r in runs], seed_labels, values)
    return {"id": "seeds", "articles": articles, "figure": figure}


# --------------------------------------------------------------------------- search


SEARCH_COLUMNS = [("setting", "text"), ("dataset", "text"), ("runs", "num"), ("test accuracy mean ± std", "num"),
                  ("95% CI", "num"), ("trainings/run", "num"), ("charged s/run", "num"), ("proxy s/run", "num")]


def _search_rows(run: Run) -> list[list[dict[str, Any]]]:
    rows = []
    if run.searches:
        for d in run.searches:
            s = d.get("summary", {})
            rows.append([text_cell(d.get("label")), text_cell(d.get("dataset")), cell(s.get("n")),
                         cell(s.get("mean"), text=f"{_num(s.get('mean')) or math.nan:.2f} ± {_num(s.get('std')) or math.nan:.2f}"),
                         cell(s.get("ci_low"), text=f"[{_num(s.get('ci_low')) or math.nan:.2f}, {_num(s.get('ci_high')) or math.nan:.2f}]"),
                         cell(s.get("evaluations_mean"), 1), cell(s.get("charged_seconds_mean"), 0),
                         cell(s.get("proxy_seconds_mean"), 0)])
        return rows
    for s in run.summary.get("settings", []):
        label = s.get("setting") or s.get("label")
        rows.append([text_cell(label), text_cell(s.get("dataset")), cell(s.get("runs") or s.get("n")),
                     cell(s.get("mean"), text=f"{_num(s.get('mean')) or math.nan:.2f} ± {_num(s.get('std')) or math.nan:.2f}"),
                     cell(s.get("ci_low"), text=f"[{_num(s.get('ci_low')) or math.nan:.2f}, {_num(s.get('ci_high')) or math.nan:.2f}]"),
                     cell(s.get("trainings") or s.get("evaluations_mean"), 1),
                     cell(s.get("charged_s") or s.get("charged_seconds_mean"), 0),
                     cell(s.get("proxy_s") if "proxy_s" in s else s.get("proxy_seconds_mean"), 0)])
    return rows


#: At most this many settings share one trajectory plot (more are split by algorithm).
MAX_CURVES = 9


def _search_section(run: Run, index: int) -> dict[str, Any]:
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
    notes = sorted({n for d in run.searches for n in d.get("notes", [])} | set(s.get("notes", [])))
    return {"id": f"search-{index}", "title": run.name, "run": run,
            "facts": [(k, _shown(v)) for k, v in facts if v not in (None, "", [])],
            "table": {"id": f"search-{index}-table", "columns": SEARCH_COLUMNS, "rows": _search_rows(run),
                      "default_sort": 3},
            "figures": figures, "notes": notes,
            "no_trajectories": not with_traj}


# --------------------------------------------------------------------------- predictors


def _predictor_section(run: Run, index: int) -> dict[str, Any]:
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
            "facts": [(k, _shown(v)) for k, v in facts if v not in (None, "")],
            "table": {"id": f"predictors-{index}-table", "columns": columns, "rows": rows,
                      "default_sort": len(columns) - 1},
            "figure": plots.predictor_curves(frame, title=f"{title}: Spearman rho vs training-set size")}


# --------------------------------------------------------------------------- rank and score


def _rank_section(run: Run, index: int) -> dict[str, Any]:
    doc = run.summary
    proxies = list(doc.get("proxies") or doc["higher_is_better"])
    models = [m["model"] for m in doc["models"]]
    columns = [("model", "text"), ("params", "num"), ("flops", "num")]
    columns += [(p, "num") for p in proxies if p not in ("params", "flops")]
    columns += [(f"#{p}", "rank") for p in proxies] + [("s/model", "num"), ("failed", "text")]
    rows, ranks, remarks = [], {}, []
    errors = doc.get("errors") or {}
    for m in doc["models"]:
        row = [text_cell(m["model"]), cell(m.get("params"), text=f"{int(m['params']):,}" if _num(m.get("params")) else "–"),
               cell(m.get("flops"), text=f"{m['flops']:.3g}" if _num(m.get("flops")) else "–")]
        row += [cell(m.get(p), text=f"{m[p]:.4g}" if _num(m.get(p)) is not None else "NaN")
                for p in proxies if p not in ("params", "flops")]
        for p in proxies:
            r = _num(m.get(f"rank_{p}"))
            ranks[(m["model"], p)] = r if r is not None else math.nan
            row.append(cell(r, text=str(int(r)) if r is not None else "–"))
        failed = errors.get(m["model"]) or {}
        row += [cell(m.get("seconds"), text=_seconds(m.get("seconds")) or "–"), text_cell(", ".join(failed))]
        rows.append(row)
        if m.get("notes"):
            remarks.append((m["model"], f"note: {m['notes']}"))
        remarks.extend((m["model"], f"error: {why}") for why in failed.values())
    shape = "×".join(map(str, doc["input_shape"])) if doc.get("input_shape") else None
    facts = [("data", doc.get("data")), ("input shape", shape), ("batch size", doc.get("batch_size")),
             ("seed", doc.get("seed")), ("device", doc.get("device")), ("torch", doc.get("torch")),
             ("better is", ", ".join(f"{p} {'higher' if h else 'lower'}" for p, h in doc["higher_is_better"].items()))]
    return {"id": f"rank-{index}", "title": f"{doc.get('dataset', '')}: {run.name}", "run": run,
            "facts": [(k, _shown(v)) for k, v in facts if v not in (None, "")],
            "table": {"id": f"rank-{index}-table", "columns": columns, "rows": rows,
                      "default_sort": len(columns) - 2 - len(proxies)},
            "remarks": remarks, "figure": plots.rank_chart(models, proxies, ranks)}


def _score_section(run: Run, index: int) -> dict[str, Any]:
    doc = run.summary
    records = doc["scores"]
    keys = [k for k in (records[0] if records else {}) if k not in ("arch",)]
    columns = [("arch", "text")] + [(k, "num") for k in keys]
    rows = [[text_cell(r.get("arch"))] + [cell(r.get(k), text=f"{r[k]:.6g}" if _num(r.get(k)) is not None else "NaN")
                                          for k in keys] for r in records]
    facts = [("space", doc.get("space")), ("dataset", doc.get("dataset")), ("data", doc.get("data")),
             ("batch size", doc.get("batch_size")), ("seed", doc.get("seed"))]
    return {"id": f"score-{index}", "title": run.name, "run": run,
            "facts": [(k, _shown(v)) for k, v in facts if v not in (None, "")],
            "table": {"id": f"score-{index}-table", "columns": columns, "rows": rows, "default_sort": 1 if keys else 0}}


# --------------------------------------------------------------------------- provenance and warnings


def _data_source(run: Run) -> str | None:
    """The image data a run scored on, as its summary describes it (file path and split), for comparisons."""
    data = run.summary.get("data")
    return str(data) if data else None


#: How a run that scored data-free proxies only describes its data (``gradsign.workflows.scoring``).
NO_DATA_PREFIX = "no data"


def reads_data(run: Run) -> bool:
    """Whether the run's numbers depend on an image minibatch (False: data-free proxies only, e.g. synflow,
    params); runs that read none are left out of the data and batch-size comparisons."""
    data = run.summary.get("data")
    if isinstance(data, str):
        return not data.lower().startswith(NO_DATA_PREFIX)
    proxies = run.summary.get("proxies")
    if run.kind != "evaluate" or not isinstance(proxies, dict) or not proxies:
        return True
    try:  # an older summary without a data description: ask the proxies
        from gradsign.proxies.ensemble import split_members
        from gradsign.proxies.registry import get_proxy

        return any(get_proxy(n).needs_data for n in split_members(list(proxies))[0])
    except (KeyError, ValueError, GradsignError):
        return True  # a proxy not registered here: assume it read data


def _shown(value: Any) -> str:
    """A recorded value as a person reads it: yes / no, lists comma-separated, numbers as they are."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    return str(value)


def _differences(runs: Sequence[Run], what: str, value_of) -> str | None:
    """A warning when the runs that record ``value_of(run)`` (None: not recorded) hold different values."""
    groups: dict[str, list[str]] = defaultdict(list)
    for r in runs:
        v = value_of(r)
        if v is not None and v != "":
            groups[_shown(v)].append(r.name)
    if len(groups) < 2:
        return None
    return f"{what}: " + "; ".join(f"{v} ({', '.join(names)})" for v, names in groups.items())


#: Recorded settings that change the numbers: (label, provenance key, summary key used when there is none).
ENVIRONMENT_FIELDS = (("torch versions", "torch", "torch"), ("numpy versions", "numpy", None),
                      ("devices", "device", "device"), ("torch thread counts", "threads", None),
                      ("uncommitted changes to gradsign", "git_dirty", None))


def compare_runs(runs: Sequence[Run]) -> list[str]:
    """Warnings about runs shown together, one line per difference that can change the numbers: data,
    batch size, minibatch sampling, accuracy target (evaluate runs), gradsign version and uncommitted
    changes, torch / numpy versions, device, thread count, a data file's hash; runs without provenance.

    Runs that read no data (data-free proxies only) are left out of the data, batch-size and sampling
    comparisons."""
    warnings = []
    by_kind: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        by_kind[r.kind].append(r)
    for kind, group in by_kind.items():
        with_data = [r for r in group if reads_data(r)]
        if len(with_data) >= 2:
            for what, key in (("batch sizes", "batch_size"), ("minibatch sampling", "sampling")):
                w = _differences(with_data, f"{kind} runs compared with different {what}",
                                 lambda r, key=key: r.summary.get(key))
                if w:
                    warnings.append(w)
            per_dataset: dict[Any, list[Run]] = defaultdict(list)
            for r in with_data:
                per_dataset[r.summary.get("dataset")].append(r)
            for ds, same in per_dataset.items():
                if len(same) > 1:
                    w = _differences(same, f"{kind} runs on {ds} used different data",
                                     lambda r: repr(_data_source(r)) if _data_source(r) else None)
                    if w:
                        warnings.append(w)
    if len(by_kind["evaluate"]) >= 2:
        w = _differences(by_kind["evaluate"], "evaluate runs correlate with different accuracy targets",
                         lambda r: r.summary.get("target"))
        if w:
            warnings.append(w)
    versions = defaultdict(list)
    for r in runs:
        if r.provenance:
            versions[(r.provenance.get("gradsign_version"), r.provenance.get("git_commit"))].append(r.name)
    if len(versions) > 1:
        warnings.append("runs made by different versions of gradsign: " + "; ".join(
            f"{v or '?'} at {(c or 'no git commit')[:10]} ({', '.join(n)})" for (v, c), n in versions.items()))
    for what, key, summary_key in ENVIRONMENT_FIELDS:
        w = _differences(runs, f"runs made with different {what}",
                         lambda r, key=key, sk=summary_key: r.provenance.get(key) if r.provenance.get(key) is not None
                         else (r.summary.get(sk) if sk else None))
        if w:
            warnings.append(w)
    # Per file name, the hashes each run read: a run may list several files of one name (a Python
    # session records every file it read), so only runs whose sets of hashes differ are a difference.
    hashes: dict[str, dict[str, set[str]]] = defaultdict(dict)
    for r in runs:
        for f in r.provenance.get("data_files", []):
            if f.get("sha256"):
                hashes[Path(f["path"]).name].setdefault(r.name, set()).add(f["sha256"])
    for name, by_run in hashes.items():
        if len(by_run) > 1 and len({frozenset(h) for h in by_run.values()}) > 1:
            by_hash: dict[str, list[str]] = defaultdict(list)
            for run_name, run_hashes in by_run.items():
                for h in sorted(run_hashes):
                    by_hash[h].append(run_name)
            warnings.append(f"data file {name} differs between runs: " + "; ".join(
                f"sha256 {h[:12]}… ({', '.join(n)})" for h, n in by_hash.items()))
    old = [r.name for r in runs if not r.provenance]
    if old and len(runs) > 1:
        warnings.append(f"{len(old)} of {len(runs)} runs were written before provenance was recorded (version, "
                        f"command and data-file hashes unknown): {', '.join(old)}")
    return warnings


PROVENANCE_FIELDS = (("command", "command"), ("gradsign_version", "gradsign"), ("git_commit", "git commit"),
                     ("git_dirty", "uncommitted changes"), ("python", "python"), ("torch", "torch"),
                     ("numpy", "numpy"), ("platform", "platform"), ("device", "device"), ("threads", "threads"),
                     ("seeds", "seeds"), ("started_at", "started"), ("wall_seconds", "wall time (s)"))


def _provenance_entry(run: Run) -> dict[str, Any]:
    p = run.provenance
    rows = [(label, _shown(p[key])) for key, label in PROVENANCE_FIELDS if p.get(key) is not None]
    recorded = {k: _shown(run.summary.get(k)) for k in ("data", "batch_size", "seed", "device", "torch", "store")
                if run.summary.get(k) not in (None, "")}
    return {"run": run, "rows": rows, "files": p.get("data_files", []), "scope": p.get("data_files_scope"),
            "recorded": recorded}


# --------------------------------------------------------------------------- the page


def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("gradsign.reports", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    return env


def _named_items(inputs: Any) -> list[tuple[str | None, Any]]:
    """``(name or None, item)`` per input: a mapping gives name -> item, a ``(name, item)`` pair names its item."""
    if isinstance(inputs, Mapping):
        items = list(inputs.items())
        for name, _ in items:
            if not isinstance(name, str) or not name:
                raise ReportInputError(f"{name!r}: a run's name must be a non-empty string")
        return items
    if isinstance(inputs, (str, Path)):
        return [(None, inputs)]
    named = []
    for item in inputs:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and item[0]:
            named.append((item[0], item[1]))
        else:
            named.append((None, item))
    return named


def _same_run_key(run: Run) -> tuple[str, str, str] | None:
    """What identifies a run read from disk (kind, resolved folder or file, name); None for API results."""
    if run.origin is None:
        return None
    return run.kind, str(run.origin.resolve()), run.name


def _unique_names(runs: list[Run]) -> None:
    """Give every run a distinct name: runs read from folders or files sharing a basename are named by
    their shortest unique path suffix (``x1/out``, ``x2/out``); other repeats (API results of one type
    without a name) are numbered (``EvaluationResult-1``, ``EvaluationResult-2``)."""
    by_name: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        by_name[r.name].append(r)
    for group in by_name.values():
        from_disk = [r for r in group if r.origin is not None]
        if len(from_disk) < 2:
            continue
        deepest = max(len(r.origin.resolve().parents) for r in from_disk) + 1
        names = []
        for r in from_disk:  # each its own shortest suffix that no other run of the group ends with
            others = [q for q in from_disk if q is not r]
            depth = next((d for d in range(2, deepest + 1)
                          if all(q.path_suffix(d) != r.path_suffix(d) for q in others)), deepest)
            names.append(r.path_suffix(depth))
        for r, name in zip(from_disk, names):
            r.name = name
    taken = {r.name for r in runs}
    counts = Counter(r.name for r in runs)
    numbered: dict[str, int] = defaultdict(int)
    for r in runs:
        if counts[r.name] < 2:
            continue
        base = r.name
        while True:
            numbered[base] += 1
            name = f"{base}-{numbered[base]}"
            if name not in taken:
                break
        taken.add(name)
        r.name = name


def load_inputs(inputs: Any) -> tuple[list[Run], list[str]]:
    """The runs to show, each with a distinct name, and notes about the inputs (a run given twice is shown once).

    ``inputs``: paths and API results, in page order; ``(name, item)`` pairs or a mapping
    ``{name: item}`` name them.
    """
    return _load_named(_named_items(inputs))


def _load_named(items: list[tuple[str | None, Any]]) -> tuple[list[Run], list[str]]:
    if not items:
        raise ReportInputError("no run given: pass at least one output folder (or result object)")
    given = [name for name, _ in items if name is not None]
    twice = sorted({n for n in given if given.count(n) > 1})
    if twice:
        raise ReportInputError(f"{twice[0]}: the same name is given to two runs")
    runs: list[Run] = []
    repeated: list[tuple[str, Run]] = []  # (where a repeat was read from, the run shown)
    seen: dict[tuple[str, str, str], Run] = {}
    for name, item in items:
        for run in load_run(item, name):
            key = _same_run_key(run)
            if key is not None and key in seen:
                repeated.append((run.source, seen[key]))
                continue
            if key is not None:
                seen[key] = run
            runs.append(run)
    _unique_names(runs)
    return runs, [f"{source} was given more than once: shown once (as {run.name})" for source, run in repeated]


def _builder_text(version: str, git: dict[str, Any] | None) -> str:
    """What built the page: the version, and the git commit when the code runs from a checkout."""
    if not git:
        return f"gradsign {version}"
    dirty = ", with uncommitted changes" if git.get("dirty") else ""
    return f"gradsign {version} (git commit {git['commit'][:12]}{dirty})"


def render(runs: Sequence[Run], title: str, command: str | None = None,
           notes: Sequence[str] = ()) -> tuple[str, list[str], list[str]]:
    """The page's HTML, the section ids present and the warnings."""
    import gradsign
    from gradsign.reports.provenance import git_state

    by_kind: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        by_kind[r.kind].append(r)
    evaluate = [_evaluate_section(r, i) for i, r in enumerate(by_kind["evaluate"])]
    comparison = _comparison_section(by_kind["evaluate"])
    seeds = _seeds_section(by_kind["seeds"])
    search = [_search_section(r, i) for i, r in enumerate(by_kind["search"])]
    predictors = [_predictor_section(r, i) for i, r in enumerate(by_kind["predictors"])]
    rank = [_rank_section(r, i) for i, r in enumerate(by_kind["rank"])]
    score = [_score_section(r, i) for i, r in enumerate(by_kind["score"])]
    warnings = compare_runs(runs)
    sections = [k for k, present in (("evaluate", evaluate), ("comparison", comparison), ("seeds", seeds),
                                     ("search", search),
                                     ("predictors", predictors), ("rank", rank), ("score", score)) if present]
    sections.append("provenance")
    env = _environment()
    html = env.get_template("report.html.j2").render(
        title=title, runs=runs, warnings=warnings, sections=sections, section_titles=SECTION_TITLES,
        evaluate=evaluate, comparison=comparison, seeds=seeds, search=search, predictors=predictors, rank=rank, score=score,
        provenance=[_provenance_entry(r) for r in runs], version=gradsign.__version__, command=command,
        builder=_builder_text(gradsign.__version__, git_state()), notes=list(notes),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        css=env.loader.get_source(env, "report.css")[0], script=env.loader.get_source(env, "report.js")[0],
    )
    return html, sections, warnings


def check_report_output(output: str | Path, inputs: Sequence[Any] = ()) -> Path:
    """``output`` as the report's file: writable, named ``*.html`` / ``*.htm``, and neither one of the input
    paths nor inside an input folder (the report would overwrite or change the runs it shows)."""
    out = check_output_file(output)
    if out.suffix.lower() not in (".html", ".htm"):
        raise OutputError(f"--output {out}: the report is an HTML page; give it a .html (or .htm) name")
    target = out.resolve()
    for item in inputs:
        if not isinstance(item, (str, Path)):
            continue
        given = Path(item).expanduser()
        source = given.resolve()
        if target == source:
            raise OutputError(f"--output {out}: is the input {given} itself; write the report elsewhere")
        if source.is_dir() and target.is_relative_to(source):
            raise OutputError(f"--output {out}: is inside the input folder {given}; write the report elsewhere "
                              "(the run's folder stays as the run left it)")
    return out


def build_report(inputs: Any, output: str | Path, *, title: str | None = None,
                 command: str | None = None) -> ReportResult:
    """Write one self-contained HTML page showing ``inputs``: output folders / files, or API result objects
    (an ``EvaluationResult``, ``SearchReport``, ``PredictorEvaluation``, ``RankResult``); in page order.

    Name runs with a mapping ``{name: item}`` or ``(name, item)`` pairs; unnamed ones are named by
    their folder or file (the shortest path suffix that tells them apart) or, for API results, by
    their type (numbered when repeated). A run given twice is shown once (said in ``notes``).

    Checked before any work: ``output`` can be written, is named ``*.html`` and is not one of the
    inputs nor inside an input folder (OutputError otherwise), and every input exists and is a
    recognised run (ReportInputError naming it). ``command`` is shown in the page's header (the CLI
    passes its own).
    """
    items = _named_items(inputs)
    out = check_report_output(output, [item for _, item in items])
    runs, notes = _load_named(items)
    kinds = sorted({r.kind for r in runs})
    page_title = title or f"gradsign report: {len(runs)} run{'s' if len(runs) != 1 else ''} ({', '.join(kinds)})"
    html, sections, warnings = render(runs, page_title, command, notes)
    from gradsign.outputs import write_text_safely

    where, problem = write_text_safely(out, html)
    return ReportResult(path=where, bytes=where.stat().st_size, sections=sections,
                        runs=[(r.kind, r.name, r.source) for r in runs], warnings=warnings,
                        without_provenance=[r.name for r in runs if not r.provenance], fallback_problem=problem,
                        notes=notes)


__all__ = ["ReportResult", "build_report", "check_report_output", "compare_runs", "load_inputs", "render"]
