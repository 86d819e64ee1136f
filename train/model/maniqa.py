"""The MedIQA scorer: MANIQA (transposed attention + Swin stages + dual-branch head) with prompts and
learned slice weights, on a configurable backbone.

Per slice: backbone features ``F`` (several depths, concatenated) -> TAB -> reduce -> Swin stage 1 -> TAB ->
reduce -> Swin stage 2, every Swin layer ``i`` adding its own prompt projection
``y = x + FC_i(concat(p_dim, p_mod, p_reg, p_type))``; patch scores ``s_j`` and weights ``w_j``
give ``q = sum_j w_j s_j / sum_j w_j`` (with ``global_context``, every patch logit also gets the slice term
``g = MLP_g([mean_j t_j ; std_j t_j])``). Over the S slices of a volume, ``w̄ = softmax_S(Linear(f))`` from the
pooled slice features ``f`` and ``Q = sum_i w̄_i q_i``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from .backbones import Mlp, build_backbone
from .config import ScorerConfig

__all__ = [
    "ORIENTATIONS",
    "MedIQAScorer",
    "ScorerOutput",
    "SwinLayer",
    "TransposedAttention",
    "orient",
    "slice_context",
]

_EPS = 1e-6

#: The eight orientations of the square as (quarter turns, mirrored), ordered so that the first 1, 2, 4 and 8
#: each form a group: the image; its mirror; their turns by 180 degrees; the quarter turns.
ORIENTATIONS: tuple[tuple[int, bool], ...] = (
    (0, False), (0, True), (2, False), (2, True), (1, False), (1, True), (3, False), (3, True)
)  # fmt: skip


def orient(images: torch.Tensor, turns: int, mirror: bool) -> torch.Tensor:
    """``[..., H, H]`` turned by ``turns`` quarter turns as ``torch.rot90(dims=(-2, -1))``, then mirrored left
    to right; written with flips and transposes, which every ONNX opset of the contract has."""
    for _ in range(turns % 4):
        images = images.flip(-1).transpose(-2, -1)
    return images.flip(-1) if mirror else images


class ScorerOutput(NamedTuple):
    """The four outputs of scorer contract v1 (also the ONNX output order)."""

    score: torch.Tensor  # [B] in 0..1
    slice_scores: torch.Tensor  # [B, S] in 0..1
    slice_weights: torch.Tensor  # [B, S], sum to 1 over S
    physics: torch.Tensor  # [B, K] in 0..1


class TransposedAttention(nn.Module):
    """MANIQA's transposed attention block (TAB): attention between channels, not between positions.

    For ``X in R^{C x N}`` (channels x positions), per head ``h`` over its ``C/H`` channels:
    ``q, k, v = X W_q, X W_k, X W_v`` (``W in R^{N x N}``, mixing positions as in MANIQA),
    ``A = softmax(tau_h * q̂ k̂^T)`` with L2-normalised rows ``q̂, k̂`` (Restormer) and a learned temperature,
    ``Y = X + A v``. ``A`` is ``C/H x C/H``, so the cost grows with channels, not with positions squared.
    """

    def __init__(self, channels: int, positions: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(positions, 3 * positions)
        self.proj = nn.Linear(positions, positions)
        self.temperature = nn.Parameter(torch.full((heads, 1, 1), 10.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C, L] -> [N, C, L]``."""
        n, c, length = x.shape
        qkv = self.qkv(x).reshape(n, self.heads, c // self.heads, 3, length)
        q = F.normalize(qkv[:, :, :, 0], dim=-1)
        k = F.normalize(qkv[:, :, :, 1], dim=-1)
        attn = torch.softmax(q @ k.transpose(-2, -1) * self.temperature, dim=-1)
        out = (attn @ qkv[:, :, :, 2]).reshape(n, c, length)
        return x + self.proj(out)


class WindowAttention(nn.Module):
    """Multi-head attention inside ``w x w`` windows with a learned relative position bias.

    ``A = softmax(q k^T / sqrt(d) + B_rel + M)``, ``M`` = -100 between tokens that a cyclic shift made
    neighbours but that are not neighbours in the image.
    """

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.bias_table, std=0.02)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"))
        rel = (coords.flatten(1)[:, :, None] - coords.flatten(1)[:, None, :]).permute(1, 2, 0) + window - 1
        self.bias_index: torch.Tensor
        self.register_buffer("bias_index", rel[..., 0] * (2 * window - 1) + rel[..., 1], persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x [N, nW, L, D]``, ``mask [nW, 1, L, L]`` (0 or -100) -> ``[N, nW, L, D]``."""
        n, nw, length, dim = x.shape
        qkv = self.qkv(x).reshape(n, nw, length, 3, self.heads, dim // self.heads).permute(3, 0, 1, 4, 2, 5)
        bias = self.bias_table[self.bias_index].permute(2, 0, 1)  # [H, L, L]
        attn = (qkv[0] * self.scale) @ qkv[1].transpose(-2, -1) + bias + mask
        out = torch.softmax(attn, dim=-1) @ qkv[2]  # [N, nW, H, L, d]
        return self.proj(out.transpose(2, 3).reshape(n, nw, length, dim))


class SwinLayer(nn.Module):
    """Swin transformer layer with prompt injection.

    ``x <- x + FC(p)``; ``x <- x + W-MSA(LN(x))`` (windows shifted by ``shift`` when nonzero);
    ``x <- x + MLP(LN(x))``.
    """

    def __init__(
        self, dim: int, heads: int, grid: int, window: int, shift: int, mlp_ratio: float, prompt_dim: int
    ) -> None:
        super().__init__()
        self.grid, self.window, self.shift = grid, window, shift
        self.prompt_fc = nn.Linear(prompt_dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.mask: torch.Tensor
        self.register_buffer("mask", self._shift_mask(), persistent=False)

    def _shift_mask(self) -> torch.Tensor:
        g, w, s = self.grid, self.window, self.shift
        n_win = (g // w) ** 2
        if not s:
            return torch.zeros(n_win, 1, w * w, w * w)
        region = torch.zeros(g, g)
        bands = (slice(0, g - w), slice(g - w, g - s), slice(g - s, g))
        for i, (rows, cols) in enumerate((r, c) for r in bands for c in bands):
            region[rows, cols] = i
        win = region.view(g // w, w, g // w, w).permute(0, 2, 1, 3).reshape(n_win, w * w)
        diff = win[:, None, :] - win[:, :, None]
        return torch.where(diff != 0, -100.0, 0.0).unsqueeze(1)

    def forward(self, x: torch.Tensor, prompt: torch.Tensor) -> torch.Tensor:
        """``x [N, G*G, D]``, ``prompt [N, P]`` -> ``[N, G*G, D]``."""
        g, w, s = self.grid, self.window, self.shift
        x = x + self.prompt_fc(prompt).unsqueeze(1)
        n, _, dim = x.shape
        h = self.norm1(x).view(n, g, g, dim)
        if s:
            h = torch.roll(h, shifts=(-s, -s), dims=(1, 2))
        h = h.view(n, g // w, w, g // w, w, dim).permute(0, 1, 3, 2, 4, 5).reshape(n, -1, w * w, dim)
        h = self.attn(h, self.mask)
        h = h.view(n, g // w, g // w, w, w, dim).permute(0, 1, 3, 2, 4, 5).reshape(n, g, g, dim)
        if s:
            h = torch.roll(h, shifts=(s, s), dims=(1, 2))
        x = x + h.reshape(n, g * g, dim)
        return x + self.mlp(self.norm2(x))


def slice_context(tokens: torch.Tensor, quadrants: int = 0) -> torch.Tensor:
    """The mean and standard deviation of each channel over a slice's tokens: ``[N, L, D] -> [N, 2 D]``,
    ``sigma = sqrt(mean_j (t_j - mean)^2 + eps)`` (the eps keeps the gradient finite on a flat slice).

    With ``quadrants`` (the side G of the token grid, ``L = G * G``, row-major), also the mean of each 2x2
    quadrant of the grid less the slice mean: ``[N, L, D] -> [N, 6 D]``.
    """
    mean = tokens.mean(1)
    spread = ((tokens - mean.unsqueeze(1)) ** 2).mean(1).add(_EPS).sqrt()
    if not quadrants:
        return torch.cat([mean, spread], dim=-1)
    half, d = quadrants // 2, tokens.shape[-1]
    quads = tokens.reshape(-1, 2, half, 2, half, d).mean(dim=(2, 4)).reshape(-1, 4, d) - mean.unsqueeze(1)
    return torch.cat([mean, spread, quads.flatten(1)], dim=-1)


class MedIQAScorer(nn.Module):
    """MedIQA scorer implementing ONNX scorer contract v1.

    ``forward(slices [B,S,3,224,224], prompt [B,P])`` returns :class:`ScorerOutput`:
    patch scores ``s_j = sigmoid(MLP_s(t_j) + g)`` and weights ``w_j = sigmoid(MLP_w(t_j))``, where
    ``g = MLP_g([mean_j t_j ; std_j t_j])`` with ``cfg.global_context`` (the mean and spread of the slice's
    tokens, channel by channel; its last layer starts at 0, so adding it keeps a trained model's output;
    ``cfg.context_quadrants`` adds the four quadrant means less the slice mean, :func:`slice_context`)
    and ``g = 0`` without,
    ``q = sum_j w_j s_j / (sum_j w_j + eps)`` (a convex combination, so 0..1);
    ``w̄ = softmax_S(Linear(mean_j t_j))``; ``Q = sum_i w̄_i q_i``;
    ``physics = sum_i w̄_i sigmoid(Linear(mean_j t_j))_i`` (K normalised physical parameters).

    With ``cfg.views`` V > 1 the slices are scored in the first V :data:`ORIENTATIONS` at once and averaged:
    ``q_i`` and the physics of a slice are the means over the views, the slice logits too (so
    ``w̄ = softmax_S(mean_v Linear(mean_j t_j^v))``), and ``Q = sum_i w̄_i q_i`` as before.
    """

    def __init__(self, cfg: ScorerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = build_backbone(cfg.backbone)
        grid = cfg.backbone.out_grid
        positions = grid * grid
        chans = (cfg.backbone.out_channels, cfg.dims[0])
        self.tabs = nn.ModuleList(
            nn.Sequential(*(TransposedAttention(c, positions, cfg.tab_heads) for _ in range(cfg.tab_blocks)))
            for c in chans
        )
        self.reduce = nn.ModuleList(nn.Linear(c, d) for c, d in zip(chans, cfg.dims, strict=True))
        shift = cfg.window // 2 if grid > cfg.window else 0
        self.stages = nn.ModuleList(
            nn.ModuleList(
                SwinLayer(dim, heads, grid, cfg.window, shift if i % 2 else 0, cfg.mlp_ratio, cfg.prompt_dim)
                for i in range(depth)
            )
            for dim, heads, depth in zip(cfg.dims, cfg.swin_heads, cfg.swin_depths, strict=True)
        )
        d = cfg.dims[1]
        self.norm = nn.LayerNorm(d)
        self.score_branch = nn.Sequential(
            nn.Linear(d, cfg.head_hidden), nn.GELU(), nn.Linear(cfg.head_hidden, 1)
        )
        self.weight_branch = nn.Sequential(
            nn.Linear(d, cfg.head_hidden), nn.GELU(), nn.Linear(cfg.head_hidden, 1)
        )
        self.context_branch: nn.Sequential | None = None
        if cfg.global_context:
            self.context_branch = nn.Sequential(
                nn.Linear((6 if cfg.context_quadrants else 2) * d, cfg.head_hidden),
                nn.GELU(),
                nn.Linear(cfg.head_hidden, 1),
            )
            nn.init.zeros_(self.context_branch[2].weight)
            nn.init.zeros_(self.context_branch[2].bias)
        self.slice_fc = nn.Linear(d, 1)
        self.physics_fc = nn.Linear(d, cfg.n_physics)

    def slice_features(self, images: torch.Tensor, prompt: torch.Tensor) -> torch.Tensor:
        """Tokens after the second Swin stage: ``[N,3,224,224], [N,P] -> [N, G*G, D2]``."""
        f = self.backbone(images).flatten(2)  # [N, C, G*G]
        for i, (tab, reduce, stage) in enumerate(zip(self.tabs, self.reduce, self.stages, strict=True)):
            f = tab(f if i == 0 else f.transpose(1, 2))
            f = reduce(f.transpose(1, 2))  # [N, G*G, D_i]
            for layer in stage:  # type: ignore[attr-defined]
                f = layer(f, prompt)
        return self.norm(f)

    def forward(self, slices: torch.Tensor, prompt: torch.Tensor) -> ScorerOutput:
        """See the class docstring."""
        b, s, v = slices.shape[0], slices.shape[1], self.cfg.views
        if v > 1:  # [V*B, S, ...], view-major: the views of one slice lie B*S images apart
            slices = torch.cat([orient(slices, t, m) for t, m in ORIENTATIONS[:v]], dim=0)
            prompt = prompt.repeat(v, 1)
        images = slices.flatten(0, 1)
        prompts = prompt.unsqueeze(1).expand(-1, s, -1).flatten(0, 1)
        tokens = self.slice_features(images, prompts)
        logits = self.score_branch(tokens)  # [N, G*G, 1]
        if self.context_branch is not None:
            grid = self.cfg.backbone.out_grid if self.cfg.context_quadrants else 0
            logits = logits + self.context_branch(slice_context(tokens, grid)).unsqueeze(1)
        s_patch = torch.sigmoid(logits).squeeze(-1)
        w_patch = torch.sigmoid(self.weight_branch(tokens)).squeeze(-1)
        q = (w_patch * s_patch).sum(1) / (w_patch.sum(1) + _EPS)
        pooled = tokens.mean(1)
        slice_logits = self.slice_fc(pooled)
        per_slice = torch.sigmoid(self.physics_fc(pooled))
        if v > 1:
            slice_logits = slice_logits.reshape(v, -1).mean(0)
            q = q.reshape(v, -1).mean(0)
            per_slice = per_slice.reshape(v, b * s, -1).mean(0)
        # with one view the traced graph is that of every model exported before views existed, whose
        # initializer names export/onnx_import.py finds by exporting the same graph again
        weights = torch.softmax(slice_logits.reshape(b, s), dim=1)
        slice_scores = q.reshape(b, s)
        score = (weights * slice_scores).sum(1)
        physics = (weights.unsqueeze(-1) * per_slice.reshape(b, s, -1)).sum(1)
        return ScorerOutput(score, slice_scores, weights, physics)
