"""zoo's benchmarks: accuracy, overhead, start-up and export, side by side with the tutorials.

    python -m bench                          # every part (hours on a 2-core CPU)
    python -m bench --parts startup,overhead --arch dense,lstm-bn
    python -m bench --parts accuracy --arch vgg --recipes tuned --datasets fashion
    python -m bench --note "lstm-bn/tuned shared the CPU with vgg/tuned"
    python -m bench --render                 # rewrite RESULTS.md from results.json
    python -m bench --parts accuracy,export,int16x8 --arch vgg   # goes on where it stopped
    python -m bench --parts accuracy --arch vgg --sitting '2026-12-02 06:56:20'  # ... in that sitting

The accuracy part trains each tutorial recipe once (seed 0) and each tuned
recipe once per seed (--seeds, default 0,1,2), scoring the test set after
every epoch for the time-to-accuracy table; every row is recorded the moment
it is measured, and rows this CPU (model and flags) has already measured are
skipped (--again trains them anew), so a benchmark of hours can be spread
over several sittings.

Each part runs real `zoo` processes (and ../shared/baselines/seed_keras.py for
the overhead part), records figures in bench/results.json (merged with what
earlier runs recorded there, each row stamped with its date, machine and
library versions) and rewrites bench/RESULTS.md from it. Benchmarks are
scripts, not tests: CI does not run them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.targets import ARCHITECTURES, SEQUENCE_PUBLISHED

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS_JSON = HERE / "results.json"
RESULTS_MD = HERE / "RESULTS.md"
BASELINE = REPO.parent / "shared" / "baselines" / "seed_keras.py"
FASHION_DIR = "/usr/share/datasets/fashion-mnist"
MNIST_SUBSET = REPO.parent / "shared" / "data" / "mnist-10k"
PARTS = ("accuracy", "overhead", "startup", "export", "int16x8", "sequences", "forecast", "digits",
         "small-folders", "nsmc", "nsmc-tuned", "generation", "photos", "detection", "qat")
NSMC_DIR = REPO.parent / "shared" / "data" / "nsmc"
CIFAR_PHOTOS = REPO.parent / "shared" / "data" / "cifar10" / "train"
# Small photo folders cut from the real CIFAR-10 JPEGs: (classes, images per class).
# The first: the 4 x 60 folder, where the tuned cnn once stopped at chance.
SMALL_FOLDERS = ((4, 60), (4, 200), (10, 100))
FORECAST_ARCHITECTURES = ("simplernn", "lstm-bn", "gru")
# Which bench invocation a row comes from: time-to-accuracy ratios pair rows of one sitting.
SITTING = time.strftime("%Y-%m-%d %H:%M:%S")
# The CPU features that change TensorFlow's kernels (oneDNN picks AVX-512, VNNI,
# bf16 or AMX paths by them): stamped on every row with the CPU model.
CPU_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx512_fp16",
             "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")
BASELINE_RECIPE = {"dense": "dense", "cnn": "cnn", "vgg": "vgg", "simplernn": "simplernn", "lstm-bn": "lstm-bn"}


def machine() -> dict:
    cpu, flags, model_seen = platform.processor() or "?", [], False
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not model_seen:
                cpu, model_seen = line.split(":", 1)[1].strip(), True
            elif line.startswith("flags") and not flags:
                present = set(line.split(":", 1)[1].split())
                flags = [f for f in CPU_FLAGS if f in present]
    except OSError:
        pass
    from zoo.versions import versions

    return {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu, "cores": os.cpu_count(),
            "cpu_flags": flags, "versions": versions("ai-edge-litert")}


def timed(cmd: list[str], env: dict | None = None, cwd=None) -> dict:
    """Run a command; wall seconds, peak RSS (MB) of the process, exit code, output."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(cmd, stdout=out, stderr=err, env={**os.environ, **(env or {})}, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, "rc": process.returncode,
                "stdout": out.read(), "stderr": err.read()[-2000:]}


def zoo_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "zoo.cli", *args]


def train(arch: str, dataset: str, recipe: str, workdir: Path, *extra: str, data_dir=None) -> dict:
    # A fresh directory per run: zoo never trains into a run that exists, and
    # the overhead part trains the same recipe several times.
    name = f"{arch}-{dataset}-{recipe}-{'-'.join(extra) or 'default'}-".replace("/", "_")
    run_dir = Path(tempfile.mkdtemp(prefix=name, dir=workdir))
    args = ["train", arch, dataset, "--recipe", recipe, "-o", str(run_dir), "-q", *extra]
    if data_dir:
        args += ["--data-dir", str(data_dir)]
    result = timed(zoo_cmd(*args))
    if result["rc"] != 0:
        return {"error": result["stderr"].strip().splitlines()[-1:] or ["?"], "seconds": result["seconds"]}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"test_accuracy": metrics["test_accuracy"], "epochs_run": metrics["epochs_run"],
            "fit_seconds": metrics["training_seconds"], "wall_seconds": round(result["seconds"], 1),
            "peak_rss_mb": round(result["peak_rss_mb"]), "run_dir": str(run_dir)}


