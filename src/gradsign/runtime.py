"""Where and with how many threads tensors are computed, and what that does to the numbers.

Two settings every computing command shares:

* **device**: ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (where this torch has it),
  checked up front by :func:`resolve_device` with a one-line message;
* **threads**: torch's intra-op threads while scoring. The default is ONE.
  Scores then do not depend on who computed them: the in-process backend, a
  process-pool worker and a Ray actor (all single-threaded) write the same bits.
  More threads change how reductions are split and so the last bits of some
  scores (grasp up to ~4e-3 relative on NB201 cells); they also oversubscribe a
  shared machine (torch's own default is one thread per core, whoever else is
  running). Parallelism across cells comes from ``--backend process --workers N``.

What the numbers depend on beyond the proxy definition is the *numerics tag*
(:func:`numerics_tag`): empty for CPU with one thread, else e.g. ``cpu-threads4``
or ``cuda``. The results store puts it into every key (see
:class:`gradsign.storage.ScoreKey`), so scores computed differently are never
mixed; stores and exports written before the tag existed hold one-thread CPU
scores and keep their keys.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

from gradsign.errors import ConfigError

#: Intra-op threads used for scoring unless the caller says otherwise.
DEFAULT_THREADS = 1


def resolve_device(text: "str | object | None", option: str = "--device"):
    """``text`` as a ``torch.device`` this torch can use, or a ConfigError naming ``option``.

    Accepts ``cpu``, ``cuda``, ``cuda:N`` (N below the device count) and ``mps``.
    """
    import torch

    if text is None:
        return torch.device("cpu")
    if isinstance(text, torch.device):
        dev = text
    else:
        try:
            dev = torch.device(str(text).strip())
        except (RuntimeError, ValueError):
            raise ConfigError(f"{option} {text!r}: not a torch device (valid: cpu, cuda, cuda:N, mps)") from None
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type == "meta":  # shapes only: enough for counts such as params, and for tests
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{option} {text}: CUDA is not available in this torch ({torch.__version__})")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"{option} {text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return dev
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(f"{option} {text}: MPS is not available in this torch ({torch.__version__})")
        return dev
    raise ConfigError(f"{option} {text!r}: unsupported device type {dev.type!r} (valid: cpu, cuda, cuda:N, mps)")


def check_threads(threads: int | None, option: str = "--threads") -> int:
    """A validated intra-op thread count (None -> :data:`DEFAULT_THREADS`)."""
    if threads is None:
        return DEFAULT_THREADS
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"{option} must be a positive integer, got {threads!r}")
    cores = os.cpu_count() or 1
    if threads > 4 * cores:
        raise ConfigError(f"{option} {threads}: more than 4x the {cores} CPU cores of this machine")
    return threads


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads, then restore the previous count."""
    import torch

    previous = torch.get_num_threads()
    if previous != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def numerics_tag(device: "str | object" = "cpu", threads: int = DEFAULT_THREADS) -> str:
    """What scores depend on besides the definition: ``""`` for CPU with one thread.

    CUDA and MPS kernels differ from the CPU's in the last bits (and their
    results do not depend on CPU threads), so the tag is the device type; on the
    CPU it is the thread count when that is not one.
    """
    kind = str(device).split(":", 1)[0]
    if kind == "cpu":
        return "" if threads == 1 else f"cpu-threads{threads}"
    return kind


__all__ = ["DEFAULT_THREADS", "check_threads", "numerics_tag", "resolve_device", "torch_threads"]
