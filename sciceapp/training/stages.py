"""The two training stages of SciceVPR: what each trains, freezes and minimises.

Stage 1 (teacher, "Super-CricaVPR"): backbone frozen; conv, token mixers, GeM p and the
cross-image encoder train against the multi-similarity loss.
Stage 2 (student, SciceVPR): backbone and the teacher's 1x1 conv copied in and frozen;
token mixers, GeM p and the self-enhanced encoder train against
L = gamma * L_MS + eta * L_D, the teacher in eval mode under no_grad.
"""

from __future__ import annotations

import logging

import torch

from sciceapp.errors import ModelError
from sciceapp.training.losses import LossWeights, MultiSimilarity, distillation_loss

log = logging.getLogger(__name__)

# parameter-name prefixes of the parts each stage keeps frozen
TEACHER_FROZEN = ("backbone.",)
STUDENT_FROZEN = ("backbone.", "conv.")


def set_modes(network: torch.nn.Module, frozen_prefixes: tuple[str, ...]) -> None:
    """Training mode for the trained parts, eval mode for frozen sub-modules (no dropout there)."""
    network.train()
    for name, module in network.named_children():
        if f"{name}." in frozen_prefixes:
            module.eval()


def copy_frozen_parts(
    student: torch.nn.Module, teacher: torch.nn.Module, prefixes: tuple[str, ...] = STUDENT_FROZEN
) -> int:
    """Copy the teacher's tensors under ``prefixes`` into the student; returns how many."""
    teacher_state = teacher.state_dict()
    student_state = student.state_dict()
    copied = {k: v for k, v in teacher_state.items() if k.startswith(prefixes)}
    for key, value in copied.items():
        if key not in student_state or student_state[key].shape != value.shape:
            raise ModelError(
                f"The teacher's {key} does not fit the student network; train the student "
                "with the same --preset/--config as the teacher."
            )
    student.load_state_dict(copied, strict=False)
    return len(copied)


class TeacherStage:
    """Stage 1: ``step(images [B,3,S,S], labels [B]) -> losses``."""

    name = "teacher"
    frozen = TEACHER_FROZEN

    def __init__(self, network: torch.nn.Module, weights: LossWeights | None = None) -> None:
        self.network = network
        self.weights = weights or LossWeights()
        self.ms = MultiSimilarity()

    def losses(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        ms = self.ms(self.network(images), labels)
        return {"loss": self.weights.total(ms), "ms": ms}


class StudentStage:
    """Stage 2: the student learns place identity and the teacher's descriptors."""

    name = "student"
    frozen = STUDENT_FROZEN

    def __init__(
        self,
        network: torch.nn.Module,
        teacher: torch.nn.Module,
        weights: LossWeights | None = None,
    ) -> None:
        self.network = network
        self.teacher = teacher.eval()
        for param in self.teacher.parameters():
            param.requires_grad_(False)
        self.weights = weights or LossWeights()
        self.ms = MultiSimilarity()

    def losses(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            self.teacher.eval()
            target = self.teacher(images)
        descriptors = self.network(images)
        ms = self.ms(descriptors, labels)
        distill = distillation_loss(descriptors, target)
        return {"loss": self.weights.total(ms, distill), "ms": ms, "distill": distill}
