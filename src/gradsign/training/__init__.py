"""Real training on a budget: a fixed short recipe, a deterministic trainer and a resumable store of runs.

The small real benchmark of issue #25 (docs/real_benchmark.md) is built from these:
``scripts/train_real_benchmark.py`` trains architectures under
:data:`~gradsign.training.recipe.SMALL_CIFAR10` and stores every finished run.
"""

from gradsign.training.recipe import SMALL_CIFAR10, TrainingRecipe
from gradsign.training.store import TrainingStore
from gradsign.training.trainer import TrainingData, TrainingRun, accuracy, prepare_data, train_arch

__all__ = ["SMALL_CIFAR10", "TrainingData", "TrainingRecipe", "TrainingRun", "TrainingStore", "accuracy",
           "prepare_data", "train_arch"]
