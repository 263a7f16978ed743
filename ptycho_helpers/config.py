"""Frozen configuration records: run parameters, scenarios, model and training settings.

Every record validates itself in ``__post_init__`` and raises ``ValueError`` /
``TypeError`` with a message naming the bad value and what is allowed.  Variants are
made with :func:`dataclasses.replace`, which re-runs the validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .core import classical as _classical
from .core.checks import Record as _Record
from .core.checks import check_bool, check_choice, check_float, check_int, check_name

PROBE_MODES = ("idealized", "custom")
#: Protocol settings of a scenario (REFERENCE_PROTOCOLS.md): the non-grid value first.
SCANS = ("random", "grid")
OBJECT_SETS = ("halves", "separate")
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
#: environment variable naming the process that launched a run's kernel (set by the runner
#: for papermill children; absent in a direct papermill run)
LAUNCHER_ENV = "PTYCHO_LAUNCHER_PID"
#: the fix named when a GPU is asked for and none can be used
GPU_SETUP_HINT = (
    "on a GPU workstation install the GPU set-up (`make venv GPU=1`, requirements-gpu.txt), "
    "or run with --device cpu"
)
INPUT_TRANSFORMS = ("linear", "log", "linear+log")


# --------------------------------------------------------------------------- records
@dataclass(frozen=True)
class RunParams(_Record):
    """Physics and workload parameters of a simulated run (PtychoPINN ``sim_lines_4x``).

    Attributes
    ----------
    N : int
        Patch / diffraction pattern side in pixels; a multiple of 4.
    object_size : int
        Side of the square lines object in pixels.
    object_seed, sim_seed : int
        Seeds of the object and of the scan positions + Poisson noise.
    buffer : float
        Scan positions are drawn uniformly in ``[buffer, object_size - buffer]``.
    split_fraction : float
        Share of positions (largest y) that form the test set; in (0, 1).
    base_total_images : int
        Scan positions per unit of ``gridsize**2 * image_multiplier``.
    group_count : int
        Number of groups sampled per split.
    nphotons : float
        Mean photons per diffraction pattern.
    neighbor_count : int
        K, the neighbour pool for gridsize > 1.
    reassemble_M : int
        Side of the central crop kept from each patch when stitching.
    """

    N: int = 64
    object_size: int = 392
    object_seed: int = 42
    sim_seed: int = 42
    buffer: float = 10.0
    split_fraction: float = 0.5
    base_total_images: int = 2000
    group_count: int = 1000
    nphotons: float = 1e9
    neighbor_count: int = 4
    reassemble_M: int = 20

    def __post_init__(self) -> None:
        s = object.__setattr__
        N = check_int("N", self.N, minimum=4)
        if N % 4:
            raise ValueError(f"N={N} is not allowed; N must be divisible by 4 (e.g. 32, 64, 128)")
        s(self, "N", N)
        s(self, "object_size", check_int("object_size", self.object_size, minimum=N))
        s(self, "object_seed", check_int("object_seed", self.object_seed, minimum=0))
        s(self, "sim_seed", check_int("sim_seed", self.sim_seed, minimum=0))
        buffer = check_float("buffer", self.buffer, minimum=0.0)
        if 2 * buffer >= self.object_size:
            raise ValueError(
                f"buffer={buffer} leaves no scan area in an object of size {self.object_size}; "
                f"it must be < object_size/2 = {self.object_size / 2}"
            )
        s(self, "buffer", buffer)
        s(
            self,
            "split_fraction",
            check_float("split_fraction", self.split_fraction, minimum=0.0, maximum=1.0, exclusive=True),
        )
        s(self, "base_total_images", check_int("base_total_images", self.base_total_images, minimum=1))
        s(self, "group_count", check_int("group_count", self.group_count, minimum=1))
        # >= 1 photon per pattern (below, the data are all zeros); <= 1e15 keeps every Poisson
        # rate far below numpy's limit (~9e18)
        s(self, "nphotons", check_float("nphotons", self.nphotons, minimum=1.0, maximum=1e15))
        s(self, "neighbor_count", check_int("neighbor_count", self.neighbor_count, minimum=1))
        M = check_int("reassemble_M", self.reassemble_M, minimum=1)
        if M > N:
            raise ValueError(f"reassemble_M={M} exceeds the patch size N={N}; it must be <= N")
        s(self, "reassemble_M", M)


@dataclass(frozen=True)
class ScenarioSpec(_Record):
    """One scenario: gridsize and probe choice (the table of DESIGN §4)."""

    name: str
    gridsize: int = 1
    probe_mode: str = "idealized"
    probe_scale: float = 10.0
    probe_big: bool = False
    probe_mask: bool = True
    image_multiplier: int = 1
    group_multiplier: int = 1
    # protocol settings (REFERENCE_PROTOCOLS.md): each difference of the legacy grid
    # protocol from the non-grid one is a named, recorded value, not a code path
    scan: str = "random"  # random positions in [buffer, size-buffer] | regular grid
    train_stride: int = 4  # grid step of the training scan (px)
    test_stride: int = 10  # grid step of the test scan (px); also the seamless tile side
    group_offset: int = 4  # member spacing of a fixed 2x2 grid group (±2 px)
    object_set: str = "halves"  # train/test = y-halves of one object | separate objects
    n_objects: int = 2  # training objects for object_set=separate
    prediction: str = "member"  # one patch per member | one object per group
    object_units: str = "as_is"  # as simulated | divided by the mean of the per-patch maxima
    loss: str = "poisson"  # Poisson NLL | amplitude MAE

    def __post_init__(self) -> None:
        s = object.__setattr__
        check_name("scenario", self.name)
        check_choice("scan", self.scan, SCANS)
        check_choice("object_set", self.object_set, OBJECT_SETS)
        check_choice("prediction", self.prediction, PREDICTIONS)
        check_choice("object_units", self.object_units, OBJECT_UNITS)
        check_choice("loss", self.loss, LOSSES)
        for k in ("train_stride", "test_stride", "n_objects"):
            s(self, k, check_int(k, getattr(self, k), minimum=1))
        s(self, "group_offset", check_int("group_offset", self.group_offset, minimum=0))
        g = check_int("gridsize", self.gridsize, minimum=1)
        if g > 4:
            raise ValueError(f"gridsize={g} is out of range; it must be 1, 2, 3 or 4")
        s(self, "gridsize", g)
        check_choice("probe_mode", self.probe_mode, PROBE_MODES)
        # the probe amplitude is 1/probe_scale of its mean: beyond [1e-3, 1e3] float32 intensities overflow or vanish
        s(self, "probe_scale", check_float("probe_scale", self.probe_scale, minimum=1e-3, maximum=1e3))
        s(self, "probe_big", check_bool("probe_big", self.probe_big))
        s(self, "probe_mask", check_bool("probe_mask", self.probe_mask))
        s(self, "image_multiplier", check_int("image_multiplier", self.image_multiplier, minimum=1))
        s(self, "group_multiplier", check_int("group_multiplier", self.group_multiplier, minimum=1))

    @property
    def channels(self) -> int:
        """C = gridsize**2 patterns per group."""
        return self.gridsize**2


@dataclass(frozen=True)
class ModelConfig(_Record):
    """Settings of the PINN (see :func:`ptycho_helpers.pinn.model.build_model`).

    ``combine_pad`` is the margin (pixels) of the canvas on which a group's patches are
    combined for gridsize > 1; it must cover the largest relative offset of any group.
    """

    N: int = 64
    gridsize: int = 1
    amp_activation: str = "softplus"
    amp_scale: float = 5.0  # k of scaled_sigmoid
    probe_big: bool = False
    probe_mask: bool = True
    combine_pad: int = 0
    filters: tuple[int, ...] | None = None
    input_transform: str = "linear"
    amp_init: str = "zero"  # "data": start the amplitude head at the data's mean object amplitude
    batch_norm: bool = False  # BatchNormalization after every convolution
    dense_bottleneck: int = 0  # >0: a fully connected layer of this width at the bottleneck
    fullres_filters: int = 0  # >0: two convolutions of this width at the output resolution
    input_counts_scale: float = 1.0  # log transform: log1p(scale * X) / 10, scale = s / alpha
    prediction: str = "member"  # member: one patch per member; group: one object per group
    backprojection: int = 0  # >0: error-reduction iterations of the physics input (0: off)
    input_gain: float = 1.0  # α of the input (set by training); the back-projection divides by it
    # data: fixed s and α from the data | reference: PtychoPINN's trainable log-scale
    intensity_scale: str = "data"
    scale_init: float = 1.0  # initial scale of intensity_scale="reference" (set by training: the closed form)

    def __post_init__(self) -> None:
        s = object.__setattr__
        N = check_int("N", self.N, minimum=8)
        if N % 4:
            raise ValueError(f"N={N} is not allowed; N must be divisible by 4")
        if N % 8:
            raise ValueError(
                f"N={N} is not supported by the model: the encoder halves the size three "
                "times, so N must be divisible by 8 (e.g. 32, 64, 128)"
            )
        s(self, "N", N)
        s(self, "gridsize", check_int("gridsize", self.gridsize, minimum=1))
        check_choice("amp_activation", self.amp_activation, AMP_ACTIVATIONS)
        s(self, "amp_scale", check_float("amp_scale", self.amp_scale, minimum=0.0, exclusive=True))
        s(self, "probe_big", check_bool("probe_big", self.probe_big))
        s(self, "probe_mask", check_bool("probe_mask", self.probe_mask))
        check_choice("input_transform", self.input_transform, INPUT_TRANSFORMS)
        check_choice("amp_init", self.amp_init, ("zero", "data"))
        check_choice("prediction", self.prediction, PREDICTIONS)
        s(self, "batch_norm", check_bool("batch_norm", self.batch_norm))
        s(self, "dense_bottleneck", check_int("dense_bottleneck", self.dense_bottleneck, minimum=0))
        s(self, "fullres_filters", check_int("fullres_filters", self.fullres_filters, minimum=0))
        s(self, "backprojection", check_int("backprojection", self.backprojection, minimum=0, maximum=50))
        s(self, "input_gain", check_float("input_gain", self.input_gain, minimum=0.0, exclusive=True))
        check_choice("intensity_scale", self.intensity_scale, INTENSITY_SCALES)
        s(self, "scale_init", check_float("scale_init", self.scale_init, minimum=0.0, exclusive=True))
        if self.intensity_scale == "reference" and self.backprojection:
            raise ValueError(SCALE_RULE)
        if self.backprojection and (self.prediction == "group" or self.amp_init == "data"):
            raise ValueError(
                "backprojection works per member pattern and starts the amplitude head itself: use it with "
                "prediction='member' and amp_init='zero', or set backprojection=0"
            )
        s(
            self,
            "input_counts_scale",
            check_float("input_counts_scale", self.input_counts_scale, minimum=0.0, exclusive=True),
        )
        pad = check_int("combine_pad", self.combine_pad, minimum=0)
        if pad % 2:
            pad += 1
        s(self, "combine_pad", pad)
        if self.filters is not None:
            f = tuple(check_int("filters", v, minimum=1) for v in self.filters)
            if len(f) != 3:
                raise ValueError(f"filters={f} must list 3 encoder widths, e.g. (64, 128, 256)")
            s(self, "filters", f)

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
        if self.filters is not None:
            return self.filters  # type: ignore[return-value]
        k = min(self.N, 64) / 64
        return tuple(max(4, int(round(w * k))) for w in (64, 128, 256))  # type: ignore[return-value]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        data = dict(data)
        data.pop("architecture", None)  # bundles before the one-value option was removed
        if data.get("filters") is not None:
            data["filters"] = tuple(data["filters"])
        return super().from_dict(data)


@dataclass(frozen=True)
class TrainConfig(_Record):
    """Training settings (DESIGN §4: Adam 5e-4, plateau schedule, early stopping)."""

    nepochs: int = 5
    batch_size: int = 16
    learning_rate: float = 5e-4
    validation_fraction: float = 0.05
    seed: int = 42
    nll_weight: float = 1.0
    mae_weight: float = 0.0
    lr_patience: int = 2
    lr_factor: float = 0.5
    lr_min: float = 1e-4
    early_stop_patience: int = 3
    steps: int = 0  # > 0: an optimiser-step budget (training stops at exactly this step)
    lr_schedule: str = "plateau"  # plateau: ReduceLROnPlateau; constant: the reference's fixed rate
    curve_every: int = 0  # > 0: call the training monitor every this many steps

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "nepochs", check_int("nepochs", self.nepochs, minimum=1))
        s(self, "batch_size", check_int("batch_size", self.batch_size, minimum=1))
        s(self, "learning_rate", check_float("learning_rate", self.learning_rate, minimum=0, exclusive=True))
        vf = check_float("validation_fraction", self.validation_fraction, minimum=0.0, maximum=0.5)
        s(self, "validation_fraction", vf)
        s(self, "seed", check_int("seed", self.seed, minimum=0, maximum=2**32 - 1))
        for w in ("nll_weight", "mae_weight"):
            s(self, w, check_float(w, getattr(self, w), minimum=0.0))
        if self.nll_weight == 0 and self.mae_weight == 0:
            raise ValueError("nll_weight and mae_weight are both 0; at least one must be > 0")
        s(self, "lr_patience", check_int("lr_patience", self.lr_patience, minimum=1))
        s(
            self,
            "lr_factor",
            check_float("lr_factor", self.lr_factor, minimum=0.0, maximum=1.0, exclusive=True),
        )
        s(self, "lr_min", check_float("lr_min", self.lr_min, minimum=0.0))
        s(self, "early_stop_patience", check_int("early_stop_patience", self.early_stop_patience, minimum=1))
        s(self, "steps", check_int("steps", self.steps, minimum=0))
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        s(self, "curve_every", check_int("curve_every", self.curve_every, minimum=0))


@dataclass(frozen=True)
class RunSettings(_Record):
    """Run settings of one scenario that are not profile knobs (DESIGN §4).

    Defaults shared with :class:`TrainConfig` are read from it (one owner per default).
    """

    nepochs: int = TrainConfig.nepochs
    group_limit: int = 64
    seed: int = TrainConfig.seed
    amp_activation: str = "softplus"
    intensity_scale: str = "data"
    custom_probe_path: str | None = None
    register: bool = False
    amp_vmax: float | None = None
    object_amp_norm: bool = False
    learning_rate: float = TrainConfig.learning_rate
    data_path: str | None = None
    input_transform: str = "linear"
    dense_bottleneck: int = 0
    backprojection: int = 5  # the network's physics input (docs/results.md "What limits quality"); 0: off
    refine_steps: int = 0  # retired from the default: the classical stage is the finishing step
    refine_lr: float = 0.05
    classical: str = "mPIE"
    classical_iterations: int = 50
    classical_start: str = "mean"
    steps: int = TrainConfig.steps
    lr_schedule: str = TrainConfig.lr_schedule
    validation_fraction: float = TrainConfig.validation_fraction
    curve_every: int = 0  # learning-curve SSIM every this many steps (0: ~20 points per run)
    curve_groups: int = 16  # test groups the learning curve scores (0: all; the grid's whole test object)
    device: str = "auto"

    def __post_init__(self) -> None:
        s = object.__setattr__
        check_choice("device", self.device, DEVICES)
        s(self, "refine_steps", check_int("refine_steps", self.refine_steps, minimum=0))
        s(self, "steps", check_int("steps", self.steps, minimum=0))
        s(self, "backprojection", check_int("backprojection", self.backprojection, minimum=0, maximum=50))
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        vf = check_float("validation_fraction", self.validation_fraction, minimum=0.0, maximum=0.5)
        s(self, "validation_fraction", vf)
        s(self, "curve_every", check_int("curve_every", self.curve_every, minimum=0))
        s(self, "curve_groups", check_int("curve_groups", self.curve_groups, minimum=0))
        s(self, "refine_lr", check_float("refine_lr", self.refine_lr, minimum=0.0, exclusive=True))
        check_choice("classical", self.classical, CLASSICAL_ENGINES)
        s(
            self,
            "classical_iterations",
            check_int("classical_iterations", self.classical_iterations, minimum=1),
        )
        check_choice("classical_start", self.classical_start, CLASSICAL_STARTS)
        s(self, "nepochs", check_int("nepochs", self.nepochs, minimum=1))
        s(self, "group_limit", check_int("group_limit", self.group_limit, minimum=1))
        s(self, "seed", check_int("seed", self.seed, minimum=0, maximum=2**32 - 1))
        check_choice("amp_activation", self.amp_activation, AMP_ACTIVATIONS)
        check_choice("intensity_scale", self.intensity_scale, INTENSITY_SCALES)
        if self.intensity_scale == "reference" and self.backprojection:
            raise ValueError(SCALE_RULE)
        s(self, "register", check_bool("register", self.register))
        s(self, "object_amp_norm", check_bool("object_amp_norm", self.object_amp_norm))
        s(self, "learning_rate", check_float("learning_rate", self.learning_rate, minimum=0, exclusive=True))
        if self.amp_vmax is not None:
            s(self, "amp_vmax", check_float("amp_vmax", self.amp_vmax, minimum=0.0, exclusive=True))
        if self.data_path is not None and not Path(self.data_path).is_file():
            raise FileNotFoundError(f"data_path {self.data_path!r} does not exist")
        if self.custom_probe_path is not None and not Path(self.custom_probe_path).is_file():
            raise FileNotFoundError(f"custom_probe_path {self.custom_probe_path!r} does not exist")
