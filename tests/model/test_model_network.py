"""The networks: descriptor size and norm, student stability, teacher batch dependence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps

from sciceapp.model import IMAGENET_MEAN, IMAGENET_STD, build, get_config, trainable_parameters


def test_student_descriptor_size_and_norm(images):
    network = build("tiny", seed=0)
    with torch.no_grad():
        out = network(images[:3])
    assert out.shape == (3, 1344) and network.descriptor_dim == 1344
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-6)


def test_student_descriptor_does_not_depend_on_the_batch(images):
    network = build("tiny", seed=1)
    with torch.no_grad():
        alone = network(images[:1])
        with_others = network(images[:4])
        others_first = network(torch.cat([images[3:6], images[:1]]))
    assert (alone[0] - with_others[0]).abs().max() <= 1e-5
    assert (alone[0] - others_first[3]).abs().max() <= 1e-5


def test_student_is_stable_also_without_the_fast_path(images):
    network = build("tiny", seed=2)
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            alone, batch = network(images[:1]), network(images[:3])
    finally:
        torch.backends.mha.set_fastpath_enabled(True)
    assert (alone[0] - batch[0]).abs().max() <= 1e-5


def test_teacher_descriptor_changes_with_the_batch(images):
    teacher = build("tiny", teacher=True, seed=0)
    assert len(teacher.encoder.layers) == 2
    with torch.no_grad():
        alone = teacher(images[:1])
        with_others = teacher(images[:4])
        other_batch = teacher(torch.cat([images[:1], images[4:6]]))
    assert alone.shape == (1, 1344)
    assert (alone[0] - with_others[0]).abs().max() > 1e-3
    assert (with_others[0] - other_batch[0]).abs().max() > 1e-3


def test_same_seed_same_weights_and_global_rng_untouched():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a, b = build("tiny", seed=5), build("tiny", seed=5)
    assert torch.rand(1).item() == expected_next.item()
    assert torch.equal(a.conv.weight, b.conv.weight)
    assert a.load_reports == []


def test_width_96_twelve_blocks_six_heads_custom_config_builds():
    config = {
        "backbone": {"embed_dim": 96, "depth": 12, "num_heads": 6},
        "fused_layers": [9, 10, 11],
        "fusion_dim": 48,
        "encoder_heads": 6,
        "encoder_ff_dim": 64,
        "token_mixers": 1,
        "token_mixer_ratio": 0.5,
    }
    network = build(config, seed=0)
    assert network.conv.weight.shape == (48, 288, 1, 1)
    assert network.tokenmix[0].mix[0].weight.shape == (128, 256)
    with torch.no_grad():
        assert network(torch.randn(2, 3, 224, 224)).shape == (2, 14 * 48)


def test_training_free_baseline_size_and_no_trained_parts():
    network = build("dinov2-gem-b", seed=0)
    assert network.descriptor_dim == 10752
    assert not network.gem.p.requires_grad and network.gem.p.item() == 3.0
    assert {name.split(".")[0] for name, _ in network.named_parameters()} == {"backbone", "gem"}
    with torch.no_grad():
        out = network(torch.randn(1, 3, 224, 224))
    assert out.shape == (1, 10752)
    assert torch.allclose(out.norm(dim=1), torch.ones(1), atol=1e-6)
    with pytest.raises(ValueError, match="no teacher"):
        build("dinov2-gem-b", teacher=True)


def test_trainable_parameters_per_stage():
    teacher = build("tiny", teacher=True)
    names = {n for n, p in teacher.named_parameters() if p.requires_grad}
    params = trainable_parameters(teacher, "teacher")
    trained = {n.split(".")[0] for n, p in teacher.named_parameters() if p.requires_grad}
    assert trained == {"conv", "tokenmix", "gem", "encoder"} and names  # all were trainable before
    assert len(params) == sum(1 for _, p in teacher.named_parameters() if p.requires_grad)
    student = build("tiny")
    trainable_parameters(student, "student")
    trained = {n.split(".")[0] for n, p in student.named_parameters() if p.requires_grad}
    assert trained == {"tokenmix", "gem", "encoder"}
    with pytest.raises(ValueError, match="is a student"):
        trainable_parameters(student, "teacher")
    with pytest.raises(ValueError, match="choose one of"):
        trainable_parameters(student, "stage3")


def _model_input(image: Image.Image, size: int) -> torch.Tensor:
    """Eval preprocessing of the spec: whole image resized to size x size, ImageNet normalised."""
    pixels = np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR), np.float32)
    pixels = (pixels / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    return torch.from_numpy(pixels.transpose(2, 0, 1).astype(np.float32))


def test_random_tiny_student_finds_the_original_of_a_cropped_brighter_photo(exif_samples):
    """The tiny demo model's promise: with random weights it still tells near-duplicates
    apart. Query = 90% centre crop, 10% brighter; references = the 9 gps/ photos."""
    paths = sorted((exif_samples / "gps").glob("*.jpg"))
    assert len(paths) == 9
    size = get_config("tiny").image_size
    refs, queries = [], []
    for path in paths:
        with Image.open(path) as raw:
            raw.draft("RGB", (4 * size, 4 * size))
            image = ImageOps.exif_transpose(raw).convert("RGB")
        width, height = image.size
        crop_w, crop_h = int(width * 0.9), int(height * 0.9)
        left, top = (width - crop_w) // 2, (height - crop_h) // 2
        query = image.crop((left, top, left + crop_w, top + crop_h))
        refs.append(_model_input(image, size))
        queries.append(_model_input(ImageEnhance.Brightness(query).enhance(1.1), size))
    network = build("tiny", seed=0)
    with torch.no_grad():
        similarity = network(torch.stack(queries)) @ network(torch.stack(refs)).T
    assert similarity.argmax(dim=1).tolist() == list(range(9))
