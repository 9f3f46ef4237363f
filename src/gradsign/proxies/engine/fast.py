"""Fast engine: per-sample weight gradients from one batched forward and backward.

How it gets exactly the reference loop's numbers (up to float rounding):

1. Every BatchNorm normalises each sample with its own statistics: its forward is
   replaced (on a private copy) by ``F.instance_norm`` with the BN's affine
   parameters, i.e. per sample and channel over the remaining dims with the
   biased variance -- exactly what train-mode BatchNorm computes on a batch of one.
   (PyTorch's instance norm is that same batch-norm kernel on a ``(1, N*C, ...)``
   view.) With that, no layer mixes samples, so the gradient of
   ``sum_i loss_i`` w.r.t. any activation of sample i is sample i's own gradient.
2. One forward pass records the input of each Conv2d / Linear layer (forward
   hook) and hooks its output; one backward pass of the summed per-sample losses
   hands each hook ``dL/d(output)``. No parameter requires grad, so autograd
   computes activation gradients only -- the weight-gradient work of a normal
   backward is replaced by step 3.
3. In the hook, per-sample weight gradients for that layer are formed in sample
   blocks and reduced immediately (sign -> sum over samples), then freed:
   Linear: batched outer products ``bmm(dy^T, x)``; pointwise Conv2d: ``bmm`` on
   a view of the input; Conv2d with many output positions or groups > 1: one
   native ``convolution_backward`` for the weight of a *grouped* convolution in
   which every sample is its own group (input ``(1, N*C_in, H, W)``, groups
   ``N * groups``: stride, padding, dilation and groups handled natively); other
   Conv2d: a channels-last im2col (``as_strided``) + ``bmm`` in cache-sized
   blocks. Choice measured on CPU: docs/gradsign.md.

Which networks qualify is decided conservatively (:func:`check_supported`); a
runtime check compares the batched logits of sample 0 with its batch-of-one
forward. Whatever fails raises :class:`FastUnsupported`, and the dispatcher falls
back to the reference loop.
"""

from __future__ import annotations

import types
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from gradsign.proxies.context import logits_of
from gradsign.proxies.engine._common import (
    SCORED_TYPES,
    LossFn,
    LossUnsupported,
    check_batchnorm_input,
    per_sample_losses,
    scored_layers,
    weight_of,
)


