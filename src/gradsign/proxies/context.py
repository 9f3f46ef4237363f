"""What a proxy function receives: the network, the minibatch, and shared passes.

:func:`gradsign.proxies.api.score` builds one :class:`ProxyContext` per
(model, batch) and hands it to every requested proxy. A proxy that changes its
network (synflow takes absolute weights) asks for
:meth:`ProxyContext.fresh_model`, a private copy of the untouched template, so
proxies never see each other's side effects and the caller's model is never
modified. Work several proxies need is computed once: the batched
forward+backward of the cross-entropy loss, with what fisher, grasp and
jacob_cov need recorded on the way (:meth:`ProxyContext.batch_pass`), and any
other shared result (:meth:`ProxyContext.shared`). Each proxy is charged, in
seconds, the shared work it reads (:meth:`ProxyContext.proxy_seconds`).
"""

from __future__ import annotations

import copy
import time
from typing import Any, Callable, Iterable, Iterator

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
        f"model returned {type(output).__name__}, expected a logits tensor; say which element is the logits "
        "(score(..., logits=0 or 'logits'); CLI: rank --logits KEY)"
    )


class ProxyContext:
    """One (model, minibatch) pair, shared by every proxy scored on it.

    Attributes:
        inputs: the minibatch (on the model's device), or None for data-free scoring.
        targets: class indices (on the model's device), or None.
        loss_fn: ``loss_fn(logits, targets) -> scalar``; cross-entropy by default.
        input_shape: the shape of ONE input sample, ``inputs.shape[1:]`` unless given.
        requested: names of the proxies that will be scored on this context.
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
        requested: Iterable[str] = (),
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
        # The proxies this context will be asked for, and the shared computations they
        # declare (register_proxy(uses=...)): shared passes record what is needed and
        # nothing else. No proxy is named here.
        self.requested = frozenset(requested)
        self.needs = _declared_needs(self.requested)
        self._shared: dict[str, Any] = {}
        # Cost accounting (see proxy_seconds): seconds each shared result took to
        # compute, time spent computing shared results since the current proxy
        # started, and the shared seconds charged to the current proxy.
        self._shared_seconds: dict[str, float] = {}
        self._computing = 0.0
        self._charged = 0.0

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
        """Compute ``compute(self)`` once per context and reuse it for every proxy that asks.

        Every proxy that asks is charged the whole computation (see :meth:`proxy_seconds`).
        """
        value = self._shared_once(key, compute)
        self.charge(self._shared_seconds[key])
        return value

    def _shared_once(self, key: str, compute: Callable[["ProxyContext"], Any]) -> Any:
        if key not in self._shared:
            start = time.perf_counter()
            self._shared[key] = compute(self)
            spent = time.perf_counter() - start
            self._shared_seconds[key] = spent
            self._computing += spent
        return self._shared[key]

    def charge(self, seconds: float) -> None:
        """Charge ``seconds`` of shared work to the proxy now running."""
        self._charged += seconds

    def start_proxy(self) -> None:
        """Reset the cost accounting at the start of one proxy (called by ``score``)."""
        self._computing = 0.0
        self._charged = 0.0

    def proxy_seconds(self, elapsed: float) -> float:
        """What the proxy that just ran costs on its own, given its wall time ``elapsed``.

        Its own work (``elapsed`` minus the shared results it happened to compute
        first) plus every shared result it read, in full; so a proxy's seconds do
        not depend on which proxies ran before it, and the seconds of proxies that
        share a pass add up to more than the call took.
        """
        return max(0.0, elapsed - self._computing) + self._charged

    @property
    def jacobian_in_batch_pass(self) -> bool:
        """Whether the input Jacobian is taken from :meth:`batch_pass`.

        Only when a requested proxy needs the input Jacobian and the labelled loss
        pass runs anyway for another one; otherwise one label-free pass is cheaper.
        """
        return "input_jacobian" in self.needs and "batch_pass" in self.needs and self.targets is not None

    def input_jacobian(self) -> "InputJacobian":
        """``d sum(logits) / d inputs`` for the batch (fresh network in train mode), computed once.

        From the shared batch pass when it runs anyway (:attr:`jacobian_in_batch_pass`),
        else from one label-free forward and input-only backward shared by every
        proxy that asks (jacob_cov, epe_nas). Both routes give the same numbers.
        """
        if self.jacobian_in_batch_pass:
            done = self.batch_pass(for_input_jacobian=True)
            return InputJacobian(done.input_jacobian, done.n_logits)
        return self.shared("input_jacobian", _label_free_jacobian)

    def batch_gradients(self) -> nn.Module:
        """A fresh network after one forward+backward of the loss on the whole batch.

        Shared by grad_norm, snip, plain and grasp (its first gradient): each reads
        ``.weight.grad`` of the prunable layers and must not modify the returned
        network. See :meth:`batch_pass` for what else the same pass records.
        """
        return self.batch_pass().net

    def batch_pass(self, *, for_input_jacobian: bool = False) -> "BatchPass":
        """The shared forward+backward of the loss on the whole batch, computed once.

        What it records depends on :attr:`requested` (the proxies of this
        :func:`~gradsign.proxies.api.score` call), so that proxies which need the
        same pass never pay for it twice:

        * always: ``.weight.grad`` of every parameter the loss reaches (proxies
          declaring ``batch_pass``: grad_norm, snip, plain, grasp's first gradient);
        * a requested proxy declares ``fisher_taps``: each Conv2d/Linear layer's
          per-channel activation Fisher (:func:`channel_fisher`), from hooks on the
          layer outputs of this same pass (fisher's own pass would be identical);
        * one declares ``input_jacobian`` (jacob_cov, epe_nas): the gradient of
          ``sum(logits)`` with respect to the input batch, by a second, input-only
          backward through the same forward graph (their own pass would repeat the forward);
        * one declares ``graph_grads`` (grasp): the backward is taken with
          ``create_graph=True`` and the differentiable first-order weight gradients
          are kept for the Hessian-gradient product, so grasp needs no forward and
          no first-order backward of its own.

        The recorded numbers are those of the separate passes: the same network
        copy, batch and loss, and the same kernels (checked bit for bit in
        tests/test_proxy_api.py).
        """
        done = self._shared_once(
            "batch_pass",
            lambda c: run_batch_pass(
                c,
                record_fisher="fisher_taps" in c.needs,
                keep_graph="graph_grads" in c.needs,
                input_jacobian=c.jacobian_in_batch_pass,
            ),
        )
        # Charged by the parts a proxy reads: the Jacobian's backward to jacob_cov
        # only, the loss backward to everyone else.
        parts = ("forward", "jacobian") if for_input_jacobian else ("forward", "backward")
        self.charge(sum(done.seconds[p] for p in parts))
        return done


def channel_fisher(act: torch.Tensor, grad: torch.Tensor, is_linear: bool) -> torch.Tensor:
    """fisher's per-channel value ``0.5 * mean_n (sum_spatial act * grad)^2`` of one layer output.

    Conv2d output ``(N, C, H, W)``: channels on dim 1, spatial dims summed (as the
    reference). Linear output ``(N, F)``: per-feature product. Linear on ``(N, ..., F)``
    (e.g. tokens): channels are the last dim, the middle dims are summed like
    spatial ones (the reference would sum over the features instead, which breaks
    its own per-channel broadcast).
    """
    prod = act * grad
    if is_linear:
        if prod.dim() > 2:
            prod = prod.sum(dim=tuple(range(1, prod.dim() - 1)))
    elif prod.dim() > 2:
        prod = prod.sum(dim=tuple(range(2, prod.dim())))
    return prod.pow(2).mean(0).mul(0.5)


def _declared_needs(requested: frozenset[str]) -> frozenset[str]:
    """The union of the shared passes the requested proxies declare (unknown names declare none)."""
    from gradsign.proxies.registry import get_proxy

    needs: set[str] = set()
    for name in requested:
        try:
            needs |= getattr(get_proxy(name), "uses", frozenset())
        except Exception:  # noqa: BLE001 - a name the registry does not know declares nothing
            continue
    return frozenset(needs)


class InputJacobian:
    """``d sum(logits) / d inputs`` of the batch (``jacobian``, shaped like the inputs) and the logit count."""

    def __init__(self, jacobian: torch.Tensor, n_logits: int) -> None:
        self.jacobian = jacobian
        self.n_logits = n_logits


def _label_free_jacobian(ctx: "ProxyContext") -> InputJacobian:
    """One forward of a fresh network (train mode) and an input-only backward of ``sum(logits)``."""
    net = ctx.fresh_model()
    x = ctx.inputs.detach().clone().requires_grad_(True)
    # Fed through a clone (a non-leaf): a model that edits its input in place
    # (leading ReLU(inplace=True)) would otherwise fail on the leaf that requires grad.
    out = logits_of(net(x.clone()))
    (jac,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
    return InputJacobian(torch.zeros_like(x) if jac is None else jac.detach(), int(out.shape[-1]))


class BatchPass:
    """What the shared batch pass leaves behind (see :meth:`ProxyContext.batch_pass`).

    Attributes:
        net: the network after the backward; ``.weight.grad`` holds the batch gradient.
        fisher: ``{layer: per-channel fisher tensor}`` for every prunable layer of
            ``net`` the backward reached, or None when fisher was not requested.
        input_jacobian: ``d sum(logits) / d inputs``, shaped like the inputs, or None
            when jacob_cov was not requested.
        seconds: wall time of each part: ``forward``, ``backward`` (the loss
            backward, with fisher's hooks and grasp's graph when recorded) and
            ``jacobian`` (0 when not computed).
    """

    def __init__(self, net: nn.Module, *, fisher: dict[nn.Module, torch.Tensor] | None,
                 graph_grads: list[torch.Tensor | None] | None, input_jacobian: torch.Tensor | None,
                 seconds: dict[str, float], n_logits: int = 0) -> None:
        self.net = net
        self.n_logits = n_logits  # width of the logits (the last dimension)
        self.seconds = seconds
        self.fisher = fisher
        self.input_jacobian = input_jacobian
        self._graph_grads = graph_grads

    def take_graph_grads(self) -> list[torch.Tensor | None] | None:
        """The prunable weights' first-order gradients with their graph (one consumer: grasp).

        Aligned with ``prunable_layers(net)``; None when grasp was not requested or
        the graph was already taken. Handing them over drops the pass's reference,
        so the (large) double-backward graph is freed as soon as grasp is done.
        """
        grads, self._graph_grads = self._graph_grads, None
        return grads


def run_batch_pass(ctx: ProxyContext, *, record_fisher: bool, keep_graph: bool,
                   input_jacobian: bool = False) -> BatchPass:
    """One forward+backward of the loss on a fresh network; see :meth:`ProxyContext.batch_pass`."""
    net = ctx.fresh_model()
    net.zero_grad(set_to_none=True)
    layers = list(prunable_layers(net))
    fisher: dict[nn.Module, torch.Tensor] = {}
    module_hooks, tensor_hooks = [], []

    def make_hook(layer: nn.Module):
        is_linear = isinstance(layer, nn.Linear)

        def on_output(grad: torch.Tensor, act: torch.Tensor) -> None:
            value = channel_fisher(act, grad.detach(), is_linear)
            # Several calls of one layer (weight sharing) add up, as in the reference.
            fisher[layer] = fisher[layer] + value if layer in fisher else value

        def forward_hook(module: nn.Module, inputs, output):
            if not isinstance(output, torch.Tensor) or not output.requires_grad:
                return None
            act = output.detach()
            # The gradient hook goes on the layer's own output, and downstream gets a
            # clone: an in-place op after the layer (ReLU(inplace=True)) then changes
            # the clone, never the activation we multiply with.
            tensor_hooks.append(output.register_hook(lambda g: on_output(g, act)))
            return output.clone()

        return forward_hook

    if record_fisher:
        module_hooks = [layer.register_forward_hook(make_hook(layer)) for layer in layers]
    try:
        x = ctx.inputs
        if input_jacobian:
            x = ctx.inputs.detach().clone().requires_grad_(True)
        # Fed through a clone (a non-leaf): a model that edits its input in place
        # (leading ReLU(inplace=True)) would otherwise fail on a leaf that requires grad.
        t0 = time.perf_counter()
        logits = logits_of(net(x.clone() if input_jacobian else x))
        loss = ctx.loss_fn(logits, ctx.targets)
        t1 = time.perf_counter()
        graph_grads = None
        if keep_graph:
            params = [p for p in net.parameters() if p.requires_grad]
            grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
            # .grad as loss.backward() would leave it (detached: no reference cycle
            # between a parameter and a gradient that carries a graph).
            for p, g in zip(params, grads):
                p.grad = g.detach() if g is not None else None
            by_param = {id(p): g for p, g in zip(params, grads)}
            graph_grads = [by_param.get(id(layer.weight)) for layer in layers]
        else:
            loss.backward(retain_graph=input_jacobian)
    finally:
        for h in module_hooks:
            h.remove()
        # Removed before anyone differentiates the kept graph again (grasp's double
        # backward reaches the same layer outputs and would fire them a second time).
        for h in tensor_hooks:
            h.remove()
    t2 = time.perf_counter()
    jacobian = None
    if input_jacobian:
        # Input-only backward (no weight gradients computed, .grad untouched), after
        # the fisher hooks are gone. Kept graph (grasp) or retained one: both allow it.
        (jacobian,) = torch.autograd.grad(logits.sum(), x, retain_graph=keep_graph, allow_unused=True)
        jacobian = torch.zeros_like(x) if jacobian is None else jacobian.detach()
    seconds = {"forward": t1 - t0, "backward": t2 - t1, "jacobian": time.perf_counter() - t2}
    return BatchPass(net, fisher=fisher if record_fisher else None, graph_grads=graph_grads,
                     input_jacobian=jacobian, seconds=seconds, n_logits=int(logits.shape[-1]))
