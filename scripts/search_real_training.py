"""End-to-end searches training every candidate for real, next to the same searches simulated on the table (#25).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/search_real_training.py --settings rea,rea+gradsign --runs 1
    OMP_NUM_THREADS=1 .venv/bin/python scripts/search_real_training.py --runs 3        # all 16 settings
    OMP_NUM_THREADS=1 .venv/bin/python scripts/search_real_training.py --space full --settings rea --runs 1

The small real benchmark ``nb201_small`` is a table: its tabular objective observes the seed-1 final
validation accuracy of each trained cell and charges that training's measured seconds. This script
runs the *same* searches with the table replaced by training: every candidate an algorithm asks
for is trained by the recipe (``gradsign.training.SMALL_CIFAR10``, training seed 1, one torch
thread, so a cell of the trained sample reproduces its table row bit for bit), its measured
wall-clock seconds charged, through :class:`gradsign.search.CallableObjective`. Same search space
(the trained sample, moves off it landing on the nearest trained cell; ``--space full``: all 15,625
NB201 cells), same algorithm seeds (run ``r`` of ``--seed S``), same seconds budget. Proxy
screening (K candidates, the best by the proxy trained) scores the recipe's network on the recipe's
images (``gradsign.training.scoring.score_as_trained``, the scores of the benchmark's as-trained
table) and charges the measured seconds; ``recommended`` is the named ensemble, its members
ranked together over the K candidates.

Settings: ``ALGO`` or ``ALGO+PROXY``, ALGO in random, rea, reinforce, bohb and PROXY in gradsign,
synflow, recommended (16 in all). Every training and every proxy score goes to a journal
(``gradsign.search.Journal``, one SQLite file per setting under ``--workdir``): a killed
invocation rerun with the same command replays what was recorded and trains only what is missing
(each run prints how many trainings it did and how many it took from the journal). ``--runs N``
does runs 0..N-1 (those done replay in seconds), ``--settings`` picks settings, so two processes
with different ``--settings`` share the work. The trained sample is frozen in ``--workdir`` the
first time (the table grows while the benchmark trains; a journal is only valid for one sample):
use a new ``--workdir`` for a new sample.

Writes ``--output``/``<space>_<setting>.json`` (each run, real and simulated, and whether they
picked the same cell) and ``--output``/table.md (every JSON of the folder as one table).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ALGOS = ("random", "rea", "reinforce", "bohb")
PROXIES = ("gradsign", "synflow", "recommended")
ALL_SETTINGS = tuple(a if p is None else f"{a}+{p}" for a in ALGOS for p in (None, *PROXIES))
TRAINING_SEED = 1  # the table's observed seed: the simulated search sees this run's validation accuracy
PROXY_SEED = 0  # the as-trained proxy table's seed (network init, proxy randomness, minibatch)
PROXY_BATCH = 64
#: NB201 operations in the compact cell names of table.md
OP_LETTERS = {"none": "0", "skip_connect": "s", "nor_conv_1x1": "1", "nor_conv_3x3": "3", "avg_pool_3x3": "p"}


@dataclass(frozen=True)
class Setting:
    algo: str
    proxy: str | None

    @property
    def name(self) -> str:
        return self.algo if self.proxy is None else f"{self.algo}+{self.proxy}"


def parse_settings(text: str) -> list[Setting]:
    """``"rea,rea+gradsign"`` (or ``all``) -> settings; an unknown algorithm or proxy exits naming it."""
    names = ALL_SETTINGS if text.strip() == "all" else [t.strip() for t in text.split(",") if t.strip()]
    settings = []
    for name in names:
        algo, _, proxy = name.partition("+")
        if algo not in ALGOS:
            raise SystemExit(f"--settings: unknown algorithm {algo!r} in {name!r}; valid: {', '.join(ALGOS)}")
        if proxy and proxy not in PROXIES:
            raise SystemExit(f"--settings: unknown proxy {proxy!r} in {name!r}; valid: {', '.join(PROXIES)}")
        settings.append(Setting(algo, proxy or None))
    if not settings:
        raise SystemExit("--settings: give at least one setting")
    return list(dict.fromkeys(settings))


def short_name(arch: str) -> str:
    """A compact NB201 cell name: ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...`` -> ``3/0s/...``."""
    try:
        nodes = arch.strip("|").split("|+|")
        return "/".join("".join(OP_LETTERS[e.split("~")[0]] for e in node.split("|")) for node in nodes)
    except (KeyError, IndexError):
        return arch


# --- what trains and scores: the recipe (a test passes a fake with the same methods) -----------------


class RecipeTrainer:
    """Trains and scores NB201 cells (by name) with the recipe: the real thing, on CPU, one torch thread."""

    clock = staticmethod(time.perf_counter)

    def __init__(self) -> None:
        import torch

        from gradsign.spaces import get_space
        from gradsign.training import SMALL_CIFAR10, prepare_data
        from gradsign.training.scoring import proxy_minibatch

        torch.set_num_threads(1)  # the table's setting: bit-for-bit the same numbers
        self.space, self.recipe = get_space("nb201"), SMALL_CIFAR10
        self.data = prepare_data(self.recipe)
        self.batch = proxy_minibatch(self.data, PROXY_BATCH, PROXY_SEED)
        self.description = f"recipe {self.recipe.key()} ({self.data.description}), training seed {TRAINING_SEED}"

    def train(self, arch: str) -> Any:
        from gradsign.training import train_arch

        return train_arch(self.space, self.space.parse(arch), self.recipe, TRAINING_SEED, self.data)

    def score(self, arch: str, proxies: Sequence[str]) -> tuple[dict[str, float], dict[str, float]]:
        from gradsign.training.scoring import score_as_trained

        return score_as_trained(self.space, self.space.parse(arch), self.recipe, self.data, list(proxies),
                                seed=PROXY_SEED, batch=self.batch)


# --- the journal, counted ------------------------------------------------------------------------------


def counting_journal(path: Path) -> Any:
    """A :class:`gradsign.search.Journal` that also counts the proxy scores it answers."""
    from gradsign.search import Journal

    class CountingJournal(Journal):
        proxy_hits = 0

        def proxy_score(self, proxy: str, arch: str, legacy_name: str | None = None) -> tuple[float, float] | None:
            found = super().proxy_score(proxy, arch, legacy_name)
            self.proxy_hits += found is not None
            return found

        def counts(self) -> tuple[int, int]:
            (trainings,), (scores,) = (self._db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()
                                       for t in ("trainings", "proxy_scores"))
            return int(trainings), int(scores)

    return CountingJournal(path)


# --- the end-to-end objective and proxies ------------------------------------------------------------


class RealTraining:
    """The search's objective and proxies, trained and scored for real by ``trainer``; counts what it computed."""

    def __init__(self, trainer: Any, space: Any, store: Any, budget: float) -> None:
        from gradsign.search import CallableObjective

        self.trainer, self.space, self.store = trainer, space, store
        self.runs: dict[str, Any] = {}  # cell name -> its seed-1 TrainingRun (for the reported test accuracy)
        for run in store.runs("nb201", trainer.recipe.key()):
            if run.seed == TRAINING_SEED:
                self.runs[run.arch] = run
        self.trained = 0  # trainings computed (charged) in this invocation
        self.trained_for_test = 0  # trainings only to report a test accuracy (journal replayed, store lacked it)
        self.proxy_computed = 0
        self.objective = CallableObjective(
            space, self._train, test=self._test, dataset="cifar10", default_budget=budget, clock=trainer.clock,
            notes=(f"trained for real: {trainer.description}; observed: final validation accuracy; reported: "
                   "the picked cell's test accuracy from the same training",))
        self.objective.training_epochs = getattr(trainer.recipe, "epochs", None)  # as the table's objective says

    def _run(self, arch: Any) -> Any:
        run = self.trainer.train(self.space.to_string(arch))
        self.store.put("nb201", run, self.trainer.recipe.to_dict(),
                       {"python": platform.python_version(), "machine": platform.machine(), "threads": 1})
        self.runs[run.arch] = run
        return run

    def _train(self, arch: Any) -> float:
        run = self._run(arch)
        self.trained += 1  # counted once finished: a training cut short by a kill is not a training done
        return float(run.val_final)

    def _test(self, arch: Any) -> float:
        name = self.space.to_string(arch)
        if name not in self.runs:
            self.trained_for_test += 1
            self._run(arch)
        return float(self.runs[name].test_accuracy)

    def provider(self, proxy: str, journal: Any) -> Any:
        """The measured provider of ``proxy`` (an ensemble: its members scored together, ranked together)."""
        from gradsign.proxies import get_proxy
        from gradsign.proxies.api import describe_proxies
        from gradsign.search import CallableProxyProvider

        spec = get_proxy(proxy)
        higher = {r["name"]: r["direction"] == "higher" for r in describe_proxies()}
        if getattr(spec, "is_ensemble", False):
            return MeasuredEnsembleProvider(self, spec.name, tuple(spec.members), spec.aggregation,
                                            [higher[m] for m in spec.members], journal)

        def score(arch: Any) -> float:
            self.proxy_computed += 1
            value = self.trainer.score(self.space.to_string(arch), [spec.name])[0][spec.name]
            # a score the proxy cannot give ranks last (the journal stores no NaN)
            return value if np.isfinite(value) else (-np.inf if higher[spec.name] else np.inf)

        score.__name__ = spec.name
        return CallableProxyProvider(score, name=spec.name, higher_is_better=higher[spec.name],
                                     clock=self.trainer.clock, journal=journal, arch_name=self.objective.name_of)

    def warm_up(self, proxies: Sequence[str]) -> None:
        """Score one cell once, uncharged: the first call of a process pays imports, not the proxy."""
        if proxies:
            self.trainer.score(self.space.to_string(self.space.sample(1, 0)[0]), list(proxies))


