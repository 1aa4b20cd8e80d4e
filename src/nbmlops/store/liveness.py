"""Is the process that owns a running run still alive?

A run records the pid of its process and a *process token*: on Linux the boot id, the
pid namespace and the process start time, which together name one process even across
pid reuse and containers sharing a host name. When any process opens the store, runs
left ``running`` by a dead process become ``crashed``:

* same machine and pid namespace: the pid is checked directly (a kernel killed with
  ``kill -9`` is noticed at the very next open);
* anywhere else: the run's heartbeat (refreshed every ``HEARTBEAT_S`` while it runs) must
  be younger than ``STALE_AFTER_S``.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path

HEARTBEAT_S = 15.0
STALE_AFTER_S = 600.0


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> str | None:
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None  # field 22 overall: starttime


def _is_zombie(pid: int) -> bool:
    stat = _read(f"/proc/{pid}/stat")
    fields = stat.rsplit(")", 1)[-1].split() if stat else []
    return bool(fields) and fields[0] == "Z"


@lru_cache(maxsize=1)
def _namespace() -> str:
    boot = _read("/proc/sys/kernel/random/boot_id") or ""
    try:
        pidns = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        pidns = ""
    return f"{hostname()}|{boot}|{pidns}"


@lru_cache(maxsize=1)
def hostname() -> str:
    return socket.gethostname().replace("|", "_")


def process_token(pid: int | None = None) -> str:
    """A string naming this process uniquely on this machine (namespace + start time)."""
    pid = os.getpid() if pid is None else pid
    return f"{_namespace()}|{pid}|{_start_ticks(pid) or ''}"


def owner_is_dead(pid: int | None, token: str | None) -> bool | None:
    """True if the owning process is surely gone, False if alive, None if we cannot tell.

    We can tell only for processes in our own namespace (same host, boot and pid
    namespace), and only "alive" when the process start time confirms it is the same
    process (a pid is reused); otherwise the caller falls back on the heartbeat.
    """
    if pid is None or not token:
        return None
    parts = token.split("|")
    if len(parts) != 5 or "|".join(parts[:3]) != _namespace():
        return None
    started = parts[4]
    current = _start_ticks(pid)
    if current is not None:  # /proc shows a process: the same one if it started then
        if _is_zombie(pid):
            return True  # it exited; only its parent has not collected it yet
        return current != started if started else None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True  # no process has that pid
    except PermissionError:
        return None  # someone's process (hidden /proc, or a reused pid): ask the heartbeat
    return None  # a process of ours we cannot identify (no /proc start time)
