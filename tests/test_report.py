"""`gradsign report`: the page's content and structure (no browser), inputs validated first, older outputs read."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gradsign.errors import GradsignError
from gradsign.outputs import OutputError
from gradsign.reports import build_report
from gradsign.reports.build import compare_runs, load_inputs
from gradsign.reports.loaders import ReportInputError, load_path
from report_runs import (COMMITTED_EVALUATE, COMMITTED_PREDICTORS, COMMITTED_RANK, REPO, evaluate_run,
                         search_run)

VOID = {"meta", "img", "br", "hr", "link", "input", "path", "use", "stop", "rect", "circle", "line", "polyline",
        "polygon", "ellipse"}


class PageStructure(HTMLParser):
    """Tags nest properly; tables, rows, figures and every external reference are recorded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tables: list[dict] = []
        self.figures = {"svg": 0, "img": 0}
        self.external: list[str] = []
        self.ids: list[str] = []
        self._row: list[str] | None = None
        self._in_figure = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        for key in ("src", "href"):
            value = a.get(key)
            if value and not value.startswith(("data:", "#")):
                self.external.append(f"{tag} {key}={value[:60]}")
        if tag == "link" or (tag == "script" and "src" in a):
            self.external.append(tag)
        if tag == "table":
            self.tables.append({"id": a.get("id"), "class": a.get("class", ""), "header": [], "rows": [],
                                "selftest": a.get("data-selftest-column")})
        elif tag == "tr":
            self._row = []
        elif tag in ("th", "td") and self._row is not None:
            self._row.append(tag)
        elif tag == "figure":
            self._in_figure += 1
        elif tag == "svg" and self._in_figure:
            self.figures["svg"] += 1
        elif tag == "img" and self._in_figure:
            self.figures["img"] += 1
            if not a.get("src", "").startswith("data:image/"):
                self.problems.append(f"figure image not inlined: {a.get('src', '')[:60]}")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None and self.tables:
            table = self.tables[-1]
            (table["header"] if set(self._row) == {"th"} else table["rows"]).append(self._row)
            self._row = None
        if tag == "figure":
            self._in_figure -= 1
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
            if tag in self.stack:
                while self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()


def parse(path: Path) -> PageStructure:
    page = PageStructure()
    page.feed(path.read_text())
    page.close()
    return page


@pytest.fixture()
def runs(tmp_path):
    data = tmp_path / "images.bin"
    data.write_bytes(b"\x00" * 100)
    a = evaluate_run(tmp_path / "eval_a", seed=0, data_file=data)
    b = evaluate_run(tmp_path / "eval_b", seed=1, batch_size=32, dataset="cifar100", data_file=data)
    return {"eval_a": a, "eval_b": b, "search": search_run(tmp_path / "search"), "data": data}


def test_every_kind_in_one_self_contained_page(runs, tmp_path):
    out = tmp_path / "report.html"
    result = build_report([runs["eval_a"], runs["eval_b"], COMMITTED_EVALUATE, runs["search"], COMMITTED_RANK,
                           COMMITTED_PREDICTORS], out, title="all kinds")
    assert result.path == out and result.bytes == out.stat().st_size
    assert result.sections == ["evaluate", "comparison", "search", "predictors", "rank", "provenance"]
    page = parse(out)
    assert page.problems == [] and page.stack == [] and page.external == []
    sortable = [t for t in page.tables if "sortable" in t["class"]]
    # 3 evaluate tables + the comparison + 1 search + 1 predictors + 2 rank
    assert len(sortable) == 8 and all(t["selftest"] is not None for t in sortable)
    for t in sortable:  # every row has as many cells as the header has columns
        width = len(t["header"][0])
        assert t["rows"] and all(len(r) == width for r in t["rows"]), t["id"]
    assert len(page.ids) == len(set(page.ids))
    # figures: 3 scatters per synthetic run, the committed run's PNGs, comparison, 1 trajectory plot,
    # predictors, 2 rank charts
    committed_pngs = len(list(COMMITTED_EVALUATE.glob("scatter_*.png")))
    assert page.figures["img"] == 3 + 3 + committed_pngs
    assert page.figures["svg"] == 1 + 1 + 1 + 2
    assert "<title>all kinds</title>" in out.read_text()


def test_older_outputs_without_provenance_are_read_and_said_so(tmp_path):
    summary = json.loads((REPO / "results" / "eval_nb201_cifar10" / "summary.json").read_text())
    assert "provenance" not in summary
    (run,) = load_path(REPO / "results" / "eval_nb201_cifar10")
    assert run.kind == "evaluate" and run.provenance == {} and run.scatter_images
    result = build_report([REPO / "results" / "eval_nb201_cifar10", COMMITTED_RANK], tmp_path / "r.html")
    assert result.without_provenance == ["eval_nb201_cifar10", "rank_cifar10_32px", "rank_cifar10_64px"]
    assert any("written before provenance was recorded" in w for w in result.warnings)
    assert "not recorded (written before provenance existed)" in (tmp_path / "r.html").read_text()