class MeasuredEnsembleProvider:
    """An ensemble's members scored on the recipe's network in one call, wall-clock seconds measured and journaled.

    Each member's score is journaled as ``ENSEMBLE[member]`` with its share of the call's
    seconds (its own time plus an equal share of building the network), so the shares add up
    to the measured seconds a resumed search charges again. The study ranks the K candidates
    together (:meth:`aggregate`), as the tabular search does with the as-trained table.
    """

    def __init__(self, real: RealTraining, name: str, members: tuple[str, ...], aggregation: str,
                 higher: list[bool], journal: Any) -> None:
        self.real, self.name, self.members, self.aggregation = real, name, members, aggregation
        self.sign = np.where(higher, 1.0, -1.0)
        self.journal = journal
        self.higher_is_better = True
        self._cache: dict[Any, tuple[np.ndarray, float]] = {}

    def _get(self, arch: Any) -> tuple[np.ndarray, float]:
        if arch in self._cache:
            return self._cache[arch]
        name = self.real.objective.name_of(arch)
        keys = [f"{self.name}[{m}]" for m in self.members]
        # the journal's own look-up (uncounted): a cell found is one proxy score taken from the journal
        from gradsign.search import Journal

        recorded = [Journal.proxy_score(self.journal, k, name) for k in keys]
        if all(r is not None for r in recorded):
            self.journal.proxy_hits += 1
            values = np.array([r[0] for r in recorded])
            seconds = float(sum(r[1] for r in recorded))
        else:
            clock = self.real.trainer.clock
            start = clock()
            scores, own = self.real.trainer.score(name, self.members)
            seconds = clock() - start
            self.real.proxy_computed += 1
            overhead = max(seconds - sum(own[m] for m in self.members), 0.0) / len(self.members)
            values = np.array([scores[m] for m in self.members], dtype=np.float64) * self.sign
            values = np.where(np.isfinite(values), values, -np.inf)  # undefined: ranked last for that member
            shares = [own[m] + overhead for m in self.members]
            seconds = float(sum(shares))
            for k, v, s in zip(keys, values.tolist(), shares):
                self.journal.record_proxy_score(k, name, v, s)
        self._cache[arch] = (values, seconds)
        return self._cache[arch]

    def member_scores(self, arch: Any) -> np.ndarray:
        return self._get(arch)[0]

    def seconds(self, arch: Any) -> float:
        return self._get(arch)[1]

    def score(self, arch: Any) -> float:
        raise TypeError(f"ensemble {self.name!r} ranks the cells compared together; it has no score of one cell")

    def aggregate(self, rows: np.ndarray) -> np.ndarray:
        from gradsign.proxies.ensemble import rank_aggregate

        return rank_aggregate(np.asarray(rows, dtype=np.float64), [True] * len(self.members), self.aggregation)[0]


