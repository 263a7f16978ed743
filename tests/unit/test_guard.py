"""The rerun's guard test is recorded in the hub; a missing test tree or pytest is
"skipped" with its reason, never a failure of the reconstruction run."""

from __future__ import annotations

import importlib.util

from ptycho_helpers import runs


def test_guard_without_a_test_tree_is_skipped_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "REPO_ROOT", tmp_path / "installed")
    out = runs._guard_test(tmp_path)
    assert out["status"] == "skipped" and "installed without tests" in out["reason"]
    assert (tmp_path / "pytest_cli_smoke.log").read_text().startswith("skipped: ")


def test_guard_without_pytest_is_skipped_with_the_reason(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pytest" else real(name, *a)
    )
    out = runs._guard_test(tmp_path)
    assert out == {"status": "skipped", "reason": "pytest is not installed"}
    assert "pytest is not installed" in (tmp_path / "pytest_cli_smoke.log").read_text()
