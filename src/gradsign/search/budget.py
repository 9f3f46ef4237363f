"""How much one search may spend, and the signal that it has spent it.

Budget rule (every algorithm): a charge (one training, or one proxy score) is
made only if it fits in what is left of the budget; the first one that does
not fit ends the run, and its result is never used. So the budget is never
exceeded. NB201's scripts do the same (``if total + cost > budget: stop``),
except that their REINFORCE appends the over-budget result to its trace
before the check and may report it. With a measured objective (real training)
the cost is known only afterwards: a training that overruns is discarded the
same way and ends the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradsign.errors import ConfigError


class BudgetExhausted(Exception):
    """Raised inside a run when the next charge does not fit; ends the run."""


@dataclass(frozen=True)
class Budget:
    """How much a run may spend: simulated seconds, or a number of trainings.

    ``Budget.seconds(12000)`` (NB201's CIFAR-10 budget) or
    ``Budget.evaluations(100)``. With an evaluation budget proxy seconds are
    recorded but cannot be charged (they are not trainings).
    """

    kind: str  # "seconds" | "evaluations"
    amount: float

    def __post_init__(self) -> None:
        if self.kind not in ("seconds", "evaluations"):
            raise ConfigError(f"budget kind must be 'seconds' or 'evaluations', got {self.kind!r}")
        if not (isinstance(self.amount, (int, float)) and math.isfinite(self.amount) and self.amount > 0):
            raise ConfigError(f"budget must be a positive finite number, got {self.amount!r}")

    @classmethod
    def seconds(cls, amount: float) -> "Budget":
        return cls("seconds", float(amount))

    @classmethod
    def evaluations(cls, amount: int) -> "Budget":
        if int(amount) != amount:
            raise ConfigError(f"an evaluation budget must be a whole number, got {amount!r}")
        return cls("evaluations", float(int(amount)))

    @classmethod
    def parse(cls, value: "Budget | float | int | str | None", default: float | None = None) -> "Budget":
        """A Budget from a Budget, a number of seconds, or text like ``"12000s"`` / ``"100evals"``."""
        if isinstance(value, Budget):
            return value
        if value is None:
            if default is None:
                raise ConfigError("no budget given and the oracle has no default budget")
            return cls.seconds(default)
        if isinstance(value, bool):
            raise ConfigError(f"invalid budget {value!r}")
        if isinstance(value, (int, float, np.integer, np.floating)):
            return cls.seconds(float(value))
        if isinstance(value, str):
            text = value.strip().lower().replace(" ", "")
            for suffix, kind in (("evaluations", "evaluations"), ("evals", "evaluations"), ("eval", "evaluations"),
                                 ("archs", "evaluations"), ("seconds", "seconds"), ("sec", "seconds"), ("s", "seconds")):
                if text.endswith(suffix):
                    number = text[: -len(suffix)]
                    try:
                        amount = float(number)
                    except ValueError:
                        break
                    if kind == "seconds":
                        return cls.seconds(amount)
                    if not math.isfinite(amount):
                        break
                    return cls.evaluations(amount)  # "2.5evals" is refused there (was rounded down to 2)
            try:
                return cls.seconds(float(text))
            except ValueError:
                pass
        raise ConfigError(f"invalid budget {value!r}; use seconds (12000, '12000s') or trainings ('100evals')")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "amount": self.amount}


__all__ = ["Budget", "BudgetExhausted"]
