"""Backbones in plain torch: a ViT (convolutional or patch stem) and a ResNet-like CNN pyramid.

Both return the concatenation of features tapped at several depths on one ``grid x grid`` map,
``F in R^{N x sum_i C_i x G x G}``, which is what MANIQA's transposed attention consumes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from .config import IMAGE_SIZE, BackboneConfig

__all__ = ["CNNPyramid", "ViTBackbone", "build_backbone"]


def _conv_bn(
    c_in: int, c_out: int, k: int = 3, stride: int = 1, act: bool = True, norm: str = "batch"
) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False),
        nn.BatchNorm2d(c_out) if norm == "batch" else nn.GroupNorm(math.gcd(8, c_out), c_out),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Attention(nn.Module):
    """Multi-head self-attention, ``softmax(q k^T / sqrt(d)) v`` over tokens."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(n, t, c))


class Mlp(nn.Sequential):
    """``Linear -> GELU -> Linear``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class ViTBlock(nn.Module):
    """Pre-norm transformer block: ``x + MSA(LN(x))``, then ``x + MLP(LN(x))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViTBackbone(nn.Module):
    """ViT without class token; returns the outputs of blocks ``taps`` (1-based) as maps, concatenated.

    Convolutional stem (``stem="conv"``): ``log2(patch)`` stride-2 3x3 Conv-BN-ReLU layers with widths
    ``dim / 2^k``, then a 1x1 projection; patch stem: one ``patch x patch`` stride-``patch`` convolution.
    """

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.grid = IMAGE_SIZE // cfg.patch
        if cfg.stem == "conv":
            n = int(math.log2(cfg.patch))
            widths = [3] + [max(cfg.dim >> (n - 1 - i), 16) for i in range(n)]
            self.stem: nn.Module = nn.Sequential(
                *(_conv_bn(widths[i], widths[i + 1], 3, 2) for i in range(n)),
                nn.Conv2d(widths[-1], cfg.dim, 1),
            )
        else:
            self.stem = nn.Conv2d(3, cfg.dim, cfg.patch, cfg.patch)
        self.pos = nn.Parameter(torch.zeros(1, self.grid * self.grid, cfg.dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList(ViTBlock(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.taps = set(cfg.taps)
        self.out_channels = cfg.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N,3,224,224] -> [N, len(taps) * dim, G, G]``."""
        x = self.stem(x).flatten(2).transpose(1, 2) + self.pos
        feats = []
        for i, block in enumerate(self.blocks, start=1):
            x = block(x)
            if i in self.taps:
                feats.append(x)
            if i == max(self.taps):
                break
        out = torch.cat(feats, dim=2)
        return out.transpose(1, 2).reshape(out.shape[0], self.out_channels, self.grid, self.grid)


class BasicBlock(nn.Module):
    """ResNet basic block: ``relu(N(conv(relu(N(conv(x))))) + shortcut(x))``, ``N`` batch or group norm."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm: str = "batch") -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn(c_in, c_out, 3, stride, norm=norm), _conv_bn(c_out, c_out, 3, 1, act=False, norm=norm)
        )
        self.short = (
            _conv_bn(c_in, c_out, 1, stride, act=False, norm=norm)
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.short(x))


class CNNPyramid(nn.Module):
    """ResNet-like pyramid (stem to stride 4, then stages at strides 4, 8, 16, 32).

    The outputs of stages ``taps`` are brought to ``grid x grid`` (average pooling when larger, bilinear
    upsampling when smaller) and concatenated along channels.
    """

    def __init__(self, cfg: BackboneConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.grid = cfg.grid
        w0 = cfg.widths[0]
        norm = cfg.norm
        self.stem = nn.Sequential(
            _conv_bn(3, max(w0 // 2, 8), 3, 2, norm=norm), _conv_bn(max(w0 // 2, 8), w0, 3, 2, norm=norm)
        )
        stages = []
        c_in = w0
        for i, (width, n_blocks) in enumerate(zip(cfg.widths, cfg.blocks, strict=True)):
            blocks = [BasicBlock(c_in, width, 1 if i == 0 else 2, norm)]
            blocks += [BasicBlock(width, width, 1, norm) for _ in range(n_blocks - 1)]
            stages.append(nn.Sequential(*blocks))
            c_in = width
        self.stages = nn.ModuleList(stages)
        self.taps = set(cfg.taps)
        self.out_channels = cfg.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N,3,224,224] -> [N, sum(widths[taps]), G, G]``."""
        x = self.stem(x)
        feats = []
        for i, stage in enumerate(self.stages, start=1):
            x = stage(x)
            if i in self.taps:
                feats.append(self._to_grid(x, IMAGE_SIZE // 2 ** (i + 1)))
            if i == max(self.taps):
                break
        return torch.cat(feats, dim=1)

    def _to_grid(self, x: torch.Tensor, side: int) -> torch.Tensor:
        """Stage output of side ``side`` (static, so tracing records no shape branch) -> ``grid x grid``."""
        if side > self.grid:
            k = side // self.grid
            return F.avg_pool2d(x, k, k)
        if side < self.grid:
            return F.interpolate(x, size=(self.grid, self.grid), mode="bilinear", align_corners=False)
        return x


def build_backbone(cfg: BackboneConfig) -> ViTBackbone | CNNPyramid:
    """The backbone named by ``cfg.kind``."""
    return ViTBackbone(cfg) if cfg.kind == "vit" else CNNPyramid(cfg)
