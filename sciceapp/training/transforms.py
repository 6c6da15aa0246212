"""Image transforms: the training augmentation and the evaluation resize."""

from __future__ import annotations

from torchvision import transforms as T

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RANDAUGMENT_OPS = 3


def train_transform(image_size: int) -> T.Compose:
    """Resize to ``image_size`` square, RandAugment with 3 ops, ImageNet normalisation."""
    return T.Compose(
        [
            T.Resize((image_size, image_size), interpolation=T.InterpolationMode.BILINEAR),
            T.RandAugment(num_ops=RANDAUGMENT_OPS, interpolation=T.InterpolationMode.BILINEAR),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def eval_transform(image_size: int) -> T.Compose:
    """The whole image resized to ``image_size`` square (no crop), ImageNet normalisation."""
    return T.Compose(
        [
            T.Resize((image_size, image_size), interpolation=T.InterpolationMode.BILINEAR),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
