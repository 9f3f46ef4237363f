"""What a proxy function receives: the network, the minibatch, and shared passes.

:func:`gradsign.proxies.api.score` builds one :class:`ProxyContext` per
(model, batch) and hands it to every requested proxy. A proxy that changes its
network (synflow takes absolute weights, fisher hooks every layer) asks for
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


def sum_over_layers(model: nn.Module, metric: Callable[[nn.Module], torch.Tensor | None]) -> float:
    """``sum over prunable layers of metric(layer).sum()``; a layer whose metric is None adds 0.

    Each layer's sum is taken in the tensor's dtype (as the reference code does),
    the running total in Python float (float64), so the order of layers does not
    lose precision on deep networks.
    """
    total = 0.0
    for layer in prunable_layers(model):
        value = metric(layer)
        if value is not None:
            total += float(value.sum())
    return total


def logits_of(output: Any) -> torch.Tensor:
    """The model output as a logits tensor, or a TypeError saying what came back instead.

    Guessing which element of a tuple holds the logits is unsafe (NAS-Bench-201's
    official network returns ``(features, logits)``, others ``(logits, aux)``), so
    anything but a tensor is refused.
    """
    if isinstance(output, torch.Tensor):
        return output
    raise TypeError(
        f"model returned {type(output).__name__}, expected a logits tensor; "
        "wrap the model so that forward() returns only the logits"
    )


class ProxyContext:
    """One (model, minibatch) pair, shared by every proxy scored on it.

    Attributes:
        inputs: the minibatch (on the model's device), or None for data-free scoring.
        targets: class indices (on the model's device), or None.
        loss_fn: ``loss_fn(logits, targets) -> scalar``; cross-entropy by default.
        input_shape: the shape of ONE input sample, ``inputs.shape[1:]`` unless given.
    """

    def __init__(
        self,
        model: nn.Module,
        inputs: torch.Tensor | None,
        targets: torch.Tensor | None,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        *,
        num_classes: int | None = None,
        input_shape: tuple[int, ...] | None = None,
    ) -> None:
        # The template is a private deep copy: nothing a proxy does reaches the caller's model.
        self._template = copy.deepcopy(model)
        # Copied .grad tensors are never read (fresh_model clears them); drop them to save memory.
        for p in self._template.parameters():
            p.grad = None
        device = self.device
        # Private, detached copies: a model that edits its input in place (a leading
        # ReLU(inplace=True)) or an input that requires grad never reaches back to the caller.
        self.inputs = inputs.detach().to(device, copy=True) if inputs is not None else None
        self.targets = targets.detach().to(device, copy=True) if targets is not None else None
        self.loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
        self.num_classes = num_classes
        if input_shape is None and inputs is not None:
            input_shape = tuple(inputs.shape[1:])
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self._shared: dict[str, Any] = {}

    @property
    def device(self) -> torch.device:
        for p in self._template.parameters():
            return p.device
        for b in self._template.buffers():
            return b.device
        return torch.device("cpu")

    @property
    def template(self) -> nn.Module:
        """The private copy of the caller's model, flags and modes as the caller left them.

        Read-only by convention: data-free proxies that only read weights or flags
        (l2_norm, params) use it to avoid another copy. Anything that runs the
        network or changes it must use :meth:`fresh_model`.
        """
        return self._template

    def fresh_model(self) -> nn.Module:
        """A private copy of the network at initialization, in train mode, all weights trainable."""
        net = copy.deepcopy(self._template)
        net.train()
        for p in net.parameters():
            p.requires_grad_(True)
            p.grad = None
        return net

    def require_input_shape(self, proxy: str) -> tuple[int, ...]:
        """The per-sample input shape, or a ConfigError naming ``proxy`` when nobody gave one."""
        if self.input_shape is None:
            from gradsign.errors import ConfigError

            raise ConfigError(f"proxy {proxy!r} needs the input shape: pass inputs or input_shape=(C, H, W)")
        return self.input_shape

    def shared(self, key: str, compute: Callable[["ProxyContext"], Any]) -> Any:
        """Compute ``compute(self)`` once per context and reuse it for every proxy that asks."""
        if key not in self._shared:
            self._shared[key] = compute(self)
        return self._shared[key]

    def batch_gradients(self) -> nn.Module:
        """A fresh network after one forward+backward of the loss on the whole batch.

        Shared by grad_norm, snip, plain and grasp (its first gradient): each reads
        ``.weight.grad`` of the prunable layers and must not modify the returned
        network.
        """

        def _compute(ctx: "ProxyContext") -> nn.Module:
            net = ctx.fresh_model()
            net.zero_grad(set_to_none=True)
            loss = ctx.loss_fn(logits_of(net(ctx.inputs)), ctx.targets)
            loss.backward()
            return net

        return self.shared("batch_gradients", _compute)