def part_accuracy(archs, recipes, seeds, workdir: Path, datasets, record, results: dict,
                  again: bool = False) -> None:
    """Tutorial rows (one seed, as the tutorials ran them) and tuned rows (one per seed).

    Every run scores the test set after each epoch (bench.timed_train), for
    the time-to-accuracy table. Each row is recorded as soon as it is
    measured (``record``), so a benchmark of hours can stop and go on in
    another sitting: rows already measured on a machine with this CPU model
    and flags are skipped unless ``again``.
    """
    here = _cpu_stamp(machine())
    for arch in archs:
        for data in datasets:
            if data == "mnist-10k" and (arch not in ("simplernn", "lstm-bn") or not MNIST_SUBSET.is_dir()):
                continue
            for recipe in recipes:
                for seed in (seeds[:1] if recipe == "tutorial" else seeds):
                    key = f"{arch}/{recipe}/{data}/{seed}"
                    done = results.get("accuracy", {}).get("rows", {}).get(key)
                    if done and "error" not in done and _cpu_stamp(done.get("machine", {})) == here \
                            and not again:
                        print(f"accuracy: {key} already measured on this CPU ({done['machine']['date']})")
                        continue
                    print(f"accuracy: {arch} {recipe} on {data}, seed {seed}", flush=True)
                    row = timed_train(arch, data, recipe, seed, workdir)
                    record({key: {**row, "seed": seed}})


def timed_train(arch: str, data: str, recipe: str, seed: int, workdir: Path) -> dict:
    dataset, data_dir = ("idx", MNIST_SUBSET) if data == "mnist-10k" else (data, None)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{arch}-{data}-{recipe}-seed{seed}-", dir=workdir))
    timeline = run_dir.with_name(run_dir.name + ".timeline.json")
    cmd = [sys.executable, "-m", "bench.timed_train", arch, dataset, recipe, str(seed), str(run_dir),
           str(timeline)] + (["--data-dir", str(data_dir)] if data_dir else [])
    result = timed(cmd, cwd=REPO)
    if result["rc"] != 0:
        return {"error": result["stderr"].strip().splitlines()[-1:] or ["?"], "seconds": result["seconds"]}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    scored = json.loads(timeline.read_text())
    return {"test_accuracy": metrics["test_accuracy"], "epochs_run": metrics["epochs_run"],
            # Training alone: the benchmark's own test scoring after each epoch is left out.
            "fit_seconds": round(metrics["training_seconds"] - scored["scoring_seconds"], 1),
            "scoring_seconds": scored["scoring_seconds"],
            "wall_seconds": round(result["seconds"], 1), "peak_rss_mb": round(result["peak_rss_mb"]),
            "timeline": [[e["epoch"], e["training_seconds"], e["test_accuracy"]] for e in scored["epochs"]],
            "sitting": SITTING, "run_dir": str(run_dir)}


def _cpu_stamp(about: dict) -> tuple:
    return about.get("cpu"), about.get("cores"), tuple(about.get("cpu_flags", ()))


def record_runs(run_dirs) -> dict:
    """Accuracy rows from runs trained outside the bench (e.g. while tuning recipes)."""
    rows = {}
    for run_dir in run_dirs:
        config = json.loads((run_dir / "config.json").read_text())
        metrics = json.loads((run_dir / "metrics.json").read_text())
        key = f"{config['architecture']}/{config['recipe']}/{config['dataset']}"
        rows[key] = {"test_accuracy": metrics["test_accuracy"], "epochs_run": metrics["epochs_run"],
                     "fit_seconds": metrics["training_seconds"], "wall_seconds": None,
                     "peak_rss_mb": None, "run_dir": str(run_dir),
                     "recorded": f"zoo train run of {config['created']}, params {config['params']}"}
    return rows


def part_sequences(seeds, workdir: Path, archs=tuple(SEQUENCE_PUBLISHED)) -> dict:
    """The multiplication problem's tutorial recipes (SimpleRNN, LSTM and GRU), one row per seed."""
    rows = {}
    for arch in [a for a in SEQUENCE_PUBLISHED if a in archs]:
        for seed in seeds:
            print(f"sequences: {arch} tutorial on multiply, seed {seed}", flush=True)
            name = f"{arch}-multiply-seed{seed}-"
            run_dir = Path(tempfile.mkdtemp(prefix=name, dir=workdir))
            result = timed(zoo_cmd("train", arch, "multiply", "--recipe", "tutorial", "--seed", str(seed),
                                   "-o", str(run_dir), "-q"))
            if result["rc"] != 0:
                rows[f"{arch}/tutorial/multiply/{seed}"] = {
                    "error": result["stderr"].strip().splitlines()[-1:] or ["?"]}
                continue
            metrics = json.loads((run_dir / "metrics.json").read_text())
            rows[f"{arch}/tutorial/multiply/{seed}"] = {
                "seed": seed, "test_correctness": metrics["test_correctness"], "test_rmse": metrics["test_rmse"],
                "epochs_run": metrics["epochs_run"], "fit_seconds": metrics["training_seconds"],
                "wall_seconds": round(result["seconds"], 1), "run_dir": str(run_dir)}
    return rows


