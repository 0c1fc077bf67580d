"""The command's process tree: the processes it started, and ending those still alive.

The worker processes and the MLflow writer end by themselves; `stop_children` is the
guarantee, at the command's end, that none outlives it. Loky's resource tracker is never
signalled: it ends when the command does and cleans up after it.
"""

from __future__ import annotations

import contextlib

import psutil

__all__ = ["child_pids", "signal_children", "stop_children"]


def child_pids():
    """Pids of this process's children (and theirs)."""
    try:
        return {p.pid for p in psutil.Process().children(recursive=True)}
    except psutil.Error:
        return set()


def _own_children(keep=frozenset()):
    """Children of this process (and theirs), but not ``keep`` nor loky's resource tracker."""
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return []
    own = []
    for child in children:
        with contextlib.suppress(psutil.Error):
            if child.pid not in keep and "resource_tracker" not in " ".join(child.cmdline()):
                own.append(child)
    return own


def signal_children(sig):
    """Send ``sig`` to this process's children, except loky's resource tracker."""
    for child in _own_children():
        with contextlib.suppress(psutil.Error):
            child.send_signal(sig)


def stop_children(grace=3.0, keep=frozenset()):
    """End every process this command started that is still alive: none outlives it.

    The worker processes end by themselves (loky shuts them down at exit); this is the
    guarantee when a hard stop or an error cut that short. ``keep``: children that were there
    before the command started (`main` called from Python, e.g. by a test with servers).
    """
    children = []
    for child in _own_children(keep):
        with contextlib.suppress(psutil.Error):
            child.terminate()
            children.append(child)
    _, alive = psutil.wait_procs(children, timeout=grace)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
