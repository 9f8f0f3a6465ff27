"""One benchmark training run with the test set scored after every epoch.

    python -m bench.timed_train ARCH DATASET RECIPE SEED RUN_DIR TIMELINE.json [--data-dir D]

zoo itself never looks at the test set while training; only this benchmark
does, to find when a recipe first reaches a given test accuracy. The run is an
ordinary ``zoo.trainer.train`` run (same recipe, seed and run directory as
``zoo train``); the extra callback only predicts, so the weights, shuffling and
augmentation are those of the same run without it. Its own seconds are timed
and left out of the timeline's training clock, and written to TIMELINE.json
after every epoch, so a killed run still leaves what it measured.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def timeline_callback(data, timeline_path: Path):
    import keras
    import numpy as np

    from zoo.data import evaluation

    x_test = data.normalise(data.x_test)
    labels = np.asarray(data.y_test, dtype=np.int64)

    class TestEveryEpoch(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()
            self.scoring = 0.0  # seconds spent here, not training
            self.epochs = []

        def on_epoch_end(self, epoch, logs=None):
            begun = time.perf_counter()
            trained = begun - self.started - self.scoring
            predicted = np.argmax(evaluation.predict(self.model, x_test), axis=1)
            accuracy = float(np.mean(predicted == labels))
            self.scoring += time.perf_counter() - begun
            self.epochs.append({"epoch": epoch + 1, "test_accuracy": round(accuracy, 6),
                                "training_seconds": round(trained, 2)})
            timeline_path.write_text(json.dumps({"epochs": self.epochs,
                                                 "scoring_seconds": round(self.scoring, 2)}, indent=1))

    return TestEveryEpoch()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.timed_train")
    for name in ("arch", "dataset", "recipe"):
        parser.add_argument(name)
    parser.add_argument("seed", type=int)
    parser.add_argument("run_dir")
    parser.add_argument("timeline", type=Path)
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)

    from zoo.api import calls, plugins
    from zoo.train import trainer

    data = calls.load_dataset(plugins.get("dataset", args.dataset), args.data_dir)
    trainer.train(args.arch, args.dataset, recipe=args.recipe, seed=args.seed, output=args.run_dir,
                  data_dir=args.data_dir, verbose=0, callbacks=[timeline_callback(data, args.timeline)])


if __name__ == "__main__":
    main()
