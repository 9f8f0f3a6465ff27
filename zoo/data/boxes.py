"""Photos with boxes: PASCAL VOC XML files and COCO ``labels.json``, read and checked (no TensorFlow).

Every annotation is checked against its image before anything is trained on
it: the image exists and its header's size is the size the annotation
declares, every box lies inside it with ``xmin < xmax`` and ``ymin < ymax``,
every class name is on the label list. A photo without boxes is kept (a
negative: background only). A fault is one ``DataError`` line naming the file
and the box.

Boxes are kept in the photo's pixels as the files give them (VOC's are
1-based and inclusive; both formats are read as ``xmin, ymin, xmax, ymax``
edges, which is what the detectors trained on VOC do).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.data.images import MAX_PIXELS, image_header
from zoo.errors import DataError

MAX_ANNOTATION_BYTES = 10_000_000  # an XML or JSON file larger than this is not an annotation
IMAGE_FOLDERS = ("images", "JPEGImages")  # where a VOC file's <filename> is looked for, beside its own folder


@dataclass(frozen=True)
class Box:
    label: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float


@dataclass(frozen=True)
class Annotated:
    """One photo and its boxes (in its pixels), checked."""

    image: Path
    width: int
    height: int
    boxes: tuple
    source: Path  # the annotation file it came from


def _number(text, where: str) -> float:
    try:
        value = float(str(text).strip())
    except (TypeError, ValueError):
        raise DataError(f"{where} is not a number ({str(text)[:30]!r})") from None
    if not math.isfinite(value):
        raise DataError(f"{where} is not a finite number ({value})")
    return value


def _checked(image: Path, width, height, boxes: list, source: Path, names) -> Annotated:
    """The annotation checked against its image and the label list (``names``: None takes any name)."""
    where = f"{source}"
    if not (isinstance(width, (int, float)) and isinstance(height, (int, float))) or width < 1 or height < 1:
        raise DataError(f"{where}: the image size {width} x {height} is not a size")
    if width * height > MAX_PIXELS:
        raise DataError(f"{where}: declares {int(width)} x {int(height)} pixels, more than the {MAX_PIXELS} allowed")
    if not image.is_file():
        raise DataError(f"{where}: names {image.name}, which is not at {image}")
    real_height, real_width, _ = image_header(image)
    if (int(width), int(height)) != (real_width, real_height):
        raise DataError(f"{where}: declares {int(width)} x {int(height)} but {image.name} is "
                        f"{real_width} x {real_height}")
    for n, box in enumerate(boxes, 1):
        at = f"{where}: box {n} ({box.label!r} {box.xmin:g},{box.ymin:g},{box.xmax:g},{box.ymax:g})"
        if names is not None and box.label not in names:
            raise DataError(f"{at}: class {box.label!r} is not on the label list ({', '.join(list(names)[:5])})")
        if not (box.xmin < box.xmax and box.ymin < box.ymax):
            raise DataError(f"{at}: xmin must be below xmax and ymin below ymax")
        if box.xmin < 0 or box.ymin < 0 or box.xmax > width or box.ymax > height:
            raise DataError(f"{at}: outside the {int(width)} x {int(height)} image")
    return Annotated(image, int(width), int(height), tuple(boxes), source)


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_ANNOTATION_BYTES:
            raise DataError(f"{path}: {size} bytes, more than the {MAX_ANNOTATION_BYTES} an annotation file may have")
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: unreadable ({exc.strerror or exc})") from None


def read_voc(path: Path, names=None) -> Annotated:
    """One PASCAL VOC XML file: its ``<filename>`` (beside it, or in a sibling ``images/`` or
    ``JPEGImages/`` folder), ``<size>`` and each ``<object>``'s ``<name>`` and ``<bndbox>``."""
    from xml.etree import ElementTree

    path = Path(path)
    try:  # expat refuses entity expansion bombs itself (Python >= 3.7.1 with expat >= 2.4.1)
        root = ElementTree.fromstring(_read_bytes(path))
    except ElementTree.ParseError as exc:
        raise DataError(f"{path}: not well-formed XML ({exc})") from None
    if root.tag != "annotation":
        raise DataError(f"{path}: not a PASCAL VOC annotation (its root is <{root.tag[:40]}>, not <annotation>)")

    def text(node, tag, where):
        found = node.find(tag)
        if found is None or found.text is None or not found.text.strip():
            raise DataError(f"{where}: has no <{tag}>")
        return found.text.strip()

    filename = text(root, "filename", path)
    if Path(filename).name != filename:
        raise DataError(f"{path}: <filename> {filename[:60]!r} must be a file name, not a path")
    size = root.find("size")
    if size is None:
        raise DataError(f"{path}: has no <size>")
    width, height = (_number(text(size, tag, path), f"{path}: <size><{tag}>") for tag in ("width", "height"))
    boxes = []
    for n, obj in enumerate(root.findall("object"), 1):
        label = text(obj, "name", f"{path}: object {n}")
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise DataError(f"{path}: object {n} ({label!r}) has no <bndbox>")
        boxes.append(Box(label, *(_number(text(bndbox, tag, f"{path}: object {n}"), f"{path}: object {n} <{tag}>")
                                  for tag in ("xmin", "ymin", "xmax", "ymax"))))
    candidates = [path.parent / filename] + [path.parent.parent / folder / filename for folder in IMAGE_FOLDERS]
    image = next((c for c in candidates if c.is_file()), candidates[0])
    return _checked(image, width, height, boxes, path, names)


