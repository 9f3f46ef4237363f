"""A small graph convolutional network on the cell graph (White et al.'s "GCN", after BRP-NAS / NASLib).

Input: the ``graph`` encoding (ops on nodes; :mod:`.encodings`). Each layer is
``H <- ReLU(A_hat H W)`` with ``A_hat`` the symmetrically normalised adjacency of
the graph made undirected, with self-loops (``D^-1/2 (A + A^T + I) D^-1/2``), so
information flows both ways along the DAG; padding nodes have only their
self-loop and are left out of the readout. Readout: mean over real nodes,
then a linear layer.

Fixed defaults (a priori, never tuned on test cells): 3 layers of width 64,
Adam (lr 1e-3, weight decay 1e-5), 200 epochs, minibatches of 32, mean
squared error on the standardised accuracy, one thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradsign.predictors.base import Predictor, TargetScaler, register_predictor
from gradsign.predictors._nn import as_tensor, torch_session, train_regressor


def normalised_adjacency(adj: np.ndarray) -> np.ndarray:
    """``D^-1/2 (A + A^T + I) D^-1/2`` for a stack ``(n, N, N)`` of directed 0/1 adjacencies."""
    a = adj.astype(np.float32)
    a = a + np.swapaxes(a, 1, 2) + np.eye(a.shape[1], dtype=np.float32)[None]
    a = np.minimum(a, 1.0)
    d = a.sum(axis=2)
    inv = 1.0 / np.sqrt(d)
    return a * inv[:, :, None] * inv[:, None, :]


def _gcn_module(torch: Any, d_in: int, width: int, layers: int) -> Any:
    class GCN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            dims = [d_in] + [width] * layers
            self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
            self.head = torch.nn.Linear(width, 1)

        def forward(self, a_hat, feats, mask):
            h = feats
            for lin in self.layers:
                h = torch.relu(torch.bmm(a_hat, lin(h)))
            pooled = (h * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp_min(1.0)
            return self.head(pooled)

    return GCN()


@register_predictor
class GraphConvNet(Predictor):
    name = "gcn"
    family = "model-based"
    needs = frozenset({"labels"})
    description = "3-layer graph convolutional network on the op-on-node cell graph"

    def __init__(self, features, *, seed: int = 0, width: int = 64, layers: int = 3, epochs: int = 200,
                 batch_size: int = 32, lr: float = 1e-3, weight_decay: float = 1e-5, threads: int = 1,
                 device: str = "cpu") -> None:
        super().__init__(features, seed=seed)
        self.device = str(device)
        self.width, self.layers, self.epochs = int(width), int(layers), int(epochs)
        self.batch_size, self.lr, self.weight_decay, self.threads = int(batch_size), float(lr), float(weight_decay), threads

    def _inputs(self, archs: list[str]) -> list[Any]:
        adj, feats = self.features.graph(archs)
        mask = (feats.sum(axis=2) > 0).astype(np.float32)
        return [as_tensor(normalised_adjacency(adj), self.device), as_tensor(feats, self.device),
                as_tensor(mask, self.device)]

    def _fit(self, archs: list[str], y: np.ndarray) -> None:
        inputs = self._inputs(archs)
        self._y = TargetScaler(y)
        t = as_tensor(self._y.forward(y).reshape(-1, 1), self.device)
        with torch_session(self.seed, self.threads, self.device) as torch:
            self.net = _gcn_module(torch, inputs[1].shape[2], self.width, self.layers).to(self.device)
            train_regressor(self.net, inputs, t, seed=self.seed, epochs=self.epochs, batch_size=self.batch_size,
                            lr=self.lr, weight_decay=self.weight_decay)

    def _predict(self, archs: list[str]) -> np.ndarray:
        inputs = self._inputs(archs)
        with torch_session(self.seed, self.threads, self.device) as torch, torch.no_grad():
            out = self.net(*inputs).cpu().numpy().reshape(-1)
        return self._y.inverse(out)
