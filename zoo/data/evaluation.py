"""Scores of a model on a dataset's test set: shared by train, evaluate and export."""
from __future__ import annotations

import numpy as np


def scores(probabilities: np.ndarray, labels: np.ndarray, class_names) -> dict:
    """Accuracy, loss, per-class accuracy and confusion matrix of predicted probabilities."""
    classes = len(class_names)
    labels = np.asarray(labels, dtype=np.int64)
    predicted = np.argmax(probabilities, axis=1)
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    picked = probabilities[np.arange(len(labels)), labels]
    loss = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
    per_class = matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1)
    return {
        "test_accuracy": round(float(np.mean(predicted == labels)), 6),
        "test_loss": round(loss, 6),
        "test_images": int(len(labels)),
        "per_class_accuracy": {name: round(float(a), 4) for name, a in zip(class_names, per_class)},
        "confusion_matrix": matrix.tolist(),
    }


def text_scores(probabilities: np.ndarray, labels: np.ndarray, class_names, texts, tokenizer,
                count: int = 10) -> dict:
    """Text: how much of the test text the vocabulary knows, and the test texts most confidently wrong."""
    predicted = np.argmax(probabilities, axis=1)
    wrong = np.flatnonzero(predicted != np.asarray(labels))
    worst = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:count]
    return {
        "vocabulary_coverage_test": round(tokenizer.coverage(texts), 4),
        "most_confidently_wrong": [
            {"text": str(texts[i])[:300], "true": class_names[int(labels[i])],
             "predicted": class_names[int(predicted[i])],
             "probability": round(float(probabilities[i, predicted[i]]), 4)} for i in worst],
    }


# Examples normalised at a time when ``predict`` is given the normaliser: 10,000 photos at
# 224 x 224 are 1.5 GB as stored bytes but 6 GB as float32, and Keras' predict copies its input.
NORMALISE_CHUNK = 2048
# Input numbers a prediction batch holds at most: 32 photos of 224 x 224 x 3. EfficientNet-Lite0 on 512
# such photos took 2.9 GB more memory in batches of 256 than in batches of 32, and 4 times as long
# (21.1 s against 5.3 s; Intel Xeon, 2 cores shared with a training run); an export of a run at
# 224 x 224 was killed for memory (15.8 GB).
PREDICT_ELEMENTS = 32 * 224 * 224 * 3


def batch_for(images, batch_size: int) -> int:
    """``batch_size``, or fewer where the examples are so large that a batch would pass PREDICT_ELEMENTS."""
    per_example = int(np.prod(np.shape(images)[1:], dtype=np.int64)) or 1
    return max(1, min(int(batch_size), PREDICT_ELEMENTS // per_example))


def predict(model, images: np.ndarray, batch_size: int = 256, normalise=None) -> np.ndarray:
    """Class probabilities of a Keras model, in batches, as float32 numpy.

    256, as validation during training: with batches of 1000, the VGG
    tutorial's activations on the test set were the peak of the whole run
    (1390 MB against 951 MB with 256, one epoch on fashion-sample). Fewer
    where examples are large (``PREDICT_ELEMENTS``).
    ``normalise``: applied to ``NORMALISE_CHUNK`` stored examples at a time,
    so that the whole set never exists as float32.
    """
    batch_size = batch_for(images, batch_size)
    if normalise is None:
        return np.asarray(model.predict(images, batch_size=batch_size, verbose=0), dtype=np.float32)
    parts = [np.asarray(model.predict(normalise(images[i:i + NORMALISE_CHUNK]), batch_size=batch_size, verbose=0),
                        dtype=np.float32) for i in range(0, len(images), NORMALISE_CHUNK)]
    return np.concatenate(parts) if parts else np.zeros((0, model.outputs[0].shape[-1]), np.float32)
