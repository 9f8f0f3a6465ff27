"""The input spec: declarations checked once, loaded arrays checked against them."""
import json

import numpy as np
import pytest

from zoo import calls, plugins, spec
from zoo.dataset import Dataset
from zoo.spec import InputSpec


@pytest.mark.parametrize("declared, problem", [
    (InputSpec("audio"), "input layout 'audio' is not one of image, sequence, vector"),
    (InputSpec("image", (28,)), "an image example is height x width, or height x width x channels; shape [28] has 1 axes"),
    (InputSpec("sequence", (4, 4, 4)), "shape [4, 4, 4] has 3 axes"),
    (InputSpec("vector", (0,)), "input shape must be a tuple of positive ints"),
    (InputSpec("image", (28, 28, 2)), "an image has 1, 3 or 4 channels; shape [28, 28, 2] has 2"),
    (InputSpec("image", dtype="object"), "input dtype object is not integers or floats"),
    (InputSpec("image", dtype="no-such-type"), "input dtype 'no-such-type' is not a numpy dtype"),
    (InputSpec("image", scale=float("nan")), "input scale must be a finite number"),
    (InputSpec("image", scale=0.0), "input scale must be positive"),
    (InputSpec("sequence", channels="rgb"), "channels describe images; a sequence has none"),
    (InputSpec("image", (28, 28), channels="rgb"), "channels 'rgb' but shape [28, 28] holds gray"),
    (InputSpec("image", channels="cmyk"), "channels 'cmyk' is not one of gray, rgb, rgba"),
    (InputSpec("image", stored_range=(1, 0)), "stored_range must be (low, high) with low < high"),
])
def test_a_bad_declaration_is_named_in_one_line(declared, problem):
    assert problem in declared.problem()


@pytest.mark.parametrize("good", [
    spec.image((28, 28), "uint8"), spec.image((64, 64, 3), "uint8", "rgb"), spec.image(None, "float32"),
    spec.sequence((100, 2)), spec.vector((13,)), InputSpec("image", stored_range=(0, 16)),
])
def test_good_declarations_pass(good):
    assert good.problem() is None


def test_loaded_arrays_complete_the_declaration():
    x = np.zeros((5, 32, 32, 3), np.uint8)
    complete = spec.image(None, None).of_arrays(x)
    assert (complete.shape, complete.dtype, complete.channels) == ((32, 32, 3), "uint8", "rgb")
    assert complete.scale == pytest.approx(1 / 255) and complete.offset == 0.0
    assert spec.image((32, 32, 3), "uint8").disagreement(complete) is None
    assert spec.image((28, 28), "uint8").disagreement(complete) == \
        "loaded examples of shape [32, 32, 3] but the entry declares [28, 28]"
    assert InputSpec("image", dtype="float32").disagreement(complete) == \
        "loaded dtype uint8 but the entry declares float32"
    assert InputSpec("sequence").disagreement(complete) == "loaded layout image but the entry declares sequence"


def test_scale_and_offset_reach_the_model_input_and_round_trip_through_json():
    """A dataset stored -1..1 as int8 halves: input = x / 127 * 0.5 + 0.5, in training and from the run's config."""
    declared = InputSpec("vector", (3,), "int8", 0.5 / 127, 0.5)
    x = np.array([[-127, 0, 127]], np.int8)
    np.testing.assert_allclose(declared.normalise(x), [[0.0, 0.5, 1.0]], atol=1e-6)
    again = InputSpec.from_dict(json.loads(json.dumps(declared.describe())))
    assert again == declared
    with pytest.raises(ValueError, match="input layout"):
        InputSpec.from_dict({"layout": "audio"})


def test_every_built_in_dataset_declares_a_spec_its_data_matches():
    """Each entry's spec is known without loading; the loadable ones agree with what they load."""
    for entry in plugins.registry().entries("dataset"):
        declared = entry.declared_spec()
        assert declared.problem() is None, entry.name
        assert declared.layout == entry.input_kind and declared.dtype is not None, entry.name
        if entry.name in ("fashion-sample", "multiply", "next-value", "sunspots"):
            data = calls.load_dataset(entry)
            assert declared.disagreement(data.input_spec) is None
            assert data.input_spec.shape == declared.shape


def test_a_dataset_without_a_spec_gets_one_from_its_short_form():
    """Older plugins pass pixel_scale / input_kind / stored_range: the same spec results."""
    x, y = np.zeros((4, 8, 8), np.uint8), np.array([0, 1, 0, 1])
    old = Dataset("old", ("a", "b"), x, y, x, y, pixel_scale=1 / 16, stored_range=(0, 16))
    assert old.input_spec == InputSpec("image", (8, 8), "uint8", 1 / 16, 0.0, "gray", (0, 16))
    new = Dataset("new", ("a", "b"), x, y, x, y, spec=spec.image(None, "uint8", scale=1 / 16, stored_range=(0, 16)))
    assert new.input_spec == old.input_spec and new.pixel_scale == old.pixel_scale
    assert new.image_input() == old.image_input()
