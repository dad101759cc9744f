"""Blocks built around depthwise convolutions of several window sizes, written from their published
descriptions, for tests/test_depthwise_networks.py. Plain PyTorch: nothing here imports cute_dwconv.

- ConvNeXtBlock (Liu et al., "A ConvNet for the 2020s", CVPR 2022): a 7x7 depthwise conv (padding 3),
  LayerNorm over channels in channels-last order, Linear to 4C, GELU, Linear back to C, a per-channel
  layer scale (gamma), and the residual. The paper initialises gamma to 1e-6; the tests pass a larger
  value so that the branch shows in the output.
- InvertedResidual (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
  CVPR 2018): 1x1 expansion by t = 6 with BatchNorm and ReLU6, a 3x3 depthwise conv (stride 1 or 2)
  with BatchNorm and ReLU6, a linear 1x1 projection with BatchNorm; the residual when the stride is 1
  and the widths match. Module names follow torchvision's (conv.0 ... conv.7).
- RepLKBlock (Ding et al., "Scaling Up Your Kernels to 31x31: Revisiting Large Kernel Design in
  CNNs", CVPR 2022): BatchNorm, 1x1 conv-BN-ReLU, a 31x31 depthwise conv-BN (padding 15) plus a
  parallel 5x5 depthwise conv-BN (padding 2) summed (ReparamLargeKernelConv before re-parameterisation),
  ReLU, 1x1 conv-BN, and the residual. Module names follow the reference implementation
  (prelkb_bn, pw1, large_kernel.lkb_origin, large_kernel.small_conv, lk_nonlinear, pw2).
- MSCAN-T's block: tests/mscan.py's MSCABlock (SegNeXt), with its 5x5 depthwise conv, (1, K) and
  (K, 1) strips, and the MLP's 3x3 depthwise conv on the expanded channels.

DEPTHWISE_CONVS and STRIP_CONVS name, by hand, the layers a conversion should turn into
DepthwiseConv2d and StripConv2d (expected_conversions below gathers them for any of these blocks).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from mscan import MSCABlock


class ConvNeXtBlock(nn.Module):
    DEPTHWISE_CONVS = ["dwconv"]
    STRIP_CONVS: list = []

    def __init__(self, dim: int, layer_scale_init_value: float = 1e-6):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = (nn.Parameter(layer_scale_init_value * torch.ones(dim)) if layer_scale_init_value > 0
                      else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.dwconv(x)
        x = x.permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
        x = self.norm(x)
        x = self.pwconv1(x)
        x = self.act(x)
        x = self.pwconv2(x)
        if self.gamma is not None:
            x = self.gamma * x
        x = x.permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
        return shortcut + x


class InvertedResidual(nn.Module):
    STRIP_CONVS: list = []

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int = 6):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual: stride must be 1 or 2, got {stride}")
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list = []
        if expand_ratio != 1:
            layers += [nn.Conv2d(inp, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),  # depthwise
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, oup, 1, bias=False),  # linear bottleneck
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)
        self.DEPTHWISE_CONVS = ["conv.3" if expand_ratio != 1 else "conv.0"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


def conv_bn(in_channels, out_channels, kernel_size, stride, padding, groups, dilation=1) -> nn.Sequential:
    return nn.Sequential(OrderedDict(
        conv=nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias=False),
        bn=nn.BatchNorm2d(out_channels),
    ))


def conv_bn_relu(in_channels, out_channels, kernel_size, stride, padding, groups, dilation=1) -> nn.Sequential:
    result = conv_bn(in_channels, out_channels, kernel_size, stride, padding, groups, dilation)
    result.add_module("nonlinear", nn.ReLU())
    return result


class ReparamLargeKernelConv(nn.Module):
    """The training-time form: a large depthwise conv-BN and a small one beside it, summed."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, groups, small_kernel):
        super().__init__()
        self.lkb_origin = conv_bn(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups)
        self.small_conv = conv_bn(in_channels, out_channels, small_kernel, stride, small_kernel // 2, groups)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.lkb_origin(inputs) + self.small_conv(inputs)


class RepLKBlock(nn.Module):
    DEPTHWISE_CONVS = ["large_kernel.lkb_origin.conv", "large_kernel.small_conv.conv"]
    STRIP_CONVS: list = []

    def __init__(self, in_channels: int, dw_channels: int, block_lk_size: int = 31, small_kernel: int = 5):
        super().__init__()
        self.pw1 = conv_bn_relu(in_channels, dw_channels, 1, 1, 0, groups=1)
        self.pw2 = conv_bn(dw_channels, in_channels, 1, 1, 0, groups=1)
        self.large_kernel = ReparamLargeKernelConv(dw_channels, dw_channels, block_lk_size, 1, dw_channels,
                                                   small_kernel)
        self.lk_nonlinear = nn.ReLU()
        self.prelkb_bn = nn.BatchNorm2d(in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.prelkb_bn(x)
        out = self.pw1(out)
        out = self.large_kernel(out)
        out = self.lk_nonlinear(out)
        out = self.pw2(out)
        return x + out


# tests/mscan.py's block, described from here: its attention's 5x5 (conv0) and the MLP's 3x3 on the
# expanded channels are depthwise windows; SegNeXt's six band convolutions are strips.
MSCA_DEPTHWISE_CONVS = ["attn.spatial_gating_unit.conv0", "mlp.dwconv"]
MSCA_STRIP_CONVS = [f"attn.spatial_gating_unit.{n}" for n in
                    ("conv0_1", "conv0_2", "conv1_1", "conv1_2", "conv2_1", "conv2_2")]


def expected_conversions(block: nn.Module):
    """(depthwise, strips): the qualified names a conversion should turn into DepthwiseConv2d and
    StripConv2d, each in named_modules() order, as the block declares them."""
    if isinstance(block, MSCABlock):
        depthwise, strips = MSCA_DEPTHWISE_CONVS, MSCA_STRIP_CONVS
    else:
        depthwise, strips = block.DEPTHWISE_CONVS, block.STRIP_CONVS
    order = {name: i for i, (name, _) in enumerate(block.named_modules())}
    missing = [n for n in depthwise + strips if n not in order]
    if missing:
        raise KeyError(f"declared layers that do not exist: {missing}")
    return sorted(depthwise, key=order.__getitem__), sorted(strips, key=order.__getitem__)
