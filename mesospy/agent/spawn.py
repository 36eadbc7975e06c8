"""``posix_spawn`` that lets go of the GIL while the child starts.

CPython's ``os.posix_spawn`` holds the GIL for the whole call: the parent waits in vfork
until the child has exec'd (~0.15 ms here, more under load), and every other thread of the
agent, its event loop included, waits with it. Called through ctypes, libc's posix_spawn
runs without the GIL, so the launcher's worker thread spawns while the loop serves calls.
The child starts exactly as with ``os.posix_spawn(..., setsid=True, setsigmask=(),
setsigdef=...)``. Where libc cannot be loaded this falls back to ``os.posix_spawn``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
from collections.abc import Iterable, Mapping, Sequence

log = logging.getLogger(__name__)

# glibc on x86_64: posix_spawn_file_actions_t is 80 bytes, posix_spawnattr_t 336, sigset_t
# 128; the buffers are larger so that no libc's layout can overrun them.
_BUFFER = ctypes.c_uint64 * 128  # 1 KiB, aligned for any of them
_POSIX_SPAWN_SETSIGDEF = 0x04
_POSIX_SPAWN_SETSIGMASK = 0x08
_POSIX_SPAWN_SETSID = 0x80


def _load() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)  # CDLL calls release the GIL
    except OSError:
        name = ctypes.util.find_library("c")
        if name is None:
            log.info("libc not found: tasks are spawned with os.posix_spawn (holds the GIL)")
            return None
        try:
            libc = ctypes.CDLL(name, use_errno=True)
        except OSError:
            log.info("libc cannot be loaded: tasks are spawned with os.posix_spawn")
            return None
    try:
        libc.posix_spawn.argtypes = [
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_char_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.POINTER(ctypes.c_char_p),
        ]
        libc.posix_spawnattr_setflags.argtypes = [ctypes.c_void_p, ctypes.c_short]
    except AttributeError:
        log.info("libc has no posix_spawn: tasks are spawned with os.posix_spawn")
        return None
    return libc


_LIBC = _load()


class _Attributes:
    """The spawn attributes every task gets (made once: posix_spawn only reads them)."""

    def __init__(self, libc: ctypes.CDLL, default_signals: Iterable[int]) -> None:
        self.buffer = _BUFFER()
        empty, defaults = _BUFFER(), _BUFFER()
        libc.sigemptyset(ctypes.byref(empty))
        libc.sigemptyset(ctypes.byref(defaults))
        for number in default_signals:
            libc.sigaddset(ctypes.byref(defaults), number)
        flags = _POSIX_SPAWN_SETSID | _POSIX_SPAWN_SETSIGMASK | _POSIX_SPAWN_SETSIGDEF
        if (
            libc.posix_spawnattr_init(ctypes.byref(self.buffer))
            or libc.posix_spawnattr_setflags(ctypes.byref(self.buffer), flags)
            or libc.posix_spawnattr_setsigmask(ctypes.byref(self.buffer), ctypes.byref(empty))
            or libc.posix_spawnattr_setsigdefault(ctypes.byref(self.buffer), ctypes.byref(defaults))
        ):
            raise OSError("posix_spawnattr set-up failed")


_attributes: dict[frozenset[int], _Attributes] = {}


def spawn(
    path: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    dup2: Sequence[tuple[int, int]],
    default_signals: frozenset[int],
) -> int:
    """Start ``path`` in a new session with ``dup2`` (source, target) descriptors, an
    empty signal mask and ``default_signals`` reset; its pid. Raises OSError."""
    libc = _LIBC
    if libc is None:
        return os.posix_spawn(
            path,
            list(argv),
            dict(env),
            file_actions=[(os.POSIX_SPAWN_DUP2, source, target) for source, target in dup2],
            setsid=True,
            setsigmask=(),
            setsigdef=default_signals,
        )
    # The checks os.posix_spawn makes (itself, in the fallback above), with its messages.
    if not argv:
        raise ValueError("argv must not be empty")
    if "\x00" in path or any("\x00" in a for a in argv):
        raise ValueError("embedded null byte")
    for key, value in env.items():
        if not key or "=" in key:
            raise ValueError("illegal environment variable name")
        if "\x00" in key or "\x00" in value:
            raise ValueError("embedded null byte")
    attributes = _attributes.get(default_signals)
    if attributes is None:
        valid = [int(s) for s in default_signals if 0 < int(s) < signal.NSIG]
        attributes = _attributes[default_signals] = _Attributes(libc, valid)
    actions = _BUFFER()
    if libc.posix_spawn_file_actions_init(ctypes.byref(actions)):
        raise OSError("posix_spawn_file_actions_init failed")
    try:
        for source, target in dup2:
            err = libc.posix_spawn_file_actions_adddup2(ctypes.byref(actions), source, target)
            if err:
                raise OSError(err, os.strerror(err))
        arguments = (ctypes.c_char_p * (len(argv) + 1))(*[os.fsencode(a) for a in argv], None)
        environment = (ctypes.c_char_p * (len(env) + 1))(
            *[os.fsencode(f"{k}={v}") for k, v in env.items()], None
        )
        pid = ctypes.c_int()
        err = libc.posix_spawn(
            ctypes.byref(pid),
            os.fsencode(path),
            ctypes.byref(actions),
            ctypes.byref(attributes.buffer),
            arguments,
            environment,
        )
        if err:
            raise OSError(err, os.strerror(err), path)
        return pid.value
    finally:
        libc.posix_spawn_file_actions_destroy(ctypes.byref(actions))
