"""What a proxy function receives: the network, the minibatch, and shared passes.

:func:`gradsign.proxies.api.score` builds one :class:`ProxyContext` per
(model, batch) and hands it to every requested proxy. A proxy that changes its
network (synflow takes absolute weights, snip rewires forward) asks for
:meth:`ProxyContext.fresh_model`, a private copy of the untouched template, so
proxies never see each other's side effects and the caller's model is never
modified. Passes several proxies need (one batched forward+backward of the
cross-entropy loss) are computed once via :meth:`ProxyContext.shared`.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Iterator

import torch
from torch import nn


def prunable_layers(model: nn.Module) -> Iterator[nn.Module]:
    """The layers whose weights zero-cost proxies score: Conv2d and Linear (as in Abdelfattah et al.)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            yield m


class ProxyContext:
    def __init__(
        self,
        model: nn.Module,
        inputs: torch.Tensor | None,
        targets: torch.Tensor | None,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        *,
        num_classes: int | None = None,
    ) -> None:
        # The template is a private deep copy: nothing a proxy does reaches the caller's model.
        self._template = copy.deepcopy(model)
        self.inputs = inputs
        self.targets = targets
        self.loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
        self.num_classes = num_classes
        self._shared: dict[str, Any] = {}

    @property
    def device(self) -> torch.device:
        for p in self._template.parameters():
            return p.device
        return self.inputs.device if self.inputs is not None else torch.device("cpu")

    def fresh_model(self) -> nn.Module:
        """A private copy of the network at initialization, in train mode, all weights trainable."""
        net = copy.deepcopy(self._template)
        net.train()
        for p in net.parameters():
            p.requires_grad_(True)
            p.grad = None
        return net

    def shared(self, key: str, compute: Callable[["ProxyContext"], Any]) -> Any:
        """Compute ``compute(self)`` once per context and reuse it for every proxy that asks."""
        if key not in self._shared:
            self._shared[key] = compute(self)
        return self._shared[key]

    def batch_gradients(self) -> nn.Module:
        """A fresh network after one forward+backward of the loss on the whole batch.

        Shared by grad_norm, snip, plain, ...: each reads ``.weight.grad`` of the
        prunable layers and must not modify the returned network.
        """

        def _compute(ctx: "ProxyContext") -> nn.Module:
            net = ctx.fresh_model()
            net.zero_grad(set_to_none=True)
            loss = ctx.loss_fn(net(ctx.inputs), ctx.targets)
            loss.backward()
            return net

        return self.shared("batch_gradients", _compute)
