"""BOHB (Falkner et al., ICML 2018): Hyperband brackets with a TPE-style KDE model.

A small, dependency-free implementation of hpbandster's BOHB for spaces of
categorical choices (NB201: 6 edges x 5 ops), built to reproduce NB201's runs
and to run hundreds of seeded searches in seconds.

Why not a library (decision, for docs/search.md):

* hpbandster (the reference implementation, used by NB201 and GradSign) has
  had no release since 2019, needs a Pyro4 nameserver, worker threads and
  ``statsmodels``, draws from the global NumPy RNG (runs cannot be seeded
  independently) and costs seconds of RPC per run;
* SMAC3's "BOHB" facade is Hyperband with a random-forest model, not the KDE
  of the paper, and pulls in pyrfr/dask;
* Optuna's TPE + Hyperband pruner is close in spirit, but pruning is driven
  by intermediate reports and its Parzen estimator differs, so it would not
  reproduce the NB201 numbers either.

What is reproduced (hpbandster ``optimizers/bohb.py`` and
``config_generators/bohb.py``, with NB201's arguments ``eta=3, min_budget=12,
max_budget=200, num_samples=4, random_fraction=0.0, bandwidth_factor=3,
min_bandwidth=0.3``, ``top_n_percent=15``):

* Hyperband: ``s_max + 1 = floor(-log_eta(min/max)) + 1`` budget levels
  ``max * eta**-k``; iteration ``i`` runs successive halving with
  ``s = s_max - (i mod (s_max + 1))``, ``n0 = floor((s_max + 1) / (s + 1)) * eta**s``
  configs and ``n_j = max(int(n0 * eta**-j), 1)``; the best ``n_{j+1}`` (lowest
  loss, stable ranking) advance. For 12..200, eta 3: budgets 22.2, 66.7, 200;
  brackets (9, 3, 1), (3, 1), (3).
* Model: results are stored per budget (ignored once a model exists for a
  larger budget); a budget gets a model once it has ``min_points_in_model``
  (default D + 1) results *and* enough for both halves; the best
  ``max(min_points, 15% of n)`` form the "good" KDE and the next
  ``max(min_points, 85% of n)`` the "bad" one. Bandwidths: statsmodels'
  normal-reference rule ``1.06 * std * n**(-1/(4 + D))`` on the choice codes,
  clipped below at ``min_bandwidth``.
* Proposals: from the model of the largest budget that has one, ``num_samples``
  candidates, each starting from a random "good" point and resampling each
  dimension uniformly with probability ``bw``; the one minimising
  ``g(x) / l(x)`` (bad density over good density) is proposed. Without a
  model (or with probability ``random_fraction``) a uniform random config.

Deviations, all in the categorical kernel, which statsmodels'
Aitchison-Aitken implementation gets wrong for this use:

* the kernel ``1 - bw`` (same choice) / ``bw / (c - 1)`` (other choice) uses the
  true number of choices ``c``; statsmodels uses the number of distinct values
  *in the data*, which divides by zero when all good points agree on an edge
  (hpbandster then logs a warning and takes the sample);
* ``bw`` is clipped above at ``(c - 1) / c`` (the uniform kernel); statsmodels
  lets the normal-reference rule exceed 1 on choice codes, making kernel
  weights negative. ``bandwidth_factor`` only widens continuous dimensions in
  hpbandster, so it has no effect here and is not a parameter.

Fidelity ("budget") mapping. NB201's BOHB passes epochs as the budget, but its
worker ignores it: every evaluation, at any budget, returns the 12-epoch
result and charges its time (NB201 API v1.0 ``get_more_info(..., True)`` =
12-epoch results; the GradSign fork calls the same ``train_and_eval``), so a
config promoted to the next rung is trained again and paid again. That is
``fidelity="nb201"`` (default), the setting of both papers' tables. With
only 12- and 200-epoch results available, ``fidelity="12/200"`` gives BOHB a
real second fidelity: budgets below ``max_budget`` observe the 12-epoch
result, the top rung observes the 200-epoch validation accuracy and pays 200
epochs; a config already trained at a fidelity is not retrained (the result
is reused at no cost) since both schedules are deterministic and a
converged 12-epoch run cannot be continued into the 200-epoch schedule.
The incumbent is the best observation at the highest fidelity seen so far.

Proxy assistance: GradSign's "G-BOHB" (its fork of hpbandster's config
generator) computes the model's proposal and then discards it, returning the
best-scoring of 10 *uniformly random* cells: ``proposal="random"`` (default,
reproduces that). ``proposal="model"`` keeps BOHB's model: K proposals, each
made as above, the best-scoring one is used.
Warm-up: the first ``warmup_top`` configs BOHB asks for are the top of the
proxy-ranked pool instead of random (or model) proposals.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradsign.errors import ConfigError
from gradsign.search import numerics as libm
from gradsign.search.registry import SearchAlgorithm, register_search
from gradsign.search.study import Study


def hyperband_budgets(min_budget: float, max_budget: float, eta: float) -> np.ndarray:
    """Hyperband's budget levels, smallest first (hpbandster's formula)."""
    # math, not numpy: the same floats on every CPU (numpy's log / power kernels depend on its SIMD level)
    max_sh_iter = -int(math.log(min_budget / max_budget) / math.log(eta)) + 1
    return np.array([max_budget * eta ** -float(x) for x in np.linspace(max_sh_iter - 1, 0, max_sh_iter)])


def hyperband_bracket(iteration: int, num_levels: int, eta: float) -> tuple[list[int], list[int]]:
    """(configs per stage, budget level per stage) of Hyperband iteration ``iteration``."""
    s = num_levels - 1 - (iteration % num_levels)
    n0 = int(math.floor(num_levels / (s + 1)) * eta**s)
    ns = [max(int(n0 * eta ** (-j)), 1) for j in range(s + 1)]
    levels = list(range(num_levels - s - 1, num_levels))
    return ns, levels


class _CategoricalKDE:
    """Product Aitchison-Aitken kernel density over choice vectors (see module notes)."""

    def __init__(self, data: np.ndarray, num_choices: np.ndarray, min_bandwidth: float):
        self.data = data
        n, d = data.shape
        c = num_choices.astype(np.float64)
        bw = 1.06 * data.std(axis=0) * n ** (-1.0 / (4 + d))  # statsmodels normal_reference
        self.bw = np.clip(bw, min_bandwidth, (c - 1) / c)
        # log k = log(bw/(c-1)) + [same choice] * (log(1-bw) - log(bw/(c-1))), summed over
        # dimensions: a one-hot matrix product evaluates all points at once.
        # the C library's log / exp (gradsign.search.numerics), not numpy's, whose last bits depend on the
        # CPU: densities of two proposals often tie mathematically, and the last bits then pick one.
        log_other = libm.log(self.bw / (c - 1))
        self._const = float(log_other.sum())
        self._offsets = np.concatenate([[0], np.cumsum(num_choices)[:-1]]).astype(np.int64)
        weights = libm.log1p(-self.bw) - log_other
        onehot = np.zeros((n, int(num_choices.sum())))
        onehot[np.arange(n)[:, None], data + self._offsets] = 1.0
        self._weighted = onehot * np.repeat(weights, num_choices)[None, :]

    def pdf_many(self, x: np.ndarray) -> np.ndarray:
        """Densities of the rows of ``x`` (m, D)."""
        log_k = self._const + self._weighted[:, x + self._offsets].sum(axis=2)  # (n, m)
        return libm.exp(log_k).mean(axis=0)

    def pdf(self, x: np.ndarray) -> float:
        return float(self.pdf_many(np.asarray(x)[None, :])[0])


@register_search("bohb", aliases=("hyperband_bo",))
class BOHB(SearchAlgorithm):
    """BOHB with NB201's settings; see the module docstring."""

    def __init__(
        self,
        min_budget: float = 12.0,
        max_budget: float = 200.0,
        eta: float = 3.0,
        num_samples: int = 4,
        random_fraction: float = 0.0,
        top_n_percent: int = 15,
        min_bandwidth: float = 0.3,
        min_points_in_model: int | None = None,
        fidelity: str = "nb201",
        proposal: str = "random",
        warmup_top: int = 10,
        max_iterations: int | None = None,
        incumbent: str = "max_budget",
    ) -> None:
        if not (0 < min_budget < max_budget) or eta <= 1:
            raise ConfigError(f"BOHB needs 0 < min_budget < max_budget and eta > 1, got {min_budget}, {max_budget}, {eta}")
        if fidelity not in ("nb201", "12/200"):
            raise ConfigError(f"BOHB fidelity must be 'nb201' or '12/200', got {fidelity!r}")
        if incumbent not in ("max_budget", "best_seen"):
            raise ConfigError(f"BOHB incumbent must be 'max_budget' or 'best_seen', got {incumbent!r}")
        if proposal not in ("random", "model"):
            raise ConfigError(f"BOHB proposal must be 'random' or 'model', got {proposal!r}")
        if not 0 <= random_fraction <= 1 or not 0 < top_n_percent < 100 or num_samples < 1:
            raise ConfigError("BOHB needs 0 <= random_fraction <= 1, 0 < top_n_percent < 100, num_samples >= 1")
        self.min_budget, self.max_budget, self.eta = float(min_budget), float(max_budget), float(eta)
        self.num_samples = int(num_samples)
        self.random_fraction = float(random_fraction)
        self.top_n_percent = int(top_n_percent)
        self.min_bandwidth = float(min_bandwidth)
        self.min_points_in_model = min_points_in_model
        self.fidelity = fidelity
        self.proposal = proposal
        self.warmup_top = int(warmup_top)
        self.max_iterations = max_iterations
        self.incumbent = incumbent
        self.budgets = hyperband_budgets(self.min_budget, self.max_budget, self.eta)

    def params(self) -> dict[str, Any]:
        return {
            "min_budget": self.min_budget, "max_budget": self.max_budget, "eta": self.eta,
            "num_samples": self.num_samples, "random_fraction": self.random_fraction,
            "top_n_percent": self.top_n_percent, "min_bandwidth": self.min_bandwidth,
            "min_points_in_model": self.min_points_in_model, "fidelity": self.fidelity,
            "proposal": self.proposal, "warmup_top": self.warmup_top, "max_iterations": self.max_iterations,
            "incumbent": self.incumbent,
        }

    def notes(self, study: Study) -> list[str]:
        if self.fidelity == "nb201":
            epochs = getattr(study.objective, "training_epochs", None)
            what = (f"the {epochs}-epoch result and pays {epochs} epochs again" if epochs else
                    "the objective's one result and pays its full cost again")
            return [f"BOHB fidelity 'nb201': every Hyperband rung observes {what} for promoted configs, "
                    "as NB201's and GradSign's BOHB runs did"]
        return ["BOHB fidelity '12/200': rungs below the top observe 12-epoch results, the top rung the "
                "200-epoch validation accuracy (paying 200 epochs); results are reused, not retrained"]

    # ------------------------------------------------------------------ one run
    def run(self, study: Study) -> None:
        if self.fidelity == "12/200" and not study.objective.has_high_fidelity:
            raise ConfigError("BOHB fidelity '12/200' needs an objective with 200-epoch validation data")
        _BOHBRun(self, study).loop()


