"""Continuing a text with a generation model: the next token, again and again.

The book's rule (7.42, 7.51) is greedy: the prompt's last window of tokens
goes in, the most probable next token is appended, and so on. With a
temperature above 0 the next token is drawn instead, from the probabilities
raised to ``1 / temperature`` (lower: closer to greedy; 1: as the model
says), by a NumPy generator seeded with ``seed``: the same seed writes the
same text.

``continue_text`` takes any ``next_probabilities(window) -> probabilities``,
so the report's samples (Keras, at the end of training) and ``zoo
generate`` (the exported ``.tflite`` on LiteRT, no TensorFlow) write by the
same code (``zoo.device.generate`` runs the exported file).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from zoo.errors import UsageError

MAX_TOKENS = 10_000
MAX_TEMPERATURE = 100.0


def check(length: int, temperature: float, seed: int = 0) -> None:
    """Refuse a length, temperature or seed zoo cannot use (named as the CLI's flags)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"--seed must be a whole number, 0 or more. Received: {seed}")
    if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= MAX_TOKENS:
        raise UsageError(f"--length must be a whole number of tokens in 1..{MAX_TOKENS}. Received: {length}")
    if not (isinstance(temperature, (int, float)) and 0 <= temperature <= MAX_TEMPERATURE):
        raise UsageError(f"--temperature must be a number in 0..{MAX_TEMPERATURE:g} (0: the most probable "
                         f"token every time). Received: {temperature}")


def window(ids: list, tokenizer) -> np.ndarray:
    """The last ``tokenizer.length`` ids, padded with 0 where the text is shorter, as training padded."""
    tail = list(ids[-tokenizer.length:])
    pad = [0] * (tokenizer.length - len(tail))
    return np.asarray([pad + tail if tokenizer.padding == "pre" else tail + pad], dtype=np.int32)


def continue_text(next_probabilities: Callable, tokenizer, prompt: str, length: int, temperature: float = 0.0,
                  seed: int = 0) -> str:
    """``prompt`` followed by ``length`` tokens the model chose, as text.

    Args:
        next_probabilities: ``(1, window) int32 ids -> (1, ids) probabilities``.
        tokenizer: the run's ``zoo.tokenizer.Tokenizer``.
        prompt: the text to continue (may be empty).
        length: how many tokens to add.
        temperature: 0 for the most probable token (the book's rule), else sample.
        seed: the sampler's seed.
    """
    check(length, temperature, seed)
    ids = tokenizer.ids(prompt)
    rng = np.random.default_rng(seed)
    added = []
    for _ in range(length):
        probabilities = np.asarray(next_probabilities(window(ids, tokenizer)), dtype=np.float64).reshape(-1)
        probabilities[0] = 0.0  # padding is never a next token
        if tokenizer.unknown == "oov":
            probabilities[1] = 0.0  # nor "[UNK]": it has no text to write
        if temperature == 0:
            chosen = int(np.argmax(probabilities))
        else:
            logits = np.log(np.clip(probabilities, 1e-30, None)) / temperature
            weights = np.exp(logits - logits.max())
            weights[probabilities == 0] = 0.0
            chosen = int(rng.choice(len(weights), p=weights / weights.sum()))
        ids.append(chosen)
        added.append(chosen)
    words = {i + tokenizer.first_word_id: w for i, w in enumerate(tokenizer.vocabulary)}
    text = tokenizer.join(tokenizer.pieces(prompt) + [words.get(i, "") for i in added])
    return _whole_syllables(text) if tokenizer.level == "jamo" else text


def _whole_syllables(text: str) -> str:
    """Jamo text without the jamo left over at its end: a lone initial consonant (or vowel) that
    NFC could not compose into a syllable is half a letter on screen."""
    end = len(text)
    while end and "\u1100" <= text[end - 1] <= "\u11ff":
        end -= 1
    return text[:end]


def keras_sampler(model) -> Callable:
    """``next_probabilities`` of a Keras model (the report's samples, before any export).

    Traced once by ``tf.function``: an eager call of a recurrent model takes
    about 0.2 s on 2 cores, a traced one 3 ms, and a sample is hundreds of calls.
    """
    import tensorflow as tf

    step = tf.function(lambda ids: model(ids, training=False))
    return lambda ids: np.asarray(step(tf.constant(ids)))


def samples(model, tokenizer, prompts, length: int = 120) -> list[dict]:
    """The report's samples: each prompt continued greedily by the Keras model."""
    sampler = keras_sampler(model)
    return [{"prompt": prompt, "text": continue_text(sampler, tokenizer, prompt, length)} for prompt in prompts]


