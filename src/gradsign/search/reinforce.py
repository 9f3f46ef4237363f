"""REINFORCE (Williams 1992) over a space's categorical choices (NB201: the op of each edge), NB201 settings.

NB201 (``exps/NAS-Bench-201-algos/reinforce.py``): the policy is a table of
logits, one row per edge and one column per op, initialised ``1e-3 * N(0, 1)``;
each step samples one op per edge from the row softmaxes, trains that cell,
and takes one Adam step on ``-log p(cell) * (reward - baseline)`` where the
reward is the validation accuracy (in %) and the baseline an exponential
moving average of the rewards with momentum 0.9 (bias-corrected, and updated
with the current reward *before* the advantage is computed, as there). The
answer is the best validation accuracy seen (their "second version"; the
first used the policy's argmax).

Learning rate: 0.01, NATS-Bench's setting (``exps/NATS-algos/run-all.sh``, same
author and code). The NB201 docs' command line says ``REINFORCE.sh cifar10 0.5``
(after a sweep over {0.01, 0.02, 0.1, 0.2, 0.5} in ``hps/GRID-RL.sh``), but
with 0.5 the policy collapses within a few dozen steps: in our simulation
(100 runs, CIFAR-10, 12,000 s) lr 0.5 gives 93.19 +- 0.75 % test accuracy,
far below the 93.85 +- 0.37 the NB201 paper reports, while lr 0.01 gives
93.83 +- 0.30. So the paper's number is consistent with 0.01, not 0.5.

The policy is a (6 x 5) table, so the gradient is written out in NumPy:
``d log p(a) / d logits[e] = onehot(a_e) - softmax(logits[e])``, and Adam
follows ``torch.optim.Adam``'s defaults (betas 0.9/0.999, eps 1e-8).

Proxy assistance. GradSign's "G-REINFORCE" (``autodl/reinforce.py``) samples a
cell from the policy, makes K mutations of it, and trains the one with the
best proxy score (``proposal="mutation"``, the default). ``proposal="policy"``
instead draws K cells from the policy. Which action the update credits is a
choice the GradSign code makes implicitly: it keeps the log-probability of
the *sampled* cell although the reward belongs to the *trained* mutation.
``credit="evaluated"`` (default) credits the trained cell, so the policy
moves towards what was actually rewarded; ``credit="sampled"`` reproduces
the GradSign code. Neither is an unbiased policy gradient once a proxy
filters the samples; both are heuristics, documented as such.

Warm-up: the first ``warmup_top`` trainings are the top of the proxy-ranked
pool, each used as an ordinary update (crediting the trained cell) so the
policy starts out pulled towards cells the proxy likes. This is our
adaptation; Abdelfattah et al. released warm-up code for RS and REA only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradsign.errors import ConfigError
from gradsign.search import numerics as libm
from gradsign.search.registry import SearchAlgorithm, register_search
from gradsign.search.study import Study


class _Adam:
    """``torch.optim.Adam`` (no weight decay, no amsgrad) for one NumPy array."""

    def __init__(self, shape: tuple[int, ...], lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, betas[0], betas[1], eps
        self.m = np.zeros(shape)
        self.v = np.zeros(shape)
        self.t = 0

    def step(self, param: np.ndarray, grad: np.ndarray) -> None:
        self.t += 1
        self.m *= self.b1
        self.m += (1 - self.b1) * grad
        self.v *= self.b2
        self.v += (1 - self.b2) * grad * grad
        bc1 = 1 - self.b1**self.t
        bc2 = 1 - self.b2**self.t
        denom = np.sqrt(self.v) / np.sqrt(bc2) + self.eps
        param -= (self.lr / bc1) * self.m / denom


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = libm.exp(z)  # the C library's exp: the same probabilities on every CPU (gradsign.search.numerics)
    return e / e.sum(axis=1, keepdims=True)


@register_search("reinforce", aliases=("rl", "reinforce_nas"))
class Reinforce(SearchAlgorithm):
    """REINFORCE with an EMA baseline and Adam; see the module docstring."""

    def __init__(
        self,
        learning_rate: float = 0.01,
        ema_momentum: float = 0.9,
        init_scale: float = 1e-3,
        proposal: str = "mutation",
        credit: str = "evaluated",
        warmup_top: int = 10,
    ) -> None:
        if not learning_rate > 0:
            raise ConfigError(f"REINFORCE learning_rate must be > 0, got {learning_rate}")
        if not 0 <= ema_momentum < 1:
            raise ConfigError(f"REINFORCE ema_momentum must be in [0, 1), got {ema_momentum}")
        if proposal not in ("mutation", "policy"):
            raise ConfigError(f"REINFORCE proposal must be 'mutation' or 'policy', got {proposal!r}")
        if credit not in ("evaluated", "sampled"):
            raise ConfigError(f"REINFORCE credit must be 'evaluated' or 'sampled', got {credit!r}")
        self.learning_rate = float(learning_rate)
        self.ema_momentum = float(ema_momentum)
        self.init_scale = float(init_scale)
        self.proposal = proposal
        self.credit = credit
        self.warmup_top = int(warmup_top)

    def params(self) -> dict[str, Any]:
        return {
            "learning_rate": self.learning_rate, "ema_momentum": self.ema_momentum, "init_scale": self.init_scale,
            "proposal": self.proposal, "credit": self.credit, "warmup_top": self.warmup_top,
        }

    def run(self, study: Study) -> None:
        space, rng, k = study.space, study.rng, study.candidates
        nch = np.asarray(space.choices())  # one softmax per decision variable
        d = len(nch)
        width = int(nch.max())
        valid = np.arange(width)[None, :] < nch[:, None]  # ragged spaces: mask missing choices
        logits = self.init_scale * rng.standard_normal((d, width))
        logits[~valid] = -np.inf
        adam = _Adam(logits.shape, self.learning_rate)
        rows = np.arange(d)
        num = den = 0.0  # EMA baseline, bias-corrected as numerator / denominator
        mom = self.ema_momentum

        def sample_actions(n: int) -> np.ndarray:
            probs = _softmax_rows(logits)
            cum = np.cumsum(probs, axis=1)
            u = rng.random((n, d, 1))
            acts = (cum[None, :, :] < u).sum(axis=2)
            return np.minimum(acts, nch - 1)

        def sample_arch() -> tuple[Any, np.ndarray]:
            for _ in range(1000):  # product spaces succeed at once
                acts = sample_actions(1)[0]
                arch = space.from_choices(acts)
                if arch is not None:
                    return arch, acts
            raise ConfigError("the REINFORCE policy keeps sampling choices that describe no arch of the space")

        warm = study.warmup_ranking()[: self.warmup_top]
        step = 0
        while True:
            if step < len(warm):
                arch = warm[step]
                sampled = space.to_choices(arch)
            else:
                arch, sampled = sample_arch()
                if k > 1:
                    if self.proposal == "mutation":
                        cands = [space.mutate(arch, rng) for _ in range(k)]
                    else:
                        cands = [arch] + [sample_arch()[0] for _ in range(k - 1)]
                    arch = study.pick(cands)
            reward = study.evaluate(arch)
            step += 1
            acts = sampled if (self.credit == "sampled" and step > len(warm)) else space.to_choices(arch)
            num = mom * num + (1 - mom) * reward
            den = mom * den + (1 - mom)
            advantage = reward - num / den
            probs = _softmax_rows(logits)
            grad = probs.copy()  # d(-log p)/d logits = p - onehot, times the advantage
            grad[rows, acts] -= 1.0
            grad *= advantage
            grad[~valid] = 0.0
            adam.step(logits, grad)
            if study.events is not None:
                study.event("policy", _softmax_rows(logits).round(4).tolist())