class _BOHBRun:
    """The state of one BOHB run: results per rung, the KDE models, reused results."""

    def __init__(self, settings: BOHB, study: Study) -> None:
        self.settings, self.study = settings, study
        self.space, self.rng = study.space, study.rng
        self.nch = np.asarray(self.space.choices())
        d = len(self.nch)
        self.d = d
        self.min_points = (d + 1 if settings.min_points_in_model is None
                           else max(int(settings.min_points_in_model), d + 1))
        self.levels = len(settings.budgets)
        # budget level -> (archs, losses, their choices)
        self.results: dict[int, tuple[list[Any], list[float], list[tuple[int, ...]]]] = {}
        self.models: dict[int, tuple[np.ndarray, np.ndarray, list[_CategoricalKDE]]] = {}
        self.seen: dict[tuple[Any, bool], float] = {}  # (arch, high fidelity) -> observed accuracy ("12/200" only)
        self.warm = list(study.warmup_ranking()[: settings.warmup_top])
        self.by_rung = settings.incumbent == "max_budget"

    def observe(self, arch: Any, level: int) -> float:
        rank = level if self.by_rung else None
        if self.settings.fidelity == "nb201":
            return self.study.evaluate(arch, rank=rank)
        high = level == self.levels - 1
        key = (arch, high)
        if key not in self.seen:
            self.seen[key] = self.study.evaluate(arch, high=high, rank=rank)
        return self.seen[key]

    def new_result(self, arch: Any, level: int, loss: float) -> None:
        # hpbandster: skip a budget once a larger one has a model
        models = self.models
        if models and max(models) > level:
            return
        archs, losses, encs = self.results.setdefault(level, ([], [], []))
        archs.append(arch)
        losses.append(loss)
        encs.append(self.space.to_choices(arch))
        n = len(archs)
        if n < self.min_points:
            return
        order = np.argsort(np.asarray(losses), kind="stable")
        top = self.settings.top_n_percent
        n_good = max(self.min_points, (top * n) // 100)
        n_bad = max(self.min_points, ((100 - top) * n) // 100)
        enc = np.asarray(encs, dtype=np.int64)[order]
        good, bad = enc[:n_good], enc[n_good : n_good + n_bad]
        if good.shape[0] <= self.d or bad.shape[0] <= self.d:
            return
        models[level] = (good, bad, [])  # KDEs are fitted when first needed

    def random_arch(self) -> Any:
        return self.space.sample(1, self.rng, replace=True)[0]

    def model_proposal(self) -> Any:
        rng, models, settings = self.rng, self.models, self.settings
        if not models or rng.random() < settings.random_fraction:
            return self.random_arch()
        good_data, bad_data, fitted = models[max(models)]
        if not fitted:
            fitted += [_CategoricalKDE(good_data, self.nch, settings.min_bandwidth),
                       _CategoricalKDE(bad_data, self.nch, settings.min_bandwidth)]
        good, bad = fitted
        self.study.event("model", max(models))
        m, d = settings.num_samples, self.d
        # each sample starts at a random good point and redraws each dimension
        # uniformly with probability bw (hpbandster's sampling, vectorised)
        vec = good.data[rng.integers(good.data.shape[0], size=m)].copy()
        redraw = rng.random((m, d)) >= 1.0 - good.bw[None, :]
        uniform = np.floor(rng.random((m, d)) * self.nch[None, :]).astype(np.int64)
        vec[redraw] = uniform[redraw]
        ratio = np.maximum(bad.pdf_many(vec), 1e-32) / np.maximum(good.pdf_many(vec), 1e-32)
        arch = self.space.from_choices(vec[int(np.argmin(ratio))])
        return arch if arch is not None else self.random_arch()

    def get_config(self) -> Any:
        if self.warm:
            return self.warm.pop(0)
        study, k = self.study, self.study.candidates
        if k == 1:
            return self.model_proposal()
        if self.settings.proposal == "random":
            return study.pick(self.space.sample(k, self.rng, replace=True))
        return study.pick([self.model_proposal() for _ in range(k)])

    def loop(self) -> None:
        settings, study, budgets = self.settings, self.study, self.settings.budgets
        iteration = 0
        while settings.max_iterations is None or iteration < settings.max_iterations:
            ns, lv = hyperband_bracket(iteration, self.levels, settings.eta)
            study.event("bracket", iteration, ns, [float(budgets[x]) for x in lv])
            configs: list[Any] = []
            for stage, (n_stage, level) in enumerate(zip(ns, lv)):
                study.event("stage", iteration, float(budgets[level]), n_stage)
                losses = []
                for j in range(n_stage):
                    # hpbandster with one worker samples each first-stage config only
                    # when the previous result is in, so the model sees every result.
                    if stage == 0:
                        configs.append(self.get_config())
                    arch = configs[j]
                    loss = 100.0 - self.observe(arch, level)
                    losses.append(loss)
                    self.new_result(arch, level, loss)
                if stage + 1 < len(ns):
                    # the n_{j+1} lowest losses advance, in their original order
                    ranks = np.argsort(np.argsort(np.asarray(losses), kind="stable"), kind="stable")
                    configs = [c for c, r in zip(configs, ranks) if r < ns[stage + 1]]
                    study.event("promoted", iteration, [study.objective.record(c) for c in configs])
            iteration += 1
        study.event("done", iteration)
