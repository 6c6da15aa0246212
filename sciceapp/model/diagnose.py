"""Turning a key mismatch into a message that says what is wrong and the likely cause."""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

SHOWN_KEYS = 4
_OFFICIAL_WIDTHS = {384: "ViT-S/14", 768: "ViT-B/14", 1024: "ViT-L/14", 1536: "ViT-g/14"}
_WIDTH_KEYS = ("cls_token", "norm.weight", "backbone.dino_model.cls_token")


def _listing(label: str, keys: list[str]) -> str:
    shown = ", ".join(keys[:SHOWN_KEYS]) + (", ..." if len(keys) > SHOWN_KEYS else "")
    return f"{len(keys)} {label} ({shown})"


def _indices(keys, pattern: str) -> set[int]:
    found = (re.search(pattern, key) for key in keys)
    return {int(match.group(1)) for match in found if match}


def _width(tensors: Mapping[str, torch.Tensor]) -> int | None:
    for key in _WIDTH_KEYS:
        if key in tensors:
            return int(tensors[key].shape[-1])
    return None


def likely_causes(
    network: nn.Module,
    state: Mapping[str, torch.Tensor],
    own: Mapping[str, torch.Tensor],
) -> list[str]:
    """Best guesses, most specific first, from the two sets of names and shapes."""
    causes = []
    file_width, own_width = _width(state), _width(own)
    if file_width and own_width and file_width != own_width:
        name = _OFFICIAL_WIDTHS.get(file_width, "a custom backbone")
        causes.append(
            f"the file's backbone is {file_width} wide ({name}), the network's {own_width}: "
            "wrong preset or width"
        )
    file_blocks, own_blocks = _indices(state, r"blocks\.(\d+)\."), _indices(own, r"blocks\.(\d+)\.")
    if file_blocks and own_blocks and len(file_blocks) != len(own_blocks):
        causes.append(
            f"the file has {len(file_blocks)} backbone blocks, the network {len(own_blocks)}: "
            "wrong preset or depth"
        )
    file_enc, own_enc = (
        _indices(state, r"^encoder\.layers\.(\d+)\."),
        _indices(own, r"^encoder\.layers\.(\d+)\."),
    )
    teacher = bool(getattr(network, "teacher", False))
    if file_enc and own_enc and len(file_enc) > len(own_enc) and not teacher:
        causes.append(
            "this looks like a teacher (Super-CricaVPR) checkpoint loaded into a student: build "
            "with teacher=True, or load only parts=('backbone', 'conv') as stage 2 does"
        )
    elif file_enc and own_enc and len(file_enc) < len(own_enc) and teacher:
        causes.append(
            "this looks like a student checkpoint loaded into a teacher: build with teacher=False"
        )
    elif file_enc != own_enc and file_enc and own_enc:
        causes.append(
            f"encoder depth differs (file {len(file_enc)}, network {len(own_enc)} layers)"
        )
    if any(k.endswith("register_tokens") for k in state) != any(
        k.endswith("register_tokens") for k in own
    ):
        causes.append(
            "one side has register tokens (a _reg4 backbone) and the other has not: set backbone.num_register_tokens"
        )
    if any(".mlp.w12." in k for k in state) != any(".mlp.w12." in k for k in own):
        causes.append(
            "the feed-forward kind differs (SwiGLU for ViT-g, MLP otherwise): set backbone.ffn"
        )
    if any(k.startswith("conv.") for k in state) and not any(k.startswith("conv.") for k in own):
        causes.append(
            "a SciceVPR checkpoint cannot go into the dinov2-gem baseline: choose a scicevpr preset"
        )
    if (
        "conv.weight" in state
        and "conv.weight" in own
        and state["conv.weight"].shape != own["conv.weight"].shape
    ):
        causes.append(
            f"fusion sizes differ (conv {tuple(state['conv.weight'].shape[:2])} in the file, "
            f"{tuple(own['conv.weight'].shape[:2])} in the network): check fusion_dim and fused_layers"
        )
    if _indices(state, r"^tokenmix\.(\d+)\.") != _indices(own, r"^tokenmix\.(\d+)\."):
        causes.append("the number of token mixers differs: check token_mixers")
    pos_key = next((k for k in own if k.endswith("pos_embed")), None)
    if pos_key in state and state[pos_key].shape[1:2] != own[pos_key].shape[1:2] and not causes:
        causes.append("the position table has another grid size: check backbone.pos_grid")
    return causes or ["the file was made for another preset, width or network kind"]


def describe_mismatch(
    *,
    source: str,
    network: nn.Module,
    state: Mapping[str, torch.Tensor],
    own: Mapping[str, torch.Tensor],
    missing: list[str],
    unexpected: list[str],
    wrong_shape: list[str],
) -> str:
    parts = []
    if missing:
        parts.append(_listing("missing keys", missing))
    if unexpected:
        parts.append(_listing("unexpected keys", unexpected))
    if wrong_shape:
        shapes = [
            f"{key} file {list(state[key].shape)} vs network {list(own[key].shape)}"
            for key in wrong_shape
        ]
        parts.append(_listing("keys with another shape", shapes))
    causes = "; ".join(likely_causes(network, state, own))
    return f"{source} does not fit this network: {'; '.join(parts)}. Likely cause: {causes}."
