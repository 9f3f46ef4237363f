"""Read finished runs (output folders, files, or the Python API's result objects) into :class:`Run` records.

One loader per kind of output, tried in turn on each input:

* ``evaluate``: a folder with ``summary.json`` holding per-proxy correlations
  (``proxies``), plus ``scores.csv`` and ``scatter_<proxy>.png`` when present;
* ``search``: a folder of ``gradsign search`` outputs (``summary.json`` with
  ``settings``, ``runs_*.json``) or of search results documents
  (``format: gradsign.search.results/1``, as ``benchmarks/`` scripts write them),
  or the one-file ``SearchReport.to_json`` document (``summary`` + ``results``);
* ``predictors``: a folder with the ``predictors evaluate`` ``summary.json``
  (``results``), or one or more predictor summary CSVs (``predictor``,
  ``train_size``, ``spearman``... columns), e.g. ``docs/predictors/``;
* ``rank``: a ``gradsign rank --format json`` document, or a folder of them;
* ``score``: a ``gradsign score --format json`` document, or a folder of them.

Outputs written before provenance was recorded load the same way, with an
empty ``provenance``. A path that is none of these raises :class:`ReportInputError`
naming it and what was looked for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from gradsign.errors import DataError
from gradsign.reports.provenance import of_summary

SEARCH_FORMAT = "gradsign.search.results/1"
#: Columns that make a CSV a predictors summary (``summary.csv`` of ``gradsign predictors evaluate``).
PREDICTOR_COLUMNS = ("predictor", "train_size", "spearman")


class ReportInputError(DataError):
    """A report input is missing, unreadable, or not a recognised run output."""


@dataclass
class Run:
    """One finished run, as the report shows it."""

    kind: str  # "evaluate", "search", "predictors", "rank" or "score"
    source: str  # where it was read from (a path, or "Python API: <type>")
    name: str  # short label: the folder or file name
    summary: dict[str, Any]  # the run's own summary (evaluate/search summary, predictors meta, rank/score document)
    provenance: dict[str, Any] = field(default_factory=dict)  # {} for outputs written before provenance existed
    scores: pd.DataFrame | None = None  # evaluate: scores.csv (with 'accuracy' when it was written)
    scatter_images: dict[str, Path] = field(default_factory=dict)  # evaluate: proxy -> committed scatter PNG
    accuracy: Any = None  # evaluate from the API: accuracy array aligned with ``scores``
    searches: list[dict[str, Any]] = field(default_factory=list)  # search: results documents
    table: pd.DataFrame | None = None  # predictors: the summary frame (one row per predictor x training size)

    @property
    def has_provenance(self) -> bool:
        return bool(self.provenance)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: cannot read ({exc})") from None
    except ValueError as exc:
        raise ReportInputError(f"{path}: not valid JSON ({exc})") from None


def _json_kind(doc: Any) -> str | None:
    """Which output a JSON document is, or None."""
    if not isinstance(doc, dict):
        return None
    if doc.get("format") == SEARCH_FORMAT:
        return "search-results"
    if (isinstance(doc.get("summary"), dict) and isinstance(doc["summary"].get("settings"), list)
            and isinstance(doc.get("results"), list)):
        return "search-report"  # SearchReport.to_json: the summary and every setting's results in one file
    if isinstance(doc.get("proxies"), dict) and all(isinstance(v, dict) and "spearman" in v
                                                    for v in doc["proxies"].values()) and doc["proxies"]:
        return "evaluate"
    if isinstance(doc.get("settings"), list):
        return "search-summary"
    if isinstance(doc.get("results"), list) and all(isinstance(r, dict) and "predictor" in r for r in doc["results"]):
        return "predictors"
    if isinstance(doc.get("models"), list) and isinstance(doc.get("higher_is_better"), dict):
        return "rank"
    if isinstance(doc.get("scores"), list) and "space" in doc:
        return "score"
    return None


def _is_predictor_csv(path: Path) -> bool:
    try:
        with path.open() as f:
            header = f.readline().strip().split(",")
    except (OSError, UnicodeDecodeError):
        return False
    return all(c in header for c in PREDICTOR_COLUMNS)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: cannot read as CSV ({exc})") from None


# --------------------------------------------------------------------------- per kind


def _evaluate_run(folder: Path, summary: dict[str, Any], source: Path) -> Run:
    scores = None
    if (folder / "scores.csv").is_file():
        scores = _read_csv(folder / "scores.csv")
    images = {name: folder / f"scatter_{name}.png" for name in summary["proxies"]
              if (folder / f"scatter_{name}.png").is_file()}
    return Run("evaluate", str(source), folder.name, summary, of_summary(summary), scores=scores,
               scatter_images=images)


def _search_docs(paths: Iterable[Path]) -> list[dict[str, Any]]:
    docs = []
    for p in sorted(paths):
        doc = _read_json(p)
        if _json_kind(doc) == "search-results":
            doc["_file"] = p.name
            docs.append(doc)
    return docs


def _search_run(folder: Path, summary: dict[str, Any] | None, docs: list[dict[str, Any]]) -> Run:
    summary = dict(summary or {})
    if not summary:  # a folder of results documents without a summary: describe them from the documents
        def one_or_all(values: set) -> Any:
            return next(iter(values)) if len(values) == 1 else sorted(values, key=str)

        summary = {"runs": one_or_all({len(d.get("runs", [])) for d in docs}),
                   "seed": one_or_all({d.get("seed") for d in docs})}
    return Run("search", str(folder), folder.name, summary, of_summary(summary), searches=docs)


def _predictor_run(name: str, source: Path, meta: dict[str, Any], frame: pd.DataFrame) -> Run:
    return Run("predictors", str(source), name, meta, of_summary(meta), table=frame)


def _predictor_meta_from_md(csv: Path) -> dict[str, Any]:
    """What the Markdown beside a predictor CSV says in its first line (space / dataset, trials, test cells)."""
    md = csv.with_suffix(".md")
    meta: dict[str, Any] = {}
    if md.is_file():
        first = md.read_text().splitlines()[0] if md.read_text().strip() else ""
        meta["description"] = first
        head = first.split(":", 1)[0]
        if " / " in head:
            meta["space"], meta["dataset"] = (s.strip() for s in head.split(" / ", 1))
    return meta


def load_path(path: str | Path) -> list[Run]:
    """Every run found at ``path`` (a folder or a file); ReportInputError when there is none."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ReportInputError(f"{p}: no such file or directory")
    if p.is_file():
        return _load_file(p)
    summary_path = p / "summary.json"
    summary = _read_json(summary_path) if summary_path.is_file() else None
    kind = _json_kind(summary) if summary is not None else None
    if kind == "evaluate":
        return [_evaluate_run(p, summary, p)]
    if kind == "predictors":
        frame = (_read_csv(p / "summary.csv") if (p / "summary.csv").is_file()
                 else pd.DataFrame(summary["results"]))
        return [_predictor_run(p.name, p, summary, frame)]
    jsons = sorted(q for q in p.glob("*.json") if q.name != "summary.json")
    search_docs = _search_docs(jsons) if (kind == "search-summary" or jsons) else []
    if kind == "search-summary" or search_docs:
        return [_search_run(p, summary, search_docs)]
    runs: list[Run] = []
    for q in jsons:
        doc = _read_json(q)
        if _json_kind(doc) in ("rank", "score", "search-report"):
            runs.extend(_load_file(q, doc))
    for q in sorted(p.glob("*.csv")):
        if _is_predictor_csv(q):
            runs.extend(_load_file(q))
    if runs:
        return runs
    raise ReportInputError(
        f"{p}: not a recognised run output (looked for summary.json of evaluate / search / predictors evaluate, "
        "search results documents, rank or score JSON, predictor summary CSVs)")


