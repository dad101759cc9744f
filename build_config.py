"""Build-time checks used by setup.py, free of torch and setuptools so that tests can import them.

The compiler guard: some standalone Python builds record a compiler configuration that links the C++
runtime statically (``-static-libstdc++``, ``-static-libgcc`` in sysconfig's CC, CXX, LDSHARED,
LDCXXSHARED or LDFLAGS). An extension linked that way carries its own copy of libstdc++ beside the
one libtorch uses, and exceptions, RTTI and std:: objects no longer cross between them safely.
``compiler_guard`` finds such a configuration, with the CC/CXX/LDSHARED/... environment overrides
applied as setuptools applies them, and says which environment switches the build to the system
compiler, or why it cannot.
"""

from __future__ import annotations

import os
import shlex
from typing import Callable, Mapping, NamedTuple

STATIC_RUNTIME_FLAGS = ("-static-libstdc++", "-static-libgcc")
SYSTEM_CC = "/usr/bin/gcc"
SYSTEM_CXX = "/usr/bin/g++"
# Variables that choose the compiler and linker commands; the user's values are never replaced.
COMPILER_VARS = ("CC", "CXX", "LDSHARED", "LDCXXSHARED")
# Variables whose environment values setuptools appends to the link commands.
FLAG_VARS = ("LDFLAGS", "CFLAGS", "CXXFLAGS", "CPPFLAGS")
ADVICE = f'CC={SYSTEM_CC} CXX={SYSTEM_CXX} LDSHARED="{SYSTEM_CXX} -shared" LDCXXSHARED="{SYSTEM_CXX} -shared"'


class CompilerConfigError(RuntimeError):
    """The compiler configuration links libstdc++ statically and cannot be switched automatically."""


ENVIRONMENT = "environment variable"
SYSCONFIG = "Python's sysconfig"
SYSCONFIG_WITH_CC = "Python's sysconfig, its compiler replaced by the CC environment variable"


class Setting(NamedTuple):
    name: str  # CC, CXX, LDSHARED, LDCXXSHARED, LDFLAGS, ...
    value: str
    source: str  # ENVIRONMENT, SYSCONFIG or SYSCONFIG_WITH_CC

    @property
    def from_env(self) -> bool:
        """Whether the user set this variable (as opposed to inheriting it from sysconfig)."""
        return self.source == ENVIRONMENT


class Finding(NamedTuple):
    setting: Setting
    flags: tuple  # the static-runtime flags found in it

    def describe(self) -> str:
        return f"{self.setting.name} ({self.setting.source}) = {self.setting.value!r} has {' '.join(self.flags)}"


def _text(value) -> str:
    return "" if value is None else str(value)


def effective_settings(config_vars: Mapping, environ: Mapping) -> list:
    """The compiler and linker settings a setuptools build would use, with where each comes from.

    Follows setuptools' ``customize_compiler``: CC, CXX, LDSHARED and LDCXXSHARED from the environment
    replace sysconfig's (a CC override also replaces the compiler at the head of sysconfig's LDSHARED);
    LDFLAGS, CFLAGS, CXXFLAGS and CPPFLAGS from the environment are appended to the link commands.
    sysconfig's LDFLAGS is what the interpreter linked with; it counts while a linker command from
    sysconfig is still in use.
    """
    cfg = {k: _text(config_vars.get(k)) for k in COMPILER_VARS + ("LDFLAGS",)}
    settings = []
    for name in ("CC", "CXX"):
        if name in environ:
            settings.append(Setting(name, _text(environ[name]), ENVIRONMENT))
        else:
            settings.append(Setting(name, cfg[name], SYSCONFIG))
    if "LDSHARED" in environ:
        settings.append(Setting("LDSHARED", _text(environ["LDSHARED"]), ENVIRONMENT))
    elif "CC" in environ and cfg["CC"] and cfg["LDSHARED"].startswith(cfg["CC"]):
        # setuptools swaps the compiler at the head of LDSHARED and keeps the rest of it.
        tail = cfg["LDSHARED"][len(cfg["CC"]):]
        settings.append(Setting("LDSHARED", _text(environ["CC"]) + tail, SYSCONFIG_WITH_CC))
    else:
        settings.append(Setting("LDSHARED", cfg["LDSHARED"], SYSCONFIG))
    if "LDCXXSHARED" in environ:
        settings.append(Setting("LDCXXSHARED", _text(environ["LDCXXSHARED"]), ENVIRONMENT))
    else:
        settings.append(Setting("LDCXXSHARED", cfg["LDCXXSHARED"], SYSCONFIG))
    if not ("LDSHARED" in environ and "LDCXXSHARED" in environ):
        settings.append(Setting("LDFLAGS", cfg["LDFLAGS"], SYSCONFIG))
    for name in FLAG_VARS:
        if name in environ:
            settings.append(Setting(name, _text(environ[name]), ENVIRONMENT))
    return settings


