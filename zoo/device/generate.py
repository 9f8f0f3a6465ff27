"""``zoo generate``: continue a text with an exported generation model on LiteRT (no TensorFlow), by the
same code that wrote the report's samples (``zoo.data.continuation``)."""
from __future__ import annotations

from zoo.data.continuation import (MAX_TEMPERATURE, MAX_TOKENS, check, continue_text,  # noqa: F401 - as before
                                   keras_sampler, samples, window)
from zoo.errors import UsageError


def generate(model: str, prompt: str, length: int = 100, temperature: float = 0.0, seed: int = 0) -> dict:
    """Continue ``prompt`` with an exported generation model on LiteRT (no TensorFlow).

    Args:
        model: a .tflite file, an export directory or a run (its ``export/model.tflite``).
        prompt, length, temperature, seed: as ``continue_text``.

    Returns:
        ``{"model": path, "prompt": ..., "text": prompt and continuation, "tokens": length,
        "temperature": ..., "seed": ...}``.
    """
    from zoo.device import predict

    check(length, temperature, seed)
    loaded = predict.load(model)
    if not loaded.task.generates:
        raise UsageError(f"{loaded.path}: a {loaded.task.kind} model; zoo generate needs one trained on a corpus "
                         f"(e.g. zoo train lstm-bn nsmc-corpus); classify with zoo predict")
    text = continue_text(lambda ids: loaded.runner.predict(ids), loaded.tokenizer, prompt, length,
                         temperature, seed)
    return {"model": str(loaded.path), "prompt": prompt, "text": text, "tokens": length,
            "temperature": temperature, "seed": seed}
