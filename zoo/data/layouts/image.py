"""The ``image`` layout: height x width, or height x width x 1, 3 or 4 channels of pixels.

Images are the layout with most of its own: channels, black and white (an
image file's 0..255 mapped onto how the dataset stored them), pictures in
reports, image files for ``zoo predict``, transformations that keep a label,
MediaPipe's ImageClassifier and a page with a photo picker and a camera.
"""
from __future__ import annotations


import numpy as np

from zoo.data.layouts.base import Layout
from zoo.errors import DataError

# The number of an image's channels -> what they mean; an image without a channel axis is gray.
CHANNELS = {1: "gray", 3: "rgb", 4: "rgba"}


def channels_of(shape: tuple) -> str:
    return CHANNELS.get(shape[2], "gray") if len(shape) == 3 else "gray"


def _g(value: float) -> str:
    return f"{float(value):.6g}"


# no fields of its own: no dataclass decorator (each costs zoo predict a few ms)
class ImageLayout(Layout):
    def shape_problem(self, spec) -> str | None:
        shape = spec.shape
        if shape is not None:
            if len(shape) not in self.ranks:
                return f"an image example is {self.axes}; shape {list(shape)} has {len(shape)} axes"
            if len(shape) == 3 and shape[2] not in CHANNELS:
                return f"an image has 1, 3 or 4 channels; shape {list(shape)} has {shape[2]}"
        if spec.channels is not None:
            if spec.channels not in CHANNELS.values():
                return f"channels {spec.channels!r} is not one of {', '.join(CHANNELS.values())}"
            if shape is not None and spec.channels != channels_of(shape):
                return f"channels {spec.channels!r} but shape {list(shape)} holds {channels_of(shape)}"
        return None

    def channels_of(self, shape) -> str | None:
        return channels_of(tuple(shape))

    def words(self, spec) -> str:  # height x width; the channels say the rest
        size = " x ".join(map(str, spec.shape[:2])) if spec.shape else "of any size"
        return f"image {size}, {spec.channels or 'gray'}"

    def data_problem(self, dataset) -> str | None:
        """What an image file's black and white will mean at predict time must fit the stored values."""
        import dataclasses

        low = float(min(dataset.x_train.min(), dataset.x_test.min()))
        high = float(max(dataset.x_train.max(), dataset.x_test.max()))
        complete = dataset.input_spec
        implied = range_from_scale(complete, low, high)
        if implied is not None:  # plugins written before stored_range: their scale says where white is
            dataset.spec = dataclasses.replace(dataset.spec, stored_range=implied)
            dataset.stored_range, complete = implied, dataset.input_spec
        return range_problem(complete, low, high)

    def draw(self, ax, example: np.ndarray) -> None:
        example = np.asarray(example)
        # One channel: gray, as the tutorials draw it; colour as it is (floats must lie in [0, 1]).
        picture = example[..., 0] if example.ndim == 3 and example.shape[2] == 1 else example
        if picture.ndim == 3 and not np.issubdtype(picture.dtype, np.integer):
            picture = np.clip(picture, 0.0, 1.0)
        ax.imshow(picture, cmap="binary" if picture.ndim == 2 else None)

    def card_input(self, spec) -> dict:
        # How an image file becomes this input, whatever the dataset stored (zoo predict uses it).
        return {self.card_key: {**spec.image_input(),
                                "color": ("RGB (Pillow 'RGB')" if spec.channels == "rgb" else
                                          "grayscale (Pillow 'L'; 16-bit files scaled to 8 bits)"),
                                "resize": "bilinear, to rows x columns"}}

    def runner_settings(self, card, runner) -> dict:
        scale, offset = card.image_scaling()
        shape = runner.image_shape
        color = CHANNELS.get(shape[2]) if len(shape) == 3 else "gray"
        if len(shape) not in (2, 3) or color is None:
            raise DataError(f"{card.model_file}: expects input of shape {runner.input_shape}; zoo predict reads "
                            "images (batch, height, width) or (batch, height, width, 1, 3 or 4 channels)")
        return {"scale": scale, "offset": offset, "color": color}

    def place(self, answer: dict, name) -> dict:
        """Boxes given as fractions of the model's input become the photo's own pixels (x, y from its top left)."""
        if not isinstance(answer.get("boxes"), list) or not answer["boxes"]:
            return answer
        from zoo.data.images import image_header

        height, width, _ = image_header(name)
        placed = []
        for box in answer["boxes"]:
            ymin, xmin, ymax, xmax = box["box"]
            placed.append({**{k: v for k, v in box.items() if k != "box"},
                           "x": round(xmin * width), "y": round(ymin * height),
                           "width": round((xmax - xmin) * width), "height": round((ymax - ymin) * height)})
        return {**answer, "boxes": placed, "photo_size": [width, height]}

    def gather(self, classifier, items, texts=(), word_by_word=False):
        return [str(item) for item in items], self.feed(classifier, [read(classifier, i) for i in items]), None

    def feed(self, classifier, examples) -> np.ndarray:
        """8-bit images (gray ones given to a colour file are replicated into R, G and B), scaled as the
        model card says."""
        pixels = np.asarray(examples)
        shape = classifier.runner.image_shape
        if len(shape) == 3 and shape[2] == 3 and (pixels.ndim == 3 or pixels.shape[-1] == 1):
            pixels = np.repeat(pixels.reshape(*pixels.shape[:3], 1), 3, axis=3)
        elif len(shape) == 3 and shape[2] == 1 and pixels.ndim == 3:
            pixels = pixels[..., None]
        if not len(pixels):
            return np.zeros((0, 0))
        inputs = pixels.astype(np.float32) * np.float32(classifier.scale) + np.float32(classifier.offset)
        return classifier.runner.predict(inputs)

    def test_inputs(self, dataset, count: int):
        """8-bit pixels, as image files hold them; stored floats lose their fractions (a lossy form)."""
        from zoo.data.images import eight_bit

        spec = dataset.input_spec
        return eight_bit(dataset.x_test[:count], spec.black_white), spec.dtype != "uint8"


