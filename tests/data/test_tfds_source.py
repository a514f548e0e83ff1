import numpy as np
import pytest
import tensorflow_datasets as tfds

from vqkeras.data import load_images

NUM_EXAMPLES = 10


@pytest.fixture(autouse=True)
def _mock_tfds():
    # Random examples with the real feature specs; nothing is downloaded.
    with tfds.testing.mock_data(num_examples=NUM_EXAMPLES):
        yield


def test_mnist_values_match_tfds():
    dataset = load_images("tfds:mnist", 28, batch_size=4, shuffle=False)
    batches = [batch.numpy() for batch in dataset]
    assert [b.shape for b in batches] == [(4, 28, 28, 1), (4, 28, 28, 1), (2, 28, 28, 1)]
    reference = np.stack([ex["image"] for ex in tfds.as_numpy(tfds.load("mnist", split="train"))])
    np.testing.assert_allclose(np.concatenate(batches), reference / 127.5 - 1.0, atol=1e-6)


def test_cifar10_to_grayscale_and_resize():
    dataset = load_images("tfds:cifar10", 16, channels=1, batch_size=8, split="test", seed=3)
    batches = [batch.numpy() for batch in dataset]
    assert sum(len(b) for b in batches) == NUM_EXAMPLES
    assert all(b.shape[1:] == (16, 16, 1) and b.dtype == np.float32 for b in batches)
    images = np.concatenate(batches)
    assert images.min() >= -1.0 and images.max() <= 1.0 and images.std() > 0.05


def test_image_key_given_and_detected():
    # celeb_a's example dict holds nested landmarks/attributes; "image" is found.
    detected = next(iter(load_images("tfds:celeb_a", 32, batch_size=2, shuffle=False)))
    given = next(iter(load_images("tfds:celeb_a", 32, batch_size=2, shuffle=False, image_key="image")))
    assert detected.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(detected.numpy(), given.numpy())
    with pytest.raises(ValueError, match="image_key='picture'"):
        load_images("tfds:celeb_a", 32, image_key="picture")


def test_unknown_name_suggests_closest():
    with pytest.raises(ValueError, match="Did you mean: 'tfds:mnist'") as info:
        load_images("tfds:mnsit", 28)
    assert "source='tfds:mnsit'" in str(info.value)
    with pytest.raises(ValueError, match="source='tfds:'"):
        load_images("tfds:", 28)
