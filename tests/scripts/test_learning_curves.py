"""scripts/learning_curves.py overlays the curves of complete runs and never writes into hubs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import learning_curves  # noqa: E402


def _run(hub: Path, name: str, status: str, ssim: list[float]) -> None:
    out = hub / name / "train_outputs"
    out.mkdir(parents=True)
    (hub / name / "run_metadata.json").write_text(json.dumps({"status": status}))
    steps = [100 * (i + 1) for i in range(len(ssim))]
    (out / "learning_curve.json").write_text(
        json.dumps({"step": steps, "loss": [1e4 / s for s in steps], "amp_ssim": ssim})
    )


def test_overlays_complete_matching_runs_only(tmp_path):
    hub = tmp_path / "hub"
    _run(hub, "gs2_grid__a", "complete", [0.2, 0.4])
    _run(hub, "gs2_grid__b", "failed", [0.1])
    _run(hub, "gs1_ideal", "complete", [0.3, 0.3])
    before = sorted(p.relative_to(hub) for p in hub.rglob("*"))
    out = tmp_path / "study" / "curves.png"
    assert learning_curves.main([str(hub), "--out", str(out), "--match", "gs2_grid"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert list(json.loads(out.with_suffix(".json").read_text())) == ["hub/gs2_grid__a"]
    assert sorted(p.relative_to(hub) for p in hub.rglob("*")) == before  # the hub is untouched
    assert learning_curves.main([str(hub), "--out", str(out), "--match", "nothing"]) == 2
