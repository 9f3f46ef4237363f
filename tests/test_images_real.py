"""Image sets read from the real files of ../shared/data (skipped when absent).

Kept to a few seconds: of CIFAR-10 only the test split (10k JPEGs) is decoded,
once per module; the train split's 50k are left to the first real run.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from gradsign.data.images import SplitFallbackWarning, load_image_set
from gradsign.errors import ConfigError

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def cifar10_test(data_dir, tmp_path_factory):
    # Module scope runs before the function-scoped autouse cache isolation, so
    # point the cache at the same session directory here, by hand.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADSIGN_CACHE", str(tmp_path_factory.getbasetemp() / "gradsign-cache"))
        return load_image_set("cifar10", "test", data_dir=data_dir, source="shared", use_cache=True)


def test_cifar10_test_split_from_the_jpeg_zip(cifar10_test, data_dir):
    ims = cifar10_test
    assert (ims.dataset, ims.split, ims.source) == ("cifar10", "test", "cifar10-jpeg")
    assert ims.path == data_dir / "images" / "cifar10-jpeg.zip"
    assert ims.images.shape == (10_000, 32, 32, 3) and ims.images.dtype == np.uint8
    assert ims.class_counts().tolist() == [1000] * 10
    # Real photographs: neither blank nor saturated.
    sample = ims.images[::50]
    assert 80 < sample.mean() < 160 and sample.std() > 40


def test_cifar10_second_load_is_cached_and_identical(cifar10_test, data_dir):
    start = time.perf_counter()
    again = load_image_set("cifar10", "test", data_dir=data_dir, source="shared")
    elapsed = time.perf_counter() - start
    assert again.cached
    np.testing.assert_array_equal(again.images, cifar10_test.images)
    np.testing.assert_array_equal(again.labels, cifar10_test.labels)
    assert elapsed < 5  # decoding takes seconds; the cache, a fraction of one (generous for a busy machine)


def test_nb201_normalization_centres_real_cifar10(cifar10_test):
    x, _ = cifar10_test.tensors(np.arange(0, 10_000, 7))
    per_channel = x.transpose(0, 1).reshape(3, -1)
    assert per_channel.mean(dim=1).abs().max() < 0.1
    assert (per_channel.std(dim=1) - 1).abs().max() < 0.1


def test_cifar10_batches(cifar10_test):
    x, y = cifar10_test.sample_batch(64, seed=0, augment=True)
    assert x.shape == (64, 3, 32, 32) and y.shape == (64,)
    x2, y2 = cifar10_test.sample_batch(64, seed=0, augment=True)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    _, yg = cifar10_test.sample_batch(seed=0, sampling="grasp", samples_per_class=10)
    assert torch.bincount(yg).tolist() == [10] * 10


def test_cifar100_subset(data_dir):
    with pytest.warns(SplitFallbackWarning):
        ims = load_image_set("cifar100", "train", data_dir=data_dir, source="shared")
    assert (ims.split, ims.requested_split, ims.source, len(ims)) == ("test", "train", "cifar100-subset", 860)
    counts = ims.class_counts()
    assert counts.min() >= 2 and (counts > 0).all()
    x, y = ims.sample_batch(seed=1, sampling="grasp", samples_per_class=2)
    assert x.shape == (200, 3, 32, 32) and torch.bincount(y).tolist() == [2] * 100
    with pytest.raises(ConfigError, match="at most 2"):
        ims.sample_batch(seed=1, sampling="grasp", samples_per_class=3)


def test_imagenet16_subset(data_dir):
    ims = load_image_set("imagenet16", "test", data_dir=data_dir, source="shared")
    assert (ims.dataset, ims.source, len(ims)) == ("ImageNet16-120", "imagenet16-subset", 278)
    assert ims.input_size == (3, 16, 16)
    assert (ims.class_counts() > 0).all()
    x, y = ims.sample_batch(64, seed=0, augment=True)
    assert x.shape == (64, 3, 16, 16) and y.max() < 120
