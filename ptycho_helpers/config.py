"""Frozen configuration records: run parameters, scenarios, model and training settings.

Each field is declared once, with :func:`~ptycho_helpers.core.checks.setting`: its default,
a one-line doc and its bounds or choices.  A run setting that lands in the model or
training record is declared there and referred to with ``same_as``.  Every record
validates itself in ``__post_init__`` (the declared bounds via ``check_fields``, then its
cross-field rules) and raises ``ValueError`` / ``TypeError`` with a message naming the bad
value and what is allowed.  Variants are made with :func:`dataclasses.replace`, which
re-runs the validation.  The knob table, CLI flags, notebook parameters and the options
page are derived from these declarations (``knobs.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .core import classical as _classical
from .core.checks import Record as _Record
from .core.checks import check_int, check_name, same_as, setting

PROBE_MODES = ("idealized", "custom")
#: Protocol settings of a scenario (REFERENCE_PROTOCOLS.md): the non-grid value first.
SCANS = ("random", "grid")
OBJECT_SETS = ("halves", "separate")
GROUP_GEOMETRIES = ("knn", "square")
PREDICTIONS = ("member", "group")
OBJECT_UNITS = ("as_is", "patch_max")
LOSSES = ("poisson", "mae")
#: classical engines (PtyLab's, ``core/classical.py``) and ``none`` to skip the stage
CLASSICAL_ENGINES = (*_classical.ENGINES, "none")
#: flat starts of the classical engine: the data's mean object amplitude, or ones
CLASSICAL_STARTS = _classical.STARTS
LR_SCHEDULES = ("plateau", "constant")
AMP_ACTIVATIONS = ("softplus", "sigmoid", "scaled_sigmoid")
#: data: the photon scale s and input gain α computed from the training data (fixed);
#: reference: PtychoPINN's one trainable log-scale at the closed form sqrt(nphotons)/(N/2)
INTENSITY_SCALES = ("data", "reference")
#: the physics input reads the data at the fixed input gain: no trainable scale with it
SCALE_RULE = (
    "intensity_scale='reference' needs backprojection=0 (the reference CNN); or use intensity_scale='data'"
)


#: where a run computes: auto = a GPU when the Keras backend sees one, else the CPU
DEVICES = ("auto", "gpu", "cpu")
#: Keras dtype policies of the network (the physics, the scale and the heads stay float32)
PRECISIONS = ("float32", "mixed_bfloat16")
#: environment variable naming the process that launched a run's kernel (set by the runner
#: for papermill children; absent in a direct papermill run)
LAUNCHER_ENV = "PTYCHO_LAUNCHER_PID"
#: the fix named when a GPU is asked for and none can be used
GPU_SETUP_HINT = (
    "on a GPU workstation install the GPU set-up (`make venv GPU=1`, requirements-gpu.txt), "
    "or run with --device cpu"
)
INPUT_TRANSFORMS = ("linear", "log", "linear+log")


# --------------------------------------------------------------------------- rules
def check_model_rules(
    *, intensity_scale: str, backprojection: int, prediction: str, amp_init: str = "zero"
) -> None:
    """The cross-field rules of the model settings, written once: the model record, the run
    settings and the planner (which knows the scenario's prediction) all call this."""
    if intensity_scale == "reference" and backprojection:
        raise ValueError(SCALE_RULE)
    if backprojection and prediction == "group":
        raise ValueError(
            "the network's physics input (--backprojection) works per member pattern and this scenario "
            "predicts one object per group: add --backprojection 0 or --prediction member"
        )
    if backprojection and amp_init == "data":
        raise ValueError(
            "backprojection starts the amplitude head itself: use amp_init='zero' or backprojection=0"
        )


# --------------------------------------------------------------------------- records
@dataclass(frozen=True)
class RunParams(_Record):
    """Physics and workload parameters of a simulated run (PtychoPINN ``sim_lines_4x``)."""

    N: int = setting(64, "patch / diffraction pattern side in px; a multiple of 4", minimum=4)
    object_size: int = setting(392, "side of the lines object in px", minimum=4)
    object_seed: int = setting(42, "seed of the lines object", minimum=0)
    sim_seed: int = setting(42, "seed of positions, Poisson noise and grouping", minimum=0)
    buffer: float = setting(10.0, "scan positions lie in [buffer, size - buffer]", minimum=0.0)
    split_fraction: float = setting(0.5, "test share (largest y)", minimum=0.0, maximum=1.0, exclusive=True)
    base_total_images: int = setting(2000, "scan positions per gridsize**2", minimum=1)
    group_count: int = setting(1000, "groups per split", minimum=1)
    # >= 1 photon per pattern (below, the data are all zeros); <= 1e15 keeps every Poisson
    # rate far below numpy's limit (~9e18)
    nphotons: float = setting(1e9, "mean photons per diffraction pattern", minimum=1.0, maximum=1e15)
    neighbor_count: int = setting(4, "K, neighbour pool for gridsize > 1", minimum=1)
    reassemble_M: int = setting(20, "central crop side kept from each patch when stitching", minimum=1)

    def __post_init__(self) -> None:
        self.check_fields()
        N = self.N
        if N % 4:
            raise ValueError(f"N={N} is not allowed; N must be divisible by 4 (e.g. 32, 64, 128)")
        object.__setattr__(self, "object_size", check_int("object_size", self.object_size, minimum=N))
        if 2 * self.buffer >= self.object_size:
            raise ValueError(
                f"buffer={self.buffer} leaves no scan area in an object of size {self.object_size}; "
                f"it must be < object_size/2 = {self.object_size / 2}"
            )
        if self.reassemble_M > N:
            raise ValueError(
                f"reassemble_M={self.reassemble_M} exceeds the patch size N={N}; it must be <= N"
            )


@dataclass(frozen=True)
class ScenarioSpec(_Record):
    """One scenario: gridsize, probe and the protocol settings (the table of DESIGN §4).

    Each difference of the legacy grid protocol from the non-grid one
    (REFERENCE_PROTOCOLS.md) is a named, recorded value, not a code path.
    """

    name: str
    gridsize: int = setting(1, "1 or 2", minimum=1)
    probe_mode: str = setting("idealized", "idealized | custom", choices=PROBE_MODES)
    # the probe amplitude is 1/probe_scale of its mean: beyond [1e-3, 1e3] float32 intensities overflow or vanish
    probe_scale: float = setting(
        10.0, "probe normalisation: mean of abs(disk*probe) is 1/probe_scale", minimum=1e-3, maximum=1e3
    )
    probe_big: bool = setting(False, "model fills the patch border too")
    probe_mask: bool = setting(True, "multiply the probe by the disk r < N/4 in the model")
    image_multiplier: int = setting(1, "extra factor on the number of positions", minimum=1)
    group_multiplier: int = setting(1, "extra factor on the number of groups", minimum=1)
    scan: str = setting("random", "scan positions", choices=SCANS)
    train_stride: int = setting(4, "grid step of the training scan in px", minimum=1)
    test_stride: int = setting(10, "grid step of the test scan in px (seamless tile side)", minimum=1)
    group_offset: int = setting(4, "member spacing of a fixed 2x2 grid group in px", minimum=0)
    group_geometry: str = setting(
        "knn",
        "groups of a random gridsize-2 scan: K nearest neighbours, or fixed 2x2 squares of group_offset around "
        "random centres (a grid scan's groups are always squares)",
        choices=GROUP_GEOMETRIES,
    )
    object_set: str = setting("halves", "train/test objects", choices=OBJECT_SETS)
    n_objects: int = setting(2, "training objects when the object set is separate", minimum=1)
    prediction: str = setting("member", "network output for gridsize 2", choices=PREDICTIONS)
    object_units: str = setting("as_is", "object amplitude units", choices=OBJECT_UNITS)
    loss: str = setting("poisson", "training loss", choices=LOSSES)

    def __post_init__(self) -> None:
        check_name("scenario", self.name)
        self.check_fields()
        if self.gridsize > 4:
            raise ValueError(f"gridsize={self.gridsize} is out of range; it must be 1, 2, 3 or 4")
        if self.group_geometry == "square" and self.gridsize != 2:
            raise ValueError(
                f"group_geometry=square makes 2x2 groups: it needs gridsize 2, not {self.gridsize}; "
                "use group_geometry=knn"
            )

    @property
    def channels(self) -> int:
        """C = gridsize**2 patterns per group."""
        return self.gridsize**2

    @property
    def fixed_groups(self) -> bool:
        """Groups made with the scan (grid squares, or random-centred squares), not found by K-NN."""
        return self.scan == "grid" or self.group_geometry == "square"


@dataclass(frozen=True)
class ModelConfig(_Record):
    """Settings of the PINN (see :func:`ptycho_helpers.pinn.model.build_model`).

    ``combine_pad`` is the margin (pixels) of the canvas on which a group's patches are
    combined for gridsize > 1; it must cover the largest relative offset of any group.
    """

    N: int = setting(64, "patch side in px; divisible by 8 (the encoder halves it three times)", minimum=8)
    gridsize: int = setting(1, "patterns per group side", minimum=1)
    amp_activation: str = setting("softplus", "amplitude head", choices=AMP_ACTIVATIONS)
    amp_scale: float = setting(5.0, "k of scaled_sigmoid", minimum=0.0, exclusive=True)
    probe_big: bool = setting(False, "model fills the patch border too")
    probe_mask: bool = setting(True, "multiply the probe by the disk r < N/4 in the model")
    combine_pad: int = setting(
        0, "margin of a group's combining canvas in px (rounded up to even)", minimum=0
    )
    input_transform: str = setting("linear", "network input", choices=INPUT_TRANSFORMS)
    amp_init: str = setting(
        "zero", "data: start the amplitude head at the data's mean object amplitude", choices=("zero", "data")
    )
    batch_norm: bool = setting(False, "BatchNormalization after every convolution")
    dense_bottleneck: int = setting(
        0, "width of a dense bottleneck layer (0: none, the reference CNN)", minimum=0
    )
    fullres_filters: int = setting(
        0, "two convolutions of this width at the output resolution (0: none)", minimum=0
    )
    input_counts_scale: float = setting(
        1.0, "log transform: log1p(scale * X) / 10, scale = s / alpha", minimum=0.0, exclusive=True
    )
    prediction: str = setting(
        "member", "member: one patch per member; group: one object per group", choices=PREDICTIONS
    )
    backprojection: int = setting(
        0,
        "physics input: error-reduction iterations per pattern with the known probe; the heads start "
        "at that image and the network learns the correction (0: off, the reference CNN)",
        minimum=0,
        maximum=50,
    )
    physics_input: str = setting(
        "member",
        "how the physics input is formed: member (each pattern alone) or group (gridsize > 1: the "
        "group's members solved jointly on one canvas, error reduction with overlap)",
        choices=("member", "group"),
    )
    input_gain: float = setting(1.0, "α of the input (set by training)", minimum=0.0, exclusive=True)
    intensity_scale: str = setting(
        "data",
        "data: fixed scales from the training data; reference: PtychoPINN's trainable log-scale "
        "at sqrt(nphotons)/(N/2), shared by input and output",
        choices=INTENSITY_SCALES,
    )
    scale_init: float = setting(
        1.0, "initial scale of intensity_scale='reference' (set by training)", minimum=0.0, exclusive=True
    )
    precision: str = setting(
        "float32",
        "network arithmetic: float32, or mixed_bfloat16 (convolutions in bfloat16; the heads, the "
        "physics, the intensity scale and the loss stay float32)",
        choices=PRECISIONS,
    )

    def __post_init__(self) -> None:
        self.check_fields()
        if self.N % 4:
            raise ValueError(f"N={self.N} is not allowed; N must be divisible by 4")
        if self.N % 8:
            raise ValueError(
                f"N={self.N} is not supported by the model: the encoder halves the size three "
                "times, so N must be divisible by 8 (e.g. 32, 64, 128)"
            )
        check_model_rules(
            intensity_scale=self.intensity_scale,
            backprojection=self.backprojection,
            prediction=self.prediction,
            amp_init=self.amp_init,
        )
        if self.combine_pad % 2:
            object.__setattr__(self, "combine_pad", self.combine_pad + 1)
        if self.physics_input == "group" and (self.channels == 1 or not self.backprojection):
            raise ValueError(
                "physics_input=group solves a group's members jointly: it needs gridsize 2 and "
                "backprojection > 0; use physics_input=member"
            )

    @property
    def channels(self) -> int:
        return self.gridsize**2

    @property
    def out_channels(self) -> int:
        """Channels the decoder predicts: one per member, or one object per group."""
        return 1 if self.prediction == "group" else self.channels

    @property
    def encoder_filters(self) -> tuple[int, int, int]:
        """Encoder widths: (64, 128, 256) for N >= 64, scaled by N/64 below (N=32: 32, 64, 128)."""
        k = min(self.N, 64) / 64
        return tuple(max(4, int(round(w * k))) for w in (64, 128, 256))  # type: ignore[return-value]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        data = dict(data)
        for gone in ("architecture", "filters"):  # bundles before these never-set options were removed
            data.pop(gone, None)
        return super().from_dict(data)


@dataclass(frozen=True)
class TrainConfig(_Record):
    """Training settings (DESIGN §4: Adam 5e-4, plateau schedule, early stopping)."""

    nepochs: int = setting(5, "training epochs", minimum=1)
    batch_size: int = setting(16, "training batch size", minimum=1)
    learning_rate: float = setting(
        5e-4, "Adam learning rate (the reference used 1e-3)", minimum=0.0, exclusive=True
    )
    validation_fraction: float = setting(
        0.05, "random validation share of the training groups", minimum=0.0, maximum=0.5
    )
    seed: int = setting(
        42, "training seed (weights, validation draw, shuffling)", minimum=0, maximum=2**32 - 1
    )
    nll_weight: float = setting(1.0, "weight of the Poisson NLL", minimum=0.0)
    mae_weight: float = setting(0.0, "weight of the amplitude MAE", minimum=0.0)
    lr_patience: int = setting(2, "plateau epochs before the rate is lowered", minimum=1)
    lr_factor: float = setting(0.5, "factor of each lowering", minimum=0.0, maximum=1.0, exclusive=True)
    lr_min: float = setting(1e-4, "lowest learning rate", minimum=0.0)
    early_stop_patience: int = setting(3, "plateau epochs before training stops", minimum=1)
    # 1e7 steps is 200x the reference's budget (about 50k): a larger value is a typo, not a plan
    steps: int = setting(0, "optimiser-step budget (0: the epoch budget)", minimum=0, maximum=10_000_000)
    lr_schedule: str = setting("plateau", "learning-rate schedule", choices=LR_SCHEDULES)
    curve_every: int = setting(0, "call the training monitor every this many steps (0: never)", minimum=0)

    def __post_init__(self) -> None:
        self.check_fields()
        if self.nll_weight == 0 and self.mae_weight == 0:
            raise ValueError("nll_weight and mae_weight are both 0; at least one must be > 0")


@dataclass(frozen=True)
class RunSettings(_Record):
    """Run settings of one scenario that are not profile knobs (DESIGN §4).

    A setting that lands in :class:`ModelConfig` or :class:`TrainConfig` is declared there
    (``same_as``); :func:`ptycho_helpers.run.training.model_config_of` passes every such
    field on by name.
    """

    nepochs: int = same_as(TrainConfig, "nepochs")
    group_limit: int = setting(64, "test groups stitched: min(group_count, group_limit)", minimum=1)
    seed: int = same_as(TrainConfig, "seed")
    amp_activation: str = same_as(ModelConfig, "amp_activation")
    intensity_scale: str = same_as(ModelConfig, "intensity_scale")
    custom_probe_path: str | None = setting(None, ".npz with probeGuess for the custom probe mode")
    register: bool = setting(False, "sub-pixel registration before the metrics")
    amp_vmax: float | None = setting(
        None, "amplitude colour-scale maximum (stats-based if None)", minimum=0.0, exclusive=True
    )
    object_amp_norm: bool = setting(False, "bias study: scale the object to max amplitude 1")
    learning_rate: float = same_as(TrainConfig, "learning_rate")
    data_path: str | None = setting(None, "PtychoPINN-style .npz to train/reconstruct instead of simulating")
    input_transform: str = same_as(ModelConfig, "input_transform")
    dense_bottleneck: int = same_as(ModelConfig, "dense_bottleneck")
    precision: str = same_as(ModelConfig, "precision")
    # the network's physics input (docs/results.md "What limits quality"); 0: off
    backprojection: int = same_as(ModelConfig, "backprojection", 5)
    physics_input: str = same_as(ModelConfig, "physics_input")
    # retired from the default: the classical stage is the finishing step
    refine_steps: int = setting(
        0, "physics refinement steps on the test diffraction (0: PINN only)", minimum=0
    )
    refine_lr: float = setting(0.05, "refinement Adam step", minimum=0.0, exclusive=True)
    classical: str = setting(
        "mPIE", "classical engine beside the PINN (none: skip)", choices=CLASSICAL_ENGINES
    )
    classical_iterations: int = setting(50, "iterations of each classical reconstruction", minimum=1)
    classical_start: str = setting("mean", "flat start of the classical engine", choices=CLASSICAL_STARTS)
    test_sets: bool = setting(
        False,
        "also score the model on both protocols' canonical test sets (grid tiles, random half) with both "
        "stitchings (a study turns it on)",
    )
    steps: int = same_as(TrainConfig, "steps")
    lr_schedule: str = same_as(TrainConfig, "lr_schedule")
    validation_fraction: float = same_as(TrainConfig, "validation_fraction")
    curve_every: int = setting(0, "learning-curve SSIM every this many steps (0: about 20 points)", minimum=0)
    curve_groups: int = setting(
        16,
        "test groups each learning-curve point scores (0: all; on the grid protocol that is the reference "
        "metric on the whole test object, about 23 training steps of compute per point)",
        minimum=0,
    )
    device: str = setting(
        "auto",
        "where the network trains and infers: auto (a GPU when the backend sees one), gpu (an error without one), cpu",
        choices=DEVICES,
    )

    def __post_init__(self) -> None:
        self.check_fields()
        check_model_rules(
            intensity_scale=self.intensity_scale, backprojection=self.backprojection, prediction="member"
        )
        if self.data_path is not None and not Path(self.data_path).is_file():
            raise FileNotFoundError(f"data_path {self.data_path!r} does not exist")
        if self.custom_probe_path is not None and not Path(self.custom_probe_path).is_file():
            raise FileNotFoundError(f"custom_probe_path {self.custom_probe_path!r} does not exist")
