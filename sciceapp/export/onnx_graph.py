"""The ONNX graph of a network built from its weights with onnx's own API (no torch).

The same function as ``sciceapp.model`` computes (SCICEVPR.md), node by node: the DINOv2 ViT
(patch convolution, class and register tokens, the position table resampled once and stored
as a constant, pre-norm blocks with LayerScale), then either the training-free head (the
chosen blocks' normed patch tokens through the 14-region GeM) or the SciceVPR student's head
(1x1 convolution, token mixers, regional GeM, one post-norm encoder layer per regional vector:
with a sequence of one, attention is the value and output projections). Input ``images``
``[B, 3, S, S]``, output ``descriptors`` ``[B, 14 * C]`` L2-normalised, B dynamic (contract 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sciceapp.export.pos_table import resample_pos_table
from sciceapp.model.config import NUM_REGIONS, SciceConfig

OPSET = 18  # LayerNormalization (17), ReduceMean/ReduceL2 with axes as an input (18)
IR_VERSION = 8
VIT_LN_EPS = 1e-6
HEAD_LN_EPS = 1e-5  # PyTorch's LayerNorm default: token mixers and the encoder layer
GEM_EPS = 1e-6
NORMALIZE_EPS = 1e-12


def _regions(grid: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The 14 regions (whole map, 2x2 cells, 3x3 cells) as row and column spans."""
    half, third, two_thirds = grid // 2, round(grid / 3), round(2 * grid / 3)
    halves = [(0, half), (half, grid)]
    thirds = [(0, third), (third, two_thirds), (two_thirds, grid)]
    spans = [((0, grid), (0, grid))]
    spans += [(r, c) for r in halves for c in halves]
    return spans + [(r, c) for r in thirds for c in thirds]


class _Graph:
    """Nodes and constants being collected; every value gets a fresh name."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, array: np.ndarray | Sequence, dtype=np.float32, hint: str = "c") -> str:
        from onnx import numpy_helper

        name = self._name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def ints(self, values: Sequence[int]) -> str:
        return self.const(list(values), dtype=np.int64, hint="shape")

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs) -> str | list[str]:
        from onnx import helper

        names = [self._name(op_type.lower()) for _ in range(outputs)]
        # named nodes: converters derive new names from them (fp16 casts, int8 quantisers)
        self.nodes.append(helper.make_node(op_type, list(inputs), names, names[0], **attrs))
        return names[0] if outputs == 1 else names

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray | None) -> str:
        """``x @ weight.T + bias`` (PyTorch's Linear)."""
        out = self.op("MatMul", x, self.const(np.ascontiguousarray(weight.T), hint="w"))
        return out if bias is None else self.op("Add", out, self.const(bias, hint="b"))

    def layer_norm(self, x: str, weight: np.ndarray, bias: np.ndarray, eps: float) -> str:
        return self.op(
            "LayerNormalization", x, self.const(weight), self.const(bias), axis=-1, epsilon=eps
        )

    def gelu(self, x: str) -> str:
        """Exact GELU: ``0.5 x (1 + erf(x / sqrt 2))``."""
        scaled = self.op("Div", x, self.const(np.sqrt(2.0)))
        one_plus = self.op("Add", self.op("Erf", scaled), self.const(1.0))
        return self.op("Mul", self.op("Mul", x, one_plus), self.const(0.5))

    def l2_normalize(self, x: str) -> str:
        """``x / max(||x||, 1e-12)`` over the last axis (PyTorch's F.normalize)."""
        norm = self.op("ReduceL2", x, self.ints([-1]), keepdims=1)
        return self.op("Div", x, self.op("Max", norm, self.const(NORMALIZE_EPS)))


def _attention(g: _Graph, x: str, w: Mapping[str, np.ndarray], p: str, heads: int) -> str:
    """``[B, N, D] -> [B, N, D]``: softmax(q k^T / sqrt(d)) v, heads side by side."""
    qkv_w, qkv_b = w[f"{p}.attn.qkv.weight"], w[f"{p}.attn.qkv.bias"]
    dim = qkv_w.shape[1]
    head_dim = dim // heads

    def project(part: int, perm: list[int]) -> str:
        rows = slice(part * dim, (part + 1) * dim)
        y = g.linear(x, qkv_w[rows], qkv_b[rows])
        return g.op("Transpose", g.op("Reshape", y, g.ints([0, 0, heads, head_dim])), perm=perm)

    q = project(0, [0, 2, 1, 3])  # [B, H, N, d]
    k_t = project(1, [0, 2, 3, 1])  # [B, H, d, N]
    v = project(2, [0, 2, 1, 3])
    scores = g.op("Mul", g.op("MatMul", q, k_t), g.const(1.0 / np.sqrt(head_dim)))
    out = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)  # [B, H, N, d]
    out = g.op("Reshape", g.op("Transpose", out, perm=[0, 2, 1, 3]), g.ints([0, 0, dim]))
    return g.linear(out, w[f"{p}.attn.proj.weight"], w[f"{p}.attn.proj.bias"])


