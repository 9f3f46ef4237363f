"""BANANAS's predictor: an ensemble of feed-forward networks on the path encoding (White et al., AAAI 2021).

Each of ``ensemble`` (5) MLPs is trained on the same training set from its
own initialisation and minibatch order (all drawn from the predictor's seed;
the members are trained side by side as one batched module, see
:func:`_ensemble_mlp`); the prediction is the ensemble mean (BANANAS also uses the spread for its acquisition function; a predictor
evaluation needs only the mean). Input: the path encoding where the space has
one (NB201: 155, NB101: 364 bits), else the one-hot encoding (DARTS).

Fixed defaults (chosen a priori, never tuned on test cells): 4 hidden layers
of width 32 with ReLU, Adam (lr 1e-3), 200 epochs, minibatches of 32, mean
squared error on the standardised accuracy (BANANAS used MAPE on the error
rate; on standardised targets MSE is the scale-free equivalent), one thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradsign.predictors.base import Predictor, TargetScaler, register_predictor
from gradsign.predictors._nn import as_tensor, torch_session


def _ensemble_mlp(torch: Any, members: int, d_in: int, width: int, layers: int) -> Any:
    """``members`` independent MLPs evaluated as one batched module.

    Weights are stacked per layer (``(members, fan_in, fan_out)``) and applied with
    ``baddbmm``, so one optimiser step trains every member at once. The loss is the
    *sum* of the members' losses and Adam is elementwise, so each member's
    updates depend only on its own loss and data: the same as training them one
    by one, at a fifth of the Python overhead. Initialisation as ``nn.Linear``
    (uniform in +-1/sqrt(fan_in)).
    """

    class EnsembleMLP(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            dims = [d_in] + [width] * layers + [1]
            self.weights = torch.nn.ParameterList()
            self.biases = torch.nn.ParameterList()
            for a, b in zip(dims[:-1], dims[1:]):
                bound = 1.0 / a**0.5
                self.weights.append(torch.nn.Parameter(torch.empty(members, a, b).uniform_(-bound, bound)))
                self.biases.append(torch.nn.Parameter(torch.empty(members, 1, b).uniform_(-bound, bound)))

        def forward(self, x):  # x: (members, batch, d_in) -> (members, batch, 1)
            h = x
            last = len(self.weights) - 1
            for i, (w, b) in enumerate(zip(self.weights, self.biases)):
                h = torch.baddbmm(b, h, w)
                if i < last:
                    h = torch.relu(h)
            return h

    return EnsembleMLP()


@register_predictor
class Bananas(Predictor):
    name = "bananas"
    family = "model-based"
    needs = frozenset({"labels"})
    description = "ensemble of 5 MLPs on the BANANAS path encoding (one-hot where no path encoding exists)"

    def __init__(self, features, *, seed: int = 0, ensemble: int = 5, width: int = 32, layers: int = 4,
                 epochs: int = 200, batch_size: int = 32, lr: float = 1e-3, weight_decay: float = 0.0,
                 encoding: str = "path", threads: int = 1, device: str = "cpu") -> None:
        super().__init__(features, seed=seed)
        self.encoding = encoding if features.supports(encoding) else "onehot"
        self.ensemble, self.width, self.layers = int(ensemble), int(width), int(layers)
        self.epochs, self.batch_size, self.lr, self.weight_decay = int(epochs), int(batch_size), float(lr), float(weight_decay)
        self.threads = threads
        self.device = str(device)

    def info(self) -> dict[str, Any]:
        d = super().info()
        d["encoding"] = self.encoding
        return d

    def _fit(self, archs: list[str], y: np.ndarray) -> None:
        x = as_tensor(self.features.encode(archs, self.encoding), self.device)
        self._y = TargetScaler(y)
        t = as_tensor(self._y.forward(y).reshape(-1, 1), self.device)
        n, e = x.shape[0], self.ensemble
        bs = max(1, min(self.batch_size, n))
        with torch_session(self.seed, self.threads, self.device) as torch:
            self.net = _ensemble_mlp(torch, e, x.shape[1], self.width, self.layers).to(self.device)
            gen = torch.Generator().manual_seed(self.seed)
            opt = torch.optim.Adam(self.net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            for _ in range(self.epochs):
                # Each member sees its own minibatch order, as separately trained networks would.
                perms = torch.stack([torch.randperm(n, generator=gen) for _ in range(e)]).to(self.device)
                for i in range(0, n, bs):
                    idx = perms[:, i:i + bs]
                    opt.zero_grad(set_to_none=True)
                    err = self.net(x[idx]) - t[idx]
                    loss = err.pow(2).mean(dim=(1, 2)).sum()
                    loss.backward()
                    opt.step()
            self.net.eval()

    def _predict(self, archs: list[str]) -> np.ndarray:
        x = as_tensor(self.features.encode(archs, self.encoding), self.device)
        with torch_session(self.seed, self.threads, self.device) as torch, torch.no_grad():
            out = self.net(x.unsqueeze(0).expand(self.ensemble, -1, -1)).mean(dim=0).cpu().numpy().reshape(-1)
        return self._y.inverse(out)
