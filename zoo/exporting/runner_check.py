"""Every exported .tflite file run the way ``zoo predict`` runs it, before the export is published.

An exporter verifies its file on the normalised test set, or through the
runtime it targets (MediaPipe). A user's runner knows less: it reads how the
file wants its input from the file and the model card beside it (8-bit
pixels scaled as the card says, sentences through ``tokenizer.json``). A
card that says the wrong thing for one file passes the exporter's check and
answers wrongly for every user: the uint8 MediaPipe file, fed pixels divided
by 255, once answered "airplane" for every photo under ``zoo predict`` while
MediaPipe itself scored 85%. So each file is run again here, through
``zoo.predict``, on test examples as a user holds them, and must pass its
own rule (float: the same class and 1e-4; quantized: the agreement with Keras its
exporter measured, within what chance allows on the subset).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from zoo.errors import ZooError

# Test examples each file is run on this way (the exporter's own check saw the whole set).
SAMPLE = 500


def check(context, directory: Path, files: list) -> None:
    """Run each verified ``.tflite`` file in ``directory`` as ``zoo predict`` would; a file that answers
    otherwise fails (``context.fail``: removed, named in the export's error).

    The model card, labels and tokenizer must already be in ``directory``.
    """
    from zoo.device import predict

    dataset = context.dataset
    if dataset.task.generates:  # zoo generate reads ids, checked by the exporter itself
        return
    names = [f["file"] for f in files if str(f.get("file", "")).endswith(".tflite") and "error" not in f
             and f.get("zoo_predict", True)  # a file for one runtime only says so (verified in that runtime)
             and f"{f['file']}:" not in " ".join(context.failures)]
    count = min(SAMPLE, len(dataset.y_test))
    if not names or not count:
        return
    examples, lossy = dataset.input_spec.form.test_inputs(dataset, count)
    if examples is None:
        return
    for name in names:
        try:
            outputs = predict.load(str(directory / name)).run(examples)
        except ZooError as exc:
            context.fail(name, f"zoo predict cannot run it ({str(exc).replace(str(directory / name) + ': ', '')})")
            continue
        known = context.checks.get(name)
        if known is None:  # not verified by its exporter: nothing to hold the runner to
            continue
        quantized = lossy or known.quantized
        result = dataset.task.compare(name, np.asarray(outputs, np.float32), context.reference[:count],
                                      np.asarray(dataset.y_test[:count]), quantized)
        if not quantized and not result.passed:
            context.fail(name, "answers otherwise when run as zoo predict runs it (from its model card): "
                               + result.describe())
        # Images stored as floats lose their fractions as 8-bit pixels, which flips a near tie now and then.
        elif quantized and _below(result.agreement, count, min(known.agreement, 0.98) if lossy else known.agreement):
            context.fail(name, f"answers otherwise when run as zoo predict runs it (from its model card): the "
                               f"same class as Keras on {result.agreement:.2%} of {count} test examples, where its "
                               f"own verification saw {known.agreement:.2%}")


# A quantized file is held to the agreement with Keras its exporter measured on the whole test set:
# a subset may fall short by chance, so it fails only where chance would allow so few less than once
# in a thousand (a file fed the wrong input agrees near chance: 25% where it should 85%).
UNLIKELY = 1e-3


def _below(agreement: float, count: int, expected: float) -> bool:
    """Whether ``agreement`` on ``count`` examples is too far below ``expected`` to be chance (binomial)."""
    agreeing = round(agreement * count)
    if expected >= 1.0:
        return agreeing < count
    tail = sum(math.comb(count, k) * expected ** k * (1 - expected) ** (count - k) for k in range(agreeing + 1))
    return tail < UNLIKELY
