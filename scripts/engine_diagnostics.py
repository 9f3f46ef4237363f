"""Engine parity diagnostics: full per-sample gradients both ways, compared entry by entry.

Holds the reference engine's ``N x P`` per-sample gradient matrix in memory, so it
is for tests and the benchmark (small nets, or NB201 at batch 64: ~300 MB), not
for scoring; hence it lives with the scripts, not in the package. Users:
``scripts/bench_gradsign.py`` (imports it as a sibling) and
``tests/test_engine_parity.py`` / ``tests/test_engine_func.py`` (through
``tests/benchmark_scripts.load_benchmark_script``).

The admissible differences between the engines come from float rounding only.
They take two forms, and :func:`compare_engines` separates them:

* a per-sample gradient entry whose magnitude is at rounding level can change sign
  ("tiny" flips: ``max(|g_ref|, |g_fast|) <= tiny_rtol * scale``);
* a ReLU-like kink: when a sample's pre-activation is at rounding level, the two
  engines (different but equally valid float32 summation orders) may put it on
  different sides of zero; the exact gradient is discontinuous there, so that
  sample's gradient in every layer upstream differs by a real amount (the
  contribution through that one position). The comparison records the side of
  every ReLU input in both engines; samples where any differs are "kink samples",
  and large flips must only occur in them. In float64 they (practically) vanish.

The scale of an entry is the largest ``|g|`` of that sample in that layer (reference).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gradsign.proxies.engine._common import LossFn, SignSumReducer, SignSums, finish, private_copy, scored_layers
from gradsign.proxies.engine.fast import FastRunner, to_weight_layout
from gradsign.proxies.engine.reference import run_reference


@dataclass(frozen=True)
class EngineComparison:
    """Per-sample gradients of the fast engine vs the reference loop on one (model, batch).

    ``scale`` of an entry: the largest ``|g|`` of that sample in that layer (reference).
    """

    score_reference: float
    score_fast: float
    rel_score_diff: float  # |fast - reference| / reference
    n_entries: int  # per-sample gradient entries compared (N * P)
    n_sign_flips: int  # entries with sign(g_fast) != sign(g_ref)
    max_flip_rel: float  # largest max(|g_ref|, |g_fast|) / scale among flipped entries (0 if none)
    max_rel_grad_diff: float  # largest |g_fast - g_ref| / scale over all entries
    n_near_zero: int  # reference entries with 0 < |g| < near_zero_rtol * scale
    n_tiny_flips: int  # flips with max(|g_ref|, |g_fast|) <= tiny_rtol * scale
    kink_samples: tuple[int, ...]  # samples whose ReLU decisions (x > 0) differ between the engines
    kink_max_rel: float  # largest |x| / max|x| at such a ReLU input: rounding level
    large_flip_samples: tuple[int, ...]  # samples with a flip above tiny_rtol * scale
    max_flip_rel_clean: float  # largest flipped |g| / scale among samples without kinks
    max_rel_grad_diff_clean: float  # largest |g_fast - g_ref| / scale among samples without kinks
    # Against float64 (the fast engine on a float64 copy; it equals the float64 reference loop
    # to ~1e-15, tests/test_engine_parity.py). None when the model is already float64 or exact=False.
    score_exact: float | None = None
    ref_err_median: float | None = None  # per (sample, layer): max |g - g64| / scale64; median ...
    ref_err_max: float | None = None  # ... and max over (sample, layer)
    fast_err_median: float | None = None
    fast_err_max: float | None = None
    ref_sign_errors: int | None = None  # entries with sign(g_ref32) != sign(g64)
    fast_sign_errors: int | None = None  # entries with sign(g_fast32) != sign(g64)

    @property
    def explained(self) -> bool:
        """Every non-tiny flip is in a sample with a rounding-level ReLU input."""
        return set(self.large_flip_samples) <= set(self.kink_samples)

    def summary(self) -> str:
        exact = ""
        if self.score_exact is not None:
            exact = (
                f"; vs float64 (score {self.score_exact:.0f}): reference loop per-sample error median "
                f"{self.ref_err_median:.1e} max {self.ref_err_max:.1e} x scale, {self.ref_sign_errors} wrong signs; "
                f"fast engine median {self.fast_err_median:.1e} max {self.fast_err_max:.1e} x scale, "
                f"{self.fast_sign_errors} wrong signs"
            )
        return exact and (self._summary() + exact) or self._summary()

    def _summary(self) -> str:
        return (
            f"score ref {self.score_reference:.0f} fast {self.score_fast:.0f} (rel diff {self.rel_score_diff:.2e}); "
            f"{self.n_sign_flips} of {self.n_entries} per-sample entries flip sign: "
            f"{self.n_tiny_flips} tiny (|g| <= 1e-5 x layer scale), the rest in samples "
            f"{list(self.large_flip_samples)}; samples whose ReLU decisions differ between engines: "
            f"{list(self.kink_samples)} (at |x| <= {self.kink_max_rel:.1e} x max|x|); "
            f"all explained: {self.explained}; samples without such a kink: "
            f"largest flipped |g| {self.max_flip_rel_clean:.1e} x scale, max |g_fast - g_ref| "
            f"{self.max_rel_grad_diff_clean:.1e} x scale"
        )


class _Collect:
    def __init__(self, layers: list[tuple[str, nn.Module]], n: int, signs: SignSumReducer) -> None:
        self.grads = {
            name: torch.zeros((n, m.weight.numel()), dtype=m.weight.dtype, device=m.weight.device)
            for name, m in layers
        }
        self.shapes = {name: m.weight.shape for name, m in layers}
        self.signs = signs

    def add(self, name: str, g: torch.Tensor, offset: int, layout=None) -> None:
        b = g.shape[0]
        self.grads[name][offset : offset + b] = to_weight_layout(g, layout, self.shapes[name]).reshape(b, -1)
        self.signs.add(name, g.detach().clone(), offset, layout)

    def add_losses(self, losses: torch.Tensor) -> None:
        self.signs.add_losses(losses)


class _Compare:
    def __init__(
        self, ref: dict[str, torch.Tensor], shapes: dict, signs: SignSumReducer, rtol: float, n: int, tiny_rtol: float
    ) -> None:
        self.ref = ref
        self.shapes = shapes
        self.n = n
        self.signs = signs
        self.rtol = rtol
        self.tiny_rtol = tiny_rtol
        self.n_tiny = 0
        self.max_flip_per_sample = torch.zeros(n, dtype=torch.float64)
        self.max_diff_per_sample = torch.zeros(n, dtype=torch.float64)
        self.n_flips = 0
        self.max_flip = 0.0
        self.max_diff = 0.0
        self.n_near_zero = 0
        self.seen = {name: torch.zeros(n, dtype=torch.bool) for name in ref}
        self.exact: dict[str, torch.Tensor] | None = None
        self.err: list[torch.Tensor] = []
        self.sign_errors = 0

    def _scale(self, r: torch.Tensor) -> torch.Tensor:
        return r.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(r.dtype).tiny)

    def compare(self, name: str, g: torch.Tensor, offset: int) -> None:
        b = g.shape[0]
        r = self.ref[name][offset : offset + b]
        g = g.reshape(b, -1).to(r.dtype)
        scale = self._scale(r)
        flips = torch.sign(g) != torch.sign(r)
        self.n_flips += int(flips.sum())
        diff = ((g - r).abs() / scale).amax(dim=1).double().cpu()
        rows = slice(offset, offset + b)
        self.max_diff_per_sample[rows] = torch.maximum(self.max_diff_per_sample[rows], diff)
        self.max_diff = max(self.max_diff, float(diff.max()))
        if bool(flips.any()):
            mag = torch.where(flips, torch.maximum(g.abs(), r.abs()) / scale, torch.zeros_like(g))
            self.n_tiny += int((flips & (mag <= self.tiny_rtol)).sum())
            per = mag.amax(dim=1).double().cpu()
            self.max_flip_per_sample[rows] = torch.maximum(self.max_flip_per_sample[rows], per)
            self.max_flip = max(self.max_flip, float(per.max()))
        a = r.abs()
        self.n_near_zero += int(((a > 0) & (a < self.rtol * scale)).sum())
        self.seen[name][offset : offset + b] = True
        if self.exact is not None:
            e, n_wrong = _error_vs_exact(g, self.exact[name][offset : offset + b])
            self.err.append(e)
            self.sign_errors += n_wrong

    def add(self, name: str, g: torch.Tensor, offset: int, layout=None) -> None:
        self.compare(name, to_weight_layout(g, layout, self.shapes[name]), offset)
        self.signs.add(name, g, offset, layout)

    def add_losses(self, losses: torch.Tensor) -> None:
        self.signs.add_losses(losses)

    def finish_unseen(self) -> None:
        """Samples of layers the fast engine never produced: their gradient is zero there."""
        for name, r in self.ref.items():
            for i in torch.nonzero(~self.seen[name]).flatten().tolist():
                self.compare(name, torch.zeros_like(r[i : i + 1]), i)
                # compare() marks it seen; the zero contributes nothing to the sign sums


def _error_vs_exact(g: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Per sample ``max |g - e| / max |e|`` and the number of entries whose sign differs."""
    g = g.reshape(g.shape[0], -1).double()
    e = e.reshape(e.shape[0], -1)
    scale = e.abs().amax(dim=1).clamp_min(torch.finfo(e.dtype).tiny)
    err = torch.where(e.abs().amax(dim=1) > 0, (g - e).abs().amax(dim=1) / scale, (g - e).abs().amax(dim=1))
    return err.cpu(), int((torch.sign(g) != torch.sign(e)).sum())