def _static_flags(value: str) -> tuple:
    try:
        words = shlex.split(value)
    except ValueError:
        words = value.split()
    found = []
    for word in words:
        if word in STATIC_RUNTIME_FLAGS and word not in found:
            found.append(word)
    return tuple(found)


def find_static_runtime(config_vars: Mapping, environ: Mapping) -> list:
    """The settings (as ``Finding``) that would link libstdc++ or libgcc statically; [] when none."""
    findings = []
    for setting in effective_settings(config_vars, environ):
        flags = _static_flags(setting.value)
        if flags:
            findings.append(Finding(setting, flags))
    return findings


def compiler_guard(
    config_vars: Mapping,
    environ: Mapping,
    exists: Callable[[str], bool] = os.path.exists,
) -> tuple:
    """``({}, "")`` for a clean configuration; else ``(environment updates, note)`` that switch the
    build to the system compiler. Raises ``CompilerConfigError`` with what to set when it cannot:
    the static flags come from the user's own environment, or there is no system compiler.
    """
    findings = find_static_runtime(config_vars, environ)
    if not findings:
        return {}, ""
    found = "\n  ".join(f.describe() for f in findings)
    from_env = [f.setting.name for f in findings if f.setting.from_env]
    chosen = [name for name in COMPILER_VARS if name in environ]
    if from_env or chosen:
        # The user chose part of the configuration: say what to change rather than override it.
        if from_env:
            what = f"Remove the flags from {', '.join(from_env)}, or build with the system compiler: {ADVICE}"
        else:
            what = (f"The environment sets {', '.join(chosen)}, which leaves the rest of sysconfig's "
                    f"settings in place; set all four, e.g. {ADVICE}")
        raise CompilerConfigError(
            "cute_dwconv: the C++ compiler configuration links libstdc++/libgcc statically, which breaks "
            "an extension that shares C++ objects with libtorch:\n  " + found + "\n" + what
        )
    if not (exists(SYSTEM_CC) and exists(SYSTEM_CXX)):
        raise CompilerConfigError(
            "cute_dwconv: Python's build configuration links libstdc++/libgcc statically, which breaks an "
            "extension that shares C++ objects with libtorch:\n  " + found +
            f"\nand there is no {SYSTEM_CC} and {SYSTEM_CXX} to switch to. Set CC, CXX, LDSHARED and LDCXXSHARED "
            f"to a compiler that links the C++ runtime dynamically, e.g. {ADVICE}"
        )
    updates = {
        "CC": SYSTEM_CC,
        "CXX": SYSTEM_CXX,
        "LDSHARED": f"{SYSTEM_CXX} -shared",
        "LDCXXSHARED": f"{SYSTEM_CXX} -shared",
    }
    merged = dict(environ)
    merged.update(updates)
    left = find_static_runtime(config_vars, merged)
    if left:  # cannot happen with the updates above, but never hand back a configuration still static
        raise CompilerConfigError(
            "cute_dwconv: static libstdc++/libgcc flags remain after switching compilers:\n  "
            + "\n  ".join(f.describe() for f in left) + f"\nSet {ADVICE} and remove them."
        )
    note = (
        "cute_dwconv: Python's build configuration links libstdc++/libgcc statically:\n  " + found +
        f"\nBuilding with the system compiler instead: {ADVICE} (set these to choose another compiler)."
    )
    return updates, note


def apply_compiler_guard() -> str:
    """compiler_guard on this interpreter's sysconfig and os.environ; applies the updates to
    os.environ and returns the note ("" when nothing changed). Raises CompilerConfigError."""
    import sysconfig

    updates, note = compiler_guard(sysconfig.get_config_vars(), os.environ)
    os.environ.update(updates)
    return note
