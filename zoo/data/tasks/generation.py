"""Generation: the next token of a text, given the window of tokens before it.

A classification over the tokenizer's ids (one "class" per id, named
printably), so it trains, exports and verifies as one (softmax head,
cross-entropy, accuracy = the share of held-out windows whose next token is
the most probable); what it reports differs: perplexity (``exp`` of the
cross-entropy) and, in the report, text the model wrote (``zoo.generate``),
without a confusion matrix of every token against every other. ``zoo
generate`` runs it, not ``zoo predict``.
"""
from __future__ import annotations

import json
import math

import numpy as np

from zoo.data.tasks.classification import Classification


# no fields of its own: no dataclass decorator (each costs zoo predict a few ms)
class Generation(Classification):
    """The next token after a window of tokens; ``class_names`` names each token id printably."""

    kind = "generation"
    summary = "the next token of a text (softmax over the vocabulary; accuracy and perplexity)"
    generates = True
    mediapipe = None  # MediaPipe's TextClassifier does not write text
    head_name = "next_token"
    metrics_fields = ("test_accuracy", "test_perplexity")

    def describe(self) -> dict:
        return {"kind": self.kind, "tokens": self.units}

    def scores(self, outputs: np.ndarray, y: np.ndarray) -> dict:
        labels = np.asarray(y, dtype=np.int64)
        picked = np.asarray(outputs)[np.arange(len(labels)), labels]
        loss = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))
        return {"test_accuracy": round(float(np.mean(np.argmax(outputs, axis=1) == labels)), 6),
                "test_loss": round(loss, 6), "test_perplexity": round(math.exp(loss), 4),
                "test_examples": int(len(labels))}

    def more_scores(self, model, data, outputs) -> dict:
        """What the model writes, from the held-out text's first characters."""
        from zoo.data import continuation

        return {"samples": continuation.samples(model, data.tokenizer, list(data.test_texts or [""]))}

    def headline(self, metrics: dict) -> str:
        return (f"held-out next-token accuracy {metrics['test_accuracy']:.4f}, "
                f"perplexity {metrics['test_perplexity']:.2f}")

    def report_sections(self, metrics: dict) -> list:
        """Text the model wrote, white space kept (a model that writes spaces and line ends is seen to)."""
        samples = metrics.get("samples")
        written = [{"title": "Text the model wrote", "css": "written",
                    "note": "Each prompt (the start of a held-out line) continued with the most probable token, "
                            "120 times.", "headers": ["prompt", "text"],
                    "rows": [(s.get("prompt"), s.get("text")) for s in samples if isinstance(s, dict)]}]
        return (written if isinstance(samples, list) and samples else []) + super().report_sections(metrics)

    def plot(self, data, metrics: dict, history: dict, outputs, run_dir) -> None:
        """Curves only: a confusion matrix of every token against every other says little."""
        from zoo.data import plots

        plots.curves(history, run_dir / "curves.png")


def token_label(token: str) -> str:
    """A token as a class name: printable, one line, never empty (JSON's escapes, and ``\\uXXXX``
    for white space), and distinct for distinct tokens."""
    escaped = json.dumps(token, ensure_ascii=False)[1:-1]
    return "".join(c if c.isprintable() and not c.isspace() else f"\\u{ord(c):04x}" for c in escaped)
