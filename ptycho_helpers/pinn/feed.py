"""Training batches built on the fly from index arrays into the one float32 copy of the
grouped diffraction (``keras.utils.PyDataset``, every backend): no scaled input array,
no squared-target array and no shuffled copies are ever held whole.

Each batch is ``((α·d[rows], geometry[rows]), d[rows]²)``; the rows of an epoch are a
seeded permutation of the split's indices (a new one every epoch), so a run is repeatable
from its seed.
"""

from __future__ import annotations

import math

import keras
import numpy as np


class GroupBatches(keras.utils.PyDataset):
    """Batches of groups ``idx`` of ``diffraction`` (g, N, N, C) float32 and ``geometry``
    (g, C, 4) float32, scaled by ``gain``; ``shuffle_seed=None`` keeps ``idx``'s order."""

    def __init__(
        self,
        diffraction: np.ndarray,
        geometry: np.ndarray,
        idx: np.ndarray,
        *,
        gain: float,
        batch_size: int,
        shuffle_seed: int | None = None,
    ):
        super().__init__()
        self.d = diffraction
        self.g = geometry
        self.idx = np.asarray(idx, dtype=np.int64)
        self.gain = np.float32(gain)
        self.batch_size = int(batch_size)
        self.rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
        self.order = self.idx
        self._shuffle()

    def _shuffle(self) -> None:
        if self.rng is not None:
            self.order = self.idx[self.rng.permutation(len(self.idx))]

    def __len__(self) -> int:
        return math.ceil(len(self.idx) / self.batch_size)

    def __getitem__(self, i: int):
        rows = self.order[i * self.batch_size : (i + 1) * self.batch_size]
        d = self.d[rows]
        return (d * self.gain, self.g[rows]), np.square(d)

    def on_epoch_end(self) -> None:
        self._shuffle()
