"""The compiler guard in build_config.py, on made-up sysconfig dictionaries and environments.

Needs no GPU and builds nothing. It imports build_config.py by path, not cute_dwconv, so it also
runs before the extension is built: python -m pytest --noconftest tests/test_build_config.py
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "build_config.py"
_SPEC = importlib.util.spec_from_file_location("build_config", _PATH)
build_config = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(build_config)

# A distribution's Python: the C++ runtime is linked dynamically.
CLEAN = {
    "CC": "gcc",
    "CXX": "g++",
    "LDSHARED": "gcc -shared -L/opt/python/lib -Wl,-rpath,/opt/python/lib",
    "LDCXXSHARED": "g++ -shared",
    "LDFLAGS": "-L/opt/python/lib -Wl,-rpath,/opt/python/lib",
}
# A standalone Python build of the kind that links libstdc++ and libgcc into everything it builds.
STATIC = {
    "CC": "clang -pthread",
    "CXX": "clang++ -pthread",
    "LDSHARED": "clang -pthread -shared -static-libgcc -L/install/lib",
    "LDCXXSHARED": "clang++ -pthread -shared -static-libstdc++ -static-libgcc",
    "LDFLAGS": "-L/install/lib -static-libgcc",
}
SYSTEM_ENV = {
    "CC": "/usr/bin/gcc",
    "CXX": "/usr/bin/g++",
    "LDSHARED": "/usr/bin/g++ -shared",
    "LDCXXSHARED": "/usr/bin/g++ -shared",
}


def has_compiler(path):
    return path in ("/usr/bin/gcc", "/usr/bin/g++")


def no_compiler(path):
    return False


def found(config, environ):
    return {f.setting.name: f.flags for f in build_config.find_static_runtime(config, environ)}


def test_clean_config_not_detected():
    assert found(CLEAN, {}) == {}
    assert build_config.compiler_guard(CLEAN, {}, exists=has_compiler) == ({}, "")


def test_static_config_detected():
    assert found(STATIC, {}) == {
        "LDSHARED": ("-static-libgcc",),
        "LDCXXSHARED": ("-static-libstdc++", "-static-libgcc"),
        "LDFLAGS": ("-static-libgcc",),
    }


@pytest.mark.parametrize("name", ["CC", "CXX", "LDSHARED", "LDCXXSHARED", "LDFLAGS"])
@pytest.mark.parametrize("flag", ["-static-libstdc++", "-static-libgcc"])
def test_each_setting_and_flag_detected(name, flag):
    config = dict(CLEAN)
    config[name] = config[name] + " " + flag
    assert found(config, {}) == {name: (flag,)}


def test_flags_matched_as_whole_words():
    config = dict(CLEAN, LDSHARED="gcc -shared -L/opt/-static-libstdc++/lib -Wl,--as-needed")
    assert found(config, {}) == {}


def test_static_config_switches_to_system_compiler():
    updates, note = build_config.compiler_guard(STATIC, {}, exists=has_compiler)
    assert updates == SYSTEM_ENV
    assert "-static-libstdc++" in note and "/usr/bin/g++" in note
    # What the build then sees is clean.
    assert found(STATIC, updates) == {}


def test_static_config_without_system_compiler_stops():
    with pytest.raises(build_config.CompilerConfigError, match="CC=/usr/bin/gcc CXX=/usr/bin/g\\+\\+"):
        build_config.compiler_guard(STATIC, {}, exists=no_compiler)


def test_env_overrides_replace_static_config():
    # The user's own compiler and linker commands replace sysconfig's: nothing static is left.
    assert found(STATIC, SYSTEM_ENV) == {}
    assert build_config.compiler_guard(STATIC, SYSTEM_ENV, exists=has_compiler) == ({}, "")


def test_env_cc_keeps_the_rest_of_sysconfig_ldshared():
    # setuptools swaps only the compiler at the head of LDSHARED when CC alone is set.
    config = dict(CLEAN, LDSHARED="gcc -shared -static-libgcc")
    assert found(config, {"CC": "/usr/bin/gcc"}) == {"LDSHARED": ("-static-libgcc",)}
    setting = next(s for s in build_config.effective_settings(config, {"CC": "/usr/bin/gcc"})
                   if s.name == "LDSHARED")
    assert setting.value == "/usr/bin/gcc -shared -static-libgcc"
    assert setting.source == build_config.SYSCONFIG_WITH_CC and not setting.from_env
    # The user chose CC: the guard says what else to set rather than overriding that choice.
    with pytest.raises(build_config.CompilerConfigError, match="environment sets CC.*LDSHARED="):
        build_config.compiler_guard(config, {"CC": "/usr/bin/gcc"}, exists=has_compiler)


@pytest.mark.parametrize("name", ["CC", "CXX", "LDSHARED", "LDCXXSHARED", "LDFLAGS", "CFLAGS", "CXXFLAGS",
                                  "CPPFLAGS"])
def test_static_flags_in_user_env_detected_and_not_overridden(name):
    environ = {name: "cc -static-libstdc++" if name in build_config.COMPILER_VARS else "-static-libstdc++"}
    detected = {f.setting.name: f.setting.from_env for f in build_config.find_static_runtime(CLEAN, environ)}
    # A CC override also heads sysconfig's LDSHARED, which then carries its flags too.
    assert detected == ({name: True, "LDSHARED": False} if name == "CC" else {name: True})
    with pytest.raises(build_config.CompilerConfigError, match=f"Remove the flags from {name}"):
        build_config.compiler_guard(CLEAN, environ, exists=has_compiler)


def test_clean_user_env_on_clean_config_untouched():
    environ = {"CC": "clang", "CXX": "clang++", "LDFLAGS": "-fuse-ld=lld"}
    assert build_config.compiler_guard(CLEAN, environ, exists=has_compiler) == ({}, "")


def test_missing_config_values_are_tolerated():
    assert found({}, {}) == {}
    assert found({"LDSHARED": None, "CC": None}, {}) == {}


def test_apply_compiler_guard_on_this_interpreter(monkeypatch):
    # This interpreter's real configuration, with no compiler variables set: either clean (nothing
    # changes) or switched to the system compiler, never left static. os.environ is a copy here.
    import os
    import sysconfig

    names = build_config.COMPILER_VARS + build_config.FLAG_VARS
    environ = {k: v for k, v in os.environ.items() if k not in names}
    monkeypatch.setattr(os, "environ", environ)
    try:
        note = build_config.apply_compiler_guard()
    except build_config.CompilerConfigError:
        return  # static, with no system compiler to switch to: it stopped with the message
    config = sysconfig.get_config_vars()
    assert (note == "") == (build_config.find_static_runtime(config, {}) == [])
    assert build_config.find_static_runtime(config, environ) == []
