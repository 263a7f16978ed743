"""What the train stage hands to ``pinn.train``: the model and training settings of a run
and the learning-curve monitor (SSIM of a few test groups against steps: evaluation only,
never used for stopping, selection or tuning)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..config import ModelConfig, RunSettings, TrainConfig
from ..core.grouping import GroupedData
from ..core.reassemble import reassemble_patches
from .record import ScenarioContext
from .stage_records import ScenarioGroups


def shared_fields(settings: RunSettings, record: type) -> dict[str, Any]:
    """The run settings declared in ``record`` (``config.same_as``: same name, same
    declaration), by name: a setting added there reaches the model or the trainer without a
    line here.  A run setting that only shares a name (``curve_every``: 0 means about 20
    points for a run, never for the trainer) is not passed on."""
    declared = {f.name: dict(f.metadata) for f in dataclasses.fields(record)}
    return {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(settings)
        if declared.get(f.name) == dict(f.metadata)
    }


def model_config_of(ctx: ScenarioContext, groups: ScenarioGroups) -> ModelConfig:
    r = ctx.resolved
    return ModelConfig(
        **shared_fields(ctx.settings, ModelConfig),
        prediction=r.spec.prediction if r.spec.gridsize > 1 else "member",
        N=r.params.N,
        gridsize=r.spec.gridsize,
        probe_big=r.spec.probe_big,
        probe_mask=r.spec.probe_mask,
        combine_pad=groups.combine_pad,
    )


CURVE_POINTS = 20


def train_config_of(ctx: ScenarioContext, groups: ScenarioGroups) -> TrainConfig:
    """The training settings of a run: budget (epochs or steps), schedule, loss, curve."""
    r, s = ctx.resolved, ctx.settings
    n_fit = groups.train.n_groups - int(round(s.validation_fraction * groups.train.n_groups))
    per_epoch = -(-max(n_fit, 1) // r.batch_size)
    total = s.steps or s.nepochs * per_epoch
    return TrainConfig(
        **shared_fields(s, TrainConfig),
        batch_size=r.batch_size,
        nll_weight=1.0 if r.spec.loss == "poisson" else 0.0,
        mae_weight=1.0 if r.spec.loss == "mae" else 0.0,
        curve_every=s.curve_every or max(1, total // CURVE_POINTS),
    )


def curve_monitor(ctx: ScenarioContext, groups: ScenarioGroups, mc: ModelConfig):
    """Amplitude SSIM of the first ``curve_groups`` stitched test groups (all with 0)
    against the truth (masked, and the reference metric when the tiles cover their
    canvas), for the learning curve; ``None`` without a ground truth."""
    sim = groups.sim
    if sim.obj is None:
        return None
    from ..core import metrics
    from ..pinn.infer import combined_patches, predict_patches

    # curve_groups=0: every test group (on the grid protocol, whose tiles cover the test
    # object seamlessly, each point is then the reference's metric on the whole object)
    n = ctx.settings.curve_groups or groups.test.n_groups
    sub = GroupedData(
        *(a[:n] for a in (groups.test.diffraction, groups.test.positions, groups.test.geometry))
    )
    M = ctx.resolved.params.reassemble_M

    def monitor(step: int, model) -> dict[str, float]:
        rec = predict_patches(model.diffraction_to_obj, sub, input_gain=model.input_gain, batch_size=32)
        patches = combined_patches(rec.patches, sub, mc) * sim.unit_scale
        st = reassemble_patches(patches, rec.positions, M)
        out = {"amp_ssim": metrics.masked_amp_ssim(st, sim.obj)}
        if st.covered.all():
            ref = metrics.reference_comparison(st, sim.obj)["amplitude"]
            out.update(amp_ssim_reference=ref["ssim"], pearson_r_reference=ref["pearson_r"])
        return out

    return monitor