def part_forecast(seeds, workdir: Path) -> dict:
    """Sunspots: each recurrent architecture's tuned RMSE per seed, and the naive last-value forecast."""
    from zoo.api import calls, plugins

    data = calls.load_dataset(plugins.get("dataset", "sunspots"))
    naive = float(((data.x_test[:, -1, 0] - data.y_test) ** 2).mean() ** 0.5)
    rows = {"naive/last-value/sunspots": {"test_rmse": round(naive, 6), "seed": None,
                                          "note": "each test year forecast as the year before it"}}
    for arch in FORECAST_ARCHITECTURES:
        for seed in seeds:
            print(f"forecast: {arch} tuned on sunspots, seed {seed}", flush=True)
            run_dir = Path(tempfile.mkdtemp(prefix=f"{arch}-sunspots-seed{seed}-", dir=workdir))
            result = timed(zoo_cmd("train", arch, "sunspots", "--seed", str(seed), "-o", str(run_dir), "-q"))
            key = f"{arch}/tuned/sunspots/{seed}"
            if result["rc"] != 0:
                rows[key] = {"error": result["stderr"].strip().splitlines()[-1:] or ["?"]}
                continue
            metrics = json.loads((run_dir / "metrics.json").read_text())
            rows[key] = {"seed": seed, "test_rmse": metrics["test_rmse"],
                         "test_correctness": metrics["test_correctness"], "epochs_run": metrics["epochs_run"],
                         "fit_seconds": metrics["training_seconds"], "run_dir": str(run_dir)}
    return rows


def part_digits(seeds, epochs: int, workdir: Path) -> dict:
    """cnn's tutorial and tuned recipes on the real MNIST subset, the same epochs, one row per seed.

    Digits may not be mirrored: the tuned recipe's flip-shift augmentation
    becomes shift there (config.json records which ran).
    """
    rows = {}
    if not MNIST_SUBSET.is_dir():
        return rows
    for recipe in ("tutorial", "tuned"):
        for seed in seeds:
            print(f"digits: cnn {recipe} on mnist-10k, {epochs} epochs, seed {seed}", flush=True)
            row = train("cnn", "idx", recipe, workdir, "--epochs", str(epochs), "--seed", str(seed),
                        data_dir=MNIST_SUBSET)
            if "run_dir" in row:
                config = json.loads((Path(row["run_dir"]) / "config.json").read_text())
                row["augment"] = config["recipe_settings"]["augment"]
            rows[f"cnn/{recipe}/mnist-10k/{epochs}/{seed}"] = {**row, "seed": seed, "epochs": epochs}
    return rows


def small_folder(workdir: Path, classes: int, per_class: int) -> Path:
    """A photo folder of ``classes`` CIFAR-10 classes (the first in name order), ``per_class`` files each."""
    folder = workdir / f"cifar10-{classes}x{per_class}"
    if not folder.is_dir():
        for name in sorted(p.name for p in CIFAR_PHOTOS.iterdir())[:classes]:
            (folder / name).mkdir(parents=True)
            for photo in sorted((CIFAR_PHOTOS / name).iterdir())[:per_class]:
                (folder / name / photo.name).symlink_to(photo)
    return folder


def part_small_folders(seeds, workdir: Path, archs=("cnn",)) -> dict:
    """Tutorial against tuned recipe on small folders of real photos, one row per seed.

    The seed also draws the folder's 80/20 split, so a mean over seeds is a
    mean over test sets too (12 to 40 test photos per class).
    """
    rows = {}
    if not CIFAR_PHOTOS.is_dir():
        return rows
    for classes, per_class in SMALL_FOLDERS:
        folder = small_folder(workdir, classes, per_class)
        for arch in archs:
            for recipe in ("tutorial", "tuned"):
                for seed in seeds:
                    print(f"small folders: {arch} {recipe} on {classes} x {per_class}, seed {seed}", flush=True)
                    row = train(arch, "images", recipe, workdir, "--seed", str(seed), data_dir=folder)
                    if "run_dir" in row:
                        config = json.loads((Path(row["run_dir"]) / "config.json").read_text())
                        row["batch_size"] = config["recipe_settings"]["batch_size"]
                    rows[f"{arch}/{recipe}/{classes}x{per_class}/{seed}"] = {
                        **row, "seed": seed, "classes": classes, "per_class": per_class}
    return rows


CIFAR_ROOT = CIFAR_PHOTOS.parent
PHOTO_SIZES = (10, 100, 1000)  # training photos per class; the test set is all 10,000
PHOTO_ARCHITECTURES = ("efficientnet-lite0", "cnn", "vgg")

IMAGE_LATENCY_SCRIPT = r"""
import json, sys, time
from pathlib import Path
from zoo.device import predict
export = Path(sys.argv[1])
card = json.loads((export / "model_card.json").read_text())
photo = sys.argv[2]
out = {}
for f in card["files"]:
    if not f["file"].endswith(".tflite") or "mediapipe" in f["file"]:
        continue
    classifier = predict.load(str(export / f["file"]))
    pixels = [classifier.read(photo)]
    classifier.run(pixels); t = []
    for _ in range(50):
        s = time.perf_counter(); classifier.run(pixels); t.append(time.perf_counter() - s)
    t.sort(); out[f["file"]] = {"median_ms": round(1e3 * t[len(t) // 2], 3), "size_bytes": f.get("size_bytes")}
print(json.dumps(out))
"""