# --- the frozen sample and the simulated side ----------------------------------------------------------


def freeze_sample(source: Path | None, workdir: Path) -> Path:
    """The benchmark's table and proxy scores, copied into ``workdir/table`` once (later invocations reuse them)."""
    from gradsign.benchmarks.suite.nb201_small import SCORES_FILE, TABLE_FILE, benchmark_dir

    frozen = workdir / "table"
    if (frozen / TABLE_FILE).exists():
        return frozen
    src = benchmark_dir(source)
    missing = [f for f in (TABLE_FILE, SCORES_FILE) if not (src / f).exists()]
    if missing:
        raise SystemExit(f"{src}: no {', '.join(missing)} (the benchmark's table; see docs/real_benchmark.md)")
    frozen.mkdir(parents=True, exist_ok=True)
    # the table last, each file complete before it appears: a second process started at the same time sees
    # either no table (and copies too; same bytes) or a whole one with its scores beside it
    for f in (SCORES_FILE, TABLE_FILE):
        partial = frozen / f"{f}.{os.getpid()}.partial"
        shutil.copyfile(src / f, partial)
        os.replace(partial, frozen / f)
    return frozen


def proxy_members(setting: Setting) -> tuple[str, ...]:
    """The proxies a setting's screen computes: the proxy itself, or the members of its ensemble."""
    if setting.proxy is None:
        return ()
    from gradsign.proxies import get_proxy

    spec = get_proxy(setting.proxy)
    return tuple(spec.members) if getattr(spec, "is_ensemble", False) else (spec.name,)


