"""The model manifests in models/ and the official backbone addresses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sciceapp.engine.manifests import (
    DINOV2_BACKBONES,
    backbone_file,
    find_manifest,
    list_manifests,
    load_manifest,
)
from sciceapp.errors import ModelError
from sciceapp.model.config import get_config


def test_every_known_model_has_a_manifest_that_matches_its_preset():
    manifests = {m.name: m for m in list_manifests()}
    assert {"scicevpr-b", "scicevpr-l", "dinov2-gem-b", "tiny"} <= set(manifests)
    for manifest in manifests.values():
        config = get_config(manifest.preset)
        assert manifest.descriptor_dim == config.descriptor_dim, manifest.name
        assert manifest.image_size == config.image_size, manifest.name
        assert len(manifest.mean) == len(manifest.std) == 3
        assert manifest.weights, f"{manifest.name} must say where its weights come from"
        if manifest.backbone:
            assert manifest.backbone in DINOV2_BACKBONES


def test_training_free_baseline_is_labelled_and_needs_only_the_backbone():
    manifest = find_manifest("dinov2-gem-b")
    assert manifest.training_free
    assert manifest.label == "training-free baseline"
    assert manifest.backbone_url == (
        "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitb14/dinov2_vitb14_pretrain.pth"
    )
    assert get_config(manifest.preset).architecture == "dinov2-gem"


def test_scicevpr_manifests_say_how_to_get_trained_weights():
    for name in ("scicevpr-b", "scicevpr-l"):
        assert "sciceapp train" in find_manifest(name).weights


def test_register_variants_live_in_the_base_model_folder():
    reg = backbone_file("dinov2_vitl14_reg4")
    assert reg.url == (
        "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_reg4_pretrain.pth"
    )
    assert reg.filename == "dinov2_vitl14_reg4_pretrain.pth"
    with pytest.raises(ValueError, match="dinov2_vitb14"):
        backbone_file("dinov2_vitx14")


def test_broken_manifest_is_a_clear_error(tmp_path: Path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ModelError, match="cannot be read"):
        load_manifest(tmp_path / "bad.json")
    other = tmp_path / "other"
    other.mkdir()
    (other / "short.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(ModelError, match="lacks label"):
        list_manifests(other)