IMAGE = ImageLayout(
    "image", "pictures: height x width, gray or with 3 or 4 channels",
    axes="height x width, or height x width x channels", ranks=(2, 3), example="image", input_name="image",
    mediapipe="vision", page_input="image", augments=True, card_key="from_image_file",
    counted="images")


def read(classifier, path) -> np.ndarray:
    """One image file as the model's input shape: gray or colour, resized, still 8-bit."""
    from zoo.data.images import load_image

    shape = classifier.runner.image_shape
    pixels = load_image(path, shape[:2], classifier.color)
    return pixels[..., None] if len(shape) == 3 and shape[2] == 1 else pixels


def range_problem(spec, low: float, high: float) -> str | None:
    """Whether images whose stored values span ``low..high`` contradict their black and white.

    ``zoo predict`` maps an image file's 0..255 onto ``black_white``; if
    the data lies outside it, or (undeclared) fills only a corner of the
    default 0..255 or 0..1, every predicted image would be fed values the
    model never saw. A dataset stored 0..16 must say so
    (``stored_range=(0, 16)``); zoo refuses it at load rather than let
    ``zoo predict`` answer wrongly.
    """
    black, white = spec.black_white
    span = white - black
    declared = "declared" if spec.stored_range is not None else "default"
    fix = f"declare its black and white: zoo.spec.image(..., stored_range=({_g(low)}, {_g(high)}))"
    if low < black - span / 100 or high > white + span / 100:
        return (f"images hold values {_g(low)}..{_g(high)}, outside their {declared} stored range "
                f"{_g(black)}..{_g(white)} (black..white); {fix}")
    if spec.stored_range is None and high - black < span / 8:
        return (f"images hold values {_g(low)}..{_g(high)}, a small corner of the default stored range "
                f"{_g(black)}..{_g(white)}: zoo predict would map an image file's white to {_g(white)}; {fix}")
    return None


def range_from_scale(spec, low: float, high: float) -> tuple | None:
    """The stored range a declared scale implies, where nothing declares one: a scale puts white at
    ``1 / scale`` (``pixel_scale=1/16``: digits stored 0..16), if the data fills that range (more
    than an eighth of it, nothing outside). None where the scale says nothing new or the data
    disagrees (then ``range_problem`` names it)."""
    if spec.stored_range is not None or not spec.scale or spec.offset:
        return None
    white = 1.0 / spec.scale
    if abs(white - spec.black_white[1]) <= 1e-6 * white:  # the default range already says it
        return None
    if low < -white / 100 or high > white * 1.01 or high < white / 8:
        return None
    return (0.0, float(f"{white:.10g}"))