class FastUnsupported(Exception):
    """The fast engine cannot guarantee the reference numbers for this model/loss.

    ``key`` groups warnings (one per layer type / reason); ``reason`` is for people.
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(reason)
        self.key = key
        self.reason = reason


# Leaf modules known to treat every sample independently and deterministically
# (Dropout is in eval mode in the scoring copy, so it is the identity).
_SAFE_LEAVES: tuple[type[nn.Module], ...] = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
    nn.Linear, nn.Bilinear, nn.Identity, nn.Flatten, nn.Unflatten, nn.Embedding,
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus, nn.Softsign,
    nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.Threshold, nn.LogSigmoid, nn.GLU,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.LPPool1d, nn.LPPool2d,
    nn.ZeroPad2d, nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d,
    nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReplicationPad1d, nn.ReplicationPad2d, nn.ReplicationPad3d,
    nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d, nn.PixelShuffle, nn.PixelUnshuffle,
    nn.ChannelShuffle, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm,
    nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
)
_SOFTMAX_LIKE = (nn.Softmax, nn.LogSoftmax, nn.Softmin)
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_FAST_SCORED = (nn.Conv2d, nn.Linear)


def _has_hooks(m: nn.Module) -> bool:
    return bool(
        m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or getattr(m, "_backward_pre_hooks", None)
    )


def check_supported(net: nn.Module) -> None:
    """Raise :class:`FastUnsupported` unless every module is one the fast engine handles.

    * Conv2d / Linear (scored): exact types only (a subclass may change forward),
      weight a plain Parameter not shared with another scored layer.
    * BatchNorm1d/2d/3d: exact types (made per-sample). SyncBatchNorm, other norms
      keeping batch statistics: unsupported.
    * Other leaves: the whitelist above; a leaf with no parameters and no buffers of
      its own (e.g. NB201's ``Zero`` op) is accepted -- the runtime logits check
      covers it; any other leaf with parameters or buffers is unsupported.
    * Modules with children (Sequential, cells, ...) compose their children; they
      are assumed not to mix samples through their own tensor ops (again, the
      runtime check compares logits with batch-of-one forwards).
    * No module may carry user hooks (they could rewrite inputs or outputs).
    """
    seen_weights: dict[int, str] = {}
    for name, m in net.named_modules():
        name = name or "<root>"
        kind = type(m).__name__
        if _has_hooks(m):
            raise FastUnsupported(f"hooks:{kind}", f"module {name!r} ({kind}) has hooks registered")
        if isinstance(m, SCORED_TYPES):
            if type(m) not in _FAST_SCORED:
                raise FastUnsupported(kind, f"scored layer {name!r} is a {kind}, a subclass of Conv2d/Linear")
            w = weight_of(m)
            if w is None:
                raise FastUnsupported(f"param:{kind}", f"layer {name!r} has no plain weight Parameter")
            if id(w) in seen_weights:
                raise FastUnsupported(
                    "tied-weights", f"layers {seen_weights[id(w)]!r} and {name!r} share one weight tensor"
                )
            seen_weights[id(w)] = name
            continue
        if isinstance(m, _BatchNorm):
            if type(m) not in _BATCHNORMS:
                raise FastUnsupported(kind, f"{kind} layer {name!r} (batch statistics) is not supported")
            continue
        if next(m.children(), None) is not None:
            continue  # a container: composes its children
        if type(m) in _SAFE_LEAVES:
            continue
        if type(m) in _SOFTMAX_LIKE:
            if getattr(m, "dim", None) in (None, 0):
                raise FastUnsupported(f"{kind}:dim", f"{kind} layer {name!r} with dim={m.dim!r} may mix samples")
            continue
        if not m._parameters and not m._buffers:
            continue  # a parameter-free functional op (e.g. Zero); the runtime check covers it
        raise FastUnsupported(kind, f"layer {name!r} of unknown type {kind} has its own parameters or buffers")


# --------------------------------------------------------------------------- per-sample BN


def _per_sample_bn_forward(name: str) -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
    def forward(self: _BatchNorm, x: torch.Tensor) -> torch.Tensor:
        check_batchnorm_input(name, self, x)
        # instance_norm == batch norm with per-(sample, channel) statistics over the
        # remaining dims, biased variance; running statistics are neither read nor written.
        return F.instance_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)

    return forward


# --------------------------------------------------------------------------- per-sample weight grads

# A block of per-sample gradients is handed to the reducer flat, ``(b, P)``, with a
# *layout*: None when each row is the weight in its own memory order, or
# ``(shape, perm)`` when a row viewed as ``shape`` and permuted by ``perm`` is the
# weight (the im2col path produces (c_out, kh, kw, c_in)). Summing signs over
# samples does not care about the order, so the reducer permutes only the result.

# Conv2d: per-sample weight gradients through a grouped convolution_backward (one
# group per sample) when the output has at least this many positions; below it,
# mkldnn's grouped weight gradient is slow on CPU and a channels-last im2col + bmm
# in cache-sized sample blocks is faster (measured: docs/gradsign.md).
GROUPED_MIN_POSITIONS = 256
IM2COL_BLOCK = 16


def to_weight_layout(g: torch.Tensor, layout, weight_shape) -> torch.Tensor:
    """View a block ``g`` (b, P) in ``layout`` as ``(b, *weight_shape)``."""
    if layout is None:
        return g.view(g.shape[0], *weight_shape)
    shape, perm = layout
    return g.view(g.shape[0], *shape).permute(0, *(p + 1 for p in perm))


def _conv_geometry(m: nn.Conv2d, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """The input with any non-zero / string padding applied, and the remaining zero padding."""
    if isinstance(m.padding, str) or m.padding_mode != "zeros":
        mode = "constant" if m.padding_mode == "zeros" else m.padding_mode
        return F.pad(x, m._reversed_padding_repeated_twice, mode=mode), (0, 0)
    return x, (int(m.padding[0]), int(m.padding[1]))


def _conv2d_grouped(m: nn.Conv2d, x: torch.Tensor, gy: torch.Tensor, padding, cache: dict) -> torch.Tensor:
    """Weight gradient of a convolution in which each sample is its own group(s)."""
    n = x.shape[0]
    c_out, c_in_g, kh, kw = m.weight.shape
    xs = x.reshape(1, n * x.shape[1], x.shape[2], x.shape[3])
    gs = gy.reshape(1, n * c_out, gy.shape[2], gy.shape[3])
    key = (n * c_out, c_in_g, kh, kw, x.dtype, x.device)
    placeholder = cache.get(key)  # only the weight's shape matters for its gradient
    if placeholder is None:
        placeholder = cache[key] = torch.empty(n * c_out, c_in_g, kh, kw, dtype=x.dtype, device=x.device)
    gw = torch.ops.aten.convolution_backward(
        gs, xs, placeholder, None, list(m.stride), list(padding), list(m.dilation), False, [0, 0],
        n * m.groups, [False, True, False],
    )[1]
    return gw.view(n, -1)


def _conv2d_im2col(m: nn.Conv2d, x: torch.Tensor, gy: torch.Tensor, padding) -> torch.Tensor:
    """groups == 1: channels-last im2col (no F.unfold: it is slow on CPU) + batched matmul.
    Returns ``(b, c_out * kh * kw * c_in)`` in layout (c_out, kh, kw, c_in)."""
    b, c_in, h, w = x.shape
    c_out, _, kh, kw = m.weight.shape
    ph, pw = padding
    sh, sw = m.stride
    dh, dw = m.dilation
    ho, wo = gy.shape[2], gy.shape[3]
    xcl = x.permute(0, 2, 3, 1)
    if ph or pw:
        xp = x.new_zeros(b, h + 2 * ph, w + 2 * pw, c_in)
        xp[:, ph : ph + h, pw : pw + w] = xcl
    else:
        xp = xcl.contiguous()
    s_n, s_h, s_w, s_c = xp.stride()
    cols = xp.as_strided((b, ho, wo, kh, kw, c_in), (s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c))
    cols = cols.reshape(b, ho * wo, kh * kw * c_in)
    return torch.bmm(gy.reshape(b, c_out, ho * wo), cols).view(b, -1)


def _conv2d_pointwise(m: nn.Conv2d, x: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """1x1, unpadded, groups == 1: ``bmm(dy, x^T)`` on the (strided) input, no im2col."""
    b, c_in = x.shape[0], x.shape[1]
    sh, sw = m.stride
    ho, wo = gy.shape[2], gy.shape[3]
    xs = x[:, :, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw].reshape(b, c_in, ho * wo)
    return torch.bmm(gy.reshape(b, -1, ho * wo), xs.transpose(1, 2)).view(b, -1)


def _linear_sample_grads(m: nn.Linear, x: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    if x.dim() == 2:
        return torch.bmm(gy.unsqueeze(2), x.unsqueeze(1)).view(n, -1)  # (n, out, in) outer products
    return torch.bmm(gy.reshape(n, -1, gy.shape[-1]).transpose(1, 2), x.reshape(n, -1, x.shape[-1])).view(n, -1)


def linear_sign_sum(x: torch.Tensor, gy: torch.Tensor) -> torch.Tensor | None:
    """``sum_i sign(gy_i x_i^T)`` of a Linear on 2-D input as ``sign(gy)^T @ sign(x)``, or None.

    Sample i's weight gradient is the outer product ``gy_i x_i^T``, each entry one
    rounded product, whose sign is ``sign(gy_io) * sign(x_ik)`` unless the product
    underflows to 0 or overflows to inf. So the sign sums are one small matmul of
    sign matrices (exact integers in float32) instead of N outer products of the
    layer's size -- the difference between minutes and a second for a 100-M-weight
    classifier (vgg). Exactness is checked, not assumed: None (form the gradients)
    when an entry is non-finite, or the smallest non-zero product could fall below
    the smallest normal number, or the largest could reach half the largest float.
    """
    if x.dtype != gy.dtype or not x.is_floating_point():
        return None
    fin = torch.finfo(gy.dtype)
    ax, ag = x.abs(), gy.abs()
    stats = torch.stack([
        ax.max(), ag.max(),
        torch.where(ax > 0, ax, torch.full_like(ax, float("inf"))).min(),
        torch.where(ag > 0, ag, torch.full_like(ag, float("inf"))).min(),
    ]).double().tolist()
    x_max, g_max, x_min, g_min = stats
    if not (x_max < float("inf") and g_max < float("inf")):  # also False for NaN
        return None
    if x_max * g_max >= fin.max / 2:
        return None
    if x_min < float("inf") and g_min < float("inf") and x_min * g_min < fin.tiny:
        return None
    return torch.mm(torch.sign(gy).t().float(), torch.sign(x).float())


class _LayerState:
    __slots__ = ("name", "module", "uses", "pending", "buffer")

    def __init__(self, name: str, module: nn.Module) -> None:
        self.name = name
        self.module = module
        self.uses = 0
        self.pending = 0
        self.buffer: torch.Tensor | None = None


class FastRunner:
    """Runs the fast engine on a private copy ``net`` and feeds per-sample weight
    gradients ``(b, *weight.shape)`` to ``reducer.add(name, g, offset)``."""

    def __init__(
        self,
        net: nn.Module,
        loss_fn: LossFn | None,
        reducer,
        *,
        chunk_size: int | None = None,
        verify: bool = True,
        sub_chunk_bytes: int = 64 << 20,
        conv_method: str = "auto",
    ) -> None:
        check_supported(net)
        try:
            self.losses = per_sample_losses(loss_fn)
        except LossUnsupported as exc:
            raise FastUnsupported(f"loss:{exc}", f"{exc}: cannot prove it splits into per-sample losses") from None
        self.net = net
        self.reducer = reducer
        self.chunk_size = chunk_size
        self.verify = verify
        self.sub_chunk_bytes = sub_chunk_bytes
        if conv_method not in ("auto", "grouped", "im2col"):
            raise ValueError(f"conv_method must be auto, grouped or im2col, got {conv_method!r}")
        self.conv_method = conv_method
        self.layers = [_LayerState(n, m) for n, m in scored_layers(net)]
        self._by_module = {id(s.module): s for s in self.layers}
        self._cache: dict = {}
        self._offset = 0

    # -- hooks -----------------------------------------------------------------

    def _forward_hook(self, module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        st = self._by_module[id(module)]
        x = args[0]
        st.uses += 1
        st.pending += 1
        if not out.requires_grad:
            if not out.is_leaf:  # e.g. the layer ran under torch.no_grad() inside forward
                raise FastUnsupported("graph", f"output of {st.name!r} is detached from the loss")
            out.requires_grad_(True)  # non-float inputs (Embedding models): start the graph here
        version = x._version
        out.register_hook(lambda g, st=st, x=x, version=version: self._on_grad(st, x, version, g))

    def _blocks(self, m: nn.Module, x: torch.Tensor, g: torch.Tensor):
        """Yield ``(start, grads (b, P), layout)`` for sample blocks of one layer."""
        n = x.shape[0]
        p = m.weight.numel()
        per_sample = p * g.element_size()
        budget_block = max(1, self.sub_chunk_bytes // max(per_sample, 1))
        if isinstance(m, nn.Linear):
            for s in range(0, n, budget_block):
                yield s, _linear_sample_grads(m, x[s : s + budget_block], g[s : s + budget_block]), None
            return
        x, padding = _conv_geometry(m, x)
        c_out, c_in_g, kh, kw = m.weight.shape
        positions = g.shape[2] * g.shape[3]
        if m.groups == 1 and kh == kw == 1 and padding == (0, 0):
            for s in range(0, n, budget_block):
                yield s, _conv2d_pointwise(m, x[s : s + budget_block], g[s : s + budget_block]), None
        elif m.groups == 1 and self.conv_method != "grouped" and (
            self.conv_method == "im2col" or positions < GROUPED_MIN_POSITIONS
        ):
            block = max(1, min(IM2COL_BLOCK, budget_block))
            layout = ((c_out, kh, kw, c_in_g), (0, 3, 1, 2))
            for s in range(0, n, block):
                yield s, _conv2d_im2col(m, x[s : s + block], g[s : s + block], padding), layout
        else:
            for s in range(0, n, budget_block):
                xs, gs = x[s : s + budget_block], g[s : s + budget_block]
                yield s, _conv2d_grouped(m, xs, gs, padding, self._cache), None

    def _on_grad(self, st: _LayerState, x: torch.Tensor, version: int, g: torch.Tensor) -> None:
        if x._version != version:
            raise FastUnsupported("inplace", f"the input of {st.name!r} was modified in place after use")
        m = st.module
        if st.uses == 1:
            st.pending = 0
            add_sign_sum = getattr(self.reducer, "add_sign_sum", None)
            if add_sign_sum is not None and isinstance(m, nn.Linear) and x.dim() == 2:
                total = linear_sign_sum(x, g)
                if total is not None:
                    add_sign_sum(st.name, total)
                    return
            for s, gw, layout in self._blocks(m, x, g):
                self.reducer.add(st.name, gw, self._offset + s, layout)
            return
        # Used several times in one forward: the per-sample gradient is the sum over uses.
        n = x.shape[0]
        if st.buffer is None:
            st.buffer = torch.zeros((n, *m.weight.shape), dtype=g.dtype, device=g.device)
        for s, gw, layout in self._blocks(m, x, g):
            st.buffer[s : s + gw.shape[0]] += to_weight_layout(gw, layout, m.weight.shape)
        st.pending -= 1
        if st.pending == 0:
            self._flush(st)

    def _flush(self, st: _LayerState) -> None:
        if st.buffer is not None:
            self.reducer.add(st.name, st.buffer.view(st.buffer.shape[0], -1), self._offset, None)
        st.buffer = None
        st.pending = 0

    # -- run -------------------------------------------------------------------

    def _reference_outputs(self, inputs: torch.Tensor) -> dict[int, torch.Tensor]:
        """Batch-of-one output of the first sample (BatchNorm already per-sample: on a
        batch of one that is exactly train-mode BatchNorm, and it refuses undefined input).

        One sample is enough to detect mixing: if anything in the batch influenced
        sample 0, its batched output would differ from its batch-of-one output.
        """
        picks = [0]
        with torch.no_grad():
            return {i: logits_of(self.net(inputs[i : i + 1].clone())).detach() for i in picks}

    def run(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        n = int(inputs.shape[0])
        if n == 0:
            return
        for p in self.net.parameters():
            p.requires_grad_(False)
            p.grad = None
        patched = []
        for name, m in self.net.named_modules():
            if isinstance(m, _BatchNorm):
                m.forward = types.MethodType(_per_sample_bn_forward(name or "<root>"), m)
                patched.append(m)
        handles = []
        chunk = n if not self.chunk_size else max(1, int(self.chunk_size))
        try:
            expected = self._reference_outputs(inputs) if self.verify and n > 1 else {}
            handles = [st.module.register_forward_hook(self._forward_hook) for st in self.layers]
            for start in range(0, n, chunk):
                end = min(n, start + chunk)
                self._offset = start
                for st in self.layers:
                    st.uses = st.pending = 0
                    st.buffer = None
                xb = inputs[start:end]
                if xb.is_floating_point():
                    # The input requires grad so every scored layer's output is in the graph;
                    # a clone (non-leaf) so the model may still modify its input in place.
                    xb = xb.detach().requires_grad_(True).clone()
                out = logits_of(self.net(xb))
                for i, ref in expected.items():
                    if start <= i < end:
                        self._check_output(out[i - start : i - start + 1].detach(), ref, i)
                per = self.losses(out, targets[start:end])
                record = getattr(self.reducer, "add_losses", None)
                if record is not None:
                    record(per.detach())
                loss = per.sum()
                if loss.requires_grad:
                    loss.backward()
                del out, loss, per, xb
                for st in self.layers:
                    if st.pending:  # a use whose output never reached the loss
                        self._flush(st)
        finally:
            for h in handles:
                h.remove()
            for m in patched:
                del m.forward
            self._cache.clear()

    @staticmethod
    def _check_output(got: torch.Tensor, ref: torch.Tensor, i: int) -> None:
        if got.shape != ref.shape:
            raise FastUnsupported("mixing", f"batched output of sample {i} has shape {tuple(got.shape)}, "
                                  f"a batch of one gives {tuple(ref.shape)}")
        scale = float(ref.abs().max()) if ref.numel() and torch.isfinite(ref).all() else 1.0
        tol = 1e-3 * scale + 1e-5 if ref.dtype != torch.float64 else 1e-9 * scale + 1e-12
        if not torch.allclose(got, ref, rtol=0.0, atol=tol, equal_nan=True):
            diff = float((got - ref).abs().max())
            raise FastUnsupported(
                "mixing",
                f"batched output of sample {i} differs from its batch-of-one output by {diff:.3g} "
                f"(scale {scale:.3g}): some module mixes samples across the batch",
            )


def default_chunk_size(n: int) -> int | None:
    """Samples per forward/backward pass; None = the whole batch in one pass."""
    return None if n <= 128 else 128


__all__ = ["FastRunner", "FastUnsupported", "check_supported", "default_chunk_size"]