def _load_file(p: Path, doc: Any = None) -> list[Run]:
    if p.suffix == ".csv":
        if not _is_predictor_csv(p):
            raise ReportInputError(f"{p}: not a predictor summary CSV (needs columns {', '.join(PREDICTOR_COLUMNS)})")
        frame = _read_csv(p)
        return [_predictor_run(p.stem, p, _predictor_meta_from_md(p), frame)]
    doc = _read_json(p) if doc is None else doc
    kind = _json_kind(doc)
    if kind == "evaluate":
        return [_evaluate_run(p.parent, doc, p)]
    if kind == "rank":
        return [Run("rank", str(p), p.stem, doc, of_summary(doc))]
    if kind == "score":
        return [Run("score", str(p), p.stem, doc, of_summary(doc))]
    if kind == "search-results":
        doc["_file"] = p.name
        return [_search_run(p, None, [doc])]
    if kind == "search-report":
        docs = [d for d in doc["results"] if _json_kind(d) == "search-results"]
        run = _search_run(p, doc["summary"], docs)
        run.name = p.stem
        return [run]
    if kind == "predictors":
        return [_predictor_run(p.parent.name, p, doc, pd.DataFrame(doc["results"]))]
    raise ReportInputError(f"{p}: not a recognised run output (an evaluate / search / predictors summary, "
                           "search results, rank or score JSON)")


# --------------------------------------------------------------------------- Python API results


def load_object(obj: Any, name: str | None = None) -> list[Run]:
    """Runs from a result object of the Python API (evaluate, search, predictors, rank), by what it holds."""
    type_name = type(obj).__name__
    source = f"Python API: {type_name}"
    label = name or type_name
    summary = getattr(obj, "summary", None)
    if isinstance(summary, dict) and _json_kind(summary) == "evaluate" and hasattr(obj, "scores"):
        # EvaluateResult: scores per proxy and the accuracy they are correlated with
        frame = pd.DataFrame({"arch": list(obj.archs), "accuracy": list(obj.accuracy)})
        for proxy, values in obj.scores.items():
            frame[proxy] = list(values)
        return [Run("evaluate", source, label, summary, of_summary(summary), scores=frame)]
    if isinstance(summary, dict) and "settings" in summary and hasattr(obj, "results"):
        # SearchReport: its SearchResults objects as documents
        docs = [r.to_dict() for r in obj.results]
        return [Run("search", source, label, summary, of_summary(summary), searches=docs)]
    meta = getattr(obj, "meta", None)
    if isinstance(meta, dict) and isinstance(summary, pd.DataFrame):
        # PredictorEvaluation
        return [_predictor_run(label, Path(source), meta, summary)]
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        doc = to_dict()
        kind = _json_kind(doc)
        if kind == "rank":
            return [Run("rank", source, label, doc, of_summary(doc))]
        if kind == "search-results":
            return [_search_run(Path(label), None, [doc])]
    if isinstance(obj, dict) and _json_kind(obj) is not None:
        kind = _json_kind(obj)
        if kind == "evaluate":
            return [Run("evaluate", "Python API: dict", label, obj, of_summary(obj))]
        if kind in ("rank", "score"):
            return [Run(kind, "Python API: dict", label, obj, of_summary(obj))]
    raise ReportInputError(f"{type_name}: not a result the report can show (an EvaluateResult, SearchReport, "
                           "PredictorEvaluation, rank result, or a path to an output folder)")


def load_run(item: Any) -> list[Run]:
    """Runs from a path (str / Path) or an API result object."""
    if isinstance(item, (str, Path)):
        return load_path(item)
    return load_object(item)


__all__ = ["PREDICTOR_COLUMNS", "ReportInputError", "Run", "load_object", "load_path", "load_run"]
