"""Bench part ``qat``: int8 after quantization-aware fine-tuning, against post-training int8 and int16x8.

Per architecture and seed (the issue's benchmark datasets: lstm-bn and cnn on Fashion-MNIST, tuned): the
tuned run, then ``zoo train --from RUN --qat`` (the recipe's 3 QAT epochs), each exported with
``--quantize int8 --integer-only`` (and the float run with ``--quantize int16x8``); every file's test
accuracy as zoo's verification measured it (a refused file's from its one-line error), the points each
file is below the float Keras model it was converted from, and the QAT stage's fit seconds.
"""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

ARCHITECTURES = ("lstm-bn", "cnn")
REFUSED = re.compile(r"accuracy ([0-9.]+) vs Keras ([0-9.]+)")


def _exported(bench, run_dir: str, workdir: Path, variant: str, *flags: str) -> dict:
    """One file exported and verified by zoo: its accuracy, Keras', size, whether integer-only."""
    out = Path(tempfile.mkdtemp(prefix=f"{Path(run_dir).name}-{variant}-", dir=workdir))
    result = bench.timed(bench.zoo_cmd("export", run_dir, "--tflite", "--quantize", variant, *flags,
                                       "-o", str(out), "--force"))
    name = f"model.{variant}.tflite"
    card_path = out / "model_card.json"
    if result["rc"] == 0 and card_path.is_file():
        card = json.loads(card_path.read_text())
        entry = next(f for f in card["files"] if f["file"] == name)
        return {"test_accuracy": entry["test_accuracy"], "keras_accuracy": card["verification"]["keras_test_accuracy"],
                "size_bytes": entry["size_bytes"], "integer_only": entry.get("integer_only"),
                "quantization": entry.get("quantization"), "latency_ms": entry.get("latency_ms"), "refused": None}
    line = (result["stderr"].strip().splitlines() or ["?"])[-1]
    found = REFUSED.search(line)
    return {"test_accuracy": float(found.group(1)) if found else None,
            "keras_accuracy": float(found.group(2)) if found else None, "refused": line[:300]}


def part_qat(bench, archs, seeds, workdir: Path, record=None) -> dict:
    rows = {}
    for arch in [a for a in archs if a in ARCHITECTURES] or ARCHITECTURES:
        for seed in seeds:
            key = f"{arch}/fashion/{seed}"
            print(f"qat: {key}: the tuned run", flush=True)
            trained = bench.train(arch, "fashion", "tuned", workdir, "--seed", str(seed))
            if "error" in trained:
                rows[key] = trained
                continue
            run_dir = trained["run_dir"]
            qat_dir = f"{run_dir}-qat"
            print(f"qat: {key}: QAT stage", flush=True)
            stage = bench.timed(bench.zoo_cmd("train", "--from", run_dir, "--qat", "-o", qat_dir, "-q"))
            row = {"seed": seed, "keras_accuracy": trained["test_accuracy"], "fit_seconds": trained["fit_seconds"],
                   "run_dir": run_dir}
            print(f"qat: {key}: exports", flush=True)
            row["ptq_int8"] = _exported(bench, run_dir, workdir, "int8", "--integer-only")
            row["int16x8"] = _exported(bench, run_dir, workdir, "int16x8")
            if stage["rc"] != 0:
                row["qat_error"] = stage["stderr"].strip().splitlines()[-1:]
            else:
                metrics = json.loads((Path(qat_dir) / "metrics.json").read_text())
                row.update(qat_keras_accuracy=metrics["test_accuracy"], qat_fit_seconds=metrics["training_seconds"],
                           qat_int8=_exported(bench, qat_dir, workdir, "int8", "--integer-only"))
            rows[key] = row
            if record is not None:
                record({key: row})
    return rows


def _points(file: dict | None, keras: float | None) -> float | None:
    """How many points ``file`` is below ``keras`` (negative: above)."""
    if not file or file.get("test_accuracy") is None or keras is None:
        return None
    return round((keras - file["test_accuracy"]) * 100, 2)


def render(section: dict, table, fmt) -> str:
    """One row per run and a mean per architecture; the target: QAT's integer-only int8 within 0.3 point of
    the float Keras model it was converted from."""
    rows = section["rows"]
    lines = [table(["run", "Keras", "fit s", "PTQ int8 (int.-only)", "int16x8", "QAT Keras", "QAT fit s",
                    "QAT int8 (int.-only)"],
                   [(key, fmt(r.get("keras_accuracy")), fmt(r.get("fit_seconds"), 1),
                     _cell(r.get("ptq_int8"), r.get("keras_accuracy"), fmt),
                     _cell(r.get("int16x8"), r.get("keras_accuracy"), fmt), fmt(r.get("qat_keras_accuracy")),
                     fmt(r.get("qat_fit_seconds"), 1), _cell(r.get("qat_int8"), r.get("qat_keras_accuracy"), fmt))
                    if "error" not in r else (key, "error: " + " ".join(r["error"]), *["-"] * 6)
                    for key, r in sorted(rows.items())])]
    for arch in ARCHITECTURES:
        drops = [_points(r.get("qat_int8"), r.get("qat_keras_accuracy")) for k, r in rows.items()
                 if k.startswith(arch + "/")]
        ptq = [_points(r.get("ptq_int8"), r.get("keras_accuracy")) for k, r in rows.items() if k.startswith(arch + "/")]
        before = [_points(r.get("qat_int8"), r.get("keras_accuracy")) for k, r in rows.items()
                  if k.startswith(arch + "/")]
        if drops and None not in drops + ptq + before:
            mean = sum(drops) / len(drops)
            lines += ["", f"{arch}: QAT integer-only int8 below its Keras model by **{mean:.2f}** points, mean of "
                          f"{len(drops)} seed(s) ({sum(before) / len(before):.2f} below the run before QAT; PTQ: "
                          f"{sum(ptq) / len(ptq):.2f}; target <= 0.3): "
                          f"{('met' if mean <= 0.3 else 'MISSED') if len(drops) >= 3 else 'no verdict before 3 seeds'}."]
    lines += ["", "Each cell: the file's test accuracy (points below the Keras model it was converted from); "
                  "a refused file (more than 1 point below) is marked so."]
    return "\n".join(lines)


def _cell(file: dict | None, keras, fmt) -> str:
    if not file or file.get("test_accuracy") is None:
        return "-" if not file else "refused: " + str(file.get("refused"))[:80]
    return f"{fmt(file['test_accuracy'])} ({-_points(file, keras):+.2f}){' refused' if file.get('refused') else ''}"
