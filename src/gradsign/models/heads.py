"""Head surgery: make a model output the dataset's number of classes, and say what was done."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from gradsign.errors import ConfigError
from gradsign.models.sources import first_line


def _probe(model: nn.Module, input_shape: Sequence[int]) -> tuple[torch.Size | None, str | None]:
    """Output shape of one all-zero input in eval mode, or (None, why not); the model's modes are restored."""
    modes = [(m, m.training) for m in model.modules()]
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    model.eval()  # eval: BatchNorm statistics are not touched and a batch of one is fine
    try:
        with torch.no_grad():
            out = model(torch.zeros((1, *input_shape), device=device, dtype=dtype))
    except Exception as exc:
        return None, f"{type(exc).__name__}: {first_line(str(exc), 160)}"
    finally:
        for m, mode in modes:
            m.training = mode
    if not isinstance(out, torch.Tensor):
        return None, f"forward returned {type(out).__name__}, not a logits tensor"
    return out.shape, None


def adapt_head(model: nn.Module, num_classes: int, input_shape: Sequence[int], *, what: str = "model",
               replace: bool = True) -> list[str]:
    """Make ``model`` output ``num_classes`` logits, in place; returns notes saying what was done.

    One forward of a zero input (eval mode, no grad; the train/eval mode of every
    module is restored) reads the output size. If it differs, the last
    ``nn.Linear`` whose ``out_features`` equals it is replaced by a fresh
    ``nn.Linear(in_features, num_classes)`` (drawn from the global RNG: seed
    first for reproducibility). A forward that fails leaves the model as it is,
    with a note: the proxies then report the error per proxy.

    ``replace=False`` (a model built for ``num_classes``): a different output size is an error.

    Raises:
        ConfigError: the output is not ``(1, n)`` logits, or there is no Linear
            to replace, or replacing it did not give ``num_classes`` outputs.
    """
    shape, why = _probe(model, input_shape)
    if shape is None:
        return [f"could not check the output size: forward of one {'x'.join(map(str, input_shape))} input failed ({why})"]
    if len(shape) != 2:
        raise ConfigError(f"{what}: output of shape {tuple(shape)} for one input; expected (1, classes) logits")
    out = int(shape[-1])
    if out == num_classes:
        return []
    if not replace:
        raise ConfigError(f"{what}: built for {num_classes} classes, yet its output has {out} logits: the factory "
                          "ignores num_classes, or --logits picks another output (an auxiliary head?); a head is "
                          "replaced only in a model built without num_classes")
    target = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and module.out_features == out:
            target = name  # the last one in registration order: the classifier in every common layout
    if target is None:
        raise ConfigError(
            f"{what}: outputs {out} logits, the dataset has {num_classes} classes, and there is no nn.Linear "
            f"with {out} outputs to replace; make the factory accept num_classes"
        )
    old = model.get_submodule(target)
    parent_name, _, attr = target.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None,
                    device=old.weight.device, dtype=old.weight.dtype)
    setattr(parent, attr, new)
    shape, why = _probe(model, input_shape)
    if shape is None or tuple(shape) != (1, num_classes):
        got = f"output {tuple(shape)}" if shape is not None else why
        raise ConfigError(f"{what}: replacing Linear {target!r} did not give {num_classes} outputs ({got}); "
                          "make the factory accept num_classes")
    return [f"classifier head replaced: {out} -> {num_classes} classes (Linear {target!r}, fresh init)"]


__all__ = ["adapt_head"]
