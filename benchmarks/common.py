"""The benchmarks' one set-up module: the environment, BLAS threads, and the results files.

A benchmark records its run as data. `environment` collects the header: the date (UTC), the
machine (CPU model, cores, memory), the load average, the versions that decide the numbers
(Python, NumPy and its BLAS, scikit-learn, Optuna, MLflow, joblib, threadpoolctl, PyTorch when
installed), the git commit of the code measured and the command. `write_results` writes
``results/<name>.json`` (that header, the measurements and the tables made from them) and
generates ``results/<name>.md`` from the JSON; ``python benchmarks/common.py [NAME ...]``
regenerates the Markdown from the JSON files.

Results go to ``benchmarks/results/``, or to the folder that ``NNSWEEP_BENCH_RESULTS`` names.
A ``--quick`` (smoke) run writes to ``<tmp>/nnsweep-bench/`` unless that variable is set, so
it never replaces a real result.

Importing this module puts the checkout on ``sys.path`` (right after the entries of
``PYTHONPATH``, so a ``PYTHONPATH`` naming another checkout, a baseline, wins) and imports
nothing else of weight: a script can fix its BLAS threads (`blas_threads`) after importing it.
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

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
VERSIONS = ("scikit-learn", "optuna", "mlflow", "joblib", "threadpoolctl", "torch")

_PYTHONPATH = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
if str(ROOT) not in sys.path:
    sys.path.insert(1 + len(_PYTHONPATH), str(ROOT))


# ----------------------------------------------------------------------------- set-up
def blas_env(threads=1):
    """The variables that fix BLAS and OpenMP threads, as a dict (for a child's environment)."""
    return {var: str(threads) for var in BLAS_VARS}


def blas_threads(threads=1):
    """Fix BLAS threads for this process and its children, where the environment does not.

    Call it before numpy is imported: OpenBLAS reads the variables when it loads.
    """
    for var, value in blas_env(threads).items():
        os.environ.setdefault(var, value)


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
    that is never quiet still gets measured, and the results say how busy it was).
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


# ----------------------------------------------------------------------------- environment
def git(*args):
    """Output of ``git ARGS`` in the checkout ("" when git fails)."""
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def nnsweep_commit():
    """Short commit of the checkout, ``+dirty`` when tracked files in ``nnsweep/`` changed."""
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no", "--", "nnsweep"):
        commit += "+dirty"
    return commit


def version(dist):
    """The installed version of the distribution ``dist``, or None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


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
                    return round(int(line.split()[1]) / 2**20)
    except OSError:
        pass
    return None


def machine():
    """CPU model, cores, threads per core, memory (GiB) and operating system."""
    cpu = _lscpu()
    return {
        "cpu": cpu.get("Model name", platform.processor() or "?"),
        "cores": int(cpu.get("CPU(s)") or os.cpu_count() or 0),
        "threads_per_core": int(cpu.get("Thread(s) per core") or 1),
        "memory_gib": _memory_gib(),
        "system": f"{platform.system()} {platform.release()}",
    }


def numpy_blas():
    """NumPy's BLAS: build name and version, plus what threadpoolctl sees at run time."""
    import numpy as np

    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
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


def torch_details():
    """PyTorch's version, BLAS, oneDNN and CPU capability, read in a subprocess (or None)."""
    if version("torch") is None:
        return None
    code = (
        "import re, torch; m = re.search(r'BLAS_INFO=(\\w+)', torch.__config__.show()); "
        'print(f\'{torch.__version__} (BLAS: {m.group(1) if m else "?"}, oneDNN: '
        "{torch.backends.mkldnn.is_available()}, CPU capability: "
        "{torch.backends.cpu.get_cpu_capability()})')"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
        ).stdout
        return out.strip().splitlines()[-1]
    except (OSError, subprocess.SubprocessError, IndexError):
        return version("torch")


def _now():
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def environment(torch=False):
    """The header of a results file, as a dict: when, where, on what, the code, the command.

    ``torch``: also ask PyTorch for its BLAS and CPU capability (a subprocess that imports
    it); otherwise its version alone is read from the package metadata.
    """
    import numpy as np

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    versions["blas"] = numpy_blas()
    versions.update((d, version(d)) for d in VERSIONS if version(d) is not None)
    if torch and "torch" in versions:
        versions["torch"] = torch_details()
    return {
        "date": _now(),
        "machine": machine(),
        "load_start": loadavg(),
        "versions": versions,
        "commit": nnsweep_commit(),
        "command": " ".join(["python", _relative(sys.argv[0]), *sys.argv[1:]]),
    }


def _relative(path):
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return path


# ----------------------------------------------------------------------------- results files
def results_folder(quick=False):
    """Where results go: ``NNSWEEP_BENCH_RESULTS``, else the temporary folder for a smoke run,
    else ``benchmarks/results``."""
    if os.environ.get("NNSWEEP_BENCH_RESULTS"):
        return Path(os.environ["NNSWEEP_BENCH_RESULTS"])
    return Path(tempfile.gettempdir()) / "nnsweep-bench" if quick else RESULTS


