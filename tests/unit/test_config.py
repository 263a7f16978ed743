import dataclasses

import pytest

from ptycho_helpers import ModelConfig, RunParams, ScenarioSpec, TrainConfig


def test_runparams_defaults_match_reference():
    p = RunParams()
    assert (p.N, p.object_size, p.object_seed, p.sim_seed, p.buffer) == (64, 392, 42, 42, 10.0)
    assert (p.split_fraction, p.base_total_images, p.group_count) == (0.5, 2000, 1000)
    assert (p.nphotons, p.neighbor_count, p.reassemble_M) == (1e9, 4, 20)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"N": 30}, "divisible by 4"),
        ({"nphotons": 0}, "nphotons"),
        ({"nphotons": float("nan")}, "nphotons"),
        ({"split_fraction": 1.0}, "split_fraction"),
        ({"split_fraction": 0}, "split_fraction"),
        ({"buffer": -1}, "buffer"),
        ({"buffer": 200}, "no scan area"),
        ({"base_total_images": 0}, "base_total_images"),
        ({"reassemble_M": 80}, "reassemble_M"),
        ({"group_count": 2.5}, "group_count"),
    ],
)
def test_runparams_rejects_bad_values(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        RunParams(**kwargs)


def test_runparams_rejects_bool_and_string():
    with pytest.raises(TypeError, match="N must be an integer"):
        RunParams(N=True)
    with pytest.raises(TypeError, match="nphotons"):
        RunParams(nphotons="many")


def test_replace_revalidates_and_roundtrips():
    p = RunParams()
    with pytest.raises(ValueError):
        dataclasses.replace(p, N=65)
    assert RunParams.from_dict(p.to_dict()) == p
    with pytest.raises(ValueError, match="unknown RunParams key"):
        RunParams.from_dict({"N": 64, "bogus": 1})


def test_scenario_name_and_probe_mode_validation():
    with pytest.raises(ValueError, match="not allowed"):
        ScenarioSpec("../evil")
    with pytest.raises(ValueError, match="not allowed"):
        ScenarioSpec("..")
    with pytest.raises(ValueError, match="probe_mode"):
        ScenarioSpec("x", probe_mode="measured")
    with pytest.raises(TypeError, match="probe_big"):
        ScenarioSpec("x", probe_big="yes")
    assert ScenarioSpec("x", gridsize=2).channels == 4


def test_model_and_train_config_validation():
    assert ModelConfig(N=64).encoder_filters == (64, 128, 256)
    assert ModelConfig(N=32).encoder_filters == (32, 64, 128)
    with pytest.raises(ValueError, match="divisible by 4"):
        ModelConfig(N=30)
    with pytest.raises(ValueError, match="amp_activation"):
        ModelConfig(amp_activation="relu")
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    assert ModelConfig(combine_pad=3).combine_pad == 4