def journal_name(setting: Setting, members: tuple[str, ...]) -> str:
    """The setting's journal file. A named ensemble's members are part of it: when ``recommended`` is re-derived
    with other members, its searches start a new journal instead of failing to replay (or mixing) the old one."""
    named = setting.proxy is not None and "+" not in setting.proxy and len(members) > 1
    return f"{setting.name}={'+'.join(members)}.sqlite" if named else f"{setting.name}.sqlite"


def sample_fingerprint(archs: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(archs).encode()).hexdigest()[:12]


# --- one setting ----------------------------------------------------------------------------------------


def run_setting(setting: Setting, args: argparse.Namespace, frozen: Path, tabular: Any, table: Any,
                trainer: Any, store: Any, log: Callable[[str], None], sim_provider: Any = None) -> dict[str, Any]:
    """The setting's runs 0..runs-1 for real (journaled) and simulated; their comparison as a JSON-able dict.

    ``sim_provider``: the setting's provider on the table (``tabular.proxy_provider``), None without a proxy.
    """
    from gradsign.search import run_search, run_searches
    from gradsign.spaces import get_space

    space = tabular.space if args.space == "sample" else get_space("nb201")
    real = RealTraining(trainer, space, store, args.budget)
    members = proxy_members(setting)
    journal_path = args.workdir / "journals" / args.space / journal_name(setting, members)
    journal = counting_journal(journal_path)
    before = journal.counts()
    provider = None
    if setting.proxy is not None:
        provider = real.provider(setting.proxy, journal)
        real.warm_up(members)
    k = args.candidates if provider is not None else None
    marks = {"trained": 0, "replayed": 0, "proxy": 0, "proxy_hits": 0}

    def progress(done: int, total: int) -> None:
        now = {"trained": real.trained, "replayed": journal.replayed, "proxy": real.proxy_computed,
               "proxy_hits": journal.proxy_hits}
        delta = {key: now[key] - marks[key] for key in now}
        marks.update(now)
        extra = (f"; proxy scores: {delta['proxy']} computed, {delta['proxy_hits']} taken from the journal"
                 if provider is not None else "")
        log(f"[{setting.name}] run {done - 1} ({done}/{total}): {delta['trained']} trainings done, "
            f"{delta['replayed']} taken from the journal{extra}")

    log(f"[{setting.name}] journal {journal_path}: {before[0]} trainings, {before[1]} proxy scores recorded")
    started = time.perf_counter()
    load_before = os.getloadavg()  # measured seconds depend on what else the cores run
    try:
        real_res = run_searches(setting.algo, real.objective, provider, runs=args.runs, seed=args.seed, candidates=k,
                                budget=args.budget, journal=journal, progress=progress)
    finally:
        after = journal.counts()
        proxies = (f"; proxy scores: {real.proxy_computed} computed, {journal.proxy_hits} taken from the journal "
                   f"(journal rows: {before[1]} before, {after[1]} now)" if provider is not None else "")
        log(f"[{setting.name}] this invocation: {real.trained} trainings done, {journal.replayed} taken from the "
            f"journal ({before[0]} recorded before, {after[0]} now; recomputed: "
            f"{real.trained - (after[0] - before[0])}){proxies}")
    wall = time.perf_counter() - started
    sim_res = run_searches(setting.algo, tabular, sim_provider, runs=args.runs, seed=args.seed, candidates=k,
                           budget=args.budget)
    sequences = []  # per run: the cells trained, in order, real and simulated
    for r, real_run in enumerate(real_res.runs):
        steps = journal.run(real_res.label, args.seed, r).steps
        real_seq = [steps[i][0] for i in sorted(steps)][:real_run.evaluations]
        events = run_search(setting.algo, tabular, sim_provider, seed=args.seed, run=r, candidates=k,
                            budget=args.budget, record_events=True).events
        sequences.append((real_seq, [tabular.arch_name(e[1]) for e in events if e[0] == "train"]))
    journal.close()
    return compare(setting, args, real, real_res, sim_res, sequences, tabular, table, frozen, {
        "trainings_done": real.trained, "trainings_from_journal": journal.replayed,
        "trainings_recomputed": real.trained - (after[0] - before[0]),
        "trainings_for_test_only": real.trained_for_test, "proxy_scores_computed": real.proxy_computed,
        "proxy_scores_from_journal": journal.proxy_hits, "journal_trainings_before": before[0],
        "journal_trainings_after": after[0], "wall_seconds": wall,
        "load_average_1_5_15_min": {"start": list(load_before), "end": list(os.getloadavg())}})


