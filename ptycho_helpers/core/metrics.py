"""Comparison of a stitched reconstruction with the ground truth — on the covered region only.

Every score is computed on the pixels the test groups cover (``Stitched.coverage > 0``),
against the truth sampled on the same canvas grid (``Stitched.origin``), never against
the whole object.  Calibration baselines (a flat image at the truth mean, the truth
blurred with σ = 2, 5, 8 px) are scored by the same functions on the same pixels, so a
number can always be read against what "knowing only the brightness" already achieves.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from .physics import extract_patches, fourier_shift
from .reassemble import Stitched

BLUR_SIGMAS = (2.0, 5.0, 8.0)
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def truth_on_canvas(obj: np.ndarray, stitched: Stitched, margin: int = 0) -> np.ndarray:
    """The ground-truth object sampled on the stitched canvas grid, ``margin`` extra pixels
    on every side (bilinear; exact for an integral origin).  Returns ``(S + 2·margin)²``
    complex64; canvas pixel ``[0, 0]`` is at ``[margin, margin]``."""
    S = stitched.image.shape[0]
    ox, oy = stitched.origin
    return extract_patches(obj, np.array([[ox + S / 2, oy + S / 2]]), S + 2 * margin)[0]


def register_shift(
    pred: np.ndarray, truth: np.ndarray, mask: np.ndarray, *, upsample: int = 20
) -> tuple[float, float]:
    """Sub-pixel shift ``(dy, dx)`` that registers ``pred`` onto ``truth`` (skimage phase
    cross-correlation on the covered region, uncovered pixels set to the covered mean)."""
    from skimage.registration import phase_cross_correlation

    fill_p = np.where(mask, pred, pred[mask].mean())
    fill_t = np.where(mask, truth, truth[mask].mean())
    shift, _, _ = phase_cross_correlation(fill_t, fill_p, upsample_factor=upsample, normalization=None)
    return float(shift[0]), float(shift[1])


def apply_shift(image: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """Translate a real image by ``(dy, dx)`` with a Fourier shift."""
    dy, dx = shift
    return np.real(fourier_shift(np.asarray(image)[None], np.array([[dx, dy]]))[0])


def remove_phase_plane(
    phase: np.ndarray, truth_phase: np.ndarray, weights: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """Remove the global offset and best-fit plane of ``phase - truth_phase`` (least squares
    weighted by ``weights``, e.g. the truth amplitude) over ``mask``; returns the corrected
    phase (wrapped to (-π, π])."""
    diff = np.angle(np.exp(1j * (phase - truth_phase)))
    yy, xx = np.nonzero(mask)
    A = np.stack([np.ones_like(xx, dtype=float), xx.astype(float), yy.astype(float)], axis=1)
    w = np.sqrt(np.clip(weights[mask].astype(float), 0, None))
    coef, *_ = np.linalg.lstsq(A * w[:, None], diff[mask] * w, rcond=None)
    Y, X = np.mgrid[0 : phase.shape[0], 0 : phase.shape[1]]
    plane = coef[0] + coef[1] * X + coef[2] * Y
    return np.angle(np.exp(1j * (phase - plane)))


def ssim_map(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray, data_range: float) -> np.ndarray:
    """The 7×7 SSIM map of ``pred`` against ``truth`` with the pixels outside ``mask`` filled
    with the truth's mean on the mask (the one fill rule of every masked SSIM)."""
    fill = float(truth[mask].mean())
    p = np.where(mask, pred, fill)
    t = np.where(mask, truth, fill)
    _, smap = structural_similarity(t, p, data_range=data_range, full=True, win_size=7)
    return smap


def _ssim_masked(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray, data_range: float) -> float:
    return float(ssim_map(pred, truth, mask, data_range)[mask].mean())


def masked_amp_ssim(stitched: Stitched, obj: np.ndarray) -> float:
    """Amplitude SSIM on the covered pixels only (the score of :func:`compare_to_truth`,
    without its other metrics: cheap enough for a learning curve)."""
    mask = stitched.covered
    t = np.abs(truth_on_canvas(obj, stitched)).astype(np.float64)
    p = np.nan_to_num(np.abs(stitched.image).astype(np.float64))
    return _ssim_masked(p, t, mask, float(t[mask].max() - t[mask].min()) or 1.0)