_KINKED = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.Hardtanh)


class _KinkRecorder:
    """Forward pre-hooks on the ReLU-like modules of both copies recording which side
    of the kink at 0 each pre-activation falls on; a sample whose sides differ between
    the engines is a *kink sample* (its exact gradient is discontinuous there)."""

    def __init__(self, net: nn.Module, n: int) -> None:
        self.n = n
        self.sample = 0  # reference: the sample running now
        self.offset = 0  # fast: the first sample of the running chunk
        self.masks: dict[tuple[str, int], torch.Tensor] = {}
        self.calls: dict[str, int] = {}
        self.mismatch = torch.zeros(n, dtype=torch.long)
        self.max_rel = 0.0  # largest |x| / max|x| at a mismatching position
        self.compare_to: "_KinkRecorder | None" = None
        self.handles = [
            m.register_forward_pre_hook(self._hook(name))
            for name, m in net.named_modules() if isinstance(m, _KINKED)
        ]

    def _hook(self, name: str):
        def hook(module: nn.Module, args: tuple) -> None:
            x = args[0].detach()
            k = self.calls.get(name, 0)
            self.calls[name] = k + 1
            side = x > 0
            if self.compare_to is None:  # recording (reference, one sample per forward)
                store = self.masks.get((name, k))
                if store is None:
                    store = self.masks[(name, k)] = torch.zeros((self.n, *side.shape[1:]), dtype=torch.bool)
                store[self.sample] = side[0].cpu()
                return
            ref = self.compare_to.masks.get((name, k))
            if ref is None:
                return
            b = x.shape[0]
            diff = (side.cpu() != ref[self.offset : self.offset + b]).reshape(b, -1)
            per = diff.sum(dim=1)
            self.mismatch[self.offset : self.offset + b] += per
            if bool(per.any()):
                a = x.abs().reshape(b, -1).cpu()
                rel = a / a.amax(dim=1, keepdim=True).clamp_min(torch.finfo(a.dtype).tiny)
                self.max_rel = max(self.max_rel, float(rel[diff].max()))

        return hook

    def next_forward(self) -> None:
        self.calls = {}

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def compare_engines(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: LossFn | None = None,
    *,
    chunk_size: int | None = None,
    near_zero_rtol: float = 1e-6,
    tiny_rtol: float = 1e-5,
    conv_method: str = "auto",
    exact: bool = True,
) -> EngineComparison:
    """Run both engines on private copies of ``model`` and compare per-sample gradients.

    Raises :class:`~gradsign.proxies.engine.fast.FastUnsupported` if the fast engine
    cannot handle the model.
    """
    n = int(inputs.shape[0])
    exact_grads = None
    score_exact = None
    if exact and any(p.is_floating_point() and p.dtype != torch.float64 for p in model.parameters()):
        ex_net = private_copy(model).double()
        ex_layers = scored_layers(ex_net)
        ex_state = SignSums.empty(ex_layers)
        ex_col = _Collect(ex_layers, n, SignSumReducer(ex_state))
        x64 = inputs.double() if inputs.is_floating_point() else inputs
        FastRunner(ex_net, loss_fn, ex_col, verify=False).run(x64, targets)
        exact_grads = ex_col.grads
        score_exact = finish(ex_state)[0]
        del ex_net, ex_col
    ref_net = private_copy(model)
    layers = scored_layers(ref_net)
    ref_state = SignSums.empty(layers)
    collect = _Collect(layers, n, SignSumReducer(ref_state))
    ref_kinks = _KinkRecorder(ref_net, n)

    def on_sample(i: int) -> None:
        ref_kinks.sample = i
        ref_kinks.next_forward()

    run_reference(ref_net, inputs, targets, loss_fn, collect, on_sample=on_sample)
    ref_kinks.remove()
    del ref_net

    fast_net = private_copy(model)
    fast_state = SignSums.empty(scored_layers(fast_net))
    cmp = _Compare(collect.grads, collect.shapes, SignSumReducer(fast_state), near_zero_rtol, n, tiny_rtol)
    cmp.exact = exact_grads
    ref_err: list[torch.Tensor] = []
    ref_sign_errors = 0
    if exact_grads is not None:
        for name, g in collect.grads.items():
            e, n_wrong = _error_vs_exact(g, exact_grads[name])
            ref_err.append(e)
            ref_sign_errors += n_wrong
    # verify=False: the check's extra batch-of-one forward would confuse the chunk bookkeeping.
    chunk = chunk_size or n
    runner = FastRunner(fast_net, loss_fn, cmp, chunk_size=chunk, conv_method=conv_method, verify=False)
    kinks = _KinkRecorder(fast_net, n)  # hooks after FastRunner's support check, which refuses hooks
    kinks.compare_to = ref_kinks
    chunks: list[int] = []

    def chunk_hook(module: nn.Module, args: tuple) -> None:  # runs first in each batched forward
        kinks.offset = len(chunks) * chunk
        chunks.append(kinks.offset)
        kinks.next_forward()

    h = fast_net.register_forward_pre_hook(chunk_hook, prepend=True)
    runner.run(inputs, targets)
    h.remove()
    kinks.remove()
    cmp.finish_unseen()

    kink_mask = kinks.mismatch > 0
    s_ref = finish(ref_state)[0]
    s_fast = finish(fast_state)[0]
    return EngineComparison(
        score_reference=s_ref,
        score_fast=s_fast,
        rel_score_diff=abs(s_fast - s_ref) / s_ref if s_ref else abs(s_fast - s_ref),
        n_entries=sum(g.numel() for g in collect.grads.values()),
        n_sign_flips=cmp.n_flips,
        max_flip_rel=cmp.max_flip,
        max_rel_grad_diff=cmp.max_diff,
        n_near_zero=cmp.n_near_zero,
        n_tiny_flips=cmp.n_tiny,
        kink_samples=tuple(int(i) for i in torch.nonzero(kink_mask).flatten()),
        kink_max_rel=kinks.max_rel,
        large_flip_samples=tuple(int(i) for i in torch.nonzero(cmp.max_flip_per_sample > tiny_rtol).flatten()),
        max_flip_rel_clean=float(cmp.max_flip_per_sample[~kink_mask].max()) if bool((~kink_mask).any()) else 0.0,
        max_rel_grad_diff_clean=(
            float(cmp.max_diff_per_sample[~kink_mask].max()) if bool((~kink_mask).any()) else 0.0
        ),
        **(
            {
                "score_exact": score_exact,
                "ref_err_median": float(torch.cat(ref_err).median()),
                "ref_err_max": float(torch.cat(ref_err).max()),
                "fast_err_median": float(torch.cat(cmp.err).median()),
                "fast_err_max": float(torch.cat(cmp.err).max()),
                "ref_sign_errors": ref_sign_errors,
                "fast_sign_errors": cmp.sign_errors,
            }
            if exact_grads is not None
            else {}
        ),
    )
