import json
import logging

import pytest

from ptycho_helpers import (
    SCENARIOS,
    STABLE_PROFILES,
    RunParams,
    derive_counts,
    load_snapshot,
    resolve_profile,
    resolve_run,
)


def test_builtin_scenarios_table():
    assert set(SCENARIOS) == {"gs1_ideal", "gs1_custom", "gs2_ideal", "gs2_custom", "gs1_grid", "gs2_grid"}
    s = SCENARIOS["gs2_custom"]
    assert (s.gridsize, s.probe_mode, s.probe_scale, s.probe_big, s.probe_mask) == (
        2,
        "custom",
        4.0,
        True,
        False,
    )
    s = SCENARIOS["gs1_ideal"]
    assert (s.gridsize, s.probe_mode, s.probe_scale, s.probe_big, s.probe_mask) == (
        1,
        "idealized",
        10.0,
        False,
        True,
    )


def test_profiles_are_immutable():
    with pytest.raises(TypeError):
        STABLE_PROFILES["gs1_ideal"]["batch_size"] = 99  # type: ignore[index]


def test_derive_counts_defaults():
    assert derive_counts(RunParams(), 1) == (2000, 1000, 1000)
    assert derive_counts(RunParams(), 2) == (8000, 4000, 4000)
    assert derive_counts(RunParams(base_total_images=5, split_fraction=0.3), 1) == (5, 3, 2)


def test_profile_applied_without_overrides():
    p, gc, bs, rec = resolve_profile("gs1_ideal", RunParams(), {})
    assert (p.base_total_images, gc, bs) == (512, 256, 8)
    assert rec["active"] is True and rec["skipped"] == {}
    assert rec["applied"] == {"base_total_images": 512, "group_count": 256, "batch_size": 8}
    assert rec["effective_group_count"] == 256 and rec["effective_batch_size"] == 8
    json.dumps(rec)


def test_override_wins_is_skipped_and_warned(caplog):
    with caplog.at_level(logging.WARNING, logger="ptycho_helpers.scenarios"):
        p, gc, bs, rec = resolve_profile(
            "gs2_ideal", RunParams(), {"batch_size": 8, "group_count": None, "nphotons": 1e6}
        )
    assert bs == 8 and gc == 128 and p.neighbor_count == 4 and p.nphotons == 1e6
    assert rec["skipped"]["batch_size"]["preferred"] == 4
    assert rec["skipped"]["batch_size"]["override"] == 8
    assert "batch_size" not in rec["applied"]
    msg = caplog.text
    assert "--batch-size=8" in msg and "batch_size=4" in msg


def test_no_profile_scenario_records_inactive():
    p, gc, bs, rec = resolve_profile("gs1_custom", RunParams(), {})
    assert rec["active"] is False and p == RunParams() and bs == 16 and gc == 1000


def test_profile_never_touches_physics():
    p, *_ = resolve_profile("gs1_ideal", RunParams(), {})
    base = RunParams()
    for f in ("N", "nphotons", "buffer", "object_seed", "sim_seed", "split_fraction"):
        assert getattr(p, f) == getattr(base, f)


def test_unknown_knob_and_capacity_errors():
    with pytest.raises(ValueError, match="unknown override knob"):
        resolve_profile("gs1_ideal", RunParams(), {"bogus": 1})
    with pytest.raises(ValueError, match="group_count=300 exceeds the 256 test positions"):
        resolve_run("gs1_ideal", {"group_count": 300})
    with pytest.raises(ValueError, match="unknown scenario 'nope'.*gs1_ideal"):
        resolve_run("nope")


def test_resolve_run_scenario_overrides():
    r = resolve_run("gs1_ideal", {"gridsize": 2, "base_total_images": 64, "group_count": 16})
    assert r.spec.gridsize == 2 and r.counts == (256, 128, 128)


def _snapshot():
    return {
        "run_params": RunParams().to_dict(),
        "scenarios": [
            {
                "name": "gs1_ideal",
                "inputs": {
                    "gridsize": 1,
                    "probe_mode": "idealized",
                    "probe_scale": None,
                    "probe_big": None,
                    "probe_mask": None,
                },
                "defaults": {"probe_big": False, "probe_mask": True},
                "group_count": 1000,
                "neighbor_count": 4,
                "reassemble_M": 20,
            },
            {
                "name": "gs2_custom",
                "inputs": {
                    "gridsize": 2,
                    "probe_mode": "custom",
                    "probe_scale": 4.0,
                    "probe_big": None,
                    "probe_mask": None,
                },
                "defaults": {"probe_big": True, "probe_mask": False},
                "group_count": 1000,
                "neighbor_count": 4,
                "reassemble_M": 20,
            },
        ],
    }