def _downsample(a: np.ndarray) -> np.ndarray:
    h, w = (a.shape[0] // 2) * 2, (a.shape[1] // 2) * 2
    return a[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def ms_ssim(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray, data_range: float) -> float | None:
    """Multi-scale SSIM: weighted geometric mean of masked SSIM at up to 5 dyadic scales
    (Wang et al. 2003 weights, renormalised to the scales the image allows; a scale is
    used while at least 49 fully covered pixels remain).  ``None`` if no scale fits."""
    vals, weights = [], []
    p, t, m = pred.astype(float), truth.astype(float), mask.astype(float)
    for w in MS_SSIM_WEIGHTS:
        mb = m >= 1.0 - 1e-9
        if mb.sum() < 49 or min(p.shape) < 7:
            break
        vals.append(max(_ssim_masked(p, t, mb, data_range), 1e-6))
        weights.append(w)
        p, t, m = _downsample(p), _downsample(t), _downsample(m)
    if not vals:
        return None
    wts = np.asarray(weights) / np.sum(weights)
    return float(np.prod(np.asarray(vals) ** wts))


def frc(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    """Fourier ring correlation on the covered bounding box (mean-subtracted inside the
    covered region, zero elsewhere).  Thresholds 0.5 (FRC50) and 1/7; frequencies in
    cycles per pixel; ``saturated`` when the curve never drops below a threshold."""
    ys, xs = np.nonzero(mask)
    sl = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    m = mask[sl]
    a = np.where(m, pred[sl] - pred[sl][m].mean(), 0.0)
    b = np.where(m, truth[sl] - truth[sl][m].mean(), 0.0)
    n = max(a.shape)
    A = np.fft.fftshift(np.fft.fft2(a, s=(n, n)))
    B = np.fft.fftshift(np.fft.fft2(b, s=(n, n)))
    yy, xx = np.mgrid[0:n, 0:n] - n // 2
    r = np.rint(np.hypot(xx, yy)).astype(int)
    nr = n // 2
    num = np.bincount(r.ravel(), (A * np.conj(B)).real.ravel(), minlength=nr + 1)[: nr + 1]
    da = np.bincount(r.ravel(), (np.abs(A) ** 2).ravel(), minlength=nr + 1)[: nr + 1]
    db = np.bincount(r.ravel(), (np.abs(B) ** 2).ravel(), minlength=nr + 1)[: nr + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = num / np.sqrt(da * db)
    freqs = np.arange(nr + 1) / n
    out: dict[str, Any] = {"frequency": freqs[1:].tolist(), "frc": np.nan_to_num(curve[1:]).tolist()}
    for key, thr in (("frc50", 0.5), ("frc_1_7", 1 / 7)):
        below = np.flatnonzero(np.nan_to_num(curve[1:], nan=1.0) < thr)
        out[key] = float(freqs[1:][below[0]]) if below.size else None
        out[f"{key}_saturated"] = bool(below.size == 0)
    out["saturated"] = bool(out["frc50_saturated"] and out["frc_1_7_saturated"])
    return out


def image_metrics(
    pred: np.ndarray, truth: np.ndarray, mask: np.ndarray, *, with_frc: bool = True
) -> dict[str, Any]:
    """Error and quality metrics of a real image against the truth over ``mask``."""
    p = pred[mask].astype(np.float64)
    t = truth[mask].astype(np.float64)
    if p.size < 2:
        raise ValueError("fewer than 2 covered pixels; nothing to compare")
    err = p - t
    data_range = float(t.max() - t.min()) or 1.0
    mse = float(np.mean(err**2))
    denom = float(np.dot(p, p))
    out: dict[str, Any] = {
        "n_pixels": int(p.size),
        "mae": float(np.mean(np.abs(err))),
        "rmse": math.sqrt(mse),
        "max_abs": float(np.max(np.abs(err))),
        "pearson_r": float(np.corrcoef(p, t)[0, 1]) if np.ptp(p) > 0 and np.ptp(t) > 0 else None,
        "bias": {
            "mean": float(err.mean()),
            "median": float(np.median(err)),
            "p05": float(np.percentile(err, 5)),
            "p95": float(np.percentile(err, 95)),
        },
        "ls_scale": float(np.dot(p, t) / denom) if denom > 0 else None,
        "data_range": data_range,
        "psnr": float(10 * math.log10(data_range**2 / mse)) if mse > 0 else None,
        "psnr_peak255": float(10 * math.log10(255.0**2 / mse)) if mse > 0 else None,
        "psnr_peak255_note": "PtychoPINN convention: peak 255 regardless of the data range",
        "ssim": _ssim_masked(pred, truth, mask, data_range),
        "ms_ssim": ms_ssim(pred, truth, mask, data_range),
    }
    if with_frc:
        out["frc"] = frc(pred, truth, mask)
    return out


def calibration_baselines(
    truth: np.ndarray, mask: np.ndarray, *, padded_truth: np.ndarray | None = None, margin: int = 0
) -> dict[str, Any]:
    """Scores of a flat image at the truth mean and of the truth blurred (σ = 2, 5, 8 px).

    ``padded_truth`` (the truth with ``margin`` extra pixels on every side) is what gets
    blurred when given, so the blur near the border sees real neighbours, not padding."""
    mean = float(truth[mask].mean())
    out: dict[str, Any] = {"flat": image_metrics(np.full_like(truth, mean), truth, mask, with_frc=False)}
    src = truth if padded_truth is None else padded_truth
    for s in BLUR_SIGMAS:
        blurred = gaussian_filter(src.astype(np.float64), s)
        if padded_truth is not None and margin:
            blurred = blurred[margin:-margin, margin:-margin]
        out[f"blur_sigma{int(s)}"] = image_metrics(blurred, truth, mask, with_frc=False)
    return out


def twin_image_fraction(patches: np.ndarray, true_patches: np.ndarray, *, M: int) -> float:
    """Share of patches whose central ``M×M`` amplitude correlates better with the 180°-
    rotated true patch than with the true patch (gridsize-1 twin-image ambiguity)."""
    N = patches.shape[-1]
    lo = N // 2 - M // 2
    sl = (slice(None), slice(lo, lo + M), slice(lo, lo + M))
    p = np.abs(patches[sl]).reshape(len(patches), -1)
    t = np.abs(true_patches[sl])
    # rotation by 180° about pixel N/2 of the full patch, then the same central crop
    rot = np.abs(np.roll(true_patches[:, ::-1, ::-1], (1, 1), axis=(1, 2))[sl])
    better = 0
    for a, b, c in zip(p, t.reshape(len(p), -1), rot.reshape(len(p), -1), strict=True):
        r_true = np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else 0.0
        r_twin = np.corrcoef(a, c)[0, 1] if a.std() > 0 and c.std() > 0 else 0.0
        better += int(r_twin > r_true)
    return better / max(len(p), 1)


def compare_to_truth(
    stitched: Stitched,
    obj: np.ndarray,
    *,
    register: bool = False,
    margin: int = 16,
) -> dict[str, Any]:
    """Full comparison of a stitched reconstruction with the object on the covered region.

    Returns a JSON-ready dict: coverage, alignment, ``amplitude`` (raw), ``amplitude_scaled``
    (after the least-squares scale), ``phase`` (offset + amplitude-weighted plane removed;
    undefined when the truth phase is constant) and ``baselines``.
    """
    mask = stitched.covered
    if mask.sum() < 2:
        raise ValueError("the reconstruction covers fewer than 2 pixels")
    big = truth_on_canvas(obj, stitched, margin)  # the margin feeds the blurred baselines
    S = stitched.image.shape[0]
    truth = big[margin : margin + S, margin : margin + S]
    t_amp = np.abs(truth).astype(np.float64)
    p_amp = np.nan_to_num(np.abs(stitched.image).astype(np.float64))
    p_phase = np.nan_to_num(np.angle(stitched.image).astype(np.float64))
    shift = (0.0, 0.0)
    if register:
        shift = register_shift(p_amp, t_amp, mask)
        p_amp = apply_shift(p_amp, shift)
        p_phase = apply_shift(p_phase, shift)
    amp = image_metrics(p_amp, t_amp, mask)
    scale = amp["ls_scale"] or 1.0
    amp_scaled = image_metrics(p_amp * scale, t_amp, mask, with_frc=False)
    t_phase = np.angle(truth).astype(np.float64)
    constant_phase = float(np.ptp(t_phase[mask])) < 1e-6
    corrected = remove_phase_plane(p_phase, t_phase, t_amp, mask)
    err = np.angle(np.exp(1j * (corrected - t_phase)))[mask]
    phase: dict[str, Any] = {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "max_abs": float(np.max(np.abs(err))),
        "truth_constant": constant_phase,
    }
    if constant_phase:
        undefined = "undefined: the truth phase is constant on the covered region"
        phase.update({"pearson_r": None, "ssim": None, "frc": None, "note": undefined})
    else:
        full = image_metrics(corrected, t_phase, mask)
        phase.update({k: full[k] for k in ("pearson_r", "ssim", "ms_ssim", "frc", "psnr")})
    # blurred baselines blur the larger window, so the border sees real neighbours
    baselines = calibration_baselines(t_amp, mask, padded_truth=np.abs(big), margin=margin)
    return {
        "region": "covered pixels of the stitched canvas (coverage > 0)",
        "coverage_fraction": float(mask.mean()),
        "covered_pixels": int(mask.sum()),
        "canvas_origin": list(stitched.origin),
        "alignment": {"registered": bool(register), "shift_yx": list(shift)},
        "amplitude": amp,
        "amplitude_scaled": amp_scaled,
        "phase": phase,
        "baselines": baselines,
    }


def headline(comparison: dict[str, Any]) -> dict[str, Any]:
    """The few numbers shown in summaries: SSIM beside its flat baseline, r, MAE, LS scale."""
    amp = comparison["amplitude"]
    flat = comparison["baselines"]["flat"]
    refined = comparison.get("refined", {}).get("amplitude")
    extra = {}
    if refined is not None:  # the physics-refined reconstruction, same region and baselines
        extra = {f"refined_amp_{k}": refined[k] for k in ("ssim", "pearson_r", "mae", "ls_scale")}
    classical = (comparison.get("classical") or {}).get("amplitude")
    if classical is not None:  # the classical engine (flat start) on the same patterns and region
        extra.update({f"classical_amp_{k}": classical[k] for k in ("ssim", "pearson_r", "mae", "ls_scale")})
    return {
        "amp_ssim": amp["ssim"],
        "amp_ssim_flat_baseline": flat["ssim"],
        "amp_ssim_blur8_baseline": comparison["baselines"]["blur_sigma8"]["ssim"],
        "amp_pearson_r": amp["pearson_r"],
        "amp_mae": amp["mae"],
        "amp_mae_flat_baseline": flat["mae"],
        "amp_ls_scale": amp["ls_scale"],
        "phase_mae": comparison["phase"]["mae"],
        "coverage_fraction": comparison["coverage_fraction"],
        **extra,
    }


# --------------------------------------------------------------------------- reference metric
REFERENCE_TRIM = 2


def reference_scores(
    pred_amp: np.ndarray, truth_amp: np.ndarray, *, trim: int = REFERENCE_TRIM
) -> dict[str, Any]:
    """The legacy grid protocol's evaluation (REFERENCE_PROTOCOLS.md §A): trim ``trim`` px
    on every side, scale the prediction to the truth mean, skimage SSIM with a 7×7 window
    and ``data_range`` = the truth's range, over the whole image; MAE and Pearson r of the
    same scaled image beside it.

    Parameters
    ----------
    pred_amp, truth_amp : (H, W) float, the same grid; NaN in ``pred_amp`` (uncovered) is
        an error here — see :func:`reference_comparison` for canvases with holes.
    """
    p = np.asarray(pred_amp, dtype=np.float64)
    t = np.asarray(truth_amp, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and truth {t.shape} must have the same shape")
    if trim:
        p, t = p[trim:-trim, trim:-trim], t[trim:-trim, trim:-trim]
    if min(p.shape) < 7:
        raise ValueError(f"the trimmed image {p.shape} is smaller than the 7x7 SSIM window")
    if not np.all(np.isfinite(p)):
        raise ValueError("the prediction has NaN/inf pixels; the reference metric needs a full image")
    mean_p = float(p.mean())
    scale = float(t.mean()) / mean_p if mean_p != 0 else 1.0
    ps = p * scale
    data_range = float(t.max() - t.min()) or 1.0
    r = float(np.corrcoef(ps.ravel(), t.ravel())[0, 1]) if ps.std() > 0 and t.std() > 0 else 0.0
    return {
        "ssim": float(structural_similarity(t, ps, data_range=data_range, win_size=7)),
        "mae": float(np.mean(np.abs(ps - t))),
        "pearson_r": r,
        "mean_scale": scale,
        "trim": int(trim),
        "pixels": int(p.size),
    }


def reference_comparison(stitched: Stitched, obj: np.ndarray) -> dict[str, Any]:
    """:func:`reference_scores` of a stitched canvas and its flat baseline.

    The whole canvas is scored (the grid protocol's seamless tiles cover all of it); on a
    canvas with uncovered pixels (non-grid scans) those pixels are set to the prediction's
    covered mean, so holes count as flat — ``filled_fraction`` says how many there were.
    """
    mask = stitched.covered
    t = np.abs(truth_on_canvas(obj, stitched)).astype(np.float64)
    p = np.abs(stitched.image).astype(np.float64)
    fill = float(np.nanmean(np.where(mask, p, np.nan))) if mask.any() else 0.0
    p = np.where(mask, np.nan_to_num(p), fill)
    flat = np.full_like(t, float(t.mean()))
    return {
        "metric": "reference: trim 2 px, prediction scaled to the truth mean, SSIM 7x7 over the whole image",
        "filled_fraction": float(1.0 - mask.mean()),
        "amplitude": reference_scores(p, t),
        "flat_baseline": reference_scores(flat, t),
    }
