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
    export = tmp_path / "scores.csv.gz"
    export.write_bytes(b"\x1f\x8b\x08binary")
    with pytest.raises(ReportInputError, match="scores.csv.gz: not a recognised run output"):
        build_report([export], tmp_path / "r.html")
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


def test_score_json_nonfinite_marks_are_shown_not_made_a_column(tmp_path):
    from gradsign.reports.sections import score_section

    records = [{"index": 0, "arch": "cell0", "zen": None, "epe_nas": None, "nonfinite": {"zen": "-inf", "epe_nas": "nan"}},
               {"index": 1, "arch": "cell1", "zen": 2.5, "epe_nas": None}]  # a null without a mark: an older file
    doc = {"space": "nb201", "dataset": "cifar10", "batch_size": 64, "seed": 0, "data": "synthetic", "scores": records}
    (tmp_path / "score.json").write_text(json.dumps(doc))
    (run,) = load_path(tmp_path / "score.json")
    table = score_section(run, 0)["table"]
    assert [name for name, _ in table["columns"]] == ["arch", "index", "zen", "epe_nas"]
    assert [[c["text"] for c in row[2:]] for row in table["rows"]] == [["-inf", "NaN"], ["2.5", "NaN"]]


def test_comparison_columns_name_the_seed_when_seeds_differ(runs):
    from gradsign.reports.sections import comparison_section

    section = comparison_section(load_inputs([runs["eval_a"], runs["eval_b"]])[0])
    assert section["labels"] == ["nb201 cifar10 (60, seed 0)", "nb201 cifar100 (60, seed 1)"]
    same = evaluate_run(runs["eval_a"].parent / "eval_c", seed=0)
    section = comparison_section(load_inputs([runs["eval_a"], same])[0])
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


def test_scatter_of_log_spread_scores_with_zeros_keeps_few_tick_labels():
    """synflow-like scores over 28 decades, some exactly 0: a symmetric-log axis with a bounded number of
    labelled ticks (one per decade overlapped into a smear), 0 among them; all-positive: a log axis, bounded too."""
    import matplotlib.pyplot as plt
    import numpy as np

    from gradsign.reports import plots

    rng = np.random.default_rng(0)
    scores = 10 ** rng.uniform(-3, 25, size=300)
    accuracy = rng.uniform(60, 94, size=300)
    for with_zeros in (True, False):
        x = scores.copy()
        if with_zeros:
            x[:30] = 0.0
        fig = plots.scatter_figure(x, accuracy, title="synflow", xlabel="score", ylabel="accuracy")
        fig.canvas.draw()
        ax = fig.axes[0]
        low, high = ax.get_xlim()
        labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text() and low <= t.get_position()[0] <= high]
        plt.close(fig)
        assert ax.get_xscale() == ("symlog" if with_zeros else "log")
        assert 2 <= len(labels) <= plots.LOG_TICKS, labels
        assert ("0" in labels) == with_zeros


def test_runs_sharing_a_folder_name_are_told_apart_and_a_run_given_twice_is_shown_once(tmp_path, capsys):
    a = evaluate_run(tmp_path / "x1" / "out", seed=0)
    b = evaluate_run(tmp_path / "x2" / "out", seed=0, batch_size=32)
    result = build_report([a, b, tmp_path / "x1" / ".." / "x1" / "out"], tmp_path / "r.html")
    assert [name for _, name, _ in result.runs] == ["x1/out", "x2/out"]
    assert result.warnings == ["evaluate runs compared with different batch sizes: 64 (x1/out); 32 (x2/out)"]
    assert result.notes == [f"{tmp_path / 'x1' / '..' / 'x1' / 'out'} was given more than once: shown once "
                            "(as x1/out)"]
    html = (tmp_path / "r.html").read_text()
    assert "nb201 cifar10 (60 cells, seed 0): x2/out" in html and result.notes[0] in html
    c = evaluate_run(tmp_path / "deep" / "x1" / "out", seed=0)  # needs one more folder to tell from x1/out
    names = [r.name for r in load_inputs([a, b, c])[0]]
    assert names == [f"{tmp_path.name}/x1/out", "x2/out", "deep/x1/out"]
    from gradsign.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["report", str(a), str(a), "--output", str(tmp_path / "cli.html")])
    assert (exc.value.code or 0) == 0 and "note: " in capsys.readouterr().err


def _evaluation(folder: Path, seed: int):
    import numpy as np

    from gradsign.workflows.evaluate import EvaluationResult

    summary = json.loads((evaluate_run(folder, seed=seed) / "summary.json").read_text())
    rng = np.random.default_rng(seed)
    acc = rng.uniform(60, 90, size=summary["n_archs"])
    return EvaluationResult(summary, [f"c{i}" for i in range(len(acc))], acc,
                            {p: acc + rng.normal(size=len(acc)) for p in summary["proxies"]})


