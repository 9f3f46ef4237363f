"""Small torch helpers shared by the neural predictors (BANANAS, GCN).

Training is seeded and leaves global state alone: the RNG is forked (so the
global torch stream is neither read nor advanced), minibatch order comes from
a private :class:`torch.Generator`, and the intra-op thread count is set for the
duration of a fit and restored afterwards (one thread by default: the models
are tiny, and the machines running evaluations are shared).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import numpy as np


@contextmanager
def torch_session(seed: int, threads: int = 1, device: Any = "cpu") -> Iterator[Any]:
    """Yield ``torch`` with the RNG seeded inside a fork and ``threads`` intra-op threads.

    On a CUDA ``device`` its generator is forked and seeded too.
    """
    import torch

    prev = torch.get_num_threads()
    dev = torch.device(device)
    cuda = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        torch.set_num_threads(max(1, int(threads)))
        try:
            yield torch
        finally:
            torch.set_num_threads(prev)


def train_regressor(
    model: Any,
    inputs: Sequence[Any],
    target: Any,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float = 0.0,
    loss: Callable[[Any, Any], Any] | None = None,
) -> list[float]:
    """Adam on the mean squared error (or ``loss``), shuffled minibatches; returns per-epoch mean loss."""
    import torch

    gen = torch.Generator().manual_seed(seed)  # on the CPU: the same order on every device
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = loss or torch.nn.functional.mse_loss
    n = int(target.shape[0])
    bs = max(1, min(batch_size, n))
    history: list[float] = []
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen).to(target.device)
        total = 0.0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            opt.zero_grad(set_to_none=True)
            out = model(*(t[idx] for t in inputs))
            batch_loss = loss_fn(out, target[idx])
            batch_loss.backward()
            opt.step()
            total += float(batch_loss.detach()) * len(idx)
        history.append(total / n)
    model.eval()
    return history


def as_tensor(x: np.ndarray, device: Any = "cpu") -> Any:
    import torch

    return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=device)