def test_warnings_name_different_batch_size_version_and_data(runs, tmp_path):
    result = build_report([runs["eval_a"], runs["eval_b"]], tmp_path / "r.html")
    assert result.warnings == ["evaluate runs compared with different batch sizes: 64 (eval_a); 32 (eval_b)"]
    assert result.warnings[0] in (tmp_path / "r.html").read_text()
    summary_path = runs["eval_b"] / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["batch_size"] = 64
    summary["provenance"]["gradsign_version"] = "0.0.9"
    summary["provenance"]["data_files"][0]["sha256"] = "0" * 64
    summary_path.write_text(json.dumps(summary))
    warnings = compare_runs(load_inputs([runs["eval_a"], runs["eval_b"]])[0])
    assert len(warnings) == 2
    assert warnings[0].startswith("runs made by different versions of gradsign: ") and "0.0.9" in warnings[0]
    assert warnings[1].startswith("data file images.bin differs between runs")


def test_same_dataset_with_different_data_is_a_warning(runs, tmp_path):
    summary_path = runs["eval_b"] / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary.update(dataset="cifar10", batch_size=64, data="cifar10 another minibatch")
    summary_path.write_text(json.dumps(summary))
    (warning,) = compare_runs(load_inputs([runs["eval_a"], runs["eval_b"]])[0])
    assert warning.startswith("evaluate runs on cifar10 used different data")


def test_search_trajectories_are_drawn_from_the_runs(runs, tmp_path):
    out = tmp_path / "s.html"
    build_report([runs["search"]], out)
    html = out.read_text()
    assert "percentile bootstrap of the mean over runs" in html and "random" in html and "rea" in html
    page = parse(out)
    assert page.figures["svg"] == 1 and page.figures["img"] == 0


def test_inputs_and_output_are_checked_before_any_work(runs, tmp_path):
    with pytest.raises(ReportInputError, match="nothere: no such file or directory"):
        build_report([runs["eval_a"], tmp_path / "nothere"], tmp_path / "r.html")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportInputError, match="empty: not a recognised run output"):
        build_report([tmp_path / "empty"], tmp_path / "r.html")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ReportInputError, match="bad.json: not valid JSON"):
        build_report([tmp_path / "bad.json"], tmp_path / "r.html")
    with pytest.raises(ReportInputError, match="no run given"):
        build_report([], tmp_path / "r.html")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="is a file, not a directory"):
        build_report([tmp_path / "nothere"], blocker / "r.html")  # the output is checked first
    assert not (tmp_path / "r.html").exists()


def test_python_api_results(tmp_path):
    import numpy as np

    from gradsign.workflows.evaluate import EvaluateResult

    folder = evaluate_run(tmp_path / "e")
    summary = json.loads((folder / "summary.json").read_text())
    rng = np.random.default_rng(0)
    acc = rng.uniform(60, 90, size=summary["n_archs"])
    result = EvaluateResult(summary, [f"c{i}" for i in range(len(acc))], acc,
                            {p: acc + rng.normal(size=len(acc)) for p in summary["proxies"]})
    import gradsign

    built = gradsign.build_report([result], tmp_path / "api.html")
    name = type(result).__name__
    assert built.runs == [("evaluate", name, f"Python API: {name}")]
    assert parse(tmp_path / "api.html").figures["img"] == len(summary["proxies"])
    with pytest.raises(GradsignError, match="int: not a result the report can show"):
        build_report([3], tmp_path / "x.html")


def test_cli(runs, tmp_path, capsys):
    from gradsign.cli.main import main

    out = tmp_path / "cli.html"
    with pytest.raises(SystemExit) as exc:
        main(["report", str(runs["eval_a"]), str(COMMITTED_RANK), "--output", str(out), "--title", "mine"])
    assert (exc.value.code or 0) == 0
    err = capsys.readouterr().err
    assert f"wrote {out}" in err and "1 evaluate, 2 rank" in err and out.is_file()
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path / "nothere"), "--output", str(out)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.strip().count("\n") == 0 and "nothere: no such file or directory" in err


def test_predictors_output_folder(tmp_path):
    """A `predictors evaluate --output` folder: summary.json (meta + results) and summary.csv."""
    import pandas as pd

    frame = pd.read_csv(COMMITTED_PREDICTORS)
    folder = tmp_path / "pred"
    folder.mkdir()
    frame.to_csv(folder / "summary.csv", index=False)
    meta = {"space": "nb201", "dataset": "cifar10", "trials": 10, "test_size": 500, "seed": 0,
            "results": frame.to_dict(orient="records")}
    (folder / "summary.json").write_text(json.dumps(meta))
    (run,) = load_path(folder)
    assert run.kind == "predictors" and run.provenance == {} and len(run.table) == len(frame)
    out = tmp_path / "p.html"
    result = build_report([folder], out)
    assert result.sections == ["predictors", "provenance"]
    page = parse(out)
    (table,) = [t for t in page.tables if "sortable" in t["class"]]
    assert len(table["rows"]) == frame["predictor"].nunique() and page.figures["svg"] == 1