def test_api_results_are_named_by_a_mapping_or_pairs_and_numbered_otherwise(tmp_path):
    c10, c100 = _evaluation(tmp_path / "a", 0), _evaluation(tmp_path / "b", 1)
    unnamed = build_report([c10, c100], tmp_path / "u.html")
    assert [name for _, name, _ in unnamed.runs] == ["EvaluationResult-1", "EvaluationResult-2"]
    by_mapping, _ = load_inputs({"c10": c10, "c100": c100})
    assert [r.name for r in by_mapping] == ["c10", "c100"]
    by_pairs, _ = load_inputs([("c10", c10), c100, ("committed", COMMITTED_EVALUATE)])
    assert [r.name for r in by_pairs] == ["c10", "EvaluationResult", "committed"]
    with pytest.raises(ReportInputError, match="c10: the same name is given to two runs"):
        build_report([("c10", c10), ("c10", c100)], tmp_path / "x.html")
    with pytest.raises(ReportInputError, match="c10: int: not a result the report can show .*EvaluationResult"):
        build_report({"c10": 3}, tmp_path / "x.html")


@pytest.fixture()
def fake_cifar(monkeypatch):
    """A 40-image in-memory CIFAR-10 test split instead of decoding the real one."""
    import numpy as np

    from gradsign.data import images

    rng = np.random.default_rng(0)
    fake = images.ImageSet("cifar10", "test", rng.integers(0, 256, size=(40, 32, 32, 3), dtype=np.uint8),
                           np.arange(40, dtype=np.int64) % 10)
    monkeypatch.setattr(images, "load_image_set", lambda *a, **k: fake)


def test_a_fresh_rank_result_has_its_provenance_with_the_model_file(tmp_path, fake_cifar, monkeypatch):
    import gradsign
    from gradsign.data import paths
    from gradsign.reports.provenance import file_sha256

    monkeypatch.setattr(paths, "_USED", {})  # earlier tests in this process read other files

    models = tmp_path / "models.py"
    models.write_text("from torch import nn\n\ndef small(num_classes=10):\n"
                      "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),"
                      " nn.Linear(4, num_classes))\n")
    ranked = gradsign.rank([f"{models}:small"], proxies="params", batch_size=8, split="test")
    assert {"path": str(models), "bytes": models.stat().st_size, "sha256": file_sha256(models)} in \
        ranked.provenance["data_files"]
    result = build_report([ranked], tmp_path / "rank.html")
    assert result.runs == [("rank", "RankResult", "Python API: RankResult")]
    assert result.without_provenance == [] and result.warnings == []
    html = (tmp_path / "rank.html").read_text()
    assert "not recorded (written before provenance existed)" not in html and str(models) in html
    assert "cifar10 test split" in html  # the data it saw (its setup)


def test_a_data_free_run_is_left_out_of_the_data_and_batch_size_checks(runs, tmp_path):
    _edit_summary(runs["eval_b"], dataset="cifar10", data="no data (data-free proxies only)")
    assert build_report([runs["eval_a"], runs["eval_b"]], tmp_path / "r.html").warnings == []
    third = evaluate_run(tmp_path / "eval_c", seed=2, batch_size=32)
    (warning,) = build_report([runs["eval_a"], runs["eval_b"], third], tmp_path / "r.html").warnings
    assert warning == "evaluate runs compared with different batch sizes: 64 (eval_a); 32 (eval_c)"


def test_every_setting_that_changes_scores_is_one_warning_line(runs, tmp_path):
    _edit_summary(runs["eval_b"], batch_size=64, sampling="grasp", target="valid",
                  provenance={"torch": "2.0.0", "numpy": "1.26.0", "device": "cuda", "threads": 8, "git_dirty": True})
    warnings = build_report([runs["eval_a"], runs["eval_b"]], tmp_path / "r.html").warnings
    assert warnings == [
        "evaluate runs compared with different minibatch sampling: random (eval_a); grasp (eval_b)",
        "evaluate runs correlate with different accuracy targets: test (eval_a); valid (eval_b)",
        f"runs made with different torch versions: {_provenance(runs['eval_a'])['torch']} (eval_a); 2.0.0 (eval_b)",
        f"runs made with different numpy versions: {_provenance(runs['eval_a'])['numpy']} (eval_a); 1.26.0 (eval_b)",
        "runs made with different devices: cpu (eval_a); cuda (eval_b)",
        "runs made with different torch thread counts: 1 (eval_a); 8 (eval_b)",
    ] + ([f"runs made with different uncommitted changes to gradsign: "
          f"{'yes' if _provenance(runs['eval_a'])['git_dirty'] else 'no'} (eval_a); yes (eval_b)"]
         if _provenance(runs["eval_a"])["git_dirty"] is False else [])


def _provenance(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())["provenance"]


