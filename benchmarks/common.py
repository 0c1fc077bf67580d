"""Shared helpers of the benchmarks: the environment header and writing results.

Every results file starts with the same header: date, machine (``lscpu`` model
name, cores, memory), load average, and the versions that decide the numbers
(Python, NumPy and the BLAS it runs on, scikit-learn, PyTorch, the nnsweep git
commit). Nothing here imports torch: its version is read from the installed
package metadata, and its BLAS from a short subprocess, so a numpy-only process
stays numpy-only.
"""

import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"


def loadavg():
    """The 1-, 5- and 15-minute load averages, rounded, as a string."""
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def cpu_busy_seconds():
    """CPU seconds the whole machine has been busy since boot (all cores, all processes,
    from /proc/stat; idle and iowait excluded), or None where /proc/stat is unavailable."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # guest time is inside user


def busy_cores(window=0.5):
    """Cores kept busy over the next ``window`` s by every process (or None)."""
    b0 = cpu_busy_seconds()
    time.sleep(window)
    b1 = cpu_busy_seconds()
    return None if b0 is None or b1 is None else (b1 - b0) / window


class QuietWaiter:
    """Waits for a quiet machine before a measurement, within a budget for the whole run.

    ``wait(max_wait)`` returns once other processes keep fewer than ``quiet`` cores busy, or
    after ``max_wait`` s, or when the run's ``budget`` s of waiting are spent (so a machine
    that is never quiet still gets measured, and the report says how busy it was).
    """

    def __init__(self, quiet, budget=900.0):
        self.quiet, self.budget, self.left = quiet, budget, budget

    def wait(self, max_wait=120.0):
        """Wait; returns ``(seconds waited, busy cores last seen or None)``."""
        t0 = time.perf_counter()
        limit = min(max_wait, self.left)
        level = busy_cores()
        while level is not None and level >= self.quiet and time.perf_counter() - t0 < limit:
            level = busy_cores()
        waited = time.perf_counter() - t0
        self.left = max(0.0, self.left - waited)
        return waited, level

    @property
    def waited(self):
        """Seconds waited so far in this run."""
        return self.budget - self.left


def _lscpu():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    fields = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def _memory_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def _git(*args):
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def nnsweep_commit():
    """Short commit of the checkout, ``+dirty`` when tracked files in ``nnsweep/`` changed."""
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    if _git("status", "--porcelain", "--untracked-files=no", "--", "nnsweep"):
        commit += "+dirty"
    return commit


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def numpy_blas():
    """NumPy's BLAS: build name and version, plus what threadpoolctl sees at run time."""
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        build = f"{blas.get('name', '?')} {blas.get('version', '?')}"
    except Exception:  # noqa: BLE001 - show_config's layout is not a stable API
        build = "?"
    try:
        from threadpoolctl import threadpool_info

        runtime = [
            f"{i['internal_api']} {i['version']} ({i.get('architecture', '?')}, "
            f"{i.get('threading_layer', '?')})"
            for i in threadpool_info()
            if i["user_api"] == "blas" and "numpy" in i["filepath"]
        ]
    except Exception:  # noqa: BLE001
        runtime = []
    return build + (f"; loaded: {', '.join(runtime)}" if runtime else "")


def torch_info():
    """PyTorch's version and BLAS, read in a subprocess (None when torch is absent)."""
    if _version("torch") is None:
        return None
    code = "\n".join(
        [
            "import json, re, torch",
            "m = re.search(r'BLAS_INFO=(\\w+)', torch.__config__.show())",
            "print(json.dumps({'version': torch.__version__, 'blas': m.group(1) if m else '?',",
            "    'mkldnn': torch.backends.mkldnn.is_available(),",
            "    'cpu': torch.backends.cpu.get_cpu_capability()}))",
        ]
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
        ).stdout
        return json.loads(out.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return {"version": _version("torch"), "blas": "?", "mkldnn": "?", "cpu": "?"}


def environment(with_torch=True):
    """Facts about the machine and the software, as (label, value) pairs."""
    cpu = _lscpu()
    torch = torch_info() if with_torch else None
    rows = [
        ("date (start)", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        (
            "machine",
            f"{cpu.get('Model name', platform.processor() or '?')}, "
            f"{cpu.get('CPU(s)', os.cpu_count())} cores "
            f"({cpu.get('Thread(s) per core', '?')} thread(s) per core), "
            f"{_memory_gib():.0f} GiB, {platform.system()} {platform.release()}",
        ),
        ("load average (1/5/15 min) at start", loadavg()),
        ("python", platform.python_version()),
        ("numpy", f"{np.__version__} (BLAS: {numpy_blas()})"),
        ("scikit-learn", _version("scikit-learn") or "not installed"),
        ("threadpoolctl", _version("threadpoolctl") or "not installed"),
    ]
    if with_torch:
        rows.append(
            (
                "torch",
                "not installed"
                if torch is None
                else f"{torch['version']} (BLAS: {torch['blas']}, oneDNN: {torch['mkldnn']}, "
                f"CPU capability: {torch['cpu']})",
            )
        )
    rows.append(("nnsweep commit", nnsweep_commit()))
    return rows


def header(title, env, notes=()):
    """Markdown header: a title, the environment as a bullet list, then free notes."""
    lines = [f"# {title}", ""]
    lines += [f"- **{k}**: {v}" for k, v in env]
    lines += ["", *notes] if notes else []
    return "\n".join(lines) + "\n"


def table(columns, rows):
    """A markdown table; each row is a sequence of already-formatted cells."""
    out = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def write_result(name, text, quick=False):
    """Print ``text`` and write it to ``benchmarks/results/<name>.md`` (atomically).

    A quick (smoke) run writes to the temporary directory instead, so that it never
    replaces the committed results of a full run.
    """
    print(text)
    folder = Path(tempfile.gettempdir()) / "nnsweep-bench" if quick else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    print(f"written: {path}", file=sys.stderr)
    return path


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __enter__(self):
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._t0
        return False


def run_nnsweep_study(study_file, workdir, extra=(), code_root=None):
    """``nnsweep run STUDY --no-progress [extra]`` in ``workdir``: (wall s, CompletedProcess).

    ``code_root``: the nnsweep checkout to run (default: this one), put first on PYTHONPATH,
    so that another commit (a git worktree) runs with this interpreter.
    """
    cmd = [sys.executable, "-m", "nnsweep", "run", str(study_file), "--no-progress", *extra]
    env = {**os.environ, "PYTHONPATH": str(code_root or ROOT)}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, proc
