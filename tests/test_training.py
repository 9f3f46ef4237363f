"""The real-training recipe, trainer and store (issue #25), on tiny synthetic image sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gradsign.data.images import ImageSet
from gradsign.errors import ConfigError, DataError, StoreError
from gradsign.spaces import get_space
from gradsign.training import TrainingRecipe, TrainingStore, prepare_data, train_arch
from gradsign.training.trainer import _augment

TINY = TrainingRecipe(train_images=40, val_images=20, image_size=8, epochs=2, batch_size=16, lr=0.05, width=4)
ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"


def _sets(per_class_train: int = 8, test: int = 30) -> tuple[ImageSet, ImageSet]:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), per_class_train)
    # class-dependent brightness, so that a network can learn something in two epochs
    images = (rng.integers(0, 60, (len(labels), 32, 32, 3)) + 19 * labels[:, None, None, None]).astype(np.uint8)
    test_labels = np.arange(test) % 10
    test_images = (rng.integers(0, 60, (test, 32, 32, 3)) + 19 * test_labels[:, None, None, None]).astype(np.uint8)
    return ImageSet("cifar10", "train", images, labels), ImageSet("cifar10", "test", test_images, test_labels)


@pytest.fixture(scope="module")
def data():
    train, test = _sets()
    return prepare_data(TINY, train_set=train, test_set=test)


def test_recipe_key_changes_with_any_field_and_bad_recipes_are_refused():
    assert TrainingRecipe().key() == TrainingRecipe().key()
    assert TrainingRecipe(epochs=9).key() != TrainingRecipe().key()
    assert TrainingRecipe.from_dict(TINY.to_dict()) == TINY
    with pytest.raises(ConfigError, match="image_size"):
        TrainingRecipe(image_size=12)
    with pytest.raises(ConfigError, match="epochs"):
        TrainingRecipe(epochs=0)
    with pytest.raises(ConfigError, match="unknown field"):
        TrainingRecipe.from_dict({"epoch": 3})


def test_split_is_balanced_disjoint_and_fixed_by_the_recipe(data):
    train, test = _sets()
    assert data.x_train.shape == (40, 3, 8, 8) and data.x_val.shape == (20, 3, 8, 8) and len(data.x_test) == 30
    assert torch.bincount(data.y_train).tolist() == [4] * 10 and torch.bincount(data.y_val).tolist() == [2] * 10
    again = prepare_data(TINY, train_set=train, test_set=test)
    assert torch.equal(again.x_train, data.x_train) and torch.equal(again.x_val, data.x_val)
    # no validation image is a training image
    flat_t = {tuple(r) for r in data.x_train.flatten(1).tolist()}
    assert not any(tuple(r) in flat_t for r in data.x_val.flatten(1).tolist())
    with pytest.raises(DataError, match="needs"):
        prepare_data(TrainingRecipe(train_images=80, val_images=20, image_size=8), train_set=train, test_set=test)


def test_augmentation_crops_and_flips_deterministically():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    a = _augment(x, 1, torch.Generator().manual_seed(3))
    b = _augment(x, 1, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == x.shape
    # every output row is a (possibly flipped) window of a zero-padded input row
    assert set(a.unique().tolist()) <= set(x.unique().tolist()) | {0.0}
    assert torch.equal(_augment(x, 0, torch.Generator().manual_seed(0)).abs().sum(), x.abs().sum())


def test_training_is_deterministic_per_seed_and_records_the_curve(data):
    space = get_space("nb201")
    torch.set_num_threads(1)
    a = train_arch(space, ARCH, TINY, 1, data)
    b = train_arch(space, ARCH, TINY, 1, data)
    c = train_arch(space, ARCH, TINY, 2, data)
    assert (a.train_loss, a.val_accuracy, a.test_accuracy) == (b.train_loss, b.val_accuracy, b.test_accuracy)
    assert a.train_loss != c.train_loss
    assert len(a.train_loss) == len(a.val_accuracy) == len(a.epoch_seconds) == TINY.epochs
    assert 0 <= a.test_accuracy <= 100 and a.seconds >= sum(a.epoch_seconds) > 0
    assert a.arch == ARCH and a.recipe_key == TINY.key()
    with pytest.raises(ConfigError, match="seed"):
        train_arch(space, ARCH, TINY, -1, data)


def test_store_resumes_and_exports_deterministically(tmp_path, data):
    space = get_space("nb201")
    store = TrainingStore(tmp_path / "sub" / "real.sqlite")
    assert store.done("nb201", TINY.key()) == set() and not (tmp_path / "sub").exists()  # reading creates nothing
    run = train_arch(space, ARCH, TINY, 1, data)
    store.put("nb201", run, TINY.to_dict(), {"torch": torch.__version__})
    assert store.done("nb201", TINY.key()) == {(ARCH, 1)}
    assert store.done("nb201", TrainingRecipe().key()) == set()  # another recipe: nothing done
    first, second = tmp_path / "a.csv.gz", tmp_path / "b.csv.gz"
    assert store.export_csv(first) == 1 and store.export_csv(second) == 1
    assert first.read_bytes() == second.read_bytes()
    other = TrainingStore(tmp_path / "other.sqlite")
    assert other.import_csv(first) == 1
    [back] = other.runs("nb201", TINY.key())
    assert (back.val_accuracy, back.train_loss, back.test_accuracy) == (run.val_accuracy, run.train_loss,
                                                                        run.test_accuracy)
    bad = tmp_path / "bad.csv"
    bad.write_text("space,arch\nx,y\n")
    with pytest.raises(StoreError, match="not a training export"):
        other.import_csv(bad)