def test_the_header_names_the_commit_that_built_the_page_and_values_read_as_text(runs, tmp_path):
    from gradsign.reports.provenance import git_state

    out = tmp_path / "r.html"
    build_report([runs["eval_a"], runs["search"]], out)
    html = out.read_text()
    git = git_state()
    if git is not None:
        assert f"(git commit {git['commit'][:12]}" in html.split('<p id="built-by">', 1)[1].split("</p>", 1)[0]
    import re

    values = re.findall(r"<dd>(.*?)</dd>", html)
    assert "<dt>seeds</dt><dd>0</dd>" in html
    assert git is None or "<dt>uncommitted changes</dt><dd>" + ("yes" if git["dirty"] else "no") in html
    assert not [v for v in values if v in ("True", "False") or re.fullmatch(r"\[.*\]|\{.*\}", v)]
    assert "https://" not in html  # no web address anywhere, not even in the SVGs' metadata


def test_a_search_results_file_read_alone_has_its_folders_provenance(tmp_path):
    from gradsign.reports.provenance import collect

    folder = search_run(tmp_path / "search")
    block = collect(["gradsign", "search"], [], [0], None, device="cpu", threads=1)
    (folder / "summary.json").write_text(json.dumps({"settings": [], "runs": 6, "seed": 0, "provenance": block}))
    (run,) = load_path(folder / "runs_rea.json")
    assert run.kind == "search" and run.provenance == block and run.name == "runs_rea"
    (whole,) = load_path(folder)
    assert whole.provenance == block


def test_seed_spread_folders_show_the_same_proxy_across_seeds(tmp_path):
    folders = sorted((REPO / "results").glob("seed_spread_*"))
    assert folders, "committed seed-spread results"
    out = tmp_path / "seeds.html"
    result = build_report(folders, out)
    assert result.sections == ["seeds", "provenance"]
    assert [kind for kind, _, _ in result.runs] == ["seeds"] * len(folders)
    page = parse(out)
    assert page.problems == [] and page.figures["svg"] == 1
    tables = {t["id"]: t for t in page.tables if "sortable" in t["class"]}
    for i, folder in enumerate(folders):
        per_seed = json.loads((folder / "spread.json").read_text())["per_seed"]
        assert len(tables[f"seeds-{i}-table"]["rows"]) == len(per_seed)


def test_a_run_listing_several_files_of_one_name_is_not_a_difference(runs, tmp_path):
    """A Python session records every file it read, possibly two of one name; runs that read the same
    files agree, whatever the files' names."""
    from gradsign.reports.provenance import describe_files

    copies = []
    for i in range(2):
        (tmp_path / f"d{i}").mkdir()
        copies.append(tmp_path / f"d{i}" / "images.bin")
        copies[-1].write_bytes(bytes([i]) * 10)
    for run in ("eval_a", "eval_b"):
        _edit_summary(runs[run], batch_size=64, provenance={"data_files": describe_files(copies)})
    assert build_report([runs["eval_a"], runs["eval_b"]], tmp_path / "r.html").warnings == []
    _edit_summary(runs["eval_b"], provenance={"data_files": describe_files(copies[:1])})
    (warning,) = build_report([runs["eval_a"], runs["eval_b"]], tmp_path / "r.html").warnings
    assert warning.startswith("data file images.bin differs between runs")


def test_search_notes_shared_by_every_setting_once_and_the_others_under_their_setting():
    from gradsign.reports.sections import _search_notes

    searches = [{"label": "rea", "notes": ["paid twice"]},
                {"label": "rea+synflow(K=3, free)", "notes": ["paid twice", "NOT charged"]}]
    summary = {"notes": ["paid twice"], "setting_notes": {"rea": ["1 of 2 runs trained no cell"]}}
    assert _search_notes(searches, summary) == ["paid twice", "rea+synflow(K=3, free): NOT charged",
                                                "rea: 1 of 2 runs trained no cell"]
    assert _search_notes([], {"notes": ["x"]}) == ["x"]  # a summary written before setting notes existed


def test_a_partial_rank_run_is_a_warning_at_the_top():
    from gradsign.reports.loaders import Run

    whole = Run("rank", "a.json", "a.json", {"models": []}, {"gradsign_version": "1"})
    cut = Run("rank", "b.json", "b.json", {"models": [], "partial": {"finished": 4, "of": 5}}, {"gradsign_version": "1"})
    assert compare_runs([cut]) == ["b.json is partial: interrupted after 4 of 5 models, so it ranks those 4 only"]
    assert compare_runs([whole]) == []
    trials = Run("predictors", "p", "p", {"partial": {"trials_finished": 2, "of": 4}}, {"gradsign_version": "1"})
    assert compare_runs([trials]) == ["p is partial: interrupted after 2 of 4 trials, so its means and intervals "
                                      "are over those only"]


def test_a_rank_or_score_csv_is_told_to_be_given_as_json(tmp_path):
    rank_csv = tmp_path / "r.csv"
    rank_csv.write_text("model,params,flops,rank_params,seconds,notes,error\nm.py:a,10,20,1,0.1,,\n")
    with pytest.raises(ReportInputError, match=r"a `gradsign rank --format csv` table; the report reads its JSON"):
        load_path(rank_csv)
    score_csv = tmp_path / "s.csv"
    score_csv.write_text("index,arch,params\n3,|x|,10\n")
    with pytest.raises(ReportInputError, match=r"a `gradsign score --format csv` table"):
        load_path(score_csv)
