"""What a "block" of a network is, for every block-level proxy (one rule, decided here).

Block-level proxies (the AZ-NAS scores) read the output of every block of the
network, in the order the forward pass produces them. :func:`feature_blocks`
says which modules those are; :func:`block_outputs` runs a forward pass and
returns their outputs. The rule, in order of precedence:

1. **The model says so**: a model with a callable ``feature_blocks()`` method
   gets the modules it returns (each must be a submodule).
2. **The library's networks** (``gradsign.spaces``):

   * NAS-Bench-201 (:class:`~gradsign.spaces.nb201_network.NB201Network`): the
     stem, then every entry of ``cells`` -- the 15 cells and the 2 ResNet
     reduction blocks, 18 blocks in all. This is what AZ-NAS's own code takes
     (``TinyNetwork.extract_cell_features``: the stem output, then every cell's
     output, reduction blocks included). ``lastact``, the pooling and the
     classifier are not blocks.
   * NAS-Bench-101 (:class:`~gradsign.spaces.nb101_network.NB101Network`): the
     stem (conv-BN-ReLU), then the 9 cells; the two max-pool down-samplings
     between stacks are not blocks (the next cell's input comes through them).
   * DARTS (:class:`~gradsign.spaces.darts_network.DartsNetwork`): the stem,
     then the normal and reduction cells in order (the auxiliary head is not a
     block).

3. **Any other model**: its *repeated composite modules*, outermost first. A
   module class is a block class when it is not one of torch's own classes
   (``nn.Sequential``, ``nn.Conv2d``, ... never are), its instances have child
   modules and parameters, and the model holds at least two instances of it.
   Walking the module tree from the root, a module of a block class is a block
   and is not searched further; any other module is searched. For a
   torchvision-style ResNet this gives the ``BasicBlock`` / ``Bottleneck``
   modules of ``layer1..layer4`` (its stem, made of torch modules, is not a
   block; tested on a model written the same way). By the same rule a
   torchvision MobileNetV2 should give its ``Conv2dNormActivation`` stem and
   head and its 17 ``InvertedResidual`` blocks, and a timm ViT its transformer
   ``Block`` modules (read from their module structure; neither library is
   installed here to test it).
4. **No block class** (a plain ``nn.Sequential`` of torch layers, such as a
   VGG): the ReLU-family activation modules, i.e. the output of every
   activation layer (AZ-NAS's MobileNetV2 code, too, takes the outputs of the
   ReLUs of its blocks).

A model with none of these is refused (ValueError). Outputs are recorded in
call order: a block called twice gives two outputs.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

#: The activation modules of rule 4 (as naswot's RELU_TYPES).
_ACTIVATIONS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.RReLU, nn.PReLU)


def _library_blocks(model: nn.Module) -> list[nn.Module] | None:
    """Rule 2: the blocks of the library's own networks, or None for any other model."""
    # Imported here: the spaces modules are siblings of this package, needed only for these checks.
    from gradsign.spaces.darts_network import DartsNetwork
    from gradsign.spaces.nb101_network import NB101Cell, NB101Network
    from gradsign.spaces.nb201_network import NB201Network

    if isinstance(model, NB201Network):
        return [model.stem, *model.cells]
    if isinstance(model, NB101Network):
        return [model.stem, *(m for m in model.layers if isinstance(m, NB101Cell))]
    if isinstance(model, DartsNetwork):
        return [model.stem, *model.cells]
    return None


def _is_torch_class(module: nn.Module) -> bool:
    return type(module).__module__.split(".")[0] == "torch"


def _is_composite(module: nn.Module) -> bool:
    return (not _is_torch_class(module) and next(module.children(), None) is not None
            and next(module.parameters(), None) is not None)


def repeated_blocks(model: nn.Module) -> list[nn.Module]:
    """Rule 3: the outermost modules of a repeated composite class (see the module docstring)."""
    counts = Counter(type(m) for m in model.modules() if m is not model and _is_composite(m))
    blocks: list[nn.Module] = []
    seen: set[int] = set()

    def visit(module: nn.Module) -> None:
        for child in module.children():
            if id(child) in seen:
                continue
            seen.add(id(child))
            if counts.get(type(child), 0) >= 2 and _is_composite(child):
                blocks.append(child)
            else:
                visit(child)

    visit(model)
    return blocks


def feature_blocks(model: nn.Module) -> list[nn.Module]:
    """The modules whose outputs are the network's block features, by the rule of this module's docstring."""
    method = getattr(model, "feature_blocks", None)
    if callable(method):
        blocks = list(method())
        members = {id(m) for m in model.modules()}
        if not blocks or not all(isinstance(b, nn.Module) and id(b) in members for b in blocks):
            raise ValueError("the model's feature_blocks() must return a non-empty list of its own submodules")
        return blocks
    blocks = _library_blocks(model)
    if blocks is not None:
        return blocks
    blocks = repeated_blocks(model)
    if blocks:
        return blocks
    blocks = [m for m in model.modules() if isinstance(m, _ACTIVATIONS)]
    if blocks:
        return blocks
    raise ValueError(
        f"cannot tell the blocks of {type(model).__name__}: no repeated composite module and no ReLU-family "
        "activation module; give the model a feature_blocks() method returning its blocks")


@contextmanager
def recording_outputs(blocks: list[nn.Module]) -> Iterator[list[torch.Tensor]]:
    """Within the block, every call of a module of ``blocks`` appends its output to the yielded list.

    Downstream layers receive a *clone* of each recorded output, so an in-place
    operation after a block (``out += identity``, ``ReLU(inplace=True)``) never
    changes the recorded tensor; gradients flow through the clone unchanged, so
    the recorded outputs stay differentiable with respect to one another.
    """
    outputs: list[torch.Tensor] = []

    def hook(module: nn.Module, args, output):
        if not isinstance(output, torch.Tensor):
            raise ValueError(f"block {type(module).__name__} returned {type(output).__name__}, not a tensor")
        outputs.append(output)
        return output.clone()

    handles = [b.register_forward_hook(hook) for b in dict.fromkeys(blocks)]  # a module listed twice: one hook
    try:
        yield outputs
    finally:
        for h in handles:
            h.remove()


def block_outputs(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """One forward of ``net`` on ``x``; the outputs of its :func:`feature_blocks`, in call order.

    The outputs keep their graph (no ``torch.no_grad``), so one block's output
    can be differentiated with respect to an earlier one.
    """
    with recording_outputs(feature_blocks(net)) as outputs:
        net(x)
    if not outputs:
        raise ValueError(f"none of the blocks of {type(net).__name__} was called in its forward pass")
    return outputs


__all__ = ["block_outputs", "feature_blocks", "recording_outputs", "repeated_blocks"]
