"""The architecture flags of build_arch.py: one PTX for the oldest listed GPU, machine code for each.

Needs no GPU and builds nothing; imports build_arch.py by path, so it also runs before the extension
is built: python -m pytest --noconftest tests/test_build_arch.py
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "build_arch.py"
_SPEC = importlib.util.spec_from_file_location("build_arch", _PATH)
build_arch = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(build_arch)


def test_default_list_shares_the_sm86_ptx():
    assert build_arch.shared_ptx_gencode("8.6;9.0+PTX") == [
        "-gencode=arch=compute_86,code=sm_86",
        "-gencode=arch=compute_86,code=sm_90",
        "-gencode=arch=compute_86,code=compute_86",
    ]


def test_order_spaces_and_repeats_do_not_matter():
    assert build_arch.shared_ptx_gencode(" 9.0 8.6;8.9 ;8.6") == [
        "-gencode=arch=compute_86,code=sm_86",
        "-gencode=arch=compute_86,code=sm_89",
        "-gencode=arch=compute_86,code=sm_90",
    ]


def test_single_architecture_without_ptx():
    assert build_arch.shared_ptx_gencode("10.0") == ["-gencode=arch=compute_100,code=sm_100"]


def test_ptx_on_any_entry_embeds_the_shared_ptx():
    flags = build_arch.shared_ptx_gencode("8.6+PTX;12.0")
    assert flags[-1] == "-gencode=arch=compute_86,code=compute_86"
    assert "-gencode=arch=compute_86,code=sm_120" in flags


@pytest.mark.parametrize("arch_list", ["", "  ", "Ampere", "8.6;Hopper", "9.0a", "8.6;10.0f", "86", "8.6+ptx"])
def test_other_lists_are_left_to_torch(arch_list):
    assert build_arch.shared_ptx_gencode(arch_list) is None


def test_every_flag_names_an_architecture():
    # torch adds its own per-architecture flags unless one of the user's flags contains "arch".
    assert all("arch" in flag for flag in build_arch.shared_ptx_gencode("8.6;9.0+PTX"))
