"""A photo with the boxes ``zoo predict`` found, drawn with Pillow (no TensorFlow)."""
from __future__ import annotations

from pathlib import Path

from zoo.errors import UsageError, ZooError

COLOUR = (255, 127, 14)  # the report's orange for found boxes


def draw(photo, boxes: list, destination) -> Path:
    """Write ``photo`` (upright, RGB) with each box (``x, y, width, height`` in its pixels, ``class``,
    ``score``) outlined and labelled to ``destination`` (its suffix says the format: .jpg, .png ...)."""
    from PIL import Image, ImageDraw, ImageOps

    destination = Path(destination)
    if destination.suffix.lower() not in Image.registered_extensions():
        raise UsageError(f"--draw {destination}: name a picture file (.jpg, .png ...)")
    with Image.open(photo) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
    pen = ImageDraw.Draw(img)
    line = max(2, round(max(img.size) / 200))
    for box in boxes:
        x, y, w, h = box["x"], box["y"], box["width"], box["height"]
        pen.rectangle([x, y, x + w, y + h], outline=COLOUR, width=line)
        label = f"{box['class']} {box['score']:.2f}"
        left, top, right, bottom = pen.textbbox((x, y), label)
        pen.rectangle([left, top - (bottom - top) - 2, right + 4, y], fill=COLOUR)
        pen.text((x + 2, top - (bottom - top) - 2), label, fill=(255, 255, 255))
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        img.save(destination)
    except (OSError, ValueError) as exc:
        raise ZooError(f"--draw {destination}: cannot write it ({exc})") from None
    return destination
