"""What /proc tells about the server being loaded: which process listens on a port, and its memory."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessMemory:
    """Resident memory of a process now (VmRSS) and at its peak (VmHWM), in KiB."""

    rss_kib: int
    hwm_kib: int


def find_listening_pid(port: int) -> int | None:
    """Return the pid of the process on this machine listening on TCP `port`, or None if none can be seen."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for proc in sorted(Path("/proc").iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else -1):
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:  # another user's process, or one that just exited
            continue
        if holds_any(fds, wanted):
            return int(proc.name)
    return None


def holds_any(fds: Iterable[Path], targets: set[str]) -> bool:
    """Whether one of the descriptor links `fds` points at one of `targets`.

    A descriptor can close between listing the directory and reading its link (the process
    keeps working while we look); that one is skipped, not the whole process.
    """
    for fd in fds:
        try:
            if fd.readlink().as_posix() in targets:
                return True
        except OSError:
            continue
    return False


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(inode)
    return inodes


def read_memory(pid: int) -> ProcessMemory | None:
    """Return VmRSS and VmHWM of `pid`, or None when the process is gone or unreadable."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    values = {k: v.split()[0] for k, _, v in (line.partition(":") for line in lines) if k in ("VmRSS", "VmHWM")}
    if len(values) < 2:
        return None
    return ProcessMemory(int(values["VmRSS"]), int(values["VmHWM"]))
