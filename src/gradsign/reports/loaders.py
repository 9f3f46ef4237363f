"""Read finished runs (output folders, files, or the Python API's result objects) into :class:`Run` records.

One loader per kind of output, tried in turn on each input:

* ``evaluate``: a folder with ``summary.json`` holding per-proxy correlations
  (``proxies``), plus ``scores.csv`` and ``scatter_<proxy>.png`` when present;
* ``search``: a folder of ``gradsign search`` outputs (``summary.json`` with
  ``settings``, ``runs_*.json``) or of search results documents
  (``format: gradsign.search.results/1``, as ``scripts/`` scripts write them),
  or the one-file ``SearchReport.to_json`` document (``summary`` + ``results``);
* ``predictors``: a folder with the ``predictors evaluate`` ``summary.json``
  (``results``), or one or more predictor summary CSVs (``predictor``,
  ``train_size``, ``spearman``... columns), e.g. ``docs/predictors/``;
* ``rank``: a ``gradsign rank --format json`` document, or a folder of them;
* ``score``: a ``gradsign score --format json`` document, or a folder of them;
* ``seeds``: a seed-spread folder (``spread.json`` of ``scripts/proxy_seed_spread.py``:
  one proxy's correlation under several seeds).

Outputs written before provenance was recorded load the same way, with an
empty ``provenance``. A path that is none of these raises :class:`ReportInputError`
naming it and what was looked for.
"""

from __future__ import annotations

import json
import re
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

    kind: str  # "evaluate", "search", "predictors", "rank", "score" or "seeds"
    source: str  # where it was read from (a path, or "Python API: <type>")
    name: str  # short label: the folder or file name
    summary: dict[str, Any]  # the run's own summary (evaluate/search summary, predictors meta, rank/score document)
    provenance: dict[str, Any] = field(default_factory=dict)  # {} for outputs written before provenance existed
    scores: pd.DataFrame | None = None  # evaluate: scores.csv (with 'accuracy' when it was written)
    scatter_images: dict[str, Path] = field(default_factory=dict)  # evaluate: proxy -> committed scatter PNG
    accuracy: Any = None  # evaluate from the API: accuracy array aligned with ``scores``
    searches: list[dict[str, Any]] = field(default_factory=list)  # search: results documents
    table: pd.DataFrame | None = None  # predictors: the summary frame (one row per predictor x training size)
    origin: Path | None = None  # the folder or file the run was read from (None for API results): names it

    def path_suffix(self, depth: int) -> str:
        """The run's name with ``depth - 1`` of its origin's parent folders before it (``x1/out`` for 2)."""
        if self.origin is None or depth <= 1:
            return self.name
        parents = [p.name for p in self.origin.resolve().parents if p.name][: depth - 1]
        return "/".join([*reversed(parents), self.name])

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
    if isinstance(doc.get("per_seed"), list) and "proxy" in doc:
        return "seed-spread"  # scripts/proxy_seed_spread.py: one proxy's correlation under several seeds
    return None


def _csv_header(path: Path) -> list[str]:
    """The column names on a CSV's first line (none when it cannot be read)."""
    try:
        with path.open() as f:
            return f.readline().strip().split(",")
    except (OSError, UnicodeDecodeError):
        return []


def _is_predictor_csv(path: Path, header: list[str] | None = None) -> bool:
    """Whether ``path`` (whose first line is ``header`` when already read) is a predictor summary CSV."""
    header = _csv_header(path) if header is None else header
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
               scatter_images=images, origin=folder)


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
    return Run("search", str(folder), folder.name, summary, of_summary(summary), searches=docs, origin=folder)


def _predictor_run(name: str, source: Path, meta: dict[str, Any], frame: pd.DataFrame,
                   origin: Path | None = None) -> Run:
    return Run("predictors", str(source), name, meta, of_summary(meta), table=frame, origin=origin)


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
            # a benchmark named apart from its space: "nb201_small (nb201 cells) / cifar10"
            named = re.fullmatch(r"(?P<benchmark>\S+) \((?P<space>\S+) cells\)", meta["space"])
            if named:
                meta["benchmark"], meta["space"] = named["benchmark"], named["space"]
    return meta


def _folder_search_provenance(folder: Path) -> dict[str, Any]:
    """The provenance of a ``gradsign search`` folder, for one of its ``runs_*.json`` read alone: the
    documents carry none, the folder's ``summary.json`` records what produced them all."""
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        return {}
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return of_summary(summary) if _json_kind(summary) == "search-summary" else {}


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
        return [_predictor_run(p.name, p, summary, frame, origin=p)]
    jsons = sorted(q for q in p.glob("*.json") if q.name != "summary.json")
    search_docs = _search_docs(jsons) if (kind == "search-summary" or jsons) else []
    if kind == "search-summary" or search_docs:
        return [_search_run(p, summary, search_docs)]
    runs: list[Run] = []
    for q in jsons:
        doc = _read_json(q)
        if _json_kind(doc) in ("rank", "score", "search-report", "seed-spread"):
            runs.extend(_load_file(q, doc))
    for q in sorted(p.glob("*.csv")):
        if _is_predictor_csv(q):
            runs.extend(_load_file(q))
    if runs:
        return runs
    raise ReportInputError(
        f"{p}: not a recognised run output (looked for summary.json of evaluate / search / predictors evaluate, "
        "search results documents, rank or score JSON, predictor summary CSVs, a seed-spread spread.json)")


