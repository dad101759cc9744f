"""SegNeXt's MSCAN backbone (Guo et al., "SegNeXt: Rethinking Convolutional Attention Design for
Semantic Segmentation", NeurIPS 2022), written from the paper's description for the network tests
and profiling/networks.py. Plain PyTorch: nothing here imports cute_dwconv.

- Stem: two 3x3 stride-2 convolutions with BatchNorm, a GELU between them, to 1/4 resolution.
- Four stages; each later one opens with a 3x3 stride-2 convolution and BatchNorm.
- Block: x + ls1 * Attn(BN(x)), then x + ls2 * MLP(BN(x)), with layer scales initialised to 1e-2.
  - Attn: 1x1, GELU, the multi-scale convolutional attention (strip_blocks.SegNeXtAttention), 1x1,
    plus its input.
  - MLP: 1x1 up by the stage's ratio, a depthwise 3x3 on the expanded channels, GELU, 1x1 down.
- Each stage ends with a LayerNorm over channels; the four stage outputs are the backbone's output.

MSCAN-T: widths 32, 64, 160, 256; depths 3, 3, 5, 2; MLP ratios 8, 8, 4, 4. The layers run in the
memory format of their input, so a channels_last model on a channels_last input stays channels_last.

`lska_backbone(k)` is the same backbone with LSKA(k) (strip_blocks.LSKA) as the attention's gating
unit, the way the LSKA paper puts it into VAN, whose block, widths, depths and MLP ratios MSCAN-T
shares (VAN's stem is one 7x7 stride-4 convolution; this one keeps MSCAN's).
"""

from __future__ import annotations

import torch
from torch import nn

from strip_blocks import LSKA, SegNeXtAttention, depthwise


class SpatialAttention(nn.Module):
    def __init__(self, dim: int, gating=SegNeXtAttention):
        super().__init__()
        self.proj_1 = nn.Conv2d(dim, dim, 1)
        self.activation = nn.GELU()
        self.spatial_gating_unit = gating(dim)
        self.proj_2 = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj_2(self.spatial_gating_unit(self.activation(self.proj_1(x)))) + x


class Mlp(nn.Module):
    def __init__(self, dim: int, ratio: int):
        super().__init__()
        hidden = dim * ratio
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.dwconv = depthwise(hidden, 3, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.dwconv(self.fc1(x))))


class MSCABlock(nn.Module):
    def __init__(self, dim: int, mlp_ratio: int, gating=SegNeXtAttention):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.attn = SpatialAttention(dim, gating)
        self.norm2 = nn.BatchNorm2d(dim)
        self.mlp = Mlp(dim, mlp_ratio)
        self.layer_scale_1 = nn.Parameter(torch.full((dim, 1, 1), 1e-2))
        self.layer_scale_2 = nn.Parameter(torch.full((dim, 1, 1), 1e-2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.layer_scale_1 * self.attn(self.norm1(x))
        return x + self.layer_scale_2 * self.mlp(self.norm2(x))


def conv_bn(in_channels: int, out_channels: int) -> list:
    return [nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1), nn.BatchNorm2d(out_channels)]


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of an (N, C, H, W) tensor, keeping its memory format."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        return y.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


class MSCAN(nn.Module):
    def __init__(self, widths=(32, 64, 160, 256), depths=(3, 3, 5, 2), mlp_ratios=(8, 8, 4, 4),
                 in_channels: int = 3, gating=SegNeXtAttention):
        super().__init__()
        self.stages = nn.ModuleList()
        for i, (width, depth, ratio) in enumerate(zip(widths, depths, mlp_ratios)):
            if i == 0:
                embed = nn.Sequential(*conv_bn(in_channels, width // 2), nn.GELU(), *conv_bn(width // 2, width))
            else:
                embed = nn.Sequential(*conv_bn(widths[i - 1], width))
            blocks = [MSCABlock(width, ratio, gating) for _ in range(depth)]
            self.stages.append(nn.Sequential(embed, *blocks, ChannelLayerNorm(width)))

    def forward(self, x: torch.Tensor) -> list:
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs


def mscan_t() -> MSCAN:
    return MSCAN()


def lska_backbone(kernel_size: int = 35) -> MSCAN:
    return MSCAN(gating=lambda dim: LSKA(dim, kernel_size))


def backbone_loss(outs) -> torch.Tensor:
    """A scalar from every stage's output, as a segmentation head's loss would depend on all four."""
    return sum(o.float().square().mean() for o in outs)