def compare(setting: Setting, args: argparse.Namespace, real: RealTraining, real_res: Any, sim_res: Any,
            sequences: list[tuple[list[str], list[str]]], tabular: Any, table: Any, frozen: Path,
            invocation: dict[str, Any]) -> dict[str, Any]:
    """Each run real vs simulated, and whether the cells trained reproduce the table (bit for bit).

    ``same_decisions``: the two loops trained the same cells in the same order as far as both
    went (the budget, charged in seconds measured now vs the table's, may stop them at different
    trainings); ``same_pick_at_common_trainings``: after ``common_trainings`` (the fewer of the
    two runs' trainings) both incumbents are the same cell.
    """
    row = {a: i for i, a in enumerate(table.archs)}
    seed_col = list(table.seeds).index(TRAINING_SEED)

    def side(r: Any, in_table: bool) -> dict[str, Any]:
        i = row.get(r.arch)
        return {"arch": r.arch, "test_seed1": r.reported.get("test_seed1", r.test) if in_table else r.test,
                "table_mean_test": None if i is None else float(table.mean_test()[i]),
                "observed_val": r.signal, "trainings": r.evaluations, "proxy_scored": r.proxy_scored,
                "train_seconds": r.train_seconds, "proxy_seconds": r.proxy_seconds,
                "charged_seconds": r.charged_seconds}

    runs = []
    for rr, sr, (real_seq, sim_seq) in zip(real_res.runs, sim_res.runs, sequences):
        n = min(len(real_seq), len(sim_seq))
        common = min(rr.evaluations, sr.evaluations)
        # incumbents are recorded as names by the real objective, as table rows by the tabular one
        same_at_common = common > 0 and (rr.trajectory["incumbent"][common - 1]
                                         == tabular.arch_name(sr.trajectory["incumbent"][common - 1]))
        runs.append({"run": rr.run, "real": side(rr, False), "simulated": side(sr, True),
                     "same_arch": rr.arch == sr.arch, "same_decisions": n > 0 and real_seq[:n] == sim_seq[:n],
                     "common_trainings": common, "same_pick_at_common_trainings": bool(same_at_common),
                     "trained": {"real": real_seq, "simulated": sim_seq}})
    checked = identical = 0
    for name, run in real.runs.items():
        i = row.get(name)
        if i is None:
            continue
        checked += 1
        identical += bool(run.val_final == table.val[i, seed_col] and run.test_accuracy == table.test[i, seed_col])
    return {
        "setting": setting.name, "algo": setting.algo, "proxy": setting.proxy,
        "proxy_members": list(proxy_members(setting)), "space": args.space,
        "budget_seconds": args.budget, "seed": args.seed, "candidates": args.candidates if setting.proxy else 1,
        "training_seed": TRAINING_SEED, "recipe_key": real.trainer.recipe.key(),
        "sample": {"archs": len(table.archs), "sha256_12": sample_fingerprint(table.archs),
                   "frozen_in": str(frozen.relative_to(ROOT) if frozen.is_relative_to(ROOT) else frozen)},
        "machine": {"python": platform.python_version(), "machine": platform.machine(), "node": platform.node()},
        "runs": runs,
        "reproduction": {"cells_checked": checked, "identical_to_table": identical,
                         "what": "cells of the sample trained for real in this work folder (by any setting): final "
                                 "validation and test accuracy equal to the table's seed-1 row (==, float64)"},
        "last_invocation": invocation,
        "real_results": real_res.to_dict(trajectories=True),
        "simulated_results": sim_res.to_dict(trajectories=True),
    }