def photo_folder(workdir: Path, per_class: int) -> Path:
    """CIFAR-10's JPEGs as a user's folder: train/ with ``per_class`` photos a class, test/ with all 10,000."""
    folder = workdir / f"cifar10-photos-{per_class}"
    if not folder.is_dir():
        for split, count in (("train", per_class), ("test", None)):
            for name in sorted(p.name for p in (CIFAR_ROOT / split).iterdir()):
                (folder / split / name).mkdir(parents=True)
                for photo in sorted((CIFAR_ROOT / split / name).iterdir())[:count]:
                    (folder / split / name / photo.name).symlink_to(photo)
    return folder


def photo_export(run_dir: Path, folder: Path) -> dict:
    """A photo run exported as a user would (float32, int8, MediaPipe's files), its files' sizes and
    figures from the model card, and each LiteRT file's latency per photo."""
    exported = timed(zoo_cmd("export", str(run_dir), "--tflite", "--quantize", "int8", "--mediapipe", "--force"))
    if exported["rc"] != 0:
        return {"error": exported["stderr"].strip().splitlines()[-1:]}
    export = run_dir / "export"
    card = json.loads((export / "model_card.json").read_text())
    photo = next((folder / "test" / "cat").iterdir())
    latency = timed([sys.executable, "-c", IMAGE_LATENCY_SCRIPT, str(export), str(photo)])
    return {"files": [{k: f.get(k) for k in ("file", "size_bytes", "test_accuracy", "agreement", "verified",
                                             "float_ops")} for f in card["files"]],
            "seconds": exported["seconds"], "peak_rss_mb": exported["peak_rss_mb"],
            "latency": json.loads(latency["stdout"].strip().splitlines()[-1])
            if latency["rc"] == 0 else {"error": latency["stderr"][-300:]}}


def part_photos(seeds, workdir: Path, archs=PHOTO_ARCHITECTURES, sizes=PHOTO_SIZES, record=None) -> dict:
    """CIFAR-10 photos, 10/100/1,000 a class: efficientnet-lite0 fine-tuned against cnn and vgg from scratch.

    Each architecture's tuned recipe (efficientnet-lite0's reads 224 x 224); each architecture's seed-0 run
    at 1,000 a class is exported (float32, int8, MediaPipe's) and timed per photo on LiteRT.
    """
    rows = {}
    if not CIFAR_ROOT.is_dir():
        return rows
    for per_class in sizes:
        folder = photo_folder(workdir, per_class)
        for arch in archs:
            for seed in seeds:
                print(f"photos: {arch} tuned on {per_class} a class, seed {seed}", flush=True)
                row = train(arch, "images", "tuned", workdir, "--seed", str(seed), data_dir=folder)
                if "run_dir" in row and seed == seeds[0] and per_class == PHOTO_SIZES[-1]:
                    row["export"] = photo_export(Path(row["run_dir"]), folder)
                rows[f"{arch}/tuned/{per_class}/{seed}"] = {**row, "seed": seed, "per_class": per_class}
                if record is not None:  # each row saved as it is measured: the whole part takes hours
                    record({f"{arch}/tuned/{per_class}/{seed}": rows[f"{arch}/tuned/{per_class}/{seed}"]})
    return rows


def part_nsmc(seeds, workdir: Path) -> dict:
    """The book's sentiment model (lstm-bn's NSMC tutorial recipe) on the full corpus, one row per seed."""
    rows = {}
    if not NSMC_DIR.is_dir():
        return rows
    for seed in seeds:
        print(f"nsmc: lstm-bn tutorial on nsmc, seed {seed}", flush=True)
        row = train("lstm-bn", "nsmc", "tutorial", workdir, "--seed", str(seed), data_dir=NSMC_DIR)
        if "run_dir" in row:
            run_dir = Path(row["run_dir"])
            history = (run_dir / "history.csv").read_text().splitlines()
            header = history[0].split(",")
            at = header.index("val_accuracy")
            row["val_accuracy"] = [round(float(line.split(",")[at]), 4) for line in history[1:]]
            row["vocabulary_coverage_test"] = json.loads((run_dir / "metrics.json").read_text()).get(
                "vocabulary_coverage_test")
        rows[f"lstm-bn/tutorial/nsmc/{seed}"] = {**row, "seed": seed}
    return rows


# Per-sentence latency of each exported text file on LiteRT, after a warm-up: the test reviews
# one at a time, as an app classifies what a user typed.
TEXT_LATENCY_SCRIPT = r"""
import json, sys, time
from pathlib import Path
from zoo.data import tokenizer
from zoo.device import litert
export = Path(sys.argv[1])
card = json.loads((export / "model_card.json").read_text())
ids = tokenizer.read(export / "tokenizer.json").encode(["배우들 연기가 정말 최고였다 ㅋㅋ 또 보고 싶다"])
out = {}
for f in card["files"]:
    if not f["file"].endswith(".tflite"):
        continue
    runner = litert.LiteRTModel(export / f["file"], num_threads=1)
    runner.predict(ids); t = []
    for _ in range(500):
        s = time.perf_counter(); runner.predict(ids); t.append(time.perf_counter() - s)
    t.sort(); out[f["file"]] = {"median_ms": round(1e3 * t[len(t) // 2], 4), "size_bytes": f.get("size_bytes")}
print(json.dumps(out))
"""


