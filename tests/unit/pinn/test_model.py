"""The Keras physics layer against its numpy twin, noise floors, gradients, model building.

Backend-neutral: ``tests/unit/pinn/test_backends.py`` runs this module again under every
other Keras backend installed (JAX in CI)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import ptycho_helpers as ph
from ptycho_helpers.config import ModelConfig
from ptycho_helpers.core import geometry, physics
from ptycho_helpers.core.grouping import gather_groups

keras = pytest.importorskip("keras")
from ptycho_helpers.pinn.model import build_model, physics_intensity  # noqa: E402


def _gradient(fn, x: np.ndarray) -> np.ndarray:
    """d fn(x) / dx with the current backend's autodiff (fn built from keras.ops)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        v = tf.Variable(x)
        with tf.GradientTape() as tape:
            value = fn(v)
        return tape.gradient(value, v).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(x))
    if backend == "torch":
        import torch

        v = torch.tensor(x, requires_grad=True)
        fn(v).backward()
        return v.grad.numpy()
    pytest.skip(f"no gradient helper for backend {backend}")


@pytest.mark.parametrize(
    "gridsize, probe_mask, probe_big", [(1, True, False), (2, True, False), (2, False, True)]
)
def test_keras_physics_equals_numpy_twin(rng, gridsize, probe_mask, probe_big):
    N, C, g = 32, gridsize**2, 3
    probe = physics.normalize_probe_guess(ph.make_probe(N), 10.0)
    patches = rng.uniform(1, 3, (g, C, N, N)) * np.exp(1j * rng.uniform(-1, 1, (g, C, N, N)))
    geo = physics.split_positions(rng.uniform(40, 60, (g, C, 2)))
    pad = 12
    want = geometry.model_intensity(patches, geo, probe, probe_mask=probe_mask, probe_big=probe_big, pad=pad)
    got = physics_intensity(patches, geo, probe, probe_mask=probe_mask, probe_big=probe_big, pad=pad)
    assert_allclose(got, want, rtol=1e-5, atol=1e-5 * want.max())


def test_combine_extract_is_identity_for_consistent_patches(rng):
    obj = rng.normal(size=(80, 80)) + 1j * rng.normal(size=(80, 80))
    pos = np.floor(rng.uniform(30, 50, (2, 4, 2)))
    geo = physics.split_positions(pos)
    N = 16
    patches = physics.extract_patches(obj, pos.reshape(-1, 2), N).reshape(2, 4, N, N)
    support = np.ones((N, N))
    out = geometry.combine_extract(patches, geo[..., :2], support, pad=12)
    assert_allclose(out, patches, atol=1e-6)


def _noise_floor(gridsize):
    N = 64
    obj = ph.make_lines_object(160, 3)
    probe = physics.normalize_probe_guess(ph.make_probe(N), 10.0)
    raw = ph.simulate_nongrid_raw_data(obj, probe, n_images=120, nphotons=1e9, seed=1, buffer=8)
    groups = ph.group_positions(raw.positions, gridsize=gridsize, n_groups=24, neighbor_count=6, rng=0)
    data = gather_groups(raw.diffraction, raw.positions, groups)
    C = gridsize**2
    true_patches = physics.extract_patches(obj, np.floor(data.positions).reshape(-1, 2), N).reshape(
        24, C, N, N
    )
    intensity = physics_intensity(
        true_patches, data.geometry, probe, probe_mask=True, probe_big=False, pad=data.max_offset
    )
    s, _ = physics.loss_photon_scale(data.diffraction, 1e9)
    counts = (s * np.moveaxis(data.diffraction, -1, 1).astype(np.float64)) ** 2
    return float(np.mean(physics.poisson_deviance_half(s * s * intensity, counts)))


def test_noise_floor_gridsize1_and_2():
    floor1 = _noise_floor(1)
    floor2 = _noise_floor(2)
    # the true object through the model's physics reaches the Poisson floor (~0.5/px for
    # large counts; dark pixels pull the mean a little below)
    assert 0.25 < floor1 < 0.7
    # the combine -> re-extract round trip must not blur: within 2x of gridsize 1
    assert floor2 < 2 * floor1