def read_voc_folder(folder: Path, names=None) -> list:
    """Every ``*.xml`` under ``folder`` (sorted), read with ``read_voc``."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*.xml")
                   if not any(part.startswith(".") for part in p.relative_to(folder).parts))  # hidden: skipped
    return [read_voc(p, names) for p in files]


def read_coco(path: Path, names=None) -> tuple:
    """A COCO ``labels.json`` (``images``, ``annotations`` with ``bbox`` [x, y, width, height],
    ``categories``): ``(annotated, class names)``, images looked for beside it or in ``images/``."""
    from zoo.jsonfile import loads

    path = Path(path)
    try:
        data = loads(_read_bytes(path).decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not JSON ({str(exc)[:80]})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations",
                                                                                     "categories")):
        raise DataError(f"{path}: not a COCO file (it needs the lists 'images', 'annotations' and 'categories')")
    try:
        categories = {int(c["id"]): str(c["name"]) for c in data["categories"]}
        images = {int(i["id"]): i for i in data["images"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: a category or image lacks its id or name ({exc})") from None
    class_names = tuple(sorted(set(categories.values())))
    boxes = {i: [] for i in images}
    for n, ann in enumerate(data["annotations"], 1):
        where = f"{path}: annotation {n}"
        if not isinstance(ann, dict) or ann.get("image_id") not in images:
            raise DataError(f"{where}: names image {ann.get('image_id') if isinstance(ann, dict) else ann!r}, "
                            "which 'images' does not list")
        if ann.get("category_id") not in categories:
            raise DataError(f"{where}: category {ann.get('category_id')!r} is not in 'categories'")
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise DataError(f"{where}: 'bbox' must be [x, y, width, height]")
        x, y, w, h = (_number(v, f"{where} bbox") for v in bbox)
        boxes[ann["image_id"]].append(Box(categories[ann["category_id"]], x, y, x + w, y + h))
    found = []
    for image_id, image in sorted(images.items()):
        name = image.get("file_name")
        if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
            raise DataError(f"{path}: image {image_id}'s file_name {name!r} must be a path inside its folder")
        candidates = [path.parent / name, path.parent / "images" / name]
        file = next((c for c in candidates if c.is_file()), candidates[0])
        found.append(_checked(file, image.get("width"), image.get("height"), boxes[image_id], path,
                              names if names is not None else class_names))
    return found, class_names


def class_names_of(annotated: list) -> tuple:
    """The class names the boxes use, sorted."""
    return tuple(sorted({box.label for a in annotated for box in a.boxes}))


def to_arrays(annotated: list, class_names: tuple, size: tuple) -> tuple:
    """``(x, y)``: the photos as uint8 RGB at ``size`` (height, width), stretched as MediaPipe's detector
    reads them, and per photo a float32 ``(boxes, 5)`` array of ``class, ymin, xmin, ymax, xmax`` with
    the corners as fractions of the photo (so they hold at any size)."""
    from zoo.data.images import load_image

    index = {name: i for i, name in enumerate(class_names)}
    x = np.stack([load_image(a.image, size, "rgb") for a in annotated]) if annotated else np.zeros(
        (0, *size, 3), np.uint8)
    y = np.empty(len(annotated), dtype=object)
    for n, a in enumerate(annotated):
        y[n] = np.array([[index[b.label], b.ymin / a.height, b.xmin / a.width, b.ymax / a.height, b.xmax / a.width]
                         for b in a.boxes], np.float32).reshape(-1, 5)
    return x, y
