"""Write plugins/data/imagenet-classes.txt: ImageNet-1k's 1,000 class names in the order of its class ids.

ImageNet's synsets and their WordNet lemmas are public data; timm (Apache-2.0)
ships them as ``timm/data/_info/imagenet_synsets.txt`` (the 1,000 synsets in
class-id order) and ``imagenet_synset_to_lemma.txt``. zoo reads the two from
timm's wheel (``pip download --no-deps timm``), so that this runs without
installing timm or PyTorch:

    python scripts/make_imagenet_classes.py timm-*.whl

Each line is ``synset<TAB>lemmas``, e.g. ``n02124075	Egyptian cat`` (line 286, class 285).
"""
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "plugins" / "data" / "imagenet-classes.txt"


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as z:
        synsets = z.read("timm/data/_info/imagenet_synsets.txt").decode("utf-8").split()
        lemmas = dict(line.split("\t", 1) for line in
                      z.read("timm/data/_info/imagenet_synset_to_lemma.txt").decode("utf-8").splitlines() if line)
    if len(synsets) != 1000:
        raise SystemExit(f"{wheel}: {len(synsets)} synsets, not 1,000")
    OUT.write_text("".join(f"{s}\t{lemmas[s]}\n" for s in synsets), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
