"""``build_report``: one self-contained HTML page from finished runs.

The page holds everything it shows: figures are inline SVG or base64 PNG, the
style sheet and the table-sorting script are inline, nothing is fetched. It is
rendered by Jinja2 templates (``reports/templates/``) from a context built
here from the section builders of :mod:`gradsign.reports.sections` (cells formatted by
:mod:`gradsign.reports.cells`, warnings from :mod:`gradsign.reports.compare`); the figures come
from :mod:`gradsign.reports.plots`.

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

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from gradsign.outputs import OutputError, check_output_file
from gradsign.reports.compare import compare_runs
from gradsign.reports.loaders import ReportInputError, Run, load_run
from gradsign.reports.sections import (
    SECTION_TITLES,
    comparison_section,
    evaluate_section,
    predictor_section,
    provenance_entry,
    rank_section,
    score_section,
    search_section,
    seeds_section,
)


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
    evaluate = [evaluate_section(r, i) for i, r in enumerate(by_kind["evaluate"])]
    comparison = comparison_section(by_kind["evaluate"])
    seeds = seeds_section(by_kind["seeds"])
    search = [search_section(r, i) for i, r in enumerate(by_kind["search"])]
    predictors = [predictor_section(r, i) for i, r in enumerate(by_kind["predictors"])]
    rank = [rank_section(r, i) for i, r in enumerate(by_kind["rank"])]
    score = [score_section(r, i) for i, r in enumerate(by_kind["score"])]
    warnings = compare_runs(runs)
    sections = [k for k, present in (("evaluate", evaluate), ("comparison", comparison), ("seeds", seeds),
                                     ("search", search),
                                     ("predictors", predictors), ("rank", rank), ("score", score)) if present]
    sections.append("provenance")
    env = _environment()
    html = env.get_template("report.html.j2").render(
        title=title, runs=runs, warnings=warnings, sections=sections, section_titles=SECTION_TITLES,
        evaluate=evaluate, comparison=comparison, seeds=seeds, search=search, predictors=predictors, rank=rank, score=score,
        provenance=[provenance_entry(r) for r in runs], version=gradsign.__version__, command=command,
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
