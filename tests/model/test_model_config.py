"""Configuration: presets, merging of defaults, validation messages, JSON round trip."""

from __future__ import annotations

import json

import pytest

from sciceapp.model import PRESETS, SciceConfig, get_config, preset_name


def test_presets_have_the_sizes_of_the_spec():
    base = get_config("scicevpr-b")
    assert base.backbone.embed_dim == 768 and base.fused_layers == (8, 9, 10, 11)
    assert base.grid_size == 16 and base.descriptor_dim == 10752
    assert (base.encoder_layers, base.encoder_heads, base.encoder_ff_dim) == (1, 16, 2048)
    assert base.backbone.interpolate_offset == 0.1 and not base.backbone.interpolate_antialias
    large = get_config("scicevpr-l")
    assert (large.backbone.embed_dim, large.backbone.depth) == (1024, 24)
    assert large.fused_layers == (20, 21, 22, 23) and large.descriptor_dim == 14336
    tiny = get_config("tiny")
    assert (tiny.backbone.embed_dim, tiny.backbone.depth, tiny.backbone.num_heads) == (96, 12, 6)
    assert tiny.fusion_dim == 96 and tiny.descriptor_dim == 1344
    assert get_config("dinov2-gem-b").descriptor_dim == 10752


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ValueError) as err:
        get_config("scicevpr-xl")
    for name in PRESETS:
        assert name in str(err.value)


def test_partial_dict_takes_defaults_from_one_place():
    config = get_config(
        {"backbone": {"embed_dim": 96, "num_heads": 6}, "fusion_dim": 96, "encoder_heads": 4}
    )
    assert config.backbone.depth == 12 and config.backbone.patch_size == 14
    assert config.token_mixers == 2 and config.gem_p == 3.0


def test_register_backbones_default_to_the_official_reg4_resampling():
    config = get_config({"backbone": {"num_register_tokens": 4}})
    assert config.backbone.interpolate_offset == 0.0 and config.backbone.interpolate_antialias


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"encoder_heads": 5}, "divisible by encoder_heads"),
        ({"fused_layers": [8, 12]}, "only 12 blocks"),
        ({"fused_layers": [8, 8]}, "repeats"),
        ({"image_size": 225}, "multiple of backbone.patch_size"),
        ({"backbone": {"ffn": "relu"}}, "backbone.ffn"),
        ({"backbone": {"num_heads": 7}}, "divisible by backbone.num_heads"),
        ({"fusion_size": 3}, "Unknown configuration key"),
        ({"token_mixers": -1}, "token_mixers"),
        ({"gem_p": 0}, "gem_p"),
        ({"encoder_layers": True}, "encoder_layers"),
    ],
)
def test_invalid_configs_say_what_is_wrong(change, words):
    with pytest.raises(ValueError, match=words):
        get_config(change)


def test_json_file_round_trip(tmp_path):
    config = get_config("tiny")
    path = tmp_path / "net.json"
    path.write_text(json.dumps(config.to_dict()))
    again = get_config(str(path))
    assert again == config and preset_name(again) == "tiny"
    assert preset_name(get_config({"fusion_dim": 384})) is None


def test_unreadable_json_file_is_a_value_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not readable JSON"):
        get_config(path)
    with pytest.raises(ValueError, match="does not exist"):
        get_config(tmp_path / "absent.json")


def test_config_is_returned_as_is():
    config = get_config("tiny")
    assert get_config(config) is config
    assert isinstance(SciceConfig.from_dict(config.to_dict()), SciceConfig)
