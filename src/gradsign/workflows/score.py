"""`score`: zero-cost proxy scores of chosen architectures of a space, through the results store.

:func:`score_archs` is what ``gradsign score`` runs; it returns a :class:`ScoreResult`
(a table with one row per arch, what data was used, refused lines of an archs file,
the few-shot rule when labels were given, failed cells) that the CLI only displays.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from gradsign.errors import ConfigError, GradsignError
from gradsign.storage import ResultsStore

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from gradsign.evaluation.ensemble_selection import FewShotEnsemble


@dataclass
class ScoreResult:
    """Proxy scores of the chosen archs: one row per arch (``index`` when the space has one, ``arch``,
    one column per proxy or ensemble, ``fewshot`` with labels)."""

    space: str
    dataset: str
    batch_size: int
    seed: int
    data: str  # the minibatch's source, one line
    frame: "pd.DataFrame" = field(repr=False)
    proxies: tuple[str, ...] = ()
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, reason) of refused archs-file lines
    fewshot: "FewShotEnsemble | None" = None
    failed: dict[str, int] = field(default_factory=dict)  # proxy -> cells whose scoring raised
    failure_examples: dict[str, str] = field(default_factory=dict)  # proxy -> first line of one of its errors
    device: str = "cpu"
    threads: int = 1
    n_computed: int = 0  # (arch, proxy) scores computed by this call; the others came from the store
    used_store: bool = False  # whether a results store served and kept scores

    def to_frame(self) -> "pd.DataFrame":
        return self.frame.copy()

    def to_csv(self) -> str:
        return self.frame.to_csv(index=False)  # full precision (shortest round-trip text)

    def to_json(self) -> str:
        from gradsign.outputs import json_safe, mark_nonfinite
        from gradsign.reports.provenance import collect, process_started

        # to_dict + json_safe, not DataFrame.to_json: that writes at most 15 decimal places (1.2345678901234567e-05
        # came out as 1.2345678901e-05); Python's float text is the shortest that reads back to the same bits.
        # NaN and +-inf are null in JSON; each record's "nonfinite" says which of its nulls were which.
        scored = [*self.proxies, *(["fewshot"] if "fewshot" in self.frame.columns else [])]
        records = [mark_nonfinite(r, scored) for r in self.frame.to_dict(orient="records")]
        doc: dict[str, Any] = {"space": self.space, "dataset": self.dataset, "batch_size": self.batch_size,
                               "seed": self.seed, "data": self.data, "scores": records}
        if self.skipped:
            doc["skipped_lines"] = [{"line": n, "reason": why} for n, why in self.skipped]
        if self.failed:  # a failed score is null in "scores", like NaN: this says which nulls are failures
            doc["failed"] = {p: {"cells": n, "example": self.failure_examples.get(p)} for p, n in self.failed.items()}
        if self.fewshot is not None:
            doc["fewshot"] = json_safe(self.fewshot.as_dict())
        doc["provenance"] = collect(seeds=[self.seed], started=process_started(), device=self.device,
                                    threads=self.threads)
        return json.dumps(doc, indent=2) + "\n"


def choose_archs(space: Any, *, archs: Sequence[str] = (), indices: Sequence[int] = (),
                 archs_file: str | Path | None = None, sample: int | None = None, seed: int = 0,
                 skip_invalid: bool = False, note: Callable[[str], None] | None = None
                 ) -> tuple[list[Any], list[tuple[int, str]]]:
    """The archs named by strings, benchmark indices, a file (one per line) and a seeded sample, in that order.

    ``note`` receives one line per skipped file line, and remarks on the sample (``note: ...``).
    """
    from gradsign.workflows.evaluate import draw_archs
    from gradsign.workflows.scoring import read_archs_file

    say = note or (lambda message: None)
    archs = [archs] if isinstance(archs, str) else archs  # one arch string, not a sequence of characters
    indices = [indices] if isinstance(indices, int) else indices
    chosen: list = [space.parse(a) for a in archs]
    chosen += [space.arch_at(i) for i in indices]
    skipped: list[tuple[int, str]] = []
    if archs_file is not None:
        parsed, skipped = read_archs_file(space, archs_file, skip_invalid=skip_invalid)
        chosen += parsed
        for lineno, why in skipped:
            say(f"skipped {archs_file}:{lineno}: {why}")
        if skipped:
            say(f"--skip-invalid: {len(skipped)} line(s) of {archs_file} skipped, {len(parsed)} arch(s) read")
    elif skip_invalid:
        raise ConfigError("--skip-invalid applies to --archs-file")
    if sample is not None:
        chosen += draw_archs(space, sample, seed, note=lambda message: say(f"note: {message}"))
    if not chosen:
        raise ConfigError("no architecture given: use --arch, --index, --archs-file or --sample")
    # One row per cell: a cell named twice (two lines, --arch and the sample, two spellings) would be
    # scored twice and counted twice by every rank ensemble.
    unique: dict[str, Any] = {}
    first_duplicate = None
    for a in chosen:
        key = space.to_string(a)
        if key in unique:
            first_duplicate = first_duplicate or key
        else:
            unique[key] = a
    if first_duplicate is not None:
        say(f"note: {len(chosen) - len(unique)} duplicate arch(s) dropped, each scored once "
            f"(e.g. {first_duplicate})")
    return list(unique.values()), skipped


def score_archs(
    space: str = "nb201",
    dataset: str = "cifar10",
    proxies: str | Sequence[str] = "gradsign",
    *,
    archs: Sequence[str] = (),
    indices: Sequence[int] = (),
    archs_file: str | Path | None = None,
    sample: int | None = None,
    skip_invalid: bool = False,
    labels: str | Path | None = None,
    batch_size: int = 64,
    seed: int = 0,
    sampling: str = "random",
    options: Sequence[str] | Mapping[str, Mapping[str, Any]] | None = None,
    engine: str = "auto",
    store: str | Path | ResultsStore | None = None,
    backend: Any = "inprocess",
    workers: int | None = None,
    address: str | None = None,
    data_dir: str | Path | None = None,
    threads: int | None = None,
    device: str = "cpu",
    progress: bool = False,
    retry_failed: bool = False,
    note: Callable[[str], None] | None = None,
) -> ScoreResult:
    """Score architectures of ``space`` with ``proxies`` (names or ensembles) on a minibatch of ``dataset``.

    The archs are ``archs`` (strings), ``indices`` (benchmark indices), the lines of
    ``archs_file`` (a refused line stops, or with ``skip_invalid`` is skipped and listed) and
    ``sample`` archs drawn with ``seed``. ``store`` (a :class:`ResultsStore` or its path; None:
    no store) serves what it has and keeps what is computed. ``labels`` (a CSV ``arch,accuracy``
    of trained archs of this space, or the SQLite journal of a ``gradsign search --journal``: the
    archs it trained and the accuracy it observed): the few-shot rule weights the members of the first
    ensemble in ``proxies`` (default ``recommended``) on them and adds a ``fewshot`` column
    (docs/ensembles.md). A cell whose scoring raised is stored as an error and retried by later runs
    until it has failed twice; ``retry_failed`` retries every stored error. Everything is checked
    before anything is scored.

    >>> r = gradsign.score_archs("nb201", proxies="synflow,snip", sample=5)  # doctest: +SKIP
    >>> r.to_frame()  # doctest: +SKIP
    """
    from gradsign.spaces import get_space
    from gradsign.workflows.scoring import DEFAULT_MAX_ATTEMPTS, Scorer, scoring_backend, scoring_setup

    sp = get_space(space)
    chosen, skipped = choose_archs(sp, archs=archs, indices=indices, archs_file=archs_file, sample=sample,
                                   seed=seed, skip_invalid=skip_invalid, note=note)
    prior = None
    if labels is not None:  # few-shot: the labelled archs are scored too, with the prior's members
        from gradsign.evaluation.ensemble_selection import fewshot_prior, read_labels
        from gradsign.search.journal import is_journal_file, trained_accuracies

        if is_journal_file(labels):  # a journaled search's trainings: the archs it trained, as it observed them
            import numpy as np

            trained, fidelity = trained_accuracies(labels)
            label_archs, label_acc = list(trained), np.array(list(trained.values()), dtype=np.float64)
            if note is not None:
                note(f"--labels {labels}: {len(trained)} archs the search trained, their {fidelity}-fidelity "
                     "accuracies")
        else:
            label_archs, label_acc = read_labels(labels)
        parsed = []
        for a in label_archs:
            try:
                parsed.append(sp.parse(a))
            except GradsignError as exc:
                raise ConfigError(f"--labels {labels}: arch {a!r} is not of space {sp.name} ({exc})") from None
        label_archs = parsed
        seen_labels: set[str] = set()
        for a in parsed:  # two spellings of one cell
            canonical = sp.to_string(a)
            if canonical in seen_labels:
                raise ConfigError(f"--labels {labels}: arch {canonical!r} is listed twice (in two spellings)")
            seen_labels.add(canonical)
        names, prior = fewshot_prior(proxies)
        proxies = names
    setup = scoring_setup(space, dataset, proxies, batch_size=batch_size, seed=seed, sampling=sampling,
                          options=options, engine=engine, data_dir=data_dir, threads=threads, device=device)
    runner = scoring_backend(backend, workers, address)
    if store is not None and not isinstance(store, ResultsStore):
        store = ResultsStore(Path(store))
    scorer = Scorer(setup, store, max_attempts=None if retry_failed else DEFAULT_MAX_ATTEMPTS)
    table = scorer.score_archs(chosen, progress=progress and len(chosen) > 1, backend=runner)
    frame = table.frame()
    try:
        frame.insert(0, "index", [sp.index_of(sp.parse(a)) for a in table.archs])
    except GradsignError:
        pass  # a space without benchmark indices
    fit = None
    n_computed = table.n_computed
    if prior is not None:
        from gradsign.evaluation.ensemble_selection import apply_fewshot

        labelled = scorer.score_archs(label_archs, progress=progress and len(label_archs) > 1, backend=runner)
        n_computed += labelled.n_computed
        frame["fewshot"], fit = apply_fewshot(prior, setup.proxies, table.scores, labelled.scores, label_acc,
                                              candidate_archs=table.archs, labelled_archs=labelled.archs)
    return ScoreResult(space=sp.name, dataset=scorer.dataset, batch_size=batch_size, seed=seed,
                       data=table.data_description, frame=frame, proxies=tuple(setup.proxies), skipped=skipped,
                       fewshot=fit, failed={p: n for p in setup.proxies if (n := table.n_failed(p))},
                       failure_examples={p: e for p in setup.proxies if (e := table.failure_example(p))},
                       device=str(setup.device), threads=setup.threads, n_computed=n_computed,
                       used_store=store is not None)