def table(title, columns, rows, note="", footnote=""):
    """One table of a results file: its rows are sequences of formatted cells."""
    return {
        "title": title,
        "note": note,
        "columns": list(columns),
        "rows": [[str(c) for c in row] for row in rows],
        "footnote": footnote,
    }


def write_results(name, title, env, tables, data=None, about="", quick=False):
    """Write ``<name>.json`` (header, measurements, tables) and ``<name>.md`` generated from it.

    Parameters
    ----------
    name : str
        The file name, without suffix (the benchmark's name).
    title : str
        The Markdown file's title.
    env : dict
        `environment`'s header; the load average and the time at the end are added here.
    tables : list of dict
        `table`'s tables, in order.
    data : object, default=None
        The measurements, as JSON-serialisable values.
    about : str, default=""
        A short fixed paragraph: what is measured, and how.
    quick : bool, default=False
        A smoke run: marked as such, and written to the temporary folder (`results_folder`).

    Returns
    -------
    path : Path
        The JSON file written.
    """
    record = {
        "title": title,
        "about": about,
        "quick": quick,
        "environment": {**env, "date_end": _now(), "load_end": loadavg()},
        "tables": tables,
        "data": data,
    }
    folder = results_folder(quick)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    _write(path, to_json(record) + "\n")
    text = render(record)
    _write(path.with_suffix(".md"), text)
    print(text)
    print(f"written: {path} and its .md", file=sys.stderr)
    return path


def to_json(value, level=0):
    """JSON text with one line per list of plain values (a table row, an epoch's timings)."""
    pad = " " * (level + 1)
    if isinstance(value, dict) and value:
        items = (f"{pad}{json.dumps(str(k))}: {to_json(v, level + 1)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + "\n" + " " * level + "}"
    if isinstance(value, list | tuple) and any(isinstance(v, dict | list | tuple) for v in value):
        items = (pad + to_json(v, level + 1) for v in value)
        return "[\n" + ",\n".join(items) + "\n" + " " * level + "]"
    return json.dumps(value, default=str, ensure_ascii=False)


def _write(path, text):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _header(env):
    """The header's lines: (label, text) pairs."""
    m = env.get("machine") or {}
    per_core = m.get("threads_per_core")
    end = env.get("date_end") or ""
    same_day = end[:10] == env["date"][:10]
    yield "date", env["date"] + (f" to {end[11:] if same_day else end}" if end else "")
    commit = env.get("commit", "?")
    yield "commit", commit + (f"; baseline {env['baseline']}" if env.get("baseline") else "")
    yield (
        "machine",
        ", ".join(
            str(part)
            for part in (
                m.get("cpu"),
                f"{m.get('cores')} cores"
                + (f" ({per_core} thread(s) per core)" if per_core else ""),
                f"{m['memory_gib']} GiB" if m.get("memory_gib") else None,
                m.get("system"),
            )
            if part
        ),
    )
    load = f"{env.get('load_start', '?')} at start"
    yield (
        "load average (1/5/15 min)",
        load + (f", {env['load_end']} at end" if env.get("load_end") else ""),
    )
    versions = dict(env.get("versions") or {})
    blas = versions.pop("blas", None)
    if blas and "numpy" in versions:
        versions["numpy"] += f" (BLAS: {blas})"
    yield "versions", ", ".join(f"{k} {v}" for k, v in versions.items())
    if env.get("command"):
        yield "command", f"`{env['command']}`"
    yield from (env.get("extra") or {}).items()


def render(record):
    """The Markdown of a results record: the header as a short list, then the tables."""
    lines = [f"# {record['title']}", ""]
    lines += [f"- **{label}**: {text}" for label, text in _header(record["environment"])]
    if record.get("quick"):
        lines.append("- **smoke run** (`--quick`): not a result")
    if record.get("about"):
        lines += ["", record["about"]]
    for t in record["tables"]:
        lines.append("")
        if t.get("title"):
            lines += [f"## {t['title']}", ""]
        if t.get("note"):
            lines += [t["note"], ""]
        if t["columns"]:
            lines.append("| " + " | ".join(t["columns"]) + " |")
            lines.append("|" + "|".join("---" for _ in t["columns"]) + "|")
            lines += ["| " + " | ".join(row) + " |" for row in t["rows"]]
        if t.get("footnote"):
            lines += ["", t["footnote"]]
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None):
    """Regenerate ``<name>.md`` from ``<name>.json`` in `results_folder` (all, or the names)."""
    names = sys.argv[1:] if argv is None else argv
    folder = results_folder()
    paths = [folder / f"{n}.json" for n in names] or sorted(folder.glob("*.json"))
    for path in paths:
        record = json.loads(path.read_text())
        _write(path, to_json(record) + "\n")
        _write(path.with_suffix(".md"), render(record))
        print(f"written: {path.with_suffix('.md')}", file=sys.stderr)


if __name__ == "__main__":
    main()
