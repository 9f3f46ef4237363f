"""Run ``gradsign rank`` on timm / torchvision models where only PyPI's CUDA torchvision exists.

Not part of the library. ``gradsign rank timm:NAME torchvision:NAME`` needs a
torchvision built for the installed torch. On a CPU-only torch that is the
``+cpu`` build from PyTorch's own wheel index; where that index cannot be
reached (the project machines), the only torchvision wheel pip can get is
PyPI's CUDA build, whose compiled operators cannot load against a CPU torch.
torchvision then skips its operators -- except that ``torchvision/_meta_registrations.py``
(0.28) registers fake kernels for ``torchvision::nms`` and ``torchvision::qnms``
without checking that they exist, so ``import torchvision`` raises
``RuntimeError: operator torchvision::nms does not exist``.

This script catches exactly that failure, declares the schemas of those two
detection operators (no kernels: calling them still fails), imports torchvision
again, and says so on stderr. Classification models -- all ``rank`` builds --
use none of torchvision's compiled operators, so their architectures and
initialisations are the libraries' own, untouched. If torchvision imports
normally, nothing is changed. Then it runs the ``gradsign`` command line with
the arguments given::

    python scripts/rank_model_zoo.py rank torchvision:resnet18 timm:convnext_atto ... \\
        --proxies gradsign,synflow,snip,params --batch-size 64

The environment used for docs/rank.md (a separate venv, so that the project's
own stays as its README installs it) is described there.
"""

from __future__ import annotations

import sys

import torch

# schemas of torchvision 0.28's ``nms`` and ``qnms`` (torchvision/csrc/ops/nms.cpp, qnms.cpp)
_DETECTION_OP_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_keep_library_alive = []


def import_torchvision(namespace: str = "torchvision") -> str:
    """Import torchvision, declaring the two detection-op schemas only if its import fails on them.

    ``namespace`` is the operator namespace torchvision registers (a parameter for the tests).
    """
    try:
        import torchvision  # noqa: F401
        return "torchvision imported normally"
    except ModuleNotFoundError:
        return "torchvision not installed"
    except RuntimeError as exc:
        if f"{namespace}::nms does not exist" not in str(exc):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # a half-imported package must not be reused
    lib = torch.library.Library(namespace, "FRAGMENT")
    for schema in _DETECTION_OP_SCHEMAS:
        lib.define(schema)
    _keep_library_alive.append(lib)  # the definitions live as long as this object
    import torchvision

    return (f"torchvision {torchvision.__version__}: its compiled operators do not load with torch "
            f"{torch.__version__}; declared the nms/qnms schemas so that it imports (models need no compiled op)")


def main(argv: list[str]) -> None:
    print(f"rank_model_zoo: {import_torchvision()}", file=sys.stderr)
    from gradsign.cli.main import main as gradsign_main

    gradsign_main(argv)  # exits with the command's status


if __name__ == "__main__":
    main(sys.argv[1:])