def export_text(run_dir: Path, *flags: str) -> dict:
    """Export a text run (its files verified by zoo), then time each .tflite per sentence on LiteRT."""
    result = timed(zoo_cmd("export", str(run_dir), *flags, "--force"))
    if result["rc"] != 0:
        return {"error": result["stderr"].strip().splitlines()[-1:]}
    export = Path(run_dir) / "export"
    card = json.loads((export / "model_card.json").read_text())
    latency = timed([sys.executable, "-c", TEXT_LATENCY_SCRIPT, str(export)])
    return {"keras_accuracy": card["verification"]["keras_test_accuracy"],
            "files": [{k: f.get(k) for k in ("file", "size_bytes", "test_accuracy", "agreement", "verified")}
                      for f in card["files"]],
            "latency": json.loads(latency["stdout"].strip().splitlines()[-1]) if latency["rc"] == 0
            else {"error": latency["stderr"][-300:]}}


def part_nsmc_tuned(seeds, workdir: Path) -> dict:
    """NSMC's tuned recipe (textcnn on syllables), one row per seed; seed 0's files exported and timed.

    MediaPipe's tokenizer splits words by a delimiter and cannot read syllables, so the MediaPipe
    file comes from the same recipe trained with --tokenizer mediapipe (one more row).
    """
    rows = {}
    if not NSMC_DIR.is_dir():
        return rows
    for seed in seeds:
        print(f"nsmc-tuned: textcnn tuned on nsmc, seed {seed}", flush=True)
        row = train("textcnn", "nsmc", "tuned", workdir, "--seed", str(seed), data_dir=NSMC_DIR)
        if seed == seeds[0] and "run_dir" in row:
            print("nsmc-tuned: exporting float32, int8 and dynamic", flush=True)
            row["export"] = export_text(Path(row["run_dir"]), "--tflite", "--quantize", "int8,dynamic")
        rows[f"textcnn/tuned/nsmc/{seed}"] = {**row, "seed": seed, "tokenizer": "syllables"}
    print("nsmc-tuned: textcnn tuned with the mediapipe tokenizer, for MediaPipe's TextClassifier", flush=True)
    row = train("textcnn", "nsmc", "tuned", workdir, "--seed", str(seeds[0]), "--tokenizer", "mediapipe",
                data_dir=NSMC_DIR)
    if "run_dir" in row:
        row["export"] = export_text(Path(row["run_dir"]), "--tflite", "--quantize", "int8", "--mediapipe")
    rows[f"textcnn/tuned-mediapipe/nsmc/{seeds[0]}"] = {**row, "seed": seeds[0], "tokenizer": "mediapipe"}
    return rows


def part_generation(seeds, workdir: Path) -> dict:
    """The book's jamo model (lstm-bn's tutorial recipe) on the shipped corpus: held-out accuracy, a sample."""
    rows = {}
    for seed in seeds:
        print(f"generation: lstm-bn tutorial on nsmc-corpus, seed {seed}", flush=True)
        row = train("lstm-bn", "nsmc-corpus", "tutorial", workdir, "--seed", str(seed))
        if "run_dir" in row:
            metrics = json.loads((Path(row["run_dir"]) / "metrics.json").read_text())
            row.update({"test_perplexity": metrics["test_perplexity"], "samples": metrics["samples"]})
            exported = timed(zoo_cmd("export", str(row["run_dir"]), "--tflite", "--force"))
            if exported["rc"] == 0:
                written = timed(zoo_cmd("generate", str(row["run_dir"]), "--prompt", "이 영화", "-n", "150"))
                row["generated"] = {"prompt": "이 영화", "greedy_150_jamo": written["stdout"].strip(),
                                    "seconds": round(written["seconds"], 2)}
        rows[f"lstm-bn/tutorial/nsmc-corpus/{seed}"] = {**row, "seed": seed}
    return rows


def part_overhead(archs, epochs: int, workdir: Path, repeats: int = 3) -> dict:
    """zoo's tutorial recipe against seed_keras.py, alternated ``repeats`` times; medians.

    One pair of runs is not enough on a shared 2-core machine: the same command
    varied by up to 50% from one minute to the next while this was written.
    """
    rows = {}
    for arch in archs:
        ours_runs, base_runs = [], []
        for attempt in range(repeats):
            print(f"overhead: {arch}, {epochs} epochs of the tutorial recipe ({attempt + 1}/{repeats})",
                  flush=True)
            ours = train(arch, "fashion", "tutorial", workdir, "--epochs", str(epochs))
            base = timed([sys.executable, str(BASELINE), BASELINE_RECIPE[arch], "--epochs", str(epochs),
                          "--data", FASHION_DIR, "--json"])
            if "error" in ours or base["rc"] != 0:
                break
            ours_runs.append(ours)
            base_runs.append(json.loads(base["stdout"].strip().splitlines()[-1]))
        else:  # every pair ran
            rows[arch] = _overhead_row(epochs, repeats, ours_runs, base_runs)
            continue
        rows[arch] = {"error": ours.get("error") or base["stderr"][-300:]}
    return rows


