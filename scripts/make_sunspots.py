"""Copy the yearly sunspot numbers (1700-2008, public domain) into plugins/data/sunspots/.

The series is NOAA's National Geophysical Data Center yearly sunspot numbers
as statsmodels ships them (``statsmodels/datasets/sunspots/sunspots.csv`` in
the statsmodels 0.15.0 wheel; its ``data.py`` says "This data is public
domain" and gives the source http://www.ngdc.noaa.gov/stp/solar/solarda3.html).
zoo ships the data, not a dependency on statsmodels. Usage::

    pip download --no-deps statsmodels==0.15.0 -d /tmp/sm
    python scripts/make_sunspots.py /tmp/sm/statsmodels-0.15.0-*.whl

The CSV's MD5 is checked before it is copied, byte for byte.
"""
from __future__ import annotations

import argparse
import hashlib
import zipfile
from pathlib import Path

MEMBER = "statsmodels/datasets/sunspots/sunspots.csv"
MD5 = "59e2e1f967d47313166dc1b035c0b2bd"  # of MEMBER in statsmodels 0.15.0
OUT = Path(__file__).resolve().parents[1] / "plugins" / "data" / "sunspots" / "sunspots.csv"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="the statsmodels 0.15.0 wheel")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    with zipfile.ZipFile(args.wheel) as wheel:
        data = wheel.read(MEMBER)
    if hashlib.md5(data).hexdigest() != MD5:
        raise SystemExit(f"{args.wheel}: {MEMBER} has MD5 {hashlib.md5(data).hexdigest()}, expected {MD5}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data)} bytes, md5 {MD5})")


if __name__ == "__main__":
    main()
