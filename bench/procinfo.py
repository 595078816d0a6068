"""What /proc says about a process: peak and current memory, CPU time."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, field: str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM: the most resident memory the process has had, in MiB."""
    kb = _status_kb(pid, "VmHWM")
    return None if kb is None else round(kb / 1024, 1)


def rss_mb(pid: int) -> float | None:
    kb = _status_kb(pid, "VmRSS")
    return None if kb is None else round(kb / 1024, 1)


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name: state is [0], ppid [1], utime [11],
    stime [12]."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def tree(pid: int) -> list[int]:
    """The process and its descendants (a supervisor's children: WEB_CONCURRENCY)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    found, todo = [pid], [pid]
    while todo:
        parent = todo.pop()
        kids = [child for child, ppid in parents.items() if ppid == parent]
        found += kids
        todo += kids
    return found


def tree_peak_rss_mb(pid: int) -> float | None:
    """Peak RSS of the process and its descendants, added up (an upper bound of what
    they held at once)."""
    peaks = [peak_rss_mb(p) for p in tree(pid)]
    known = [p for p in peaks if p is not None]
    return round(sum(known), 1) if known else None


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of the process and its descendants so far; zeros if
    gone."""
    user = system = 0.0
    for p in tree(pid):
        fields = _stat(p)
        if fields is not None:
            user += int(fields[11]) / _TICKS
            system += int(fields[12]) / _TICKS
    return user, system


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far."""
    return sum(cpu_times(pid))


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (from /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    # user nice system idle iowait irq softirq steal ...: everything but idle and iowait.
    values = [int(v) for v in fields[:8]]
    return (sum(values) - values[3] - values[4]) / _TICKS


def machine() -> dict[str, object]:
    """Cores, CPU model, memory and kernel, for the report."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_mb: float | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_mb = round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_mb": mem_mb,
        "kernel": os.uname().release,
    }