def test_gradient_wrt_object_under_probe_is_nonzero():
    N = 32
    probe = physics.normalize_probe_guess(ph.make_probe(N), 10.0)
    from ptycho_helpers.pinn.model import DiffractionPhysics

    ops = keras.ops
    layer = DiffractionPhysics(N, 1, 0, True, False)
    amp = np.full((1, N, N, 1), 2.0, np.float32)
    phase = np.zeros((1, N, N, 1), np.float32)
    geo = np.array([[[0, 0, 0.3, 0.6]]], np.float32)
    layer.build([amp.shape, phase.shape, geo.shape])
    layer.set_probe(probe)
    target = np.random.default_rng(0).uniform(0, 1, (1, N, N, 1)).astype(np.float32)

    def loss(a):
        out = layer([a, ops.convert_to_tensor(phase), ops.convert_to_tensor(geo)])
        return ops.sum((out - ops.convert_to_tensor(target)) ** 2)

    grad = _gradient(loss, amp)[0, :, :, 0]
    assert np.all(np.isfinite(grad))
    assert np.abs(grad[N // 2, N // 2]) > 0
    assert np.abs(grad[0, 0]) == 0  # outside the object support and the probe


def test_models_share_no_variables():
    probe = physics.normalize_probe_guess(ph.make_probe(32), 10.0)
    a = build_model(ModelConfig(N=32), probe)
    b = build_model(ModelConfig(N=32), probe)
    ids_a = {id(v) for v in a.autoencoder.weights}
    assert not ids_a & {id(v) for v in b.autoencoder.weights}


def test_build_model_shapes_and_heads():
    probe = physics.normalize_probe_guess(ph.make_probe(32), 10.0)
    m = build_model(ModelConfig(N=32, gridsize=2, combine_pad=8, probe_big=True, probe_mask=False), probe)
    x = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 4)).astype(np.float32)
    geo = np.zeros((2, 4, 4), np.float32)
    assert m.autoencoder([x, geo]).shape == (2, 32, 32, 4)
    amp, phase = m.diffraction_to_obj(x)
    assert amp.shape == (2, 32, 32, 4)
    assert np.all(np.abs(keras.ops.convert_to_numpy(phase)) <= np.pi + 1e-6)
    assert keras.ops.convert_to_numpy(amp)[:, 0, 0, :].any()  # probe_big: the border is filled
    m1 = build_model(ModelConfig(N=32), probe)
    amp1, _ = m1.diffraction_to_obj(x[..., :1])
    assert not keras.ops.convert_to_numpy(amp1)[:, 0, 0, :].any()  # object support = central N/2