def test_search_report_document_and_score_json(tmp_path):
    """SearchReport.to_json's one-file document, and a `score --format json` document."""
    from gradsign.search import results_table, run_searches

    from search_fakes import toy_oracle

    results = [run_searches(algo, toy_oracle(budget=300.0), runs=4, seed=0) for algo in ("random", "rea")]
    doc = {"summary": {"settings": results_table(results), "runs": 4, "seed": 0},
           "results": [r.to_dict() for r in results]}
    (tmp_path / "search.json").write_text(json.dumps(doc))
    (search,) = load_path(tmp_path / "search.json")
    assert search.kind == "search" and [d["label"] for d in search.searches] == ["random", "rea"]
    score = {"space": "nb201", "dataset": "cifar10", "batch_size": 64, "seed": 0, "data": "synthetic",
             "scores": [{"index": i, "arch": f"cell{i}", "params": float(10 * i), "snip": float(-i)} for i in range(5)]}
    (tmp_path / "score.json").write_text(json.dumps(score))
    out = tmp_path / "r.html"
    result = build_report([tmp_path / "search.json", tmp_path / "score.json"], out)
    assert result.sections == ["search", "score", "provenance"]
    page = parse(out)
    tables = {t["id"]: t for t in page.tables if "sortable" in t["class"]}
    assert len(tables["search-0-table"]["rows"]) == 2 and len(tables["score-0-table"]["rows"]) == 5
    assert page.figures["svg"] == 1  # the two settings' trajectories in one plot


def test_comparison_columns_name_the_seed_when_seeds_differ(runs):
    from gradsign.reports.build import _comparison_section

    section = _comparison_section(load_inputs([runs["eval_a"], runs["eval_b"]])[0])
    assert section["labels"] == ["nb201 cifar10 (60, seed 0)", "nb201 cifar100 (60, seed 1)"]
    same = evaluate_run(runs["eval_a"].parent / "eval_c", seed=0)
    section = _comparison_section(load_inputs([runs["eval_a"], same])[0])
    assert section["labels"] == ["nb201 cifar10 (60) eval_a", "nb201 cifar10 (60) eval_c"]


def test_search_and_predictor_results_from_the_api(tmp_path):
    import pandas as pd

    from gradsign.search import results_table, run_searches
    from gradsign.workflows.predictors import PredictorEvaluation
    from gradsign.workflows.search import SearchReport

    from search_fakes import toy_oracle

    results = [run_searches("rea", toy_oracle(budget=300.0), runs=4, seed=0)]
    report = SearchReport(results, {"settings": results_table(results), "runs": 4, "seed": 0})
    frame = pd.read_csv(COMMITTED_PREDICTORS)
    evaluation = PredictorEvaluation(frame.iloc[0:0], frame, {"space": "nb201", "dataset": "cifar10"})
    built = build_report([report, evaluation], tmp_path / "api.html")
    assert [kind for kind, _, _ in built.runs] == ["search", "predictors"]
    assert built.sections == ["search", "predictors", "provenance"]
    assert parse(tmp_path / "api.html").figures["svg"] == 2  # trajectories, predictor curves


# --------------------------------------------------------------------------- review of issue 26


def _edit_summary(folder: Path, **changes) -> None:
    """Change top-level fields of a run's summary.json; ``provenance`` entries are merged, not replaced."""
    path = folder / "summary.json"
    summary = json.loads(path.read_text())
    summary["provenance"].update(changes.pop("provenance", {}))
    summary.update(changes)
    path.write_text(json.dumps(summary))


def test_the_report_never_writes_over_or_into_its_inputs(runs, tmp_path, capsys):
    from gradsign.cli.main import main

    summary = runs["eval_a"] / "summary.json"
    before = summary.read_bytes()
    for target in (summary, runs["eval_a"]):  # the input file, given as a file and inside its folder
        with pytest.raises(SystemExit) as exc:
            main(["report", str(target), "--output", str(summary)])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and err.strip().count("\n") == 0 and "give it a .html" in err
    with pytest.raises(OutputError, match="is inside the input folder"):
        build_report([runs["eval_a"]], runs["eval_a"] / "report.html")
    with pytest.raises(OutputError, match="is inside the input folder"):
        build_report([runs["eval_b"], tmp_path], tmp_path / "sub" / "report.htm")
    page = tmp_path / "page.html"
    page.write_text("<html></html>")
    with pytest.raises(OutputError, match="page.html: is the input .*page.html itself"):
        build_report([page], page)
    assert summary.read_bytes() == before and not (runs["eval_a"] / "report.html").exists()
    assert build_report([runs["eval_a"]], tmp_path / "report.htm").path.is_file()
