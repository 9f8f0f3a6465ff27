"""Make the embedded NSMC sample in plugins/data/nsmc-sample/.

4,000 training reviews (2,000 negative, 2,000 positive) and 1,000 test
reviews (500 of each) from the NSMC files in ``../shared/data/nsmc`` (the
official format; see its README), so that text trains offline out of the box
as fashion-sample does for images.

How the reviews are chosen, exactly:

- ``rng = numpy.random.default_rng(0)``.
- From ``ratings_train.txt(.gz)``: for label 0 then 1, ``rng.choice(indices of
  that label, 2000, replace=False)``; the chosen indices are sorted, so the
  sample keeps the file's order (labels interleaved).
- Then, with the same ``rng``, the same from ``ratings_test.txt(.gz)`` with 500
  of each.

Each line is written as read (``id<TAB>document<TAB>label``) under the
official header, gzip level 9 with ``mtime=0`` and no file name, so a rerun
writes the same bytes. Usage::

    python scripts/make_nsmc_sample.py [--source ../shared/data/nsmc] [--out plugins/data/nsmc-sample]
"""
from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np

HEADER = "id\tdocument\tlabel"
COUNTS = {"ratings_train.txt": 2000, "ratings_test.txt": 500}


def read_lines(folder: Path, name: str) -> list[str]:
    path = folder / name if (folder / name).is_file() else folder / f"{name}.gz"
    data = path.read_bytes()
    text = (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8")
    lines = text.split("\n")
    assert lines[0] == HEADER, f"{path}: not an NSMC file"
    return [line for line in lines[1:] if line.count("\t") == 2]


def main(argv=None):
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=repo.parent / "shared" / "data" / "nsmc")
    parser.add_argument("--out", type=Path, default=repo / "plugins" / "data" / "nsmc-sample")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, per_label in COUNTS.items():
        lines = read_lines(args.source, name)
        labels = np.array([int(line.rsplit("\t", 1)[1]) for line in lines])
        chosen = np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == label), per_label, replace=False)
                                         for label in (0, 1)]))
        body = "\n".join([HEADER, *(lines[i] for i in chosen)]) + "\n"
        with open(args.out / f"{name}.gz", "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as f:
                f.write(body.encode("utf-8"))
        print(f"{args.out / name}.gz: {len(chosen)} reviews")


if __name__ == "__main__":
    main()
