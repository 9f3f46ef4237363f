"""Exceptions the library raises on bad input.

Every message is a single line meant for a person: it names the thing that is
wrong (a file, an arch string, an option) and what is wrong with it. The CLI
prints it as is and exits non-zero; no traceback from inside numpy, PIL or
torch ever reaches a user for input we can validate.
"""

from __future__ import annotations


class GradsignError(Exception):
    """Base class: a user-facing, one-line error."""

    exit_code = 2


class DataError(GradsignError):
    """A data file or directory is missing, truncated or malformed."""


class ArchError(GradsignError, ValueError):
    """An architecture description (string, index, encoding) is invalid."""


class ConfigError(GradsignError, ValueError):
    """An unknown name (dataset, proxy, space, ...) or an invalid option value."""


class StoreError(GradsignError):
    """The results store is unreadable, locked, or from an incompatible schema."""


class TrainingError(GradsignError):
    """Your training (or test) function raised on an arch; the message names the arch, the cause is chained."""

    exit_code = 1
