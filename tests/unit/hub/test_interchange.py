"""NPZ data interchange: round trip, legacy layouts, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from ptycho_helpers.hub.interchange import export_npz, import_npz


def test_round_trip(tiny_raw, tmp_path):
    path = export_npz(tiny_raw, tmp_path / "scan.npz")
    back = import_npz(path)
    for key in ("xcoords", "ycoords", "diffraction", "probeGuess", "objectGuess", "scan_index"):
        np.testing.assert_array_equal(getattr(back, key), getattr(tiny_raw, key))
    with np.load(path, allow_pickle=False) as f:
        assert f["diffraction"].dtype == np.float32 and f["diffraction"].shape == (80, 32, 32)


def test_legacy_key_and_layout(tiny_raw, tmp_path):
    np.savez(
        tmp_path / "legacy.npz",
        diff3d=np.moveaxis(tiny_raw.diffraction, 0, -1),
        xcoords=tiny_raw.xcoords,
        ycoords=tiny_raw.ycoords,
        probeGuess=tiny_raw.probeGuess,
    )
    back = import_npz(tmp_path / "legacy.npz")
    np.testing.assert_array_equal(back.diffraction, tiny_raw.diffraction)
    assert back.objectGuess is None and back.scan_index.tolist() == list(range(80))


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.pop("xcoords"), "lacks xcoords"),
        (lambda d: d.pop("diffraction"), "diffraction \\(or diff3d\\)"),
        (lambda d: d.update(diffraction=d["diffraction"][:, :, :16]), "shape"),
        (lambda d: d.update(diffraction=d["diffraction"][:5]), "shape"),
        (lambda d: d.update(diffraction=np.where(d["diffraction"] > 0, np.nan, 0)), "NaN"),
        (lambda d: d.update(diffraction=-d["diffraction"] - 1), "negative"),
        (lambda d: d.update(xcoords=d["xcoords"].astype(str)), "dtype"),
        (lambda d: d.update(probeGuess=d["probeGuess"][:8, :8]), "probeGuess"),
        (lambda d: d.update(ycoords=d["ycoords"][:3]), "differ in length"),
        (lambda d: d.update(objectGuess=np.array([{"a": 1}], dtype=object)), "pickled"),
    ],
)
def test_import_errors(tiny_raw, tmp_path, mutate, match):
    arrays = {
        "diffraction": tiny_raw.diffraction,
        "xcoords": tiny_raw.xcoords,
        "ycoords": tiny_raw.ycoords,
        "probeGuess": tiny_raw.probeGuess,
        "objectGuess": tiny_raw.objectGuess,
    }
    mutate(arrays)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises((ValueError, TypeError), match=match):
        import_npz(tmp_path / "bad.npz")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        import_npz(tmp_path / "none.npz")