def test_snapshot_import_fills_nulls(tmp_path):
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(_snapshot()))
    params, scen, extras = load_snapshot(path)
    assert params == RunParams()
    assert scen["gs1_ideal"] == SCENARIOS["gs1_ideal"]
    assert scen["gs2_custom"] == SCENARIOS["gs2_custom"]
    assert extras["gs1_ideal"]["reassemble_M"] == 20


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.pop("run_params"), "missing the key 'run_params'"),
        (lambda d: d["run_params"].update(N="64"), "run_params"),
        (lambda d: d["scenarios"][0]["inputs"].update(gridsize="two"), "scenarios\\[0\\]"),
        (lambda d: d["scenarios"][1].update(colour=1), "unknown key"),
        (lambda d: d.update(scenarios={}), "'scenarios' must be list"),
    ],
)
def test_snapshot_errors_name_the_key(mutate, match):
    d = _snapshot()
    mutate(d)
    with pytest.raises((ValueError, TypeError), match=match):
        load_snapshot(d)


def test_snapshot_not_json(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_snapshot(p)


def test_named_full_profile():
    from ptycho_helpers.scenarios import NAMED_PROFILES, profile_settings

    p, gc, bs, rec = resolve_profile("gs2_ideal", RunParams(), {"batch_size": 8}, profile="full")
    assert (p.base_total_images, gc, p.neighbor_count, bs) == (2000, 1000, 4, 8)
    assert rec["name"] == "gs2_ideal:full" and rec["skipped"]["batch_size"]["preferred"] == 16
    assert "nepochs" not in rec["applied"]  # run settings are not RunParams knobs
    assert profile_settings("full", "gs1_ideal") == {"nepochs": 30, "group_limit": 1000}
    assert profile_settings(None, "gs1_ideal") == {}
    assert set(NAMED_PROFILES["full"]) == {"gs1_ideal", "gs2_ideal"}
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        resolve_profile("gs1_ideal", RunParams(), {}, profile="fast")
    with pytest.raises(ValueError, match="no settings for 'gs1_custom'"):
        resolve_profile("gs1_custom", RunParams(), {}, profile="full")
    r = resolve_run("gs1_ideal", profile="full")
    assert r.counts == (2000, 1000, 1000) and r.group_count == 1000


def test_grid_scenarios_resolve_to_the_protocol_counts():
    from ptycho_helpers.scenarios import resolve_run

    r2 = resolve_run("gs2_grid")
    assert r2.counts == (2 * 82**2 * 4 + 33**2 * 4, 2 * 82**2 * 4, 33**2 * 4) and r2.n_train_groups == 13448
    assert r2.batch_size == 16 and r2.params.reassemble_M == 10 and r2.spec.prediction == "group"
    r1 = resolve_run("gs1_grid")
    assert r1.counts[1] == 13778 and r1.spec.loss == "mae" and not r1.spec.probe_mask and r1.spec.probe_big
    with pytest.raises(ValueError, match="exceeds the 13778 training groups"):
        resolve_run("gs1_grid", {"group_count": 20000})
    # issue 27: a grid scan of one object's halves (the profile's "every group" follows the half)
    h = resolve_run("gs1_grid", {"object_set": "halves"})
    assert h.counts == (3403 + 528, 3403, 528) and h.n_train_groups == 3403
    assert resolve_run("gs1_grid", {"object_set": "halves", "group_count": 1000}).n_train_groups == 1000
    with pytest.raises(ValueError, match="exceeds the 3403 training groups"):
        resolve_run("gs1_grid", {"object_set": "halves", "group_count": 3404})


def test_grid_profiles_carry_the_reference_training():
    from ptycho_helpers.plan import settings_for

    s = settings_for("gs2_grid", {}, profile="paper")
    assert (s.nepochs, s.steps, s.learning_rate, s.lr_schedule, s.validation_fraction) == (
        60,
        0,
        1e-3,
        "constant",
        0.0,
    )
    assert settings_for("gs2_grid", {}, profile="cpu2k").steps == 2000
    assert settings_for("gs2_grid", {"steps": 50}).steps == 50  # the caller wins
    assert settings_for("gs1_ideal", {}) == settings_for("gs1_ideal", {}, profile=None)
    assert settings_for("gs1_ideal", {}).steps == 0 and settings_for("gs1_ideal", {}).nepochs == 5


def test_profiles_are_typed_and_checked_against_the_declarations():
    from ptycho_helpers.profiles import Profile

    p = STABLE_PROFILES["gs2_grid"]
    assert isinstance(p, Profile) and "label" not in p and p.label.startswith("gs2_grid stable")
    assert p["learning_rate"] == 1e-3 and isinstance(p["steps"], int)
    with pytest.raises(ValueError, match="unknown knob 'nepoch'"):
        Profile("typo", {"nepoch": 3})
    with pytest.raises(ValueError, match="amp_activation='relu' is not allowed"):
        Profile("bad value", {"amp_activation": "relu"})
    with pytest.raises(ValueError, match="steps=-1 is out of range"):
        Profile("bad bound", {"steps": -1})