def test_border_branch_is_the_references():
    """probe_big as PtychoPINN builds it (``create_decoder_last``, ``pad_object``): the centre
    head reads all but the last 4 decoder channels, the border branch only those 4, through
    its own convolutions, ×2 upsampling and a swish (which, unlike the sigmoid head, can be
    negative); the border is kept only outside the central N/2."""
    N = 32
    probe = physics.normalize_probe_guess(ph.make_probe(N), 10.0)
    cfg = ModelConfig(
        N=N, gridsize=2, combine_pad=8, probe_big=True, probe_mask=False, amp_activation="sigmoid"
    )
    m = build_model(cfg, probe).autoencoder
    assert [m.get_layer(n).filters for n in ("big_amp_up_a", "big_amp_up_b")] == [64, 64]
    sub = keras.Model(m.get_layer("dec_amp_up1").output, m.get_layer("amp").output)
    rng = np.random.default_rng(3)
    d = rng.uniform(0, 1, (1, N // 2, N // 2, sub.input.shape[-1])).astype(np.float32)
    base = keras.ops.convert_to_numpy(sub(d))
    inner, border = physics.support_mask(N, False).astype(bool), ~physics.support_mask(N, False).astype(bool)
    for channels, moves, stays in ((slice(0, -4), inner, border), (slice(-4, None), border, inner)):
        e = d.copy()
        e[..., channels] += rng.uniform(0.5, 1.0, e[..., channels].shape).astype(np.float32)
        out = keras.ops.convert_to_numpy(sub(e))
        assert np.abs(out - base)[0, moves].max() > 1e-4
        assert_allclose(out[0, stays], base[0, stays], atol=1e-6)
    logits = m.get_layer("big_amp_logits")
    k, b = logits.get_weights()
    logits.set_weights([np.zeros_like(k), np.full_like(b, -1.0)])
    amp = keras.ops.convert_to_numpy(sub(d))[0, ..., 0]
    assert_allclose(amp[border], -1.0 / (1.0 + np.e), rtol=1e-5)  # swish(-1) = -1·sigmoid(-1)


def test_mixed_bfloat16_model_matches_float32_and_keeps_heads_and_physics_float32():
    N = 32
    probe = physics.normalize_probe_guess(ph.make_probe(N), 10.0)
    cfg = ModelConfig(
        N=N, gridsize=2, combine_pad=8, probe_big=True, probe_mask=False, amp_activation="sigmoid"
    )
    before = keras.config.dtype_policy().name
    f32 = build_model(cfg, probe)
    b16 = build_model(ModelConfig(**{**cfg.to_dict(), "precision": "mixed_bfloat16"}), probe)
    assert keras.config.dtype_policy().name == before  # the global policy is restored
    b16.autoencoder.set_weights(f32.autoencoder.get_weights())
    assert b16.autoencoder.get_layer("enc0a").compute_dtype == "bfloat16"
    for name in ("amp", "phase", "physics", "amp_logits", "amp_centre", "big_amp_act"):
        assert b16.autoencoder.get_layer(name).compute_dtype == "float32", name
    assert f32.autoencoder.get_layer("enc0a").compute_dtype == "float32"
    x = np.random.default_rng(0).uniform(0, 1, (2, N, N, 4)).astype(np.float32)
    geo = np.zeros((2, 4, 4), np.float32)
    a32 = keras.ops.convert_to_numpy(f32.autoencoder([x, geo]))
    a16 = b16.autoencoder([x, geo])
    assert keras.backend.standardize_dtype(a16.dtype) == "float32"
    a16 = keras.ops.convert_to_numpy(a16)
    assert np.abs(a16 - a32).max() <= 0.05 * np.abs(a32).max()  # bf16 keeps ~3 significant digits
    assert not np.array_equal(a16, a32)  # and it did compute in bf16


def test_build_model_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        build_model(ModelConfig(N=32), np.ones((16, 16), np.complex64))
    with pytest.raises(ValueError, match="NaN"):
        build_model(ModelConfig(N=32), np.full((32, 32), np.nan, np.complex64))
    with pytest.raises(ValueError, match="divisible by 8"):
        ModelConfig(N=36)


def test_group_prediction_physics_matches_numpy_twin():
    """One object per group: each member sees the cut at its ±2 px offset (Keras vs numpy)."""
    import ptycho_helpers as ph
    from ptycho_helpers.core import geometry, physics

    rng = np.random.default_rng(0)
    N = 32
    probe = ph.normalize_probe_guess(ph.make_probe(N), 4.0)
    obj = (rng.uniform(0.5, 1.5, (3, 1, N, N)) * np.exp(1j * rng.uniform(-1, 1, (3, 1, N, N)))).astype(
        np.complex64
    )
    centre = np.array([[10.0, 20.0], [40.3, 12.7], [25.5, 25.5]])
    members = centre[:, None, :] + 2.0 * np.array([(-1, -1), (1, -1), (-1, 1), (1, 1)])[None]
    geo = physics.split_positions(members)
    kw = {"probe_mask": False, "probe_big": True, "pad": 4, "prediction": "group"}
    want = geometry.model_intensity(obj, geo, probe, **kw)
    got = physics_intensity(obj, geo, probe, **kw)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6 * want.max())
    # member k of an integer group sees object pixel k + offset: (+2, +2) and (-2, -2)
    cut = geometry.cut_members(obj[:, 0], geo[..., :2], 4)
    np.testing.assert_array_equal(cut[0, 3, :-2, :-2], obj[0, 0, 2:, 2:])
    np.testing.assert_array_equal(cut[0, 0, 2:, 2:], obj[0, 0, :-2, :-2])


@pytest.mark.parametrize("gridsize", [1, 2])
def test_backprojection_layer_equals_numpy_twin_and_starts_the_heads(rng, gridsize):
    """The physics input (k error-reduction iterations per pattern) against its numpy twin,
    and the untrained model's output is exactly that image in the support (zero outside)."""
    from ptycho_helpers.pinn.backprojection import BackProjection

    N, C = 32, gridsize**2
    probe = physics.normalize_probe_guess(ph.make_probe(N), 4.0)
    obj = rng.uniform(1.0, 3.0, (3, C, N, N)) * np.exp(1j * rng.uniform(-0.5, 0.5, (3, C, N, N)))
    d = np.sqrt(physics.far_field_intensity(obj * probe * physics.disk_mask(N)))
    x = (0.3 * np.transpose(d, (0, 2, 3, 1))).astype(np.float32)  # input-gain scaled
    geo = np.zeros((3, C, 4), np.float32)
    geo[..., 2:] = rng.uniform(0, 1, (3, C, 2))  # fractional positions: the registered frame
    want = physics.error_reduction(d, probe, 4, probe_mask=True, fractions=geo[..., 2:])  # object units
    layer = BackProjection(N, 4, True, input_gain=0.3, register=True)
    layer.build(x.shape)
    layer.set_probe(probe)
    tensors = [keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(geo)]
    got = np.transpose(keras.ops.convert_to_numpy(layer(tensors)), (0, 3, 1, 2))
    tol = 2e-4 * np.abs(want).max()
    assert_allclose(got[:, :C], np.abs(want), atol=tol)
    assert_allclose(got[:, C : 2 * C], want.real, atol=tol)
    assert_allclose(got[:, 2 * C :], want.imag, atol=tol)
    unregistered = physics.error_reduction(d, probe, 4, probe_mask=True)
    assert np.abs(unregistered - want).max() > 50 * tol  # the fractions do move the estimate

    cfg = ModelConfig(N=N, gridsize=gridsize, combine_pad=8, backprojection=4, input_gain=0.3)
    amp, phase = (keras.ops.convert_to_numpy(t) for t in build_model(cfg, probe).diffraction_to_obj([x, geo]))
    c = slice(N // 4, 3 * N // 4)
    want_t = np.transpose(want, (0, 2, 3, 1))
    assert_allclose(amp[:, c, c], np.abs(want_t)[:, c, c], atol=5e-3 * np.abs(want).max())
    assert_allclose(phase[:, c, c], np.angle(want_t)[:, c, c], atol=5e-3)
    assert not amp[:, : N // 4].any() and not phase[:, : N // 4].any()


def test_group_backprojection_equals_the_numpy_group_solve(rng):
    """Issue 28: the group-level physics input (a group's members solved jointly on one
    canvas, error reduction with overlap) against its numpy twin ``ceilings.group_solve``
    cut at each member, on K-NN-like groups at fractional positions; with overlap it is
    closer to the truth than each pattern alone."""
    from ptycho_helpers.core import ceilings
    from ptycho_helpers.pinn.backprojection import BackProjection

    N, C, k = 32, 4, 6
    probe = physics.normalize_probe_guess(ph.make_probe(N), 4.0)
    masked = probe * physics.disk_mask(N)
    obj = ph.core.simulate.make_lines_object(100, 3)[:80, :80]  # a lines object, as the runs scan
    centres = np.array([[36.2, 35.7], [44.6, 40.1], [39.0, 44.4]])
    members = centres[:, None, :] + rng.uniform(-5, 5, (3, C, 2))
    base = np.floor(members)
    geo = physics.split_positions(members)
    true_patches = physics.extract_patches(obj, base.reshape(-1, 2), N).reshape(3, C, N, N)
    from ptycho_helpers.core.grid import scan_at

    raw = scan_at([obj], probe, members.reshape(-1, 2), 1e12, np.random.default_rng(0), 1.0)
    d = raw.diffraction.reshape(3, C, N, N).astype(np.float64)
    canvases, origins = ceilings.group_solve(d, members, masked, k)
    want = ceilings.crops_at(canvases, origins, base, N).reshape(3, C, N, N)
    x = (0.3 * np.transpose(d, (0, 2, 3, 1))).astype(np.float32)
    layer = BackProjection(N, k, True, input_gain=0.3, register=True, group=True, pad=16)
    layer.build(x.shape)
    layer.set_probe(probe)
    got = layer([keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(geo)])
    got = np.transpose(keras.ops.convert_to_numpy(got), (0, 3, 1, 2))
    lit = np.abs(masked) > 1e-3 * np.abs(masked).max()  # where each member's probe lights it
    tol = 2e-3 * np.abs(want).max()
    assert_allclose(got[:, :C][:, :, lit], np.abs(want)[:, :, lit], atol=tol)
    assert_allclose(got[:, C : 2 * C][:, :, lit], want.real[:, :, lit], atol=tol)
    assert_allclose(got[:, 2 * C :][:, :, lit], want.imag[:, :, lit], atol=tol)
    # the overlap helps: where the probe is bright (|P| > 0.1 max: the region that is
    # stitched), the group solve is nearer the truth's amplitude than each pattern alone
    lit = np.abs(masked) > 0.1 * np.abs(masked).max()
    alone = physics.error_reduction(d, probe, k, probe_mask=True, fractions=geo[..., 2:])
    truth = np.abs(true_patches)[:, :, lit]
    err_group = np.abs(np.abs(want)[:, :, lit] - truth).mean()
    err_alone = np.abs(np.abs(alone)[:, :, lit] - truth).mean()
    assert err_group < err_alone
    with pytest.raises(ValueError, match="register"):
        BackProjection(N, k, True, group=True)


def test_backprojection_config_errors():
    with pytest.raises(ValueError, match="per member pattern"):
        ModelConfig(N=32, gridsize=2, prediction="group", backprojection=3)
    with pytest.raises(ValueError, match="amp_init"):
        ModelConfig(N=32, backprojection=3, amp_init="data")
    with pytest.raises(ValueError, match="backprojection"):
        ModelConfig(N=32, backprojection=-1)
    with pytest.raises(ValueError, match="physics_input=group"):
        ModelConfig(N=32, backprojection=3, physics_input="group")  # gridsize 1: no group
    with pytest.raises(ValueError, match="physics_input=group"):
        ModelConfig(N=32, gridsize=2, physics_input="group")  # no physics input


def _reference_grid_loss(
    obj: np.ndarray, offsets: np.ndarray, probe: np.ndarray, d: np.ndarray, nphotons: float
):
    """PtychoPINN's gs2 grid forward pass and Poisson NLL written from its equations (numpy,
    float64): the group object ``O`` (N, N) is cut at each member's integer offset (zero
    outside), multiplied by the probe (no mask, full support), propagated as
    ``A = sqrt(fftshift(|fft2(ψ)|²) / N²)``, scaled by ``exp(w)`` with ``w = log s0`` and
    ``s0 = sqrt(nphotons)/(N/2)``; the NLL ``λ − k·log λ`` of the counts ``k = (s0·d)²``
    under ``λ = (exp(w)·A)²``.  Returns the workbook's form of it, the deviance/2
    ``NLL − (k − k·log k)``, as the mean per group."""
    g, N = obj.shape[0], obj.shape[-1]
    s0 = np.sqrt(nphotons) / (N / 2)
    out = np.empty(g)
    for b in range(g):
        pad = np.pad(obj[b], N)
        per_member = []
        for c, (ox, oy) in enumerate(offsets[b]):
            cut = pad[N + oy : 2 * N + oy, N + ox : 2 * N + ox]
            amp = np.sqrt(np.fft.fftshift(np.abs(np.fft.fft2(cut * probe)) ** 2) / N**2)
            lam = (s0 * amp) ** 2
            k = (s0 * d[b, :, :, c].astype(np.float64)) ** 2
            nll = lam - k * np.log(lam)
            per_member.append(nll - (k - k * np.log(k)))
        out[b] = np.mean(per_member)
    return out


def test_grid_model_forward_scale_and_loss_equal_the_reference_equations():
    """Twin of the reference's grid model (physics + trainable scale + loss) on a tiny gs2
    case: the network reads d itself, the loss equals the NLL of the reference's equations.
    A different initial scale (e.g. the data's s instead of the closed form) fails here."""
    from ptycho_helpers.pinn.loss import make_loss
    from ptycho_helpers.pinn.train import model_scales

    rng = np.random.default_rng(5)
    N, g, nphotons = 16, 3, 1e9
    probe = physics.normalize_probe_guess(ph.make_probe(N), 4.0)
    offs = 2 * np.array([(-1, -1), (1, -1), (-1, 1), (1, 1)])
    centres = np.array([[30.0, 30.0], [41.0, 35.0], [52.0, 47.0]])
    geo = physics.split_positions(centres[:, None, :] + offs[None]).astype(np.float32)
    d = rng.uniform(0.05, 2.0, (g, N, N, 4)).astype(np.float32)  # any positive amplitudes
    base = ModelConfig(
        N=N,
        gridsize=2,
        prediction="group",
        probe_big=True,
        probe_mask=False,
        combine_pad=4,
        amp_activation="sigmoid",
        intensity_scale="reference",
    )
    scales, mc = model_scales(d, nphotons, base)
    assert mc.scale_init == pytest.approx(np.sqrt(nphotons) / (N / 2), rel=1e-12)  # 988.21 at N=64
    pinn = build_model(mc, probe)
    x = (scales.input_gain * d).astype(np.float32)
    scaled_in = pinn.autoencoder.get_layer("intensity_scale")(ops_tensor(x), direction="input")
    assert_allclose(keras.ops.convert_to_numpy(scaled_in), d, rtol=1e-5)  # the network reads d
    amp, phase = (keras.ops.convert_to_numpy(t) for t in pinn.diffraction_to_obj(x))
    obj = (amp * np.exp(1j * phase))[..., 0].astype(np.complex128)
    want = _reference_grid_loss(obj, offs[None].repeat(g, 0), probe, d, nphotons)
    pred = pinn.autoencoder([x, geo])
    got = keras.ops.convert_to_numpy(make_loss(scales.photon_scale)(np.square(d), pred))
    assert_allclose(got, want, rtol=2e-3)
    # the fixed data scale is a different model: its loss differs from the reference's
    assert not np.allclose(make_loss(1.1 * scales.photon_scale)(np.square(d), pred), want, rtol=2e-3)


def ops_tensor(x):
    return keras.ops.convert_to_tensor(x)