def _overhead_row(epochs: int, repeats: int, ours_runs: list, base_runs: list) -> dict:
    """Medians over the pairs, and every run's seconds per epoch."""
    zoo_epoch = statistics.median(r["fit_seconds"] / r["epochs_run"] for r in ours_runs)
    base_epoch = statistics.median(b["seconds_per_epoch"] for b in base_runs)
    zoo_rss = statistics.median(r["peak_rss_mb"] for r in ours_runs)
    base_rss = statistics.median(b["peak_rss_mb"] for b in base_runs)
    return {
        "epochs": epochs, "repeats": repeats, "zoo_seconds_per_epoch": round(zoo_epoch, 2),
        "baseline_seconds_per_epoch": round(base_epoch, 2),
        "zoo_seconds_per_epoch_all": [round(r["fit_seconds"] / r["epochs_run"], 2) for r in ours_runs],
        "baseline_seconds_per_epoch_all": [b["seconds_per_epoch"] for b in base_runs],
        "time_ratio": round(zoo_epoch / base_epoch, 3),
        "zoo_peak_rss_mb": zoo_rss, "baseline_peak_rss_mb": base_rss,
        "memory_ratio": round(zoo_rss / base_rss, 3),
        "zoo_accuracy": ours_runs[-1]["test_accuracy"], "baseline_accuracy": base_runs[-1]["test_accuracy"],
    }


def part_startup(repeats: int, model: Path | None, image: Path | None) -> dict:
    def median(cmd):
        times = [timed(cmd)["seconds"] for _ in range(repeats)]
        return round(statistics.median(times), 3)

    tf_import = median([sys.executable, "-c", "import tensorflow"])
    rows = {"import_tensorflow_s": tf_import, "repeats": repeats}
    rows["zoo_list_s"] = median(zoo_cmd("list"))
    rows["zoo_list_ratio"] = round(rows["zoo_list_s"] / tf_import, 3)
    if model and image:
        rows["zoo_predict_s"] = median(zoo_cmd("predict", str(model), str(image)))
        rows["zoo_predict_ratio"] = round(rows["zoo_predict_s"] / tf_import, 3)
    return rows


LATENCY_SCRIPT = r"""
import json, sys, time
import numpy as np
from pathlib import Path
from zoo.device import litert
from zoo.train import trainer
run = Path(sys.argv[1])
card = json.loads((run / "export" / "model_card.json").read_text())
x = np.random.default_rng(0).random((1, 28, 28), dtype=np.float32)
batch = np.random.default_rng(1).random((256, 28, 28), dtype=np.float32)
def lat(fn, n=200):
    fn(); t = []
    for _ in range(n):
        s = time.perf_counter(); fn(); t.append(time.perf_counter() - s)
    t.sort(); return {"median_ms": 1e3 * t[len(t) // 2], "p99_ms": 1e3 * t[int(len(t) * 0.99) - 1]}
out = {}
model = trainer.load_run_model(run)
import tensorflow as tf
compiled = tf.function(lambda v: model(v, training=False), jit_compile=False)
out["keras_predict"] = lat(lambda: model.predict(x, verbose=0), 50)
out["keras_compiled"] = lat(lambda: compiled(x), 200)
s = time.perf_counter(); model.predict(batch, batch_size=256, verbose=0); out["keras_batch_per_s"] = 256 / (time.perf_counter() - s)
for f in card["files"]:
    if not f["file"].endswith(".tflite"):
        continue
    runner = litert.LiteRTModel(run / "export" / f["file"])
    out[f["file"]] = lat(lambda: runner.predict(x), 200)
    s = time.perf_counter(); runner.predict(batch); out[f["file"]]["batch_per_s"] = 256 / (time.perf_counter() - s)
print(json.dumps(out))
"""


def part_export(archs, workdir: Path, runs: dict) -> dict:
    """Every variant of each architecture's tuned run (seed 0), verified by zoo, then timed."""
    rows = {}
    for arch in archs:
        run_dir = runs.get(arch)
        if run_dir is None:
            print(f"export: {arch}: training the tuned recipe for 3 epochs first", flush=True)
            trained = train(arch, "fashion", "tuned", workdir, "--epochs", "3")
            if "error" in trained:
                rows[arch] = trained
                continue
            run_dir = trained["run_dir"]
        print(f"export: {arch}", flush=True)
        variants, refused = ["float16", "dynamic", "int8", "int16x8"], {}
        while True:
            result = timed(zoo_cmd("export", str(run_dir), "--tflite", "--quantize", ",".join(variants),
                                   "--force"))
            failed = [v for v in variants if f"model.{v}.tflite: failed verification" in result["stderr"]]
            if result["rc"] == 0 or not failed:
                break
            # zoo publishes nothing when one file fails; measure the others without it.
            refused[failed[0]] = result["stderr"].strip().splitlines()[-1]
            variants.remove(failed[0])
        if result["rc"] != 0:
            rows[arch] = {"error": result["stderr"].strip().splitlines()[-1:]}
            continue
        card = json.loads((Path(run_dir) / "export" / "model_card.json").read_text())
        latency = timed([sys.executable, "-c", LATENCY_SCRIPT, str(run_dir)])
        rows[arch] = {"run_dir": str(run_dir), "export_seconds": round(result["seconds"], 1),
                      "int8_refused": refused.get("int8"), "refused": refused,
                      "files": card["files"],
                      "keras_accuracy": card["verification"]["keras_test_accuracy"],
                      "latency": json.loads(latency["stdout"].strip().splitlines()[-1])
                      if latency["rc"] == 0 else {"error": latency["stderr"][-300:]}}
    return rows