def _ffn(g: _Graph, x: str, w: Mapping[str, np.ndarray], p: str, kind: str) -> str:
    if kind == "swiglu":
        both = g.linear(x, w[f"{p}.mlp.w12.weight"], w[f"{p}.mlp.w12.bias"])
        gate, value = g.op("Split", both, axis=-1, num_outputs=2, outputs=2)
        silu = g.op("Mul", gate, g.op("Sigmoid", gate))
        return g.linear(g.op("Mul", silu, value), w[f"{p}.mlp.w3.weight"], w[f"{p}.mlp.w3.bias"])
    hidden = g.gelu(g.linear(x, w[f"{p}.mlp.fc1.weight"], w[f"{p}.mlp.fc1.bias"]))
    return g.linear(hidden, w[f"{p}.mlp.fc2.weight"], w[f"{p}.mlp.fc2.bias"])


def _backbone(g: _Graph, images: str, w: Mapping[str, np.ndarray], config: SciceConfig) -> str:
    """``[B, 3, S, S] -> [B, D * len(fused_layers), g, g]``."""
    bb, grid = config.backbone, config.grid_size
    d, registers = bb.embed_dim, bb.num_register_tokens
    patches = g.op(
        "Conv", images, g.const(w["patch_embed.proj.weight"]), g.const(w["patch_embed.proj.bias"]),
        kernel_shape=[bb.patch_size] * 2, strides=[bb.patch_size] * 2,
    )  # fmt: skip
    patches = g.op("Transpose", g.op("Reshape", patches, g.ints([0, d, -1])), perm=[0, 2, 1])
    batch = g.op("Slice", g.op("Shape", images), g.ints([0]), g.ints([1]))

    def per_image(token: np.ndarray, count: int) -> str:  # [1, n, D] -> [B, n, D]
        return g.op("Expand", g.const(token), g.op("Concat", batch, g.ints([count, d]), axis=0))

    tokens = g.op("Concat", per_image(w["cls_token"], 1), patches, axis=1)
    table = resample_pos_table(
        w["pos_embed"], grid, offset=bb.interpolate_offset, antialias=bb.interpolate_antialias
    )
    tokens = g.op("Add", tokens, g.const(table))
    if registers:
        first = g.op("Slice", tokens, g.ints([0]), g.ints([1]), g.ints([1]))
        rest = g.op("Slice", tokens, g.ints([1]), g.ints([1 << 62]), g.ints([1]))
        reg = per_image(w["register_tokens"], registers)
        tokens = g.op("Concat", first, reg, rest, axis=1)
    wanted = list(config.fused_layers)
    maps = {}
    for i in range(max(wanted) + 1):
        p = f"blocks.{i}"
        normed = g.layer_norm(tokens, w[f"{p}.norm1.weight"], w[f"{p}.norm1.bias"], VIT_LN_EPS)
        attn = g.op("Mul", _attention(g, normed, w, p, bb.num_heads), g.const(w[f"{p}.ls1.gamma"]))
        tokens = g.op("Add", tokens, attn)
        normed = g.layer_norm(tokens, w[f"{p}.norm2.weight"], w[f"{p}.norm2.bias"], VIT_LN_EPS)
        mlp = g.op("Mul", _ffn(g, normed, w, p, bb.ffn), g.const(w[f"{p}.ls2.gamma"]))
        tokens = g.op("Add", tokens, mlp)
        if i in wanted:
            out = g.layer_norm(tokens, w["norm.weight"], w["norm.bias"], VIT_LN_EPS)
            out = g.op("Slice", out, g.ints([1 + registers]), g.ints([1 << 62]), g.ints([1]))
            out = g.op("Transpose", out, perm=[0, 2, 1])  # [B, D, g*g]
            maps[i] = g.op("Reshape", out, g.ints([0, d, grid, grid]))
    ordered = [maps[i] for i in wanted]
    return ordered[0] if len(ordered) == 1 else g.op("Concat", *ordered, axis=1)


