"""Training-time augmentations: what each does to real images, what each dataset allows, and that none is off."""
import numpy as np
import pytest
from click.testing import CliRunner

from zoo import distribute, plugins, recipes, trainer
from zoo.augment import AUGMENTATIONS, TRANSFORMATIONS, narrowed, transformations
from zoo.cli import cli
from zoo.errors import UsageError


@pytest.fixture(scope="module")
def images():
    data = plugins.get("dataset", "fashion-sample").load()
    return data.normalise(data.x_train[:300])[..., None]


def test_the_cli_offers_every_augmentation():
    text = CliRunner().invoke(cli, ["train", "--help"]).output
    for name in (*AUGMENTATIONS, "none"):
        assert name in text


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_augmentation_changes_training_images_only(images, name):
    augment = trainer.augmentation(name, seed=0)
    augmented = np.asarray(augment(images, training=True))
    assert augmented.shape == images.shape
    assert augmented.min() >= 0 and augmented.max() <= 1
    changed = np.abs(augmented - images).reshape(len(images), -1).max(axis=1) > 1e-3
    assert changed.mean() > 0.5, changed.mean()
    assert np.array_equal(np.asarray(augment(images, training=False)), images)


def test_each_augmentation_is_the_layers_of_its_transformations():
    """'shift' holds no mirror; the presets keep the layers (and seeds) they always had."""
    def layers(name):
        return [(type(layer).__name__, layer.seed) for layer in trainer.augmentation(name, seed=10).layers]

    assert layers("shift") == [("RandomTranslation", 13)]
    assert layers("flip-shift") == [("RandomTranslation", 13), ("RandomFlip", 14)]
    assert [kind for kind, _ in layers("tutorial")] == [
        "RandomRotation", "RandomZoom", "RandomShear", "RandomTranslation", "RandomFlip"]
    assert "RandomFlip" not in [kind for kind, _ in layers("geometric")]


def test_transformations_are_named_one_by_one_or_as_a_preset():
    assert transformations("flip-shift") == ("shift", "flip")
    assert transformations("flip+rotate") == ("rotate", "flip")  # the fixed order of TRANSFORMATIONS
    assert set(transformations("tutorial")) == set(TRANSFORMATIONS)
    with pytest.raises(UsageError, match="--augment blur: expected none, one of tutorial"):
        transformations("blur")


def entry(name):
    return plugins.get("dataset", name)


def test_recipes_use_what_the_dataset_allows():
    """The tuned cnn flips clothing but never digits; a dataset that is not images gets none."""
    cnn = plugins.get("architecture", "cnn")
    assert recipes.resolve(cnn, "tuned", None, None, entry("fashion"))[1].augment == "flip-shift"
    for digits in ("mnist", "idx", "images"):
        assert recipes.resolve(cnn, "tuned", None, None, entry(digits))[1].augment == "shift"
    assert narrowed("tutorial", entry("mnist")) == "geometric"
    assert narrowed("flip-shift", entry("multiply")) is None


@pytest.mark.parametrize("name, dataset, message", [
    ("flip-shift", "idx", "--augment flip-shift uses flip, which dataset 'idx' does not allow "
                          "(it allows rotate, zoom, shear, shift"),
    ("tutorial", "mnist", "uses flip, which dataset 'mnist' does not allow"),
    ("shift", "multiply", "dataset 'multiply' is not images; it allows no augmentation"),
])
def test_an_augmentation_the_dataset_forbids_is_refused_naming_both(name, dataset, message):
    arch = plugins.get("architecture", "lstm-bn" if dataset == "multiply" else "cnn")
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        recipes.resolve(arch, "tuned", {"augment": name}, None, entry(dataset))


def test_augment_none_is_honoured_in_the_recipe_and_the_training_images():
    """`--augment none`: config records no augmentation, and every training image reaches the model as stored."""
    cnn, data_entry = plugins.get("architecture", "cnn"), entry("fashion-sample")
    _, settings, _ = recipes.resolve(cnn, "tuned", {"augment": "none", "validation_split": 0.0}, None, data_entry)
    assert settings.augment is None and settings.to_dict()["augment"] is None
    data = data_entry.load()
    training, _, _, seeding = trainer.pipelines(data, settings, distribute.configure(), seed=0)
    seeding.on_epoch_begin(0)
    seen = np.concatenate([x.numpy() for x, _ in training])
    expected = data.normalise(data.x_train)
    # The same images, in the epoch's shuffled order: sort both by their bytes.
    key = lambda a: sorted(row.tobytes() for row in a)  # noqa: E731
    assert key(seen) == key(expected)
    # With the recipe's own augmentation they differ (the test can fail).
    _, augmented, _ = recipes.resolve(cnn, "tuned", {"validation_split": 0.0}, None, data_entry)
    training, _, _, seeding = trainer.pipelines(data, augmented, distribute.configure(), seed=0)
    seeding.on_epoch_begin(0)
    assert key(np.concatenate([x.numpy() for x, _ in training])) != key(expected)
