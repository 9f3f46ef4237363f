"""Warnings about runs shown together: one line per recorded difference that changes the numbers."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from gradsign.errors import GradsignError
from gradsign.reports.cells import shown
from gradsign.reports.loaders import Run

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


def _differences(runs: Sequence[Run], what: str, value_of) -> str | None:
    """A warning when the runs that record ``value_of(run)`` (None: not recorded) hold different values."""
    groups: dict[str, list[str]] = defaultdict(list)
    for r in runs:
        v = value_of(r)
        if v is not None and v != "":
            groups[shown(v)].append(r.name)
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
    for r in runs:  # a run cut short ranks only what it finished: say so, whatever else is shown
        partial = r.summary.get("partial") if isinstance(r.summary, dict) else None
        if isinstance(partial, dict) and "trials_finished" in partial:  # gradsign predictors evaluate
            warnings.append(f"{r.name} is partial: interrupted after {partial['trials_finished']} of "
                            f"{partial.get('of', '?')} trials, so its means and intervals are over those only")
        elif isinstance(partial, dict):  # gradsign rank
            done, total = partial.get("finished", "?"), partial.get("of", "?")
            warnings.append(f"{r.name} is partial: interrupted after {done} of {total} models, so it ranks "
                            f"those {done} only")
    old = [r.name for r in runs if not r.provenance]
    if old and len(runs) > 1:
        warnings.append(f"{len(old)} of {len(runs)} runs were written before provenance was recorded (version, "
                        f"command and data-file hashes unknown): {', '.join(old)}")
    return warnings
