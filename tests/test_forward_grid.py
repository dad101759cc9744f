"""Every kernel path against nn.Conv2d's float64 answer over a grid of K, stride, padding,
dilation and bias, into poisoned outputs."""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import (PATHS, assert_matches, forward_table, poisoned, random_problem, reference, reference_padded,
                      requires_cuda, run_path)

pytestmark = [requires_cuda, pytest.mark.gpu]

KS = [1, 2, 3, 5, 7, 11, 21, 31]
STRIDES = [1, 2, 3, 4]
PADDINGS = [0, 1, 3, 12, 40]
DILATIONS = [1, 2, 3, 4]
ARG_GRID = list(itertools.product(KS, STRIDES, PADDINGS, DILATIONS, [False, True]))

# H odd; W a multiple of 8 (so every tiled path can stage it) that leaves a partial last strip.
GRID_SHAPE = (2, 3, 45, 264)


def _valid(k, stride, padding, dilation, h=GRID_SHAPE[2]):
    return h + 2 * padding - dilation * (k - 1) - 1 >= 0


def general_ring_bytes(k, stride, dilation, dtype):
    """The general (K, 1) kernel's shared-memory ring (FwdTiledConfig<T, 0, 0, 0>): steps of four
    output rows, a 32-lane strip of 16-byte vectors, one stage computing, the halo's, two ahead."""
    element = torch.empty((), dtype=dtype).element_size()
    vec = 16 // element
    stage_rows = 4 * stride
    halo = max(0, (k - 1) * dilation + 1 - stride)
    stages = 1 + -(-halo // stage_rows) + 2
    return stages * stage_rows * (32 * vec * stride + vec) * element


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("path", PATHS)
def test_argument_grid(path, dtype):
    seed = random.randrange(2**31)
    generator = torch.Generator(device="cuda").manual_seed(seed)
    table = forward_table()
    ran, refused = 0, []
    for k, stride, padding, dilation, with_bias in ARG_GRID:
        if not _valid(k, stride, padding, dilation):
            continue
        if path == "table" and (k, stride, dilation) not in table:
            continue
        args = (k, stride, padding, dilation, with_bias)
        x, weight, bias = random_problem(GRID_SHAPE, k, dtype, "cuda", with_bias, generator)
        try:
            out = run_path(path, x, weight, bias, stride, padding, dilation)
        except RuntimeError as error:
            if path == "general" and "cannot take this call" in str(error):
                refused.append(args)  # its shared-memory ring would not fit
                continue
            raise
        expected = reference(x, weight, bias, stride, padding, dilation)
        try:
            assert_matches(out, expected, dtype)
        except AssertionError as error:
            raise AssertionError(f"path={path} dtype={dtype} (K, stride, padding, dilation, bias)={args} "
                                 f"seed={seed}: {error}") from None
        ran += 1
    assert ran > 0
    # The general tiled kernel may only refuse rings that outgrow the shared memory a block may have
    # on this device (or under CUTE_DWCONV_DEVICE_LIMITS, the emulated one's).
    smem_per_block = torch.ops.cute_dwconv._planning_limits(torch.cuda.current_device())[1]
    for k, stride, padding, dilation, _ in refused:
        ring = general_ring_bytes(k, stride, dilation, dtype)
        assert ring > smem_per_block, f"general path refused {(k, stride, padding, dilation)}: ring {ring} B"


@pytest.mark.parametrize("path", ["auto", "direct"])
def test_float64(path):
    x, weight, bias = random_problem((2, 3, 33, 50), 5, torch.float64, "cuda", True)
    for stride, padding, dilation in [(1, 0, 1), (1, 2, 1), (2, 3, 2), (3, 1, 1)]:
        out = run_path(path, x, weight, bias, stride, padding, dilation)
        assert_matches(out, reference(x, weight, bias, stride, padding, dilation), torch.float64)


def test_forced_tiled_paths_refuse_float64():
    x, weight, bias = random_problem((1, 2, 16, 16), 3, torch.float64, "cuda", False)
    for path in ["table", "general", "fixed_shape"]:
        with pytest.raises(RuntimeError, match="cannot take this call"):
            run_path(path, x, weight, bias, 1, 1, 1)


def test_fixed_shape_path_matches_dynamic():
    """The fully static headline instantiation agrees with the dynamic one, bit for bit."""
    x, weight, _ = random_problem((2, 8, 512, 512), 3, torch.float32, "cuda", False)
    fixed = run_path("fixed_shape", x, weight, None, 1, 0, 1)
    dynamic = run_path("table", x, weight, None, 1, 0, 1)
    assert_matches(fixed, reference(x, weight, None, 1, 0, 1), torch.float32)
    assert torch.equal(fixed, dynamic)
    with pytest.raises(RuntimeError, match="cannot take this call"):
        run_path("fixed_shape", x, weight, None, 1, 1, 1)  # padding differs from the fixed shape


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_channels_last_table(dtype):
    """The channels_last tiles, forced, on shapes whose W*C is and is not a multiple of a strip, and
    one whose rows of W*C elements are 8-byte but not 16-byte aligned (staged with 8-byte copies)."""
    from conftest import forward_channels_last_table, run_path_channels_last

    entries = sorted(forward_channels_last_table())
    assert entries
    rows_8_byte_aligned = (2, 6, 19, 7) if dtype == torch.float32 else (2, 4, 19, 11)  # W*C = 42 or 44
    for shape in [(2, 8, 37, 40), (1, 24, 20, 7), (3, 16, 9, 32), rows_8_byte_aligned]:
        for k, stride, dilation in entries:
            for padding, with_bias in [(0, False), (1, True), (k * dilation, True)]:
                if shape[2] + 2 * padding < dilation * (k - 1) + 1:
                    continue
                x, weight, bias = random_problem(shape, k, dtype, "cuda", with_bias)
                out = run_path_channels_last("table", x, weight, bias, stride, padding, dilation)
                assert out.is_contiguous(memory_format=torch.channels_last)
                assert_matches(out, reference(x, weight, bias, stride, padding, dilation), dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_channels_last_narrow_rows(dtype):
    """(1, K) strips of channels_last tensors run down each image row on the channels_last tiles;
    rows of few channels share a strip, several image rows side by side. Forced, for every entry:
    channel counts that fill a strip with whole rows and ones that leave lanes over, image-row
    counts that leave the last group part full, and a channel slice of wider pixels (InceptionNeXt's
    bands)."""
    from conftest import forward_channels_last_table

    generator = torch.Generator(device="cuda").manual_seed(random.randrange(2**31))
    for k, _, dilation in sorted(forward_channels_last_table()):
        for c, (n, h), padding, extra in [(4, (3, 7), 0, 0), (12, (2, 5), k // 2 * dilation, 0), (20, (1, 9), 1, 0),
                                          (36, (2, 3), (k - 1) * dilation, 0), (64, (1, 5), k // 2 * dilation, 0),
                                          (12, (2, 3), k // 2 * dilation, 84)]:
            w = max(dilation * (k - 1) + 1 - 2 * padding, 1) + 6
            x = torch.randn((n, c + extra, h, w), device="cuda", generator=generator).to(dtype)
            x = x.contiguous(memory_format=torch.channels_last)[:, :c]
            weight = torch.randn((c, 1, 1, k), device="cuda", generator=generator).to(dtype)
            bias = torch.randn((c,), device="cuda", generator=generator).to(dtype)
            args = ([1, 1], [0, padding], [1, dilation])
            expected = reference(x, weight, bias, *args)
            out = poisoned(expected.shape, dtype, "cuda", torch.channels_last)
            torch.ops.cute_dwconv._strip_conv2d_path_out(x, weight, bias, *args, "table", out)
            assert_matches(out, expected, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("path", ["table", "general"])
def test_padded_rows_past_a_whole_strip(path, dtype):
    """W a multiple of a strip, so the padded row ends a few columns past the last whole strip (the
    columns the last strip's blocks sum from global memory), and a narrow image in a padding wider
    than a strip on each side (whole strips of bias-only columns)."""
    table = forward_table()
    cases = [((2, 3, 29, 256), padding, stride) for padding in (1, 2, 3, 5, 12) for stride in (1, 2)]
    cases += [((1, 2, 40, 128), 1, 1), ((1, 2, 20, 8), 150, 1), ((1, 2, 20, 8), 150, 2)]
    for shape, padding, stride in cases:
        for k in (3, 5):
            if path == "table" and (k, stride, 1) not in table:
                continue
            x, weight, bias = random_problem(shape, k, dtype, "cuda", True)
            out = run_path(path, x, weight, bias, stride, padding, 1)
            assert_matches(out, reference(x, weight, bias, stride, padding, 1), dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("path", ["table", "general"])
def test_strips_starting_at_the_first_image_column(path, dtype):
    """Column padding wide enough that the strips start past the bias-only columns (K=21 with 10
    columns of padding on 128-wide rows), next to cases just short of it, with every stride the
    table has and partial segments of rows."""
    table = forward_table()
    cases = [((2, 3, 41, 128), 21, 1, 10, 1), ((2, 3, 41, 128), 21, 1, 8, 1), ((2, 3, 41, 128), 21, 1, 12, 1),
             ((2, 3, 29, 256), 9, 1, 4, 1), ((2, 3, 29, 256), 9, 1, 6, 1), ((1, 2, 37, 512), 7, 1, 6, 2),
             ((2, 3, 29, 256), 5, 2, 4, 1), ((2, 3, 29, 256), 7, 2, 8, 1), ((2, 2, 30, 128), 3, 1, 2, 1)]
    for shape, k, stride, padding, dilation in cases:
        if path == "table" and (k, stride, dilation) not in table:
            continue
        for with_bias in (False, True):
            x, weight, bias = random_problem(shape, k, dtype, "cuda", with_bias)
            out = run_path(path, x, weight, bias, stride, padding, dilation)
            try:
                assert_matches(out, reference(x, weight, bias, stride, padding, dilation), dtype)
            except AssertionError as error:
                raise AssertionError(f"{shape} K={k} stride={stride} padding={padding} "
                                     f"dilation={dilation} bias={with_bias}: {error}") from None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("path", ["table", "general"])
def test_rows_only_8_byte_aligned(path, dtype):
    """Rows a multiple of 8 bytes but not of 16 (130 float32 or 132 half-width elements, and a view
    starting 8 bytes into wider rows): the tiled paths stage them with 8-byte copies, under every
    column shift, past a whole strip and with stride 2. Forcing the path proves they take them."""
    table = forward_table()
    width = 130 if dtype == torch.float32 else 132
    for k, stride, padding in itertools.product((3, 5), (1, 2), (0, 1, 2, 3, 5)):
        if path == "table" and (k, stride, 1) not in table:
            continue
        for sliced in (False, True):
            if sliced:  # rows of width + 16 bytes (still 8-byte aligned), first element 8 bytes in
                skip = 8 // dtype.itemsize
                wide, weight, bias = random_problem((2, 3, 29, width + 2 * skip), k, dtype, "cuda", True)
                x = wide[..., skip:skip + width]
            else:
                x, weight, bias = random_problem((2, 3, 29, width), k, dtype, "cuda", True)
            out = run_path(path, x, weight, bias, stride, padding, 1)
            try:
                assert_matches(out, reference(x, weight, bias, stride, padding, 1), dtype)
            except AssertionError as error:
                raise AssertionError(f"K={k} stride={stride} padding={padding} sliced={sliced}: {error}") from None


_LONG_TILES_CHECK = """
import torch
import cute_dwconv
from conftest import assert_matches, forward_table, random_problem, reference, run_path

table = forward_table()
checked = 0
for dtype in (torch.float32, torch.float16, torch.bfloat16):
    strip = 16 // dtype.itemsize * 32  # output columns per strip
    cases = [  # shape, K, stride, padding, dilation
        ((1, 2, 300, strip), 3, 1, 1, 1),   # one strip; the column past it read from the ring
        ((1, 2, 300, 128), 21, 1, 10, 1),   # bias-only columns beside the strip (float32)
        ((1, 2, 300, 256), 3, 2, 1, 1),
        ((1, 2, 300, 512), 7, 1, 6, 2),
    ]
    if dtype == torch.float32:  # 8-byte rows; the columns past the strip read from global memory
        cases.append(((1, 2, 300, 130), 3, 1, 0, 1))
    for path in ("table", "general"):
        for shape, k, stride, padding, dilation in cases:
            if path == "table" and (k, stride, dilation) not in table:
                continue
            x, weight, bias = random_problem(shape, k, dtype, "cuda", True)
            out = run_path(path, x, weight, bias, stride, padding, dilation)
            assert_matches(out, reference(x, weight, bias, stride, padding, dilation), dtype)
            checked += 1
    # (1, K): each tile's steps cycle through the ring's stages several times.
    for width, k, padding in ((strip, 7, 3), (strip + 40, 21, 10), (strip, 11, 15)):
        dilation = 3 if padding == 15 else 1
        x, _, bias = random_problem((1, 2, 300, width), k, dtype, "cuda", True)
        weight = torch.randn(2, 1, 1, k, device="cuda").to(dtype)
        out = cute_dwconv.strip_conv2d(x, weight, bias, 1, (0, padding), dilation)
        assert_matches(out, reference(x, weight, bias, 1, (0, padding), dilation), dtype)
        checked += 1
print("checked", checked)
"""


def test_tiles_long_enough_to_wrap_the_ring():
    """Tiles of ten steps, forced through the tiling knobs (read once per process, hence a fresh
    one): each step's window and the columns outside the strip then wrap around the ring, and the
    (1, K) tiles' steps, on the FP32 lanes and on tensor cores, cycle through its stages."""
    tests = str(Path(__file__).resolve().parent)
    env = dict(os.environ, CUTE_DWCONV_TILE_WAVES="1", CUTE_DWCONV_HORIZONTAL_WAVES="1",
               CUTE_DWCONV_HORIZONTAL_MMA_WAVES="1", CUTE_DWCONV_MIN_SEGMENT_STEPS="8",
               PYTHONPATH=os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", _LONG_TILES_CHECK], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "checked" in done.stdout and int(done.stdout.split()[-1]) >= 20, done.stdout


@pytest.mark.parametrize("stride", [1, 2])
def test_float32_row_windows_at_every_word_offset(stride):
    """The float32 (1, K) lanes read their windows as aligned 16-byte quads and pick the words out by
    the window's offset past a quad, which the left padding sets (0 to 3 words): every table entry of
    the column stride under each of the four, beside right paddings that leave a partial strip, into
    poisoned outputs."""
    seed = random.randrange(2**31)
    generator = torch.Generator(device="cuda").manual_seed(seed)
    for k, entry_stride, dilation in sorted(forward_table()):
        if entry_stride != stride:
            continue
        for left in range(4):
            right = (5 * left + 1) % 7
            x = torch.randn((2, 3, 9, 264), device="cuda", generator=generator)
            weight = torch.randn((3, 1, 1, k), device="cuda", generator=generator)
            bias = torch.randn(3, device="cuda", generator=generator)
            expected = reference_padded(x, weight, bias, (1, stride), (0, 0, left, right), (1, dilation))
            out = poisoned(expected.shape, torch.float32, "cuda")
            torch.ops.cute_dwconv._strip_conv2d_path_out(x, weight, bias, [1, stride], [0, 0, left, right],
                                                         [1, dilation], "table", out)
            context = f"K={k} stride={stride} dilation={dilation} padding=({left}, {right}) seed={seed}"
            assert not torch.isnan(out).any(), f"{context}: unwritten output elements"
            assert_matches(out, expected, torch.float32)
