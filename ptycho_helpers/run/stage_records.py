"""The records the stages of one run pass along, in pipeline order; each keeps a
reference to its upstream record (``groups.sim``, ``trained.groups``, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.grouping import GroupedData, Groups
from ..core.reassemble import Stitched
from ..core.simulate import RawData


@dataclass(frozen=True)
class SimulatedDataset:
    """Object (``None`` for imported data without one), normalised probe, all patterns and
    the y-split."""

    obj: np.ndarray | None
    probe: np.ndarray
    raw: RawData
    train: RawData
    test: RawData
    # grid protocol: the fixed groups of each split and the test object's unit factor
    # (the stitched output is multiplied back by it; ``obj`` stays in the original units)
    train_groups: Groups | None = None
    test_groups: Groups | None = None
    unit_scale: float = 1.0

    @property
    def obj_in_data_units(self) -> np.ndarray | None:
        """The test object in the units the diffraction was simulated in."""
        return None if self.obj is None else (self.obj / self.unit_scale).astype(np.complex64)


@dataclass(frozen=True)
class ScenarioGroups:
    """Training groups, the test groups that get stitched, the model's combine pad and the
    reassembly telemetry of the stitched groups."""

    sim: SimulatedDataset
    train: GroupedData
    test: GroupedData
    combine_pad: int
    telemetry: dict[str, Any]


@dataclass(frozen=True)
class TrainedModel:
    """The trained PINN (``pinn.train.TrainResult``) and the groups it was trained on."""

    groups: ScenarioGroups
    result: Any

    @property
    def pinn(self):
        return self.result.pinn

    @property
    def scales(self):
        return self.result.scales


@dataclass(frozen=True)
class Reconstructed:
    """The PINN's predicted test patches and their stitched image."""

    trained: TrainedModel
    rec: Any  # pinn.infer.Reconstruction
    stitched: Stitched


@dataclass(frozen=True)
class RefinedReconstruction:
    """The physics refinement of the predicted patches (``refined``/``stitched`` are ``None``
    when ``refine_steps == 0``: the PINN alone)."""

    reconstructed: Reconstructed
    refined: Any = None  # pinn.refine.Refined
    stitched: Stitched | None = None
    summary: dict[str, Any] | None = None

    @property
    def active(self) -> bool:
        return self.refined is not None
