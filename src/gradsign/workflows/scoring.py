"""Score many architectures with many proxies, through the results store.

:class:`Scorer` is the one place where a (space, dataset, minibatch, seed)
setting turns into stored scores: it samples the minibatch once, builds each
network under a fixed seed, computes only the (arch, proxy) pairs the store
does not already hold, and commits each cell's results as soon as they exist.
So a second run is free, and a run killed at any moment resumes by recomputing
nothing that finished.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from gradsign.errors import ConfigError
from gradsign.proxies import get_proxy
from gradsign.proxies.ensemble import split_members
from gradsign.runtime import DEFAULT_THREADS, check_threads, numerics_tag, resolve_device, torch_threads
from gradsign.spaces import get_space
from gradsign.storage import ResultsStore, ScoreKey
from gradsign.storage.store import status_of
from gradsign.workflows.progress import progress_bar

#: How networks are initialized: PyTorch's default init, after torch.manual_seed(seed).
INIT_SCHEME = "pytorch-default"


def init_key(numerics: str) -> str:
    """The store key's ``init`` field: the init scheme, then ``@<numerics>`` unless CPU with one thread.

    Scores computed on another device or with several CPU threads differ in the
    last bits; tagging the key keeps them apart without touching the keys of
    every score computed (and committed) before the tag existed.
    """
    return INIT_SCHEME if not numerics else f"{INIT_SCHEME}@{numerics}"


@dataclass(frozen=True)
class ScoringSetup:
    """Everything that determines a score, apart from the architecture."""

    space: str = "nb201"
    dataset: str = "cifar10"
    proxies: tuple[str, ...] = ("gradsign",)
    batch_size: int = 64
    seed: int = 0
    sampling: str = "random"  # "random" or "grasp"
    samples_per_class: int = 1  # for grasp sampling
    split: str = "train"
    augment: bool = False
    proxy_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    data_dir: Path | None = None
    device: str = "cpu"
    #: torch intra-op threads while scoring (see gradsign.runtime: one thread makes the
    #: numbers independent of the backend; any other count is part of the store key)
    threads: int = DEFAULT_THREADS

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"batch size must be a positive integer, got {self.batch_size!r}")
        if isinstance(self.seed, np.integer):  # numpy's integers are integers (store keys hold the int)
            object.__setattr__(self, "seed", int(self.seed))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        check_threads(self.threads)
        # Canonical device text ("cuda" stays "cuda", "cuda:1" stays "cuda:1"); refused here if unusable.
        object.__setattr__(self, "device", str(resolve_device(self.device)))
        for name in self.proxies:
            get_proxy(name)  # validates the name

    @property
    def numerics(self) -> str:
        """What the scores depend on besides the definition (see gradsign.runtime.numerics_tag)."""
        return numerics_tag(self.device, self.threads)


@dataclass
class ScoreTable:
    """Scores of ``archs`` (rows) by proxy (columns), with per-cell seconds and failures."""

    archs: list[str]
    scores: dict[str, np.ndarray]  # proxy -> float64 array aligned with archs (NaN where failed)
    seconds: dict[str, np.ndarray]  # proxy -> seconds per cell (NaN where unknown)
    status: dict[str, list[str]]  # proxy -> "ok" | "nan" | "inf" | "-inf" | "error"
    errors: dict[str, dict[str, str]]  # proxy -> {arch: error message}
    n_computed: int  # (arch, proxy) pairs computed in this run (the rest came from the store)
    data_description: str
    #: ensemble -> archs with a non-finite member score (ranked last by that member)
    member_nonfinite: dict[str, int] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame({"arch": self.archs})
        for name, values in self.scores.items():
            df[name] = values
        return df

    def n_failed(self, proxy: str) -> int:
        return sum(s == "error" for s in self.status[proxy])

    def failure_example(self, proxy: str) -> str | None:
        """The first line of one of ``proxy``'s errors here (the first cell's), None when none failed."""
        msg = next(iter(self.errors.get(proxy, {}).values()), None)
        return None if msg is None else (msg.splitlines()[0] if msg else "(no message)")

    def failure_reasons(self, proxy: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for msg in self.errors.get(proxy, {}).values():
            reason = msg.split(":", 1)[0]
            counts[reason] = counts.get(reason, 0) + 1
        return counts


#: A cell whose scoring raised is retried by later runs until it has failed this often (then it is
#: reported as failed without being tried again, unless the caller asks to retry failed cells).
DEFAULT_MAX_ATTEMPTS = 2


class Scorer:
    """Scores archs of one space under one :class:`ScoringSetup`, reusing the store."""

    def __init__(self, setup: ScoringSetup, store: ResultsStore | None = None, *,
                 max_attempts: int | None = DEFAULT_MAX_ATTEMPTS,
                 minibatch: tuple[Any, ...] | None = None) -> None:
        # max_attempts: a stored error is retried until the cell has failed this often (None: always retried)
        if max_attempts is not None and (isinstance(max_attempts, bool) or not isinstance(max_attempts, int)
                                         or max_attempts < 1):
            raise ConfigError(f"max_attempts must be a positive int or None, got {max_attempts!r}")
        self.setup = setup
        self.store = store
        self.max_attempts = max_attempts
        self.space = get_space(setup.space)
        # Ensembles are computed from their members' scores over the archs scored together:
        # the members are what is computed and stored.
        singles, self.ensembles = split_members(setup.proxies)
        self.specs = [get_proxy(n) for n in singles]
        self._batch: tuple[torch.Tensor | None, torch.Tensor | None] | None = None
        self._data_description = "no data (data-free proxies only)"
        self._sampling_key = self._describe_sampling(source="none", split="none")
        self._num_classes, self._input_shape = self._dataset_shape()
        if any(s.needs_data for s in self.specs):
            if minibatch is not None:  # shipped by the driver (see worker_factory)
                inputs, targets, self._data_description, self._sampling_key = minibatch
                self._batch = (inputs.to(setup.device), targets.to(setup.device))
            else:
                self._load_batch()
        self.keys = {s.name: self._key(s.name) for s in self.specs}
        # What the store is searched with. A data-free proxy's score does not depend on
        # the minibatch, yet its write key names the minibatch of the run that computed
        # it (one with a data-dependent proxy loads one; a data-free-only run does not):
        # reads accept any minibatch, so `--proxies synflow` finds the synflow scores an
        # earlier `--proxies gradsign,synflow` stored, and the reverse.
        self.read_keys = {s.name: (self.keys[s.name] if s.needs_data
                                   else dataclasses.replace(self.keys[s.name], sampling=None)) for s in self.specs}
        self.call_options = self._call_options()

    def _call_options(self) -> dict[str, dict[str, Any]]:
        """The options each proxy is called with: the user's, plus the run's batch size where a proxy takes it.

        A proxy option ``batch_size`` whose default is None means "the minibatch's size" (zen draws
        its own Gaussian batch of that size). A run with data-free proxies only loads no minibatch,
        so zen drew 64 samples whatever ``--batch-size`` said, while the same run with a
        data-dependent proxy drew the minibatch's size: two values under one store key (data-free
        scores are read whatever the minibatch). Given here, always, the value depends on the run's
        batch size only (the key's), whatever else was asked and however many images the minibatch
        got. The store key keeps the user's options.
        """
        from gradsign.proxies.api import proxy_option_defaults

        options = {p: dict(kv) for p, kv in self.setup.proxy_options.items()}
        for spec in self.specs:
            defaults = proxy_option_defaults(spec.name)
            if "batch_size" in defaults and defaults["batch_size"] is None \
                    and "batch_size" not in options.get(spec.name, {}):
                options.setdefault(spec.name, {})["batch_size"] = self.setup.batch_size
        return options

    # -- setup ---------------------------------------------------------------
    def _dataset_shape(self) -> tuple[int, tuple[int, int, int]]:
        from gradsign.data.images import dataset_info

        info = dataset_info(self.setup.dataset)
        return info.num_classes, info.input_size

    @property
    def dataset(self) -> str:
        from gradsign.data.images import canonical_dataset

        return canonical_dataset(self.setup.dataset)

    def _describe_sampling(self, source: str, split: str) -> str:
        s = self.setup
        text = f"{source}:{split}:{s.sampling}"
        if s.sampling == "grasp":
            text += f"{s.samples_per_class}"
        if s.augment:
            text += ":augment"
        return text

    def _load_batch(self) -> None:
        from gradsign.data.images import SplitFallbackWarning, load_image_set

        s = self.setup
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SplitFallbackWarning)
            images = load_image_set(s.dataset, s.split, data_dir=s.data_dir)
        inputs, targets = images.sample_batch(
            s.batch_size, seed=s.seed, sampling=s.sampling, samples_per_class=s.samples_per_class, augment=s.augment
        )
        self._batch = (inputs.to(s.device), targets.to(s.device))
        self._data_description = images.describe()
        if caught:
            self._data_description += " [fallback: " + "; ".join(str(w.message) for w in caught) + "]"
        self._sampling_key = self._describe_sampling(images.source, images.split)

    @property
    def minibatch(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The (inputs, targets) every cell is scored on; (None, None) for data-free proxies only."""
        return self._batch if self._batch is not None else (None, None)

    def _key(self, proxy: str) -> ScoreKey:
        s = self.setup
        spec = get_proxy(proxy)
        return ScoreKey(
            space=self.space.name, dataset=self.dataset, proxy=proxy, proxy_version=spec.version,
            options=ScoreKey.canonical_options(dict(s.proxy_options.get(proxy, {}))),
            batch_size=s.batch_size, seed=s.seed, sampling=self._sampling_key, init=init_key(s.numerics),
        )

    @property
    def data_description(self) -> str:
        return self._data_description

    # -- scoring -------------------------------------------------------------
    def build_network(self, arch: Any) -> torch.nn.Module:
        """The network of ``arch`` with the setup's deterministic initialization."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.setup.seed)
            net = self.space.build_network(arch, num_classes=self._num_classes)
        return net.to(self.setup.device)

    def score_one(self, arch: Any, proxies: Sequence[str]) -> tuple[dict[str, float], dict[str, float]]:
        """Compute ``proxies`` for one arch (no store): returns (scores, seconds)."""
        from gradsign.proxies.api import score

        with torch_threads(self.setup.threads):
            net = self.build_network(arch)
            inputs, targets = self.minibatch
            options = {p: dict(self.call_options[p]) for p in proxies if p in self.call_options}
            seconds: dict[str, float] = {}
            values = score(net, inputs, targets, list(proxies), seed=self.setup.seed, options=options,
                           input_shape=self._input_shape, timings=seconds)
        return values, seconds

    def score_archs(self, archs: Iterable[Any], *, progress: bool = True, description: str = "scoring",
                    backend: Any = None) -> ScoreTable:
        """Scores for ``archs`` (arch objects or strings), from the store where present.

        Missing (arch, proxy) pairs are computed by ``backend`` (default: in this
        process) and each cell's results are committed to the store as soon as it
        finishes. Cells that raise are recorded with their error and retried on
        later runs until they have failed ``max_attempts`` times (every run when it is None).
        """
        arch_objs = [self.space.parse(a) if isinstance(a, str) else a for a in archs]
        arch_strs = [self.space.to_string(a) for a in arch_objs]
        names = [s.name for s in self.specs]
        stored = {n: (self.store.get_many(self.read_keys[n], arch_strs) if self.store else {}) for n in names}
        tasks = self._missing_tasks(arch_strs, names, stored)
        if tasks and self.store is not None:
            # before any work: a store that cannot be written refuses now, not after the first cell
            self.store.require_writable(f"scoring {len(tasks)} cell(s)")
        computed, n_computed = self._compute(tasks, names, backend, progress, description)
        return self._table(arch_strs, names, stored, computed, n_computed)

    def _missing_tasks(self, arch_strs: list[str], names: list[str], stored: dict) -> list:
        """One task per cell with a proxy not stored (or stored as an error with attempts left)."""
        from gradsign.execution import CellTask

        tasks, queued = [], set()
        for a in arch_strs:
            missing = [n for n in names if (rec := stored[n].get(a)) is None
                       or (rec.status == "error" and (self.max_attempts is None
                                                      or rec.attempts < self.max_attempts))]
            if missing and a not in queued:
                tasks.append(CellTask(a, tuple(missing)))
                queued.add(a)
        return tasks

    def _compute(self, tasks: list, names: list[str], backend: Any, progress: bool, description: str
                 ) -> tuple[dict[str, dict[str, tuple[float, float | None, str | None]]], int]:
        """Run ``tasks`` on ``backend``, committing each cell's results (or errors) to the store as it finishes."""
        from gradsign.execution import InProcessBackend

        backend = backend or InProcessBackend()
        task_of = {t.arch: t for t in tasks}
        computed: dict[str, dict[str, tuple[float, float | None, str | None]]] = {n: {} for n in names}
        n_computed = 0
        with progress_bar(description, len(tasks), enabled=progress) as advance:
            for res in backend.run(self.worker_factory(), self, tasks):
                finished = []
                for n in task_of[res.arch].proxies:
                    error = res.error_of(n)
                    if error is not None:
                        if self.store:
                            self.store.put_error(self.keys[n], res.arch, error, res.elapsed)
                        computed[n][res.arch] = (math.nan, res.elapsed, error.splitlines()[0])
                    else:
                        finished.append((self.keys[n], res.arch, res.values[n], res.seconds.get(n)))
                        computed[n][res.arch] = (res.values[n], res.seconds.get(n), None)
                    n_computed += 1
                if self.store and finished:
                    self.store.put_results(finished)  # one commit per cell
                advance()
        return computed, n_computed

    def _table(self, arch_strs: list[str], names: list[str], stored: dict, computed: dict, n_computed: int
               ) -> ScoreTable:
        """The stored and computed values side by side, ensembles aggregated over these cells."""
        scores, secs, status, errors = {}, {}, {}, {}
        for n in names:
            vals = np.full(len(arch_strs), np.nan)
            sec = np.full(len(arch_strs), np.nan)
            st: list[str] = []
            errs: dict[str, str] = {}
            for i, a in enumerate(arch_strs):
                if a in computed[n]:
                    v, s, err = computed[n][a]
                    vals[i] = v
                    sec[i] = s if s is not None else np.nan
                    if err is not None:
                        st.append("error")
                        errs[a] = err
                    else:
                        st.append(status_of(v))
                else:
                    rec = stored[n][a]
                    vals[i] = rec.value
                    sec[i] = rec.seconds if rec.seconds is not None else np.nan
                    st.append(rec.status)
                    if rec.status == "error":
                        errs[a] = (rec.error or "").splitlines()[0]
            scores[n], secs[n], status[n], errors[n] = vals, sec, st, errs
        member_nonfinite: dict[str, int] = {}
        for e in self.ensembles:
            # An ensemble's seconds are its members' (shared passes are charged to each member in full).
            scores[e.name], member_nonfinite[e.name] = e.aggregate(scores)
            secs[e.name] = np.sum([secs[m] for m in e.members], axis=0)
            status[e.name] = [status_of(float(v)) for v in scores[e.name]]
            errors[e.name] = {}
        return ScoreTable(arch_strs, scores, secs, status, errors, n_computed, self._data_description,
                          member_nonfinite)

    def worker_factory(self) -> "functools.partial":
        """A picklable callable that rebuilds this scorer (without a store) in a worker process.

        The minibatch travels with it (64 CIFAR images are 0.8 MB), so workers --
        other processes, other machines of a Ray cluster -- need no data folder
        and score exactly the images the driver drew.
        """
        minibatch = None
        if self._batch is not None and self._batch[0] is not None:
            inputs, targets = self._batch
            minibatch = (inputs.cpu(), targets.cpu(), self._data_description, self._sampling_key)
        return functools.partial(Scorer, self.setup, None, max_attempts=self.max_attempts, minibatch=minibatch)


def scoring_setup(
    space: str = "nb201",
    dataset: str = "cifar10",
    proxies: str | Sequence[str] = "gradsign",
    *,
    batch_size: int = 64,
    seed: int = 0,
    sampling: str = "random",
    options: Sequence[str] | Mapping[str, Mapping[str, Any]] | None = None,
    engine: str = "auto",
    data_dir: str | Path | None = None,
    threads: int | None = None,
    device: str = "cpu",
) -> ScoringSetup:
    """A :class:`ScoringSetup` from the arguments of the scoring commands, every name checked.

    ``proxies``: names or a comma list (``"all"``, ensembles ``a+b``); ``options``:
    ``PROXY.KEY=VALUE`` strings (``--option``) or ``{proxy: {key: value}}``;
    ``engine``: shorthand for ``gradsign.engine=...`` on every GradSign proxy scored;
    ``sampling``: ``random``, or ``grasp`` (the per-class count follows from the batch size).
    """
    from gradsign.proxies import parse_proxy_list
    from gradsign.proxies.api import check_options_mapping, parse_proxy_options

    names = tuple(parse_proxy_list(proxies if isinstance(proxies, str) else ",".join(proxies)))
    if sampling not in ("random", "grasp"):
        raise ConfigError(f"unknown sampling {sampling!r}; valid: random, grasp")
    samples_per_class = grasp_samples_per_class(dataset, batch_size) if sampling == "grasp" else 1
    if isinstance(options, str):  # one assignment, as --option takes it (a string is not split into characters)
        options = [options]
    if isinstance(options, Mapping):
        options = check_options_mapping(options)
        proxy_options = parse_proxy_options([f"{p}.{k}={json.dumps(v)}" for p, kv in options.items()
                                             for k, v in kv.items()], names)
    else:
        proxy_options = parse_proxy_options(options or [], names)
    if engine != "auto":
        from gradsign.proxies.engine import ENGINES

        if engine not in ENGINES:
            raise ConfigError(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}")
        for n in split_members(names)[0]:
            if n.startswith("gradsign"):
                proxy_options.setdefault(n, {}).setdefault("engine", engine)
    return ScoringSetup(space=space, dataset=dataset, proxies=names, batch_size=batch_size, seed=seed,
                        sampling=sampling, samples_per_class=samples_per_class, proxy_options=proxy_options,
                        data_dir=None if data_dir is None else Path(data_dir), threads=check_threads(threads),
                        device=device)


def scoring_backend(backend: Any = "inprocess", workers: int | None = None, address: str | None = None) -> Any:
    """The execution backend named ``backend`` (``inprocess``, ``process``, ``ray``; an object is returned as
    is), with ``workers`` (process, ray) and ``address`` (ray) checked against it."""
    from gradsign.execution import get_backend

    if not isinstance(backend, str):
        return backend
    if backend == "inprocess" and workers not in (None, 1):
        raise ConfigError("--workers needs --backend process or ray")
    if address is not None and backend != "ray":
        raise ConfigError("--address needs --backend ray")
    return get_backend(backend, workers, **({"address": address} if backend == "ray" else {}))


def default_store_path() -> Path:
    """``$GRADSIGN_STORE`` or ``<user data dir>/gradsign/results.sqlite``."""
    import os

    import platformdirs

    env = os.environ.get("GRADSIGN_STORE")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("gradsign")) / "results.sqlite"


