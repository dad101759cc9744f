"""Small blocks built from depthwise strip convolutions, written from their published descriptions,
for the tests and profiling/bench_strip.py. Plain PyTorch: nothing here imports cute_dwconv.

- SegNeXtAttention: SegNeXt's multi-scale convolutional attention (Guo et al., "SegNeXt: Rethinking
  Convolutional Attention Design for Semantic Segmentation", NeurIPS 2022): a 5x5 depthwise conv, three
  branches of (1, K) then (K, 1) depthwise strips for K = 7, 11, 21, summed with their input, a 1x1
  conv, and the result multiplies the block's input.
- InceptionNeXtMixer: InceptionNeXt's token mixer (Yu et al., "InceptionNeXt: When Inception Meets
  ConvNeXt", CVPR 2024): the channels split into an identity part, a 3x3 depthwise branch and
  (1, K) and (K, 1) depthwise band branches, concatenated back.
- LSKA: large separable kernel attention (Lau et al., "Large Separable Kernel Attention: Rethinking
  the Large Kernel Attention Design in CNN", 2023): a k x k depthwise kernel with dilation d as a
  (1, 2d-1) -> (2d-1, 1) depthwise pair, then a (1, k // d) -> (k // d, 1) pair with dilation d, a
  1x1 conv, and the result multiplies the block's input.
- StripNet: a tiny classifier using both, plus convolutions that are not depthwise strips (dense,
  grouped, reflect-padded, 3x3 depthwise, a subclass of nn.Conv2d), to count what a conversion takes.

Module and parameter names follow the reference implementations (conv0, conv0_1, ..., conv3;
dwconv_hw, dwconv_w, dwconv_h), so state_dicts look like the originals'.
"""

from __future__ import annotations

import torch
from torch import nn


def depthwise(channels: int, kernel_size, padding, **kwargs) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, kernel_size, padding=padding, groups=channels, **kwargs)


class SegNeXtAttention(nn.Module):
    """SegNeXt's MSCA: a = DW5x5(x); a + sum_K DW(K,1)(DW(1,K)(a)) for K in 7, 11, 21; 1x1; times x."""

    STRIP_CONVS = ["conv0_1", "conv0_2", "conv1_1", "conv1_2", "conv2_1", "conv2_2"]

    def __init__(self, dim: int):
        super().__init__()
        self.conv0 = depthwise(dim, 5, 2)
        self.conv0_1 = depthwise(dim, (1, 7), (0, 3))
        self.conv0_2 = depthwise(dim, (7, 1), (3, 0))
        self.conv1_1 = depthwise(dim, (1, 11), (0, 5))
        self.conv1_2 = depthwise(dim, (11, 1), (5, 0))
        self.conv2_1 = depthwise(dim, (1, 21), (0, 10))
        self.conv2_2 = depthwise(dim, (21, 1), (10, 0))
        self.conv3 = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x
        attn = self.conv0(x)
        attn_0 = self.conv0_2(self.conv0_1(attn))
        attn_1 = self.conv1_2(self.conv1_1(attn))
        attn_2 = self.conv2_2(self.conv2_1(attn))
        attn = attn + attn_0 + attn_1 + attn_2
        attn = self.conv3(attn)
        return attn * u


