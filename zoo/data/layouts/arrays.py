"""The ``sequence`` (time steps x features) and ``vector`` (features) layouts: numbers, read from
``.npy`` and ``.csv`` files, fed as stored times the spec's scale (the defaults of ``Layout``)."""
from __future__ import annotations


import numpy as np

from zoo.data.layouts.base import Layout


# no fields of its own: no dataclass decorator (each costs zoo predict a few ms)
class SequenceLayout(Layout):
    def draw(self, ax, example: np.ndarray) -> None:
        """A line per feature over time (a sequence drawn as a picture is noise)."""
        example = np.asarray(example)
        ax.plot(example.reshape(len(example), -1), lw=0.8)


SEQUENCE = SequenceLayout("sequence", "time steps x features: a series of measurements",
                          axes="time steps x features", ranks=(2,), input_name="sequence")
VECTOR = Layout("vector", "one row of features", axes="features", ranks=(1,), input_name="features")