def read_archs_file(space: Any, path: str | Path, *, skip_invalid: bool = False) -> tuple[list[Any], list[tuple[int, str]]]:
    """The archs of a text file, one per line (blank lines and ``#`` comments ignored).

    A line the space refuses raises an error naming ``path:line``; with
    ``skip_invalid`` it is skipped instead and returned in the second list as
    ``(line number, reason)``.
    """
    from gradsign.errors import GradsignError

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--archs-file {p}: no such file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--archs-file {p}: cannot be read as UTF-8 text ({exc})") from None
    archs: list[Any] = []
    skipped: list[tuple[int, str]] = []
    # A space with multi-line file forms (darts: JSON documents, genotypes.py) splits the text into
    # (line number or "record i", arch text) items; None: one arch per line.
    split = getattr(space, "split_archs_text", None)
    items = split(text) if split is not None else None
    if items is None:
        items = [(n, ln.strip()) for n, ln in enumerate(text.splitlines(), 1)
                 if ln.strip() and not ln.strip().startswith("#")]
    for lineno, line in items:
        try:
            archs.append(space.parse(line))
        except (GradsignError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if not skip_invalid:
                raise ConfigError(f"{p}:{lineno}: {reason} (use --skip-invalid to score the other lines)") from None
            skipped.append((lineno, reason))
    if not archs and skipped:
        raise ConfigError(f"--archs-file {p}: none of its {len(skipped)} arch line(s) is valid "
                          f"(line {skipped[0][0]}: {skipped[0][1]})")
    return archs, skipped


def grasp_samples_per_class(dataset: str, batch_size: int) -> int:
    """Images per class for ``--sampling grasp`` with ``batch_size`` images in all.

    grasp sampling takes the same number of images from every class, so the
    batch size must be a multiple of the class count; anything else is refused
    rather than silently rounded (the batch size is part of the store key).
    """
    from gradsign.data.images import dataset_info

    info = dataset_info(dataset)
    k, rest = divmod(int(batch_size), info.num_classes)
    if k < 1 or rest:
        lower = max(1, k) * info.num_classes
        raise ConfigError(
            f"--sampling grasp takes the same number of images from each of the {info.num_classes} classes of "
            f"{info.name}: --batch-size must be a multiple of {info.num_classes} (got {batch_size}; "
            f"e.g. {lower} = {max(1, k)} per class)")
    return k
