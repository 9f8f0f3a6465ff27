"""Make plugins/data/raccoon-sample: real raccoon photos with their boxes, small enough to ship.

From the raccoon set (datitran/raccoon_dataset, MIT; ../shared/data/raccoon):
the first 48 photos of the author's train list and the first 12 of the test
list (in the order the lists name them), each read through zoo's own VOC
reader (so every box is checked against its photo), shrunk to at most 320
pixels a side, its boxes scaled with it, and written back as a JPEG (quality
90) and a PASCAL VOC XML file under train/ and test/, with labels.txt and the
licence.

    python scripts/make_raccoon_sample.py ../shared/data/raccoon plugins/data/raccoon-sample
"""
from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path
from xml.sax.saxutils import escape

from PIL import Image, ImageOps

from zoo.data.boxes import read_voc

SIDE = 320
COUNTS = {"train": 48, "test": 12}


def first_names(csv_path: Path, count: int) -> list:
    names = []
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            if row["filename"] not in names:
                names.append(row["filename"])
    return names[:count]


def write(annotated, destination: Path) -> None:
    with Image.open(annotated.image) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
        factor = min(1.0, SIDE / max(img.size))
        size = (max(1, round(img.size[0] * factor)), max(1, round(img.size[1] * factor)))
        img.resize(size, Image.Resampling.LANCZOS).save(destination / annotated.image.name, quality=90)
    objects = "".join(
        f"\t<object>\n\t\t<name>{escape(b.label)}</name>\n\t\t<bndbox>\n"
        + "".join(f"\t\t\t<{tag}>{min(max(round(v * factor), 0), limit)}</{tag}>\n"
                  for tag, v, limit in (("xmin", b.xmin, size[0]), ("ymin", b.ymin, size[1]),
                                        ("xmax", b.xmax, size[0]), ("ymax", b.ymax, size[1])))
        + "\t\t</bndbox>\n\t</object>\n" for b in annotated.boxes)
    (destination / f"{annotated.image.stem}.xml").write_text(
        f"<annotation>\n\t<filename>{escape(annotated.image.name)}</filename>\n"
        f"\t<size>\n\t\t<width>{size[0]}</width>\n\t\t<height>{size[1]}</height>\n\t\t<depth>3</depth>\n\t</size>\n"
        f"{objects}</annotation>\n")


def main(source: str, destination: str) -> None:
    source, destination = Path(source), Path(destination)
    if destination.exists():
        shutil.rmtree(destination)
    for split, count in COUNTS.items():
        folder = destination / split
        folder.mkdir(parents=True)
        for name in first_names(source / f"{split}_labels.csv", count):
            write(read_voc(source / "annotations" / f"{Path(name).stem}.xml"), folder)
    (destination / "labels.txt").write_text("raccoon\n")
    shutil.copy(source / "LICENSE", destination / "LICENSE")


if __name__ == "__main__":
    main(*sys.argv[1:3])