class InceptionNeXtMixer(nn.Module):
    """InceptionNeXt's InceptionDWConv2d: split C into (C - 3g, g, g, g), g = int(C * branch_ratio);
    identity, 3x3 depthwise, (1, K) depthwise, (K, 1) depthwise; concatenate. The branches get the
    channel-slice views torch.split returns."""

    STRIP_CONVS = ["dwconv_w", "dwconv_h"]

    def __init__(self, channels: int, band_kernel_size: int = 11, branch_ratio: float = 0.125,
                 square_kernel_size: int = 3):
        super().__init__()
        gc = int(channels * branch_ratio)
        if gc < 1:
            raise ValueError(f"InceptionNeXtMixer: {channels} channels * branch_ratio {branch_ratio} leaves no branch")
        self.dwconv_hw = depthwise(gc, square_kernel_size, square_kernel_size // 2)
        self.dwconv_w = depthwise(gc, (1, band_kernel_size), (0, band_kernel_size // 2))
        self.dwconv_h = depthwise(gc, (band_kernel_size, 1), (band_kernel_size // 2, 0))
        self.split_indexes = (channels - 3 * gc, gc, gc, gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_id, x_hw, x_w, x_h = torch.split(x, self.split_indexes, dim=1)
        return torch.cat((x_id, self.dwconv_hw(x_hw), self.dwconv_w(x_w), self.dwconv_h(x_h)), dim=1)


class LSKA(nn.Module):
    """LSKA with kernel size k: d = 2 for k <= 11, else 3; DW(1, 2d-1), DW(2d-1, 1), DW(1, k//d) and
    DW(k//d, 1) with dilation d and padding (k//d // 2) * d, a 1x1; times the input. k = 23 gives the
    (1, 5)/(5, 1) and dilated (1, 7)/(7, 1) pairs, k = 35 dilated (1, 11)/(11, 1), k = 53 (1, 17)/(17, 1)."""

    STRIP_CONVS = ["conv0h", "conv0v", "conv_spatial_h", "conv_spatial_v"]

    def __init__(self, dim: int, kernel_size: int = 35):
        super().__init__()
        d = 2 if kernel_size <= 11 else 3
        local, spatial = 2 * d - 1, kernel_size // d
        reach = (spatial // 2) * d
        self.conv0h = depthwise(dim, (1, local), (0, local // 2))
        self.conv0v = depthwise(dim, (local, 1), (local // 2, 0))
        self.conv_spatial_h = depthwise(dim, (1, spatial), (0, reach), dilation=d)
        self.conv_spatial_v = depthwise(dim, (spatial, 1), (reach, 0), dilation=d)
        self.conv1 = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attn = self.conv0v(self.conv0h(x))
        attn = self.conv_spatial_v(self.conv_spatial_h(attn))
        return x * self.conv1(attn)


class SubclassedConv2d(nn.Conv2d):
    """A user's subclass of nn.Conv2d: not exactly nn.Conv2d, so a conversion leaves it alone."""


class StripNet(nn.Module):
    """A tiny classifier: stem, strip convs among convs that are not depthwise strips, SegNeXt
    attention, an InceptionNeXt mixer, BatchNorm/GELU, pooling and a linear head."""

    def __init__(self, channels: int = 16, classes: int = 10, in_channels: int = 3):
        super().__init__()
        c = channels
        self.stem = nn.Conv2d(in_channels, c, 3, padding=1, bias=False)           # dense (BatchNorm next)
        self.stem_norm = nn.BatchNorm2d(c)
        self.grouped = nn.Conv2d(c, c, (7, 1), padding=(3, 0), groups=c // 2)     # grouped, not depthwise
        self.reflect = depthwise(c, (1, 5), (0, 2), padding_mode="reflect")       # not zero padding
        self.square = depthwise(c, 3, 1)                                          # 3x3 depthwise
        self.custom = SubclassedConv2d(c, c, (5, 1), padding=(2, 0), groups=c)    # not exactly nn.Conv2d
        self.multiplier = nn.Conv2d(c, 2 * c, (1, 3), padding=(0, 1), groups=c)   # out != in channels
        self.merge = nn.Conv2d(2 * c, c, 1)                                       # dense 1x1
        self.down = depthwise(c, (3, 1), (1, 0), stride=(2, 1), bias=False)       # strip: strided, no bias
        self.same = depthwise(c, (1, 4), "same", dilation=(1, 3))                 # strip: "same", odd total padding
        self.attention = SegNeXtAttention(c)                                      # 6 strips
        self.norm = nn.BatchNorm2d(c)
        self.mixer = InceptionNeXtMixer(c)                                        # 2 strips
        self.act = nn.GELU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c, classes)

    STRIP_CONVS = (["down", "same"] + [f"attention.{n}" for n in SegNeXtAttention.STRIP_CONVS]
                   + [f"mixer.{n}" for n in InceptionNeXtMixer.STRIP_CONVS])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.stem_norm(self.stem(x)))
        y = y + self.grouped(y)
        y = self.reflect(y)
        y = self.act(self.square(y)) + self.custom(y)
        y = self.merge(self.act(self.multiplier(y)))
        y = self.same(self.down(y))
        y = y + self.act(self.norm(self.attention(y)))
        y = self.mixer(y)
        return self.head(self.pool(y).flatten(1))


def strip_conv_names(model: nn.Module) -> list[str]:
    """The qualified names of the depthwise strip convolutions a conversion should take, in
    named_modules() order, as each block declares them in STRIP_CONVS (a list written by hand, not
    derived from a rule, so that a test can check a conversion's decisions against it). A block's
    list names everything below it; blocks inside a declaring block are not asked again."""
    names, declared_at = [], []
    for prefix, module in model.named_modules():
        if any(prefix.startswith(owner + ".") or owner == "" for owner in declared_at):
            continue
        declared = getattr(type(module), "STRIP_CONVS", None)
        if declared is not None:
            declared_at.append(prefix)
            names += [f"{prefix}.{n}" if prefix else n for n in declared]
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    missing = [n for n in names if n not in order]
    if missing:
        raise KeyError(f"STRIP_CONVS names modules that do not exist: {missing}")
    return sorted(names, key=order.__getitem__)


def strip_conv_count(model: nn.Module) -> int:
    return len(strip_conv_names(model))


def is_depthwise_strip(module: nn.Module) -> bool:
    """The rule a conversion applies: exactly nn.Conv2d, depthwise (groups == in == out channels), a
    (K, 1) or (1, K) kernel, zero padding."""
    return (type(module) is nn.Conv2d and module.groups == module.in_channels == module.out_channels
            and 1 in tuple(module.kernel_size) and module.padding_mode == "zeros")