def merge_previous(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    """Keep runs an earlier invocation wrote beyond this one's ``--runs`` (same sample, budget and seed)."""
    if not path.exists():
        return doc
    old = json.loads(path.read_text())
    same = all(old.get(k) == doc.get(k) for k in ("sample", "budget_seconds", "seed", "candidates", "recipe_key",
                                                  "proxy_members"))
    if same and len(old.get("runs", [])) > len(doc["runs"]):
        doc["runs"] = doc["runs"] + old["runs"][len(doc["runs"]):]
        doc["note"] = (f"runs {len(doc['real_results']['runs'])}..{len(doc['runs']) - 1} come from an earlier "
                       "invocation with more --runs")
    return doc


def write_table(output: Path) -> Path:
    """``table.md``: every ``*.json`` of ``output``, each end-to-end run next to the simulated run of the same seed."""
    order = {name: i for i, name in enumerate(ALL_SETTINGS)}
    docs = sorted((_read_run_file(p) for p in output.glob("*.json")),
                  key=lambda d: (d["space"], order.get(d["setting"], len(order)), d["setting"]))
    lines = ["# End-to-end searches with real training vs the same searches on the table", "",
             "Written by `scripts/search_real_training.py` from the JSON files of this folder. Each row is run *r* of",
             "one setting: trained for real (every candidate trained by the recipe, seed 1, its measured seconds",
             "charged; proxies scored on the recipe's network, measured and charged) and simulated on the",
             "`nb201_small` table (the same algorithm seed and budget; the table's seconds charged). Test accuracy:",
             "CIFAR-10 test (10k images) of the picked cell's seed-1 training (real: measured now; simulated: the",
             "table's seed-1 row; the table's mean over seeds 1 and 2 in brackets). Cells: the six edges' ops",
             "(`0` none, `s` skip, `1` conv 1x1, `3` conv 3x3, `p` avg pool), one group per node, separated by `/`.",
             "*Same decisions*: both loops trained the same cells in the same order as far as both went (the",
             "budget, charged in seconds measured now vs the table's, can stop them after different numbers of",
             "trainings); *same pick at n*: after n trainings, the fewer of the two runs', both incumbents are",
             "the same cell.", ""]
    if not docs:
        return _write_lines(output / "table.md", lines + ["No runs yet."])
    def group_key(d: dict[str, Any]) -> tuple:
        return d["space"], d["sample"]["sha256_12"], d["budget_seconds"], d["seed"]

    for key in sorted({group_key(d) for d in docs}):  # one section per sample, budget and seed
        group = [d for d in docs if group_key(d) == key]
        space, first = key[0], group[0]
        lines += [f"## space: {space} ({'the trained sample' if space == 'sample' else 'all 15,625 NB201 cells'}),"
                  f" budget {first['budget_seconds']:g} s, algorithm seed {first['seed']}", "",
                  f"Trained sample: {first['sample']['archs']} cells (fingerprint {first['sample']['sha256_12']}); "
                  f"recipe {first['recipe_key']}; machine: {first['machine']['machine']}, 2 cores shared with "
                  "other jobs.", "",
                  "| setting | run | real: cell | test | trainings | seconds | simulated: cell | test (mean) "
                  "| trainings | seconds | same cell | same decisions | same pick at n |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        same = total = decided = at_n = real_trainings = 0
        real_seconds = 0.0
        for d in group:
            for r in d["runs"]:
                re, si = r["real"], r["simulated"]
                total += 1
                real_trainings += int(re["trainings"])
                real_seconds += float(re["train_seconds"])
                same += bool(r["same_arch"])
                decided += bool(r["same_decisions"])
                at_n += bool(r["same_pick_at_common_trainings"])
                mean = "" if si["table_mean_test"] is None else f" ({si['table_mean_test']:.2f})"
                lines.append(f"| {d['setting']} | {r['run']} | `{short_name(re['arch'])}` | {re['test_seed1']:.2f} "
                             f"| {re['trainings']} | {re['charged_seconds']:.0f} | `{short_name(si['arch'])}` "
                             f"| {si['test_seed1']:.2f}{mean} | {si['trainings']} | {si['charged_seconds']:.0f} "
                             f"| {'yes' if r['same_arch'] else 'no'} | {'yes' if r['same_decisions'] else 'no'} "
                             f"| {'yes' if r['same_pick_at_common_trainings'] else 'no'} (n = "
                             f"{r['common_trainings']}) |")
        rep = max((d["reproduction"] for d in group), key=lambda r: r["cells_checked"])  # the latest work folder state
        lines += ["", f"Same cell picked in {same} of {total} runs; same decisions in {decided}; the same pick "
                      f"after the trainings both runs made in {at_n}. Cells of "
                      f"the sample trained for real that reproduce their table row (seed 1) bit for bit: "
                      f"{rep['identical_to_table']} of {rep['cells_checked']}. Real runs, summed: {real_trainings} "
                      f"trainings charged, {real_seconds / 3600:.2f} hours of measured training time charged (a cell "
                      "that two runs of one setting both train is trained once, from the setting's journal, and "
                      "counted in both).", ""]
    return _write_lines(output / "table.md", lines)


def _read_run_file(path: Path) -> dict[str, Any]:
    """One setting's JSON, or a ValueError naming the file (a stray or truncated file in the folder)."""
    try:
        doc = json.loads(path.read_text())
        for key in ("space", "setting", "sample", "budget_seconds", "seed", "runs", "reproduction"):
            doc[key]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a run file of this script ({type(exc).__name__}: {exc})") from None
    return doc


def _write_lines(path: Path, lines: list[str]) -> Path:
    return _write_atomically(path, "\n".join(lines).rstrip() + "\n")


def _write_atomically(path: Path, text: str) -> Path:
    """Write ``text`` whole or not at all: another process reading the folder, or a kill, never sees half a file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(text)
    os.replace(partial, path)
    return path


# --- main -------------------------------------------------------------------------------------------------


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM as Ctrl-C: report what the journal holds, then exit


def main(argv: list[str] | None = None, trainer: Any = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--settings", default="all", help=f"comma list of ALGO or ALGO+PROXY, or all ({len(ALL_SETTINGS)})")
    ap.add_argument("--runs", type=int, default=3, help="runs 0..N-1 of every setting (those done replay)")
    ap.add_argument("--seed", type=int, default=0, help="algorithm seed: run r draws from (seed, r), as simulated")
    ap.add_argument("--budget", type=float, default=None, help="seconds per run (default: nb201_small's, 400)")
    ap.add_argument("--candidates", type=int, default=10, help="K candidates per proposal with a proxy")
    ap.add_argument("--space", choices=("sample", "full"), default="sample",
                    help="sample: the trained cells (the tabular objective's space); full: every NB201 cell")
    ap.add_argument("--table-dir", type=Path, default=None, help="where the benchmark's table is (default: "
                    "results/real_benchmark, or $GRADSIGN_REAL_BENCHMARK)")
    ap.add_argument("--workdir", type=Path, default=ROOT / "runs" / "end_to_end",
                    help="journals, trained runs and the frozen sample")
    ap.add_argument("--output", type=Path, default=ROOT / "results" / "real_benchmark" / "end_to_end")
    ap.add_argument("--table-only", action="store_true",
                    help="rewrite OUTPUT/table.md from the JSON files there and exit (no training)")
    args = ap.parse_args(argv)
    if args.table_only:
        if not args.output.is_dir():
            ap.error(f"--table-only: no folder {args.output}")
        try:
            print(f"wrote {write_table(args.output)}")
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.runs < 1 or args.candidates < 1:
        ap.error("--runs and --candidates must be at least 1")
    settings = parse_settings(args.settings)

    from gradsign.benchmarks.registry import get_benchmark
    from gradsign.benchmarks.suite.nb201_small import DEFAULT_BUDGET
    from gradsign.outputs import check_output_dir
    from gradsign.training import TrainingStore

    args.budget = float(DEFAULT_BUDGET if args.budget is None else args.budget)
    if not args.budget > 0:
        ap.error("--budget must be positive seconds")
    check_output_dir(args.output)

    def log(text: str) -> None:
        print(text, flush=True)

    frozen = freeze_sample(args.table_dir, args.workdir)
    bench = get_benchmark("nb201_small")
    table = bench.table(frozen)
    tabular = bench.objective("cifar10", frozen)
    log(f"sample: {len(table.archs)} trained cells frozen in {frozen} (fingerprint {sample_fingerprint(table.archs)});"
        f" space {args.space}; budget {args.budget:g} s; seed {args.seed}; runs 0..{args.runs - 1}")
    # Every setting's simulated side is built now: a missing score is found before hours of training.
    sim_providers = {s.name: tabular.proxy_provider(s.proxy) for s in settings if s.proxy is not None}
    trainer = trainer if trainer is not None else RecipeTrainer()
    log(trainer.description)
    store = TrainingStore(args.workdir / "trainings.sqlite")
    previous = signal.signal(signal.SIGTERM, _interrupt)
    # a run started in the background by a non-interactive shell inherits SIGINT ignored: Ctrl-C / kill -INT work anyway
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    failed: list[str] = []
    try:
        for setting in settings:
            try:
                doc = run_setting(setting, args, frozen, tabular, table, trainer, store, log,
                                  sim_providers.get(setting.name))
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # one setting's failure must not cost the other settings' hours
                failed.append(setting.name)
                log(f"[{setting.name}] FAILED: {type(exc).__name__}: {exc} (its journal keeps what it trained; "
                    "the other settings go on)")
                continue
            path = args.output / f"{args.space}_{setting.name}.json"
            _write_atomically(path, json.dumps(merge_previous(doc, path), indent=1, allow_nan=False,
                                               default=float) + "\n")
            write_table(args.output)
            for r in doc["runs"]:
                re, si = r["real"], r["simulated"]
                log(f"[{setting.name}] run {r['run']}: real {short_name(re['arch'])} test {re['test_seed1']:.2f} "
                    f"({re['trainings']} trainings, {re['charged_seconds']:.0f} s) | simulated "
                    f"{short_name(si['arch'])} test {si['test_seed1']:.2f} ({si['trainings']} trainings, "
                    f"{si['charged_seconds']:.0f} s) | same cell: {'yes' if r['same_arch'] else 'no'}, same "
                    f"decisions: {'yes' if r['same_decisions'] else 'no'}")
            rep = doc["reproduction"]
            log(f"[{setting.name}] reproduction: {rep['identical_to_table']} of {rep['cells_checked']} trained cells "
                "of the sample equal their table row bit for bit; wrote " + str(path))
    except KeyboardInterrupt:
        print("\ninterrupted: every finished training and proxy score is in the journals under "
              f"{args.workdir / 'journals'}; rerun the same command to resume", file=sys.stderr, flush=True)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        store.close()
    log(f"wrote {write_table(args.output)}")
    if failed:
        log(f"{len(failed)} setting(s) failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
