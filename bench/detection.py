"""Bench part ``detection``: efficientnet-lite0-ssd on the raccoon photos (../shared/data/raccoon), the
author's own split (160 train, 40 test photos), tuned recipe per seed, Model Maker's recipe and a row
without pretrained weights beside it; seed 0's run exported (float32, int8, int16x8, MediaPipe) with each file's
mAP@0.5, size and LiteRT latency per photo."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

RACCOON = Path(__file__).resolve().parents[2] / "shared" / "data" / "raccoon"

LATENCY_SCRIPT = r"""
import json, sys, time
from pathlib import Path
from zoo.device import predict
export, photo = Path(sys.argv[1]), sys.argv[2]
out = {}
for name in ("model.tflite", "model.int8.tflite", "model.int16x8.tflite"):
    if not (export / name).is_file():
        continue
    model = predict.load(str(export / name))
    pixels = [model.read(photo)]
    model.run(pixels); times = []
    for _ in range(20):
        start = time.perf_counter(); model.run(pixels); times.append(time.perf_counter() - start)
    times.sort(); out[name] = round(1e3 * times[len(times) // 2], 2)
print(json.dumps(out))
"""


def raccoon_folder(workdir: Path) -> Path:
    """The raccoon set as a VOC folder with the author's split: train/ and test/ of links to the files."""
    folder = workdir / "raccoon-split"
    for split in ("train", "test"):
        (folder / split).mkdir(parents=True, exist_ok=True)
        with open(RACCOON / f"{split}_labels.csv", newline="") as f:
            names = sorted({row["filename"] for row in csv.DictReader(f)})
        for name in names:
            stem = Path(name).stem
            for source, target in ((RACCOON / "images" / name, folder / split / name),
                                   (RACCOON / "annotations" / f"{stem}.xml", folder / split / f"{stem}.xml")):
                if not target.exists():
                    target.symlink_to(source)
    return folder


def _run(bench, recipe: str, seed: int, workdir: Path, folder: Path, *extra: str) -> dict:
    run_dir = workdir / f"detection-{recipe}-{seed}{'-' + '-'.join(extra).replace('=', '') if extra else ''}"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    result = bench.timed(bench.zoo_cmd("train", "efficientnet-lite0-ssd", "voc", "--data-dir", str(folder),
                                       "--recipe", recipe, "--seed", str(seed), "-o", str(run_dir), "-q", *extra))
    if result["rc"] != 0:
        return {"error": result["stderr"].strip().splitlines()[-1:] or ["?"]}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"test_map50": metrics["test_map50"], "test_map": metrics["test_map"],
            "fit_seconds": metrics["training_seconds"], "wall_seconds": round(result["seconds"], 1),
            "peak_rss_mb": round(result["peak_rss_mb"]), "run_dir": str(run_dir)}


def _export(bench, run_dir: Path, photo: Path) -> dict:
    exported = bench.timed(bench.zoo_cmd("export", str(run_dir), "--tflite", "--quantize", "int8", "--quantize",
                                         "int16x8", "--mediapipe", "--force"))
    card_path = run_dir / "export" / "model_card.json"
    if not card_path.is_file():
        return {"error": exported["stderr"].strip().splitlines()[-1:]}
    card = json.loads(card_path.read_text())
    latency = bench.timed([sys.executable, "-c", LATENCY_SCRIPT, str(run_dir / "export"), str(photo)])
    return {"files": [{k: f.get(k) for k in ("file", "size_bytes", "test_map50", "same_boxes", "verified")}
                      for f in card["files"]],
            "refused": card.get("refused", []), "keras_map50": card["verification"].get("keras_test_map50"),
            "error": exported["stderr"].strip().splitlines()[-1:] if exported["rc"] else None,
            "latency_ms": json.loads(latency["stdout"].strip().splitlines()[-1]) if latency["rc"] == 0 else None}


def part_detection(bench, seeds, workdir: Path, record=None) -> dict:
    rows = {}
    if not RACCOON.is_dir():
        return rows
    folder = raccoon_folder(workdir)
    photo = next(iter(sorted((folder / "test").glob("*.jpg"))))
    plan = [("tuned", seed, ()) for seed in seeds] + [("tutorial", seeds[0], ()),
                                                      ("tuned", seeds[0], ("-p", "weights=none"))]
    for recipe, seed, extra in plan:
        key = f"{recipe}/{seed}" + ("/no-pretrained" if extra else "")
        print(f"detection: {key}", flush=True)
        row = {**_run(bench, recipe, seed, workdir, folder, *extra), "seed": seed, "recipe": recipe,
               "pretrained": not extra}
        if "run_dir" in row and recipe == "tuned" and seed == seeds[0] and not extra:
            row["export"] = _export(bench, Path(row["run_dir"]), photo)
        rows[key] = row
        if record is not None:
            record({key: row})
    return rows