def _load_file(p: Path, doc: Any = None) -> list[Run]:
    if doc is None and p.suffix.lower() not in (".json", ".csv"):
        raise ReportInputError(f"{p}: not a recognised run output (the report reads output folders, and JSON or "
                               "predictor CSV files)")
    if p.suffix == ".csv":
        header = _csv_header(p)
        if not _is_predictor_csv(p, header):
            made_by = {("model", "params", "flops"): "rank", ("index", "arch"): "score", ("arch",): "score"}
            command = next((c for cols, c in made_by.items() if tuple(header[:len(cols)]) == cols), None)
            if command is not None:  # a table the report could show, written in the wrong format
                raise ReportInputError(f"{p}: a `gradsign {command} --format csv` table; the report reads its JSON "
                                       f"(`gradsign {command} ... --format json --output FILE.json`)")
            raise ReportInputError(f"{p}: not a predictor summary CSV (needs columns {', '.join(PREDICTOR_COLUMNS)})")
        frame = _read_csv(p)
        return [_predictor_run(p.stem, p, _predictor_meta_from_md(p), frame, origin=p)]
    doc = _read_json(p) if doc is None else doc
    kind = _json_kind(doc)
    if kind == "evaluate":
        return [_evaluate_run(p.parent, doc, p)]
    if kind in ("rank", "score"):
        return [Run(kind, str(p), p.stem, doc, of_summary(doc), origin=p)]
    if kind == "seed-spread":  # named by its folder (every one of them writes spread.json)
        folder = p.parent if p.stem == "spread" else p
        return [Run("seeds", str(p), folder.name if p.stem == "spread" else p.stem, doc, of_summary(doc),
                    origin=folder)]
    if kind == "search-results":
        doc["_file"] = p.name
        run = _search_run(p, None, [doc])
        run.provenance = _folder_search_provenance(p.parent)
        run.name = p.stem
        return [run]
    if kind == "search-report":
        docs = [d for d in doc["results"] if _json_kind(d) == "search-results"]
        run = _search_run(p, doc["summary"], docs)
        run.name = p.stem
        return [run]
    if kind == "predictors":
        return [_predictor_run(p.parent.name, p, doc, pd.DataFrame(doc["results"]), origin=p.parent)]
    raise ReportInputError(f"{p}: not a recognised run output (an evaluate / search / predictors summary, "
                           "search results, rank or score JSON)")


# --------------------------------------------------------------------------- Python API results


def load_object(obj: Any, name: str | None = None) -> list[Run]:
    """Runs from a result object of the Python API (evaluate, search, predictors, rank), by what it holds.

    ``name`` labels the run; without it the run is labelled by the object's type
    (:func:`gradsign.reports.build.load_inputs` numbers repeated type names).
    """
    type_name = type(obj).__name__
    source = f"Python API: {type_name}"
    label = name or type_name
    summary = getattr(obj, "summary", None)
    if isinstance(summary, dict) and _json_kind(summary) == "evaluate" and hasattr(obj, "scores"):
        # EvaluationResult: scores per proxy and the accuracy they are correlated with
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
        run = _predictor_run(label, Path(source), meta, summary)
        run.source = source
        return [run]
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        doc = to_dict()
        kind = _json_kind(doc)
        if kind == "rank":
            # RankResult: the data it saw (its setup) and its provenance are attributes, not in to_dict()
            setup = getattr(obj, "setup", None)
            if setup is not None and callable(getattr(setup, "to_dict", None)):
                doc = {**setup.to_dict(), **doc}
            if isinstance(getattr(obj, "provenance", None), dict):
                doc["provenance"] = obj.provenance
            return [Run("rank", source, label, doc, of_summary(doc))]
        if kind == "search-results":
            run = _search_run(Path(label), None, [doc])
            run.source, run.origin = source, None
            return [run]
    if isinstance(obj, dict) and _json_kind(obj) is not None:
        kind = _json_kind(obj)
        if kind in ("evaluate", "rank", "score"):
            return [Run(kind, "Python API: dict", name or f"{kind} dict", obj, of_summary(obj))]
    raise ReportInputError(f"{name + ': ' if name else ''}{type_name}: not a result the report can show (an "
                           "EvaluationResult, SearchReport, PredictorEvaluation, RankResult, or a path to an output "
                           "folder)")


def load_run(item: Any, name: str | None = None) -> list[Run]:
    """Runs from a path (str / Path) or an API result object; ``name`` labels them (one run only)."""
    if isinstance(item, (str, Path)):
        runs = load_path(item)
        if name is not None:
            if len(runs) > 1:
                raise ReportInputError(f"{name}: {item} holds {len(runs)} runs; a name labels one run, pass its "
                                       "files one by one to name them")
            runs[0].name = name
            runs[0].origin = None  # named by the caller: kept as given
        return runs
    return load_object(item, name)


__all__ = ["PREDICTOR_COLUMNS", "ReportInputError", "Run", "load_object", "load_path", "load_run"]
