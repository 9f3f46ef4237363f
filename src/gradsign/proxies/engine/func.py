"""``torch.func`` engine: per-sample gradients with ``vmap(grad(loss of one sample))``.

Why a third engine: the fast engine (:mod:`.fast`) only accepts modules it can
prove per-sample (a whitelist, exact BatchNorm types), so real models -- timm's
``BatchNormAct2d``, ``LayerNorm2d``, ``nn.MultiheadAttention``, custom attention
blocks -- fell back to the per-sample loop. This engine needs no whitelist:

* ``vmap`` runs the model's own ``forward`` on every sample as a **batch of one**
  (``x[i].unsqueeze(0)``), which is what the reference loop does; inside the
  vmapped function no operation can see another sample, so nothing can mix
  samples -- by construction, not by a runtime check.
* BatchNorm (any ``_BatchNorm`` subclass) therefore normalises with the statistics
  of that one sample, as train-mode BatchNorm on a batch of one does in the loop.
  ``torch.func.replace_all_batch_norm_modules_`` first detaches the running
  statistics (``running_mean = running_var = None``, ``track_running_stats =
  False``): the loop updates them but never reads them in train mode, and vmap
  cannot write per-sample values into one shared buffer.
* The loss is the caller's ``loss_fn`` on that batch of one (any vmappable loss,
  not only cross-entropy), differentiated with ``torch.func.grad`` w.r.t. the
  scored weights only; every other parameter and buffer is a constant.
* Random operations raise inside ``vmap`` (``randomness="error"``): a model that
  draws random numbers in train mode (dropout not switched off, stochastic depth
  of an unknown type) gets no func score and the dispatcher falls back to the
  loop. Operations ``vmap`` cannot batch (``.item()``, data-dependent control flow
  on values) raise as well and fall back the same way.

Memory: a chunk of ``c`` samples holds ``c x P`` per-sample gradient entries (P =
scored weights) plus the chunk's activations; the default chunk keeps the
gradients under :data:`GRAD_BUDGET_BYTES`. Samples are independent, so the
sign sums do not depend on the chunk (tested in float64).

Assumption (documented in docs/gradsign.md): a module whose forward changes its
own state in place with a value that does not depend on the sample (a counter
buffer it then reads) sees that change once per chunk here and once per sample
in the loop. A per-sample value written into shared state raises in vmap (and
falls back).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from gradsign.proxies.context import logits_of
from gradsign.proxies.engine._common import (
    LossFn,
    SignSumReducer,
    batchnorm_layers,
    check_batchnorm_input,
    reference_loss,
    scored_layers,
    weight_of,
)
from gradsign.proxies.engine.fast import FastUnsupported, _has_hooks

#: Per-sample gradients held at once by one chunk (bytes); the default chunk size follows from it.
GRAD_BUDGET_BYTES = 512 << 20
#: Upper bound of the default chunk: larger vmaps are not faster on CPU and hold more activations.
MAX_CHUNK = 64


def check_func_supported(net: nn.Module) -> None:
    """Raise :class:`~.fast.FastUnsupported` (key ``func:...``) for what this engine refuses.

    * a module with user hooks (under vmap a hook sees batched tensors; one that
      records or rewrites tensors could not be reproduced);
    * a scored layer whose ``weight`` is not a registered Parameter (parametrized,
      weight-normed: the weight is computed in forward, there is nothing to
      differentiate by name; the loop handles it, with zeros and a warning).
    """
    for name, m in net.named_modules():
        kind = type(m).__name__
        if _has_hooks(m):
            raise FastUnsupported(f"func:hooks:{kind}", f"module {name or '<root>'!r} ({kind}) has hooks registered")
    for name, m in scored_layers(net):
        if weight_of(m) is None:
            kind = type(m).__name__
            raise FastUnsupported(f"func:param:{kind}", f"layer {name!r} has no plain weight Parameter")


def default_func_chunk(n: int, n_scored: int, element_size: int) -> int:
    """Samples per vmap call: per-sample gradients of one chunk within :data:`GRAD_BUDGET_BYTES`."""
    per_sample = max(1, n_scored * element_size)
    return max(1, min(n, MAX_CHUNK, GRAD_BUDGET_BYTES // per_sample))


def _bn_guard(name: str):
    def hook(module: nn.Module, args: tuple) -> None:
        # Under vmap args[0] has the shape of one sample's batch of one, (1, C, ...).
        check_batchnorm_input(name, module, args[0])

    return hook


class FuncRunner:
    """Runs the func engine on a private copy ``net`` and feeds per-sample weight
    gradients ``(b, *weight.shape)`` to ``reducer.add(name, g, offset)``.

    ``reducer`` also gets every chunk's per-sample losses (``reducer.add_losses``),
    so that a non-finite loss makes the score NaN (docs/gradsign.md).
    """

    def __init__(self, net: nn.Module, loss_fn: LossFn | None, reducer: SignSumReducer, *,
                 chunk_size: int | None = None) -> None:
        check_func_supported(net)
        self.net = net
        self.loss_one = reference_loss(loss_fn)
        self.reducer = reducer
        self.chunk_size = chunk_size
        self.layers = scored_layers(net)

    def run(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        from torch.func import functional_call, grad_and_value, replace_all_batch_norm_modules_, vmap

        n = int(inputs.shape[0])
        if n == 0:
            return
        net = self.net
        for p in net.parameters():
            p.requires_grad_(False)
            p.grad = None
        replace_all_batch_norm_modules_(net)
        # The scored weights by parameter name (a tied weight appears once in
        # named_parameters; every module using it gets its gradient, as in the loop).
        name_of = {id(p): k for k, p in net.named_parameters()}
        layer_param = [(lname, name_of[id(weight_of(m))]) for lname, m in self.layers]
        scored_names = list(dict.fromkeys(p for _, p in layer_param))
        last_use = {p: i for i, (_, p) in enumerate(layer_param)}
        constants = {k: p.detach() for k, p in net.named_parameters() if k not in last_use}
        weights = {k: p.detach() for k, p in net.named_parameters() if k in last_use}
        buffers = dict(net.named_buffers())
        loss_one = self.loss_one

        def sample_loss(w: dict[str, torch.Tensor], x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            out = logits_of(functional_call(net, ({**constants, **w}, buffers), (x.unsqueeze(0),)))
            return loss_one(out, t.unsqueeze(0))

        per_sample = vmap(grad_and_value(sample_loss), in_dims=(None, 0, 0), randomness="error")
        n_scored = sum(weights[k].numel() for k in scored_names)
        element = next(iter(weights.values())).element_size() if weights else 4
        chunk = self.chunk_size or default_func_chunk(n, n_scored, element)
        handles = [m.register_forward_pre_hook(_bn_guard(name)) for name, m in batchnorm_layers(net)]
        try:
            with warnings.catch_warnings():
                # functorch's note that an op (e.g. CPU flash attention) has no batching rule and
                # is looped over the samples: correct, only slower, and nothing a user can change.
                warnings.filterwarnings("ignore", message="There is a performance drop because we have not yet")
                self._chunks(per_sample, weights, inputs, targets, chunk, layer_param, last_use)
        finally:
            for h in handles:
                h.remove()

    def _chunks(self, per_sample, weights, inputs, targets, chunk: int, layer_param, last_use) -> None:
        n = int(inputs.shape[0])
        for start in range(0, n, chunk):
            end = min(n, start + chunk)
            grads, losses = per_sample(weights, inputs[start:end], targets[start:end])
            self.reducer.add_losses(losses.detach())
            for i, (lname, pname) in enumerate(layer_param):
                g = grads[pname]
                # The reducer overwrites g with its signs; a tied weight's later users need the values.
                self.reducer.add(lname, g if last_use[pname] == i else g.clone(), start)
            del grads, losses


__all__ = ["FuncRunner", "GRAD_BUDGET_BYTES", "check_func_supported", "default_func_chunk"]
