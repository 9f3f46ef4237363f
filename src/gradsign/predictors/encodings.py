"""Arch encodings for predictors; they live in :mod:`gradsign.spaces.encodings` (a benchmark hands them out).

Kept so that ``from gradsign.predictors.encodings import ...`` goes on working.
"""

from gradsign.spaces.encodings import *  # noqa: F401,F403
from gradsign.spaces.encodings import __all__  # noqa: F401