def _gem(g: _Graph, x: str, p: float | np.ndarray, grid: int) -> str:
    """``[B, C, g, g] -> [B, 14, C]``: regional GeM, each region's vector L2-normalised."""
    p = np.asarray(p, dtype=np.float32).reshape(1)
    powered = g.op("Pow", g.op("Max", x, g.const(GEM_EPS)), g.const(p))
    means = []
    for (r0, r1), (c0, c1) in _regions(grid):
        cell = g.op("Slice", powered, g.ints([r0, c0]), g.ints([r1, c1]), g.ints([2, 3]))
        mean = g.op("ReduceMean", cell, g.ints([2, 3]), keepdims=0)  # [B, C]
        means.append(g.op("Unsqueeze", mean, g.ints([1])))
    pooled = g.op("Pow", g.op("Concat", *means, axis=1), g.const(np.float32(1.0) / p))
    return g.l2_normalize(pooled)


def _student_head(g: _Graph, maps: str, w: Mapping[str, np.ndarray], config: SciceConfig) -> str:
    """``[B, D*L, g, g] -> [B, 14, C]``: conv, token mixers, GeM, encoder on each vector."""
    c, grid = config.fusion_dim, config.grid_size
    fused = g.op("Relu", g.op("Conv", maps, g.const(w["conv.weight"]), g.const(w["conv.bias"])))
    x = g.op("Reshape", fused, g.ints([0, c, grid * grid]))  # [B, C, P]
    for k in range(config.token_mixers):
        p = f"tokenmix.{k}"
        over_channels = g.op("Transpose", x, perm=[0, 2, 1])
        normed = g.layer_norm(
            over_channels, w[f"{p}.norm.weight"], w[f"{p}.norm.bias"], HEAD_LN_EPS
        )
        normed = g.op("Transpose", normed, perm=[0, 2, 1])
        hidden = g.op("Relu", g.linear(normed, w[f"{p}.mix.0.weight"], w[f"{p}.mix.0.bias"]))
        x = g.op("Add", x, g.linear(hidden, w[f"{p}.mix.2.weight"], w[f"{p}.mix.2.bias"]))
    regional = _gem(g, g.op("Reshape", x, g.ints([0, c, grid, grid])), w["gem.p"], grid)
    x = g.op("Reshape", regional, g.ints([-1, c]))  # every regional vector on its own
    for j in range(config.encoder_layers):
        p = f"encoder.layers.{j}"
        in_w, in_b = w[f"{p}.self_attn.in_proj_weight"], w[f"{p}.self_attn.in_proj_bias"]
        value = g.linear(x, in_w[2 * c :], in_b[2 * c :])
        attended = g.linear(
            value, w[f"{p}.self_attn.out_proj.weight"], w[f"{p}.self_attn.out_proj.bias"]
        )
        x = g.layer_norm(
            g.op("Add", x, attended), w[f"{p}.norm1.weight"], w[f"{p}.norm1.bias"], HEAD_LN_EPS
        )
        hidden = g.gelu(g.linear(x, w[f"{p}.linear1.weight"], w[f"{p}.linear1.bias"]))
        ff = g.linear(hidden, w[f"{p}.linear2.weight"], w[f"{p}.linear2.bias"])
        x = g.layer_norm(
            g.op("Add", x, ff), w[f"{p}.norm2.weight"], w[f"{p}.norm2.bias"], HEAD_LN_EPS
        )
    return x


def build_model(config: SciceConfig, weights: Mapping[str, np.ndarray]):
    """The ``onnx.ModelProto`` of ``config`` with ``weights`` (names as in the authors' files
    without ``module.``: the backbone under ``backbone.dino_model.``; for the training-free
    baseline the official DINOv2 names alone are enough)."""
    from onnx import TensorProto, helper

    backbone = {
        k.removeprefix("backbone.dino_model."): np.asarray(v, dtype=np.float32)
        for k, v in weights.items()
    }
    size, dim = config.image_size, config.descriptor_dim
    g = _Graph()
    maps = _backbone(g, "images", backbone, config)
    if config.architecture == "dinov2-gem":
        regional = _gem(g, maps, config.gem_p, config.grid_size)
    else:
        head = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
        regional = _student_head(g, maps, head, config)
    flat = g.op("Reshape", regional, g.ints([-1, NUM_REGIONS * config.fusion_dim]))
    g.nodes.append(helper.make_node("Identity", [g.l2_normalize(flat)], ["descriptors"], "output"))
    graph = helper.make_graph(
        g.nodes,
        f"sciceapp-{config.architecture}",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("descriptors", TensorProto.FLOAT, ["batch", dim])],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="sciceapp"
    )
    model.ir_version = IR_VERSION
    return model
