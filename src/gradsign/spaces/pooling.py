"""``FastAvgPool2d``: ``nn.AvgPool2d`` with a faster, bit-identical CPU forward when no gradient is taken.

On CPU, torch's ``avg_pool2d`` kernel for a contiguous NCHW tensor is a scalar
loop; on the small maps of cell-based spaces (16-64 channels, 8-32 pixels) it
took half the time of a no-grad NB201 forward, more than all the convolutions
(SWAP: 32 such forwards per network). The same average as ``k*k`` shifted,
strided slices of the zero-padded input, added in place, is 2-2.7x faster on
16x16 and 32x32 maps (``scripts/bench_avg_pool.py``) and gives the same bits:
torch's kernel starts each window's sum at 0, adds the window in row-major
order in the tensor's own dtype and divides by the number of cells counted,
and the slices add the same values in the same order (the padded zeros change
no sum). One measured difference is mended: where a negative sum underflows to
zero when divided, IEEE division gives -0 and torch's kernel +0.
``tests/test_pooling.py`` checks every bit, NaN, infinities and signed zeros
included, against ``F.avg_pool2d``, so a torch whose kernel changed would fail
there first.

The slice path runs only where that was checked and where it is faster: CPU,
float32 / float64, contiguous NCHW input of at least :data:`SLICE_MIN_PIXELS`
pixels per plane, ``ceil_mode=False``, no ``divisor_override``, and gradient
mode off (``torch.no_grad`` / ``inference_mode``), not while tracing (``torch.jit.trace``: one graph
whatever the grad mode). Everywhere else, including
every forward that autograd records (training, gradient proxies), torch's own
kernel runs, so gradients are unchanged too. ``torch.jit.script`` cannot compile this forward
(trace the network instead).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

_SLICE_DTYPES = (torch.float32, torch.float64)
#: Below this many pixels per plane (NB201's 8x8 stage) torch's kernel was as fast as the slices
#: (scripts/bench_avg_pool.py), so it keeps them: the bits are the same either way.
SLICE_MIN_PIXELS = 256


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[-1]))


class FastAvgPool2d(nn.AvgPool2d):
    """``nn.AvgPool2d`` (same arguments, same results) with the slice forward described in the module docstring."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (torch.is_grad_enabled() or torch.jit.is_tracing() or type(x) is not torch.Tensor or x.device.type != "cpu"
                or x.dtype not in _SLICE_DTYPES or x.dim() != 4 or not x.is_contiguous()
                or x.shape[2] * x.shape[3] < SLICE_MIN_PIXELS
                or self.ceil_mode or self.divisor_override is not None):
            return super().forward(x)
        return self._sliced(x)

    def _sliced(self, x: torch.Tensor) -> torch.Tensor:
        stride = self.stride if self.stride is not None else self.kernel_size  # nn.AvgPool2d's own default
        (kh, kw), (sh, sw), (ph, pw) = _pair(self.kernel_size), _pair(stride), _pair(self.padding)
        if min(kh, kw, sh, sw) < 1 or min(ph, pw) < 0 or ph > kh // 2 or pw > kw // 2:
            return super().forward(x)  # torch's own error for a zero stride, a bad kernel or padding
        h, w = x.shape[2], x.shape[3]
        oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        if oh < 1 or ow < 1:
            return super().forward(x)  # torch's own error for an input smaller than the window
        padded = F.pad(x, (pw, pw, ph, ph)) if ph or pw else x

        def window(i: int, j: int) -> torch.Tensor:
            return padded[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]

        total = window(0, 0) + 0.0  # a new (contiguous) tensor to sum into
        for i in range(kh):
            for j in range(kw):
                if i or j:
                    total.add_(window(i, j))
        if self.count_include_pad or not (ph or pw):
            total.div_(float(kh * kw))
        else:
            total.div_(_cells_inside(h, w, kh, kw, sh, sw, ph, pw, x.dtype))
        # torch's kernel never returns -0: a negative sum that underflows to zero when divided comes back
        # as +0 there (measured; IEEE division gives -0). Adding +0 changes nothing else.
        return total.add_(0.0)


@functools.lru_cache(maxsize=64)
def _cells_inside(h: int, w: int, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int,
                  dtype: torch.dtype) -> torch.Tensor:
    """Per output cell, the number of its window's cells inside the input (the divisor without padding)."""
    # on the CPU whatever torch's default device is (the inputs the slices take are CPU tensors)
    row_starts = torch.arange(0, h + 2 * ph - kh + 1, sh, device="cpu") - ph
    col_starts = torch.arange(0, w + 2 * pw - kw + 1, sw, device="cpu") - pw
    rows = (row_starts + kh).clamp(max=h) - row_starts.clamp(min=0)
    cols = (col_starts + kw).clamp(max=w) - col_starts.clamp(min=0)
    return (rows[:, None] * cols[None, :]).to(dtype)


__all__ = ["SLICE_MIN_PIXELS", "FastAvgPool2d"]