def part_int16x8(archs, workdir: Path, runs: dict) -> dict:
    """int16x8 by the converter's 16x8 mode and by ai-edge-quantizer on each tuned run (bench.int16x8_routes)."""
    rows = {}
    for arch in archs:
        if arch not in runs:
            rows[arch] = {"error": ["no tuned run on Fashion-MNIST recorded on this CPU: run the accuracy part"]}
            continue
        print(f"int16x8: {arch}, two routes", flush=True)
        out = Path(tempfile.mkdtemp(prefix=f"{arch}-int16x8-", dir=workdir))
        result = timed([sys.executable, "-m", "bench.int16x8_routes", runs[arch], str(out)], cwd=REPO)
        if result["rc"] != 0:
            rows[arch] = {"error": result["stderr"].strip().splitlines()[-1:] or ["?"]}
            continue
        rows[arch] = {"run_dir": runs[arch], **json.loads(result["stdout"].strip().splitlines()[-1])}
    return rows


def tuned_runs(results: dict) -> dict:
    """Each architecture's tuned run on Fashion-MNIST to export: seed 0 of this CPU's rows, else the newest."""
    here, found = _cpu_stamp(machine()), {}
    rows = results.get("accuracy", {}).get("rows", {})
    for key, row in sorted(rows.items(), key=lambda kv: (_cpu_stamp(kv[1].get("machine", {})) == here,
                                                         kv[1].get("seed") == 0, kv[1].get("machine", {}).get("date", ""))):
        arch, recipe, data, _ = key.split("/")
        if recipe == "tuned" and data == "fashion" and Path(row.get("run_dir", "/nonexistent"), "metrics.json").is_file():
            found[arch] = row["run_dir"]  # later (better) candidates replace earlier ones
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma list of {', '.join(PARTS)}")
    parser.add_argument("--arch", default=",".join(ARCHITECTURES), help="comma list of architectures")
    parser.add_argument("--recipes", default="tutorial,tuned")
    parser.add_argument("--datasets", default="fashion",
                        help="accuracy part: fashion and/or mnist-10k (simplernn and lstm-bn only)")
    parser.add_argument("--photo-sizes", default=",".join(map(str, PHOTO_SIZES)),
                        help="photos: training photos per class, comma list")
    parser.add_argument("--overhead-epochs", type=int, default=2)
    parser.add_argument("--digits-epochs", type=int, default=2,
                        help="digits part: epochs of both cnn recipes on the MNIST subset")
    parser.add_argument("--overhead-repeats", type=int, default=3,
                        help="alternated zoo/baseline pairs per architecture (medians are reported)")
    parser.add_argument("--repeats", type=int, default=5, help="start-up timings per command")
    parser.add_argument("--seeds", default="0,1,2",
                        help="the seeds of each row's mean (accuracy: tuned rows; the tutorial's is the first)")
    parser.add_argument("--again", action="store_true",
                        help="accuracy part: train rows already measured on this CPU again")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "zoo-bench")
    parser.add_argument("--render", action="store_true", help="only rewrite RESULTS.md")
    parser.add_argument("--record", nargs="+", type=Path, metavar="RUN",
                        help="add finished `zoo train` runs on fashion to the accuracy table "
                             "(marked as recorded: no peak memory, fit time only)")
    parser.add_argument("--sitting", metavar="'YYYY-MM-DD HH:MM:SS'",
                        help="accuracy part: go on with an earlier sitting on this machine (its start, as "
                             "results.json records it), so the time-to-accuracy table pairs these rows with its")
    parser.add_argument("--note", action="append", default=[],
                        help="add a line to RESULTS.md's notes (e.g. what shared the CPU during a run)")
    parser.add_argument("--clear-notes", action="store_true", help="drop the notes recorded so far")
    args = parser.parse_args(argv)
    from bench.report import render

    results = _load_results()
    global SITTING
    if args.sitting:
        # Only a sitting this CPU recorded: pairing rows across machines is what sittings prevent.
        here = _cpu_stamp(machine())
        if not any(r.get("sitting") == args.sitting and _cpu_stamp(r.get("machine", {})) == here
                   for r in results.get("accuracy", {}).get("rows", {}).values()):
            parser.error(f"--sitting {args.sitting!r}: no accuracy row of that sitting on this CPU")
        SITTING = args.sitting
    if args.note or args.clear_notes:
        results["notes"] = ([] if args.clear_notes else results.get("notes", [])) + args.note
        _save_results(results)
    if args.record:
        _merge(results, "accuracy", record_runs(args.record), machine())
        _save_results(results)
    elif not (args.render or args.note or args.clear_notes):
        parts = [p.strip() for p in args.parts.split(",") if p.strip()]
        unknown = set(parts) - set(PARTS)
        if unknown:
            parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
        archs = [a.strip() for a in args.arch.split(",") if a.strip()]
        args.workdir.mkdir(parents=True, exist_ok=True)
        seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
        for part in parts:
            about = machine()
            if part == "accuracy":
                def record(rows):
                    latest = _load_results()  # another bench may have recorded rows meanwhile
                    _merge(latest, "accuracy", rows, machine())
                    _save_results(latest)
                    try:
                        RESULTS_MD.write_text(render(latest))
                    except Exception as exc:  # the rows are safe in results.json; go on measuring
                        print(f"warning: RESULTS.md not rewritten: {exc!r}", flush=True)

                part_accuracy(archs, args.recipes.split(","), seeds, args.workdir, args.datasets.split(","),
                              record, results, args.again)
                results = _load_results()
                continue
            elif part == "forecast":
                rows = part_forecast([int(x) for x in args.seeds.split(",") if x.strip()], args.workdir)
            elif part == "digits":
                rows = part_digits([int(x) for x in args.seeds.split(",") if x.strip()], args.digits_epochs,
                                   args.workdir)
            elif part == "nsmc":
                rows = part_nsmc(seeds, args.workdir)
            elif part == "nsmc-tuned":
                rows = part_nsmc_tuned(seeds, args.workdir)
            elif part == "generation":
                rows = part_generation(seeds, args.workdir)
            elif part == "photos":
                def record_photos(rows):
                    latest = _load_results()
                    _merge(latest, "photos", rows, machine())
                    _save_results(latest)

                rows = part_photos(seeds, args.workdir,
                                   archs if args.arch != ",".join(ARCHITECTURES) else PHOTO_ARCHITECTURES,
                                   [int(x) for x in args.photo_sizes.split(",")], record_photos)
            elif part == "detection":
                from bench import detection

                def record_detection(rows):
                    latest = _load_results()
                    _merge(latest, "detection", rows, machine())
                    _save_results(latest)

                rows = detection.part_detection(sys.modules[__name__], seeds, args.workdir, record_detection)
            elif part == "qat":
                from bench import qat

                def record_qat(rows):
                    latest = _load_results()
                    _merge(latest, "qat", rows, machine())
                    _save_results(latest)

                rows = qat.part_qat(sys.modules[__name__], archs, seeds, args.workdir, record_qat)
            elif part == "small-folders":
                rows = part_small_folders(seeds, args.workdir)
            elif part == "sequences":
                rows = part_sequences([int(x) for x in args.seeds.split(",") if x.strip()], args.workdir,
                                      [*archs, "gru"] if args.arch == ",".join(ARCHITECTURES) else archs)
            elif part == "overhead":
                rows = part_overhead(archs, args.overhead_epochs, args.workdir, args.overhead_repeats)
            elif part == "startup":
                exported = [Path(r["run_dir"]) / "export" / "model.tflite"
                            for r in results.get("export", {}).get("rows", {}).values() if "run_dir" in r]
                image = args.workdir / "startup.png"
                _write_png(image)
                model = next((m for m in exported if m.is_file()), None)
                rows = part_startup(args.repeats, model, image)
            elif part == "int16x8":
                rows = part_int16x8(archs, args.workdir, tuned_runs(results))
            else:
                rows = part_export(archs, args.workdir, tuned_runs(results))
            # Read again: another bench may have finished a part meanwhile.
            results = _load_results()
            _merge(results, part, rows, about)
            _save_results(results)
    RESULTS_MD.write_text(render(results))
    print(f"wrote {RESULTS_MD}")


def _merge(results: dict, part: str, rows: dict, about: dict) -> None:
    """Put a part's new rows into ``results``, each stamped with where and when it ran.

    A section gathers rows from several runs, perhaps on several machines (a
    session's machine is not always the last one's), so the stamp belongs to
    the row. Rows written before rows carried one get their section's, dated
    by day only: the section's minute was its last run's, not theirs.
    """
    section = results.setdefault(part, {"rows": {}})
    if part == "startup":  # one set of figures, replaced whole
        section["rows"] = rows
    else:
        old = dict(section.get("machine", {}))
        old["date"] = old.get("date", "?")[:10]
        for row in section["rows"].values():
            row.setdefault("machine", old)
        section["rows"].update({key: {**row, "machine": about} for key, row in rows.items()})
    section["machine"] = about


def _load_results() -> dict:
    return json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.is_file() else {}


def _save_results(results: dict) -> None:
    RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n")


def _write_png(path: Path) -> None:
    import numpy as np
    from PIL import Image

    Image.fromarray((np.random.default_rng(0).random((28, 28)) * 255).astype("uint8")).save(path)


if __name__ == "__main__":
    main()
