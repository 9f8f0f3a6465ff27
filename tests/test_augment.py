"""Training-time augmentations: what each one does to real images, and that inference is untouched."""
import numpy as np
import pytest

from zoo import plugins, trainer
from zoo.cli import train


@pytest.fixture(scope="module")
def images():
    data = plugins.get("dataset", "fashion-sample").load()
    return data.normalise(data.x_train[:300])[..., None]


def test_the_cli_offers_every_augmentation():
    choices = next(p for p in train.params if p.name == "augment").type.choices
    assert set(choices) == set(trainer.AUGMENTATIONS) | {"none"}


@pytest.mark.parametrize("name", sorted(trainer.AUGMENTATIONS))
def test_augmentation_changes_training_images_only(images, name):
    augment = trainer.augmentation(name, seed=0)
    augmented = np.asarray(augment(images, training=True))
    assert augmented.shape == images.shape
    assert augmented.min() >= 0 and augmented.max() <= 1
    changed = np.abs(augmented - images).reshape(len(images), -1).max(axis=1) > 1e-3
    assert changed.mean() > 0.5, changed.mean()
    assert np.array_equal(np.asarray(augment(images, training=False)), images)
