"""Seconds per training epoch on MNIST: nnsweep against scikit-learn, PyTorch and a GEMM bound.

The task is the same for every contender: the real MNIST training set (60000 x 784
float32, 10 classes), relu hidden layers of ``h`` units (``h``: one layer; ``1024x1024``:
two of 1024), mini-batches of 128 (469 per epoch, shuffled), SGD with learning rate 0.01
and classical momentum 0.9, no penalty. Contenders:

* **ours**: ``NeuralNetworkClassifier``; one epoch is one step of `iter_epochs`.
* **sklearn**: ``MLPClassifier(solver="sgd", alpha=0, ...)``; one epoch is one
  ``partial_fit`` (float32 input stays float32).
* **torch**: ``nn.Sequential(Linear, ReLU, ..., Linear)``, ``CrossEntropyLoss``,
  ``optim.SGD(momentum=0.9)``; a plain loop over ``randperm`` index batches of a
  float32 tensor (no DataLoader).
* **GEMM bound**: only the matrix products of each batch, ``3 L - 1`` of them for
  ``L`` layers (with ``A_0 = X_b``: forward ``A_{l-1} @ W_l`` for every layer; backward
  ``A_{l-1}.T @ delta_l`` for every layer and ``delta_l @ W_l.T`` for every layer but the
  first; five for one hidden layer), with NumPy float32 into preallocated outputs, 469
  batches of the real shapes. No implementation of this network on NumPy can beat it.

Every contender runs in its own worker process, started with its BLAS/OpenMP
thread count fixed in the environment (and again with threadpoolctl /
``torch.set_num_threads``), and keeps its model between epochs. After one warm-up
epoch each, the parent asks them for one epoch at a time in rounds, rotating the
order every round, so that load from elsewhere on the machine falls on all of
them alike; each number reported is the median over the rounds.

With ``--baseline REF`` the same code at git commit ``REF`` (its ``nnsweep`` package
extracted by ``git archive`` into a temporary folder) is one more contender, so a
change is measured against the code before it in the same interleaved rounds (one hidden
layer only, for a baseline from before ``hidden_layer_sizes``).

Two small measurements that the code's docstrings refer to come last: what a
gemm into the velocity costs when it runs on NumPy's own BLAS or on SciPy's copy
of OpenBLAS (``nnsweep.nn._blas``), and the relu derivative's two spellings.

Run ``python benchmarks/bench_speed.py [--quick] [--baseline REF]``; results go to
``benchmarks/results/speed.json`` and ``speed.md``. The smallest run, a smoke test of every
contender: ``--quick --hidden 16 16x16 --threads 1``.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import common

BATCH = 128
LEARNING_RATE = 0.01
MOMENTUM = 0.9
CONTENDERS = ("ours", "sklearn", "torch", "gemm")
QUIET = 0.25  # cores used by other processes below which an epoch counts as undisturbed
WAIT_BUDGET = 900.0  # seconds the whole run may spend waiting for a quiet machine
LABELS = {
    "ours": "ours",
    "base": "ours at baseline",
    "ours64": "ours float64",
    "sklearn": "sklearn",
    "torch": "torch",
    "gemm": "GEMM bound",
}


# ----------------------------------------------------------------------------- workers
def _load_mnist():
    from nnsweep.datasets import load_dataset

    ds = load_dataset("mnist")
    return ds.X_train, ds.y_train


def _widths(text):
    """The hidden layers' widths from their command-line form: ``800`` or ``1024x1024``."""
    return tuple(int(h) for h in text.split("x"))


def _ours(X, y, hidden, dtype="float32"):
    from nnsweep import NeuralNetworkClassifier

    if "hidden_layer_sizes" in NeuralNetworkClassifier().get_params():
        layers = {"hidden_layer_sizes": hidden}
    else:  # a baseline from before hidden_layer_sizes: one hidden layer, named n_hidden
        (n_hidden,) = hidden
        layers = {"n_hidden": n_hidden}
    clf = NeuralNetworkClassifier(
        **layers,
        activation="relu",
        learning_rate=LEARNING_RATE,
        momentum=MOMENTUM,
        batch_size=BATCH,
        max_epochs=10**6,
        n_iter_no_change=10**6,
        dtype=dtype,
        random_state=0,
    )
    epochs = clf.iter_epochs(X, y)

    def epoch():
        info = next(epochs)
        return {"loss": info.loss, "dtype": str(clf.coefs_[0].dtype)}

    return epoch


def _sklearn(X, y, hidden):
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    clf = MLPClassifier(
        hidden_layer_sizes=hidden,
        activation="relu",
        solver="sgd",
        alpha=0.0,
        batch_size=BATCH,
        learning_rate="constant",
        learning_rate_init=LEARNING_RATE,
        momentum=MOMENTUM,
        nesterovs_momentum=False,
        shuffle=True,
        max_iter=1,
        random_state=0,
    )
    classes = np.unique(y)

    def epoch():
        clf.partial_fit(X, y, classes=classes)
        return {"loss": clf.loss_, "dtype": str(clf.coefs_[0].dtype)}

    return epoch


def _torch(X, y, hidden, threads):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    Xt = torch.from_numpy(X.copy())  # (60000, 784) float32 (a writable copy)
    yt = torch.from_numpy(y.astype("int64"))
    sizes = [X.shape[1], *hidden]
    layers = [
        m for a, b in zip(sizes[:-1], sizes[1:], strict=True) for m in (nn.Linear(a, b), nn.ReLU())
    ]
    model = nn.Sequential(*layers, nn.Linear(sizes[-1], 10))
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    n = Xt.shape[0]

    def epoch():
        model.train()
        total = 0.0
        for idx in torch.randperm(n).split(BATCH):
            xb, yb = Xt[idx], yt[idx]
            loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * idx.numel()
        return {"loss": total / n, "dtype": str(model[0].weight.dtype)}

    return epoch


def _gemm(X, hidden):
    import numpy as np

    rng = np.random.default_rng(0)
    sizes = [X.shape[1], *hidden, 10]  # h_0 = d, ..., h_L = k
    W = [rng.standard_normal(s, dtype=np.float32) for s in zip(sizes[:-1], sizes[1:], strict=True)]
    starts = np.arange(0, X.shape[0], BATCH)
    out = {}  # preallocated outputs per batch size (the last batch is smaller)
    for b in {min(BATCH, X.shape[0] - s) for s in starts}:
        out[b] = dict(
            Z=[np.empty((b, h), np.float32) for h in sizes[1:]],  # Z_1 .. Z_L (A_l is Z_l here)
            dW=[np.empty_like(Wl) for Wl in W],
            delta=[rng.standard_normal((b, h), dtype=np.float32) for h in sizes[1:]],
        )

    def epoch():
        for s in rng.permutation(starts):
            Xb = X[s : s + BATCH]  # (b, d)
            o = out[Xb.shape[0]]
            A = [Xb, *o["Z"][:-1]]  # A_0 .. A_{L-1}: each layer's input
            for A_in, Wl, Z in zip(A, W, o["Z"], strict=True):
                np.matmul(A_in, Wl, out=Z)  # forward: Z_l = A_{l-1} @ W_l
            for i in reversed(range(len(W))):  # layer l = i + 1, from the last
                np.matmul(A[i].T, o["delta"][i], out=o["dW"][i])  # backward: dW_l
                if i:
                    np.matmul(o["delta"][i], W[i].T, out=o["delta"][i - 1])  # delta_{l-1}
        return {"loss": None, "dtype": "float32"}

    return epoch


def _profile(epoch, top=12):
    """Run one epoch under cProfile; the top functions by own time, as rows."""
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    epoch()
    prof.disable()
    total = time.perf_counter() - t0
    stats = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (file, line, func), (_, ncalls, tottime, cumtime, _) in stats.stats.items():
        where = f"{Path(file).parent.name}/{Path(file).name}:{line}({func})" if line else func
        rows.append([where, ncalls, tottime, cumtime])
    rows.sort(key=lambda r: -r[2])
    return {"total": total, "rows": rows[:top]}


def _pairs(threads, reps=200, rounds=7):
    """Milliseconds per (forward product, velocity gemm) pair at h=800, three ways.

    The forward product ``X_b @ W1`` always by NumPy; then ``v <- v - X_b.T @ dZ1`` by
    NumPy (a new product, then a subtraction), by a gemm on NumPy's own BLAS
    (`nnsweep.nn._blas`), or by ``scipy.linalg.blas.sgemm``, which runs on SciPy's own
    copy of OpenBLAS and its own thread pool. Also the relu derivative at (128, 800):
    ``delta *= (A > 0)`` against ``delta[A <= 0] = 0``. Medians over ``rounds``.
    """
    import numpy as np
    from scipy.linalg import blas as sp_blas

    from nnsweep.nn import _blas

    rng = np.random.default_rng(0)
    n, d, h = BATCH, 784, 800
    X = rng.random((n, d), dtype=np.float32)
    W = rng.standard_normal((d, h), dtype=np.float32)
    dZ = rng.standard_normal((n, h), dtype=np.float32)
    v = np.zeros((d, h), np.float32)
    Z = np.empty((n, h), np.float32)

    def numpy_pair():
        np.matmul(X, W, out=Z)
        v.__isub__(X.T @ dZ)

    def own_blas_pair():
        np.matmul(X, W, out=Z)
        if not _blas.gemm(-1.0, X, dZ, 1.0, v):
            raise RuntimeError("nnsweep.nn._blas is not available here")

    def scipy_pair():
        np.matmul(X, W, out=Z)
        sp_blas.sgemm(-1.0, dZ.T, X.T, beta=1.0, c=v.T, trans_b=1, overwrite_c=1)

    A = np.maximum(rng.standard_normal((n, h), dtype=np.float32), 0)

    def relu_multiply():
        delta = dZ.copy()
        np.multiply(delta, A > 0, out=delta)

    def relu_index():
        delta = dZ.copy()
        delta[A <= 0] = 0

    def ms(f):
        f()
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(reps):
                f()
            times.append((time.perf_counter() - t0) / reps * 1e3)
        return statistics.median(times)

    out = {"threads": threads}
    for name, f in [
        ("numpy", numpy_pair),
        ("own BLAS gemm", own_blas_pair if _blas.AVAILABLE else None),
        ("scipy.linalg.blas gemm", scipy_pair),
        ("relu' by multiply", relu_multiply),
        ("relu' by index", relu_index),
    ]:
        out[name] = None if f is None else ms(f)
    return out


def worker(kind, hidden, threads):
    """Serve epochs on stdin/stdout: ``epoch`` -> seconds and info as JSON; ``quit`` ends."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)  # the environment already says so; this makes sure
    if kind == "pairs":
        print(json.dumps(_pairs(threads)), flush=True)
        return 0
    X, y = _load_mnist()
    if kind in ("ours", "base"):  # "base": nnsweep from the baseline tree on PYTHONPATH
        epoch = _ours(X, y, hidden)
    elif kind == "ours64":
        epoch = _ours(X, y, hidden, dtype="float64")
    elif kind == "sklearn":
        epoch = _sklearn(X, y, hidden)
    elif kind == "torch":
        epoch = _torch(X, y, hidden, threads)
    elif kind == "gemm":
        epoch = _gemm(X, hidden)
    else:
        raise SystemExit(f"unknown worker {kind!r}")
    import nnsweep

    print(json.dumps({"ready": True, "nnsweep": str(Path(nnsweep.__file__).parent)}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        if command == "profile":
            print(json.dumps(_profile(epoch)), flush=True)
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        info = epoch()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(json.dumps({"seconds": seconds, "cpu": cpu, **info}), flush=True)


# ----------------------------------------------------------------------------- parent
class Worker:
    """A worker process serving one contender's epochs."""

    #: Folder holding the baseline's ``nnsweep`` package (``--baseline``), or None.
    baseline_tree = None

    def __init__(self, kind, hidden, threads):
        """``hidden``: the widths' command-line form (``800``, ``1024x1024``)."""
        env = {**os.environ, **common.blas_env(threads)}
        if kind == "base":
            env["PYTHONPATH"] = os.pathsep.join(
                [str(self.baseline_tree)] + [p for p in [env.get("PYTHONPATH")] if p]
            )
        self.kind = kind
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", kind, "--hidden", hidden]
            + ["--threads", str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=common.ROOT,
        )

    def ask(self, command="epoch"):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.kind} died (exit code {self.proc.wait()})")
        return json.loads(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


QUIET_WAIT = common.QuietWaiter(QUIET, WAIT_BUDGET)


def timed_epoch(worker, max_wait):
    """One epoch of ``worker`` after waiting for a quiet machine; its seconds and contention.

    Contention is the CPU used by other processes while the epoch ran, in cores:
    all busy CPU time (from /proc/stat) less the worker's own, divided by the wall time.
    """
    waited, _ = QUIET_WAIT.wait(max_wait)
    b0 = common.cpu_busy_seconds()
    reply = worker.ask()
    b1 = common.cpu_busy_seconds()
    others = None
    if b0 is not None and b1 is not None:
        others = max(0.0, (b1 - b0 - reply["cpu"]) / reply["seconds"])
    return {"seconds": reply["seconds"], "cpu": reply["cpu"], "others": others, "waited": waited}


def summarize(epochs):
    """Median over the epochs that ran on a quiet machine when there are 3 or more.

    Returns (median seconds, number of quiet epochs, whether the quiet median was used).
    """
    quiet = [e["seconds"] for e in epochs if e["others"] is not None and e["others"] < QUIET]
    if len(quiet) >= 3:
        return statistics.median(quiet), len(quiet), True
    return statistics.median(e["seconds"] for e in epochs), len(quiet), False


def measure(hidden, threads, kinds, rounds, max_wait, profile=False):
    """One configuration: warm-up, then ``rounds`` rotated rounds of one epoch each."""
    workers = {k: Worker(k, hidden, threads) for k in kinds}
    try:
        for k, w in workers.items():
            ready = w.read()  # ready: data loaded, model built
            expected = Worker.baseline_tree if k == "base" else common.ROOT
            if expected is not None and Path(ready["nnsweep"]).parent != Path(expected):
                raise RuntimeError(f"worker {k} imported nnsweep from {ready['nnsweep']}")
        warmup = {k: w.ask() for k, w in workers.items()}  # first epoch: input checks etc.
        epochs = {k: [] for k in kinds}
        for r in range(rounds):
            order = kinds[r % len(kinds) :] + kinds[: r % len(kinds)]
            for k in order:
                epochs[k].append(timed_epoch(workers[k], max_wait))
        prof = None
        if profile and "ours" in workers:
            QUIET_WAIT.wait(max_wait)
            prof = workers["ours"].ask("profile")
    finally:
        for w in workers.values():
            w.close()
    summary = {k: summarize(v) for k, v in epochs.items()}
    return {
        "hidden": hidden,
        "threads": threads,
        "epochs": epochs,
        "median": {k: v[0] for k, v in summary.items()},
        "n_quiet": {k: v[1] for k, v in summary.items()},
        "quiet_median": {k: v[2] for k, v in summary.items()},
        "dtypes": {k: v["dtype"] for k, v in warmup.items()},
        "warmup": {k: v["seconds"] for k, v in warmup.items()},
        "profile": prof,
    }


def _fmt(x):
    return f"{x:.3f}"


def _cell(res, kind):
    """Median seconds, starred when too few epochs ran undisturbed to leave the rest out."""
    if kind not in res["median"]:
        return "n/a"
    return _fmt(res["median"][kind]) + ("" if res["quiet_median"][kind] else "*")


def _epoch_text(e):
    others = "?" if e["others"] is None else f"{e['others']:.2f}"
    return f"{e['seconds']:.3f} ({others})"


def _cpu_ratio(res, a, b):
    e = res["epochs"]
    if a not in e or b not in e:
        return "n/a"
    cpu = {k: statistics.median(x["cpu"] for x in e[k]) for k in (a, b)}
    return f"{cpu[a] / cpu[b]:.2f}"


def _ratio(res, a, b):
    m = res["median"]
    return f"{m[a] / m[b]:.2f}" if a in m and b in m else "n/a"


ABOUT = (
    "Seconds per epoch on the real MNIST training set: 60000 x 784 float32, 10 classes, relu "
    "hidden layers of h units (h1xh2: two layers), batch 128 (469 batches, shuffled), SGD "
    "learning rate 0.01, momentum 0.9, no penalty. Each contender runs in its own process with "
    "its BLAS/OpenMP threads fixed and keeps its model between epochs; after one warm-up epoch "
    "each, rounds of one epoch per contender, the order rotating every round. GEMM bound: the "
    "3L - 1 matrix products of every batch of an L-layer network alone (forward A @ W of every "
    "layer, backward A.T @ delta of every layer and delta @ W.T of all but the first: five for "
    "one hidden layer; NumPy float32, preallocated outputs, the same threads). "
    "Baseline (`--baseline`): the same code at another commit, one more contender in the same "
    "rounds. Before each epoch the benchmark waits (a bounded time) until other processes use "
    f"fewer than {QUIET} cores, and measures what they use during it (busy CPU from /proc/stat "
    "less the contender's own); each number is the median over the quiet epochs, or over all "
    "epochs (*) when fewer than 3 were quiet."
)


def tables(results, rounds, pairs=()):
    """The results file's tables, from the measurements."""
    kinds = [k for k in (*CONTENDERS, "base", "ours64") if any(k in r["median"] for r in results)]
    has_base = "base" in kinds
    rows = []
    for res in results:
        others = [
            e["others"] for v in res["epochs"].values() for e in v if e["others"] is not None
        ]
        rows.append(
            [
                res["hidden"],
                res["threads"],
                _cell(res, "ours"),
                *([_cell(res, "base"), _ratio(res, "base", "ours")] if has_base else []),
                _cell(res, "sklearn"),
                _cell(res, "torch"),
                _cell(res, "gemm"),
                _ratio(res, "ours", "gemm"),
                _ratio(res, "sklearn", "ours"),
                _ratio(res, "torch", "ours"),
                *([_ratio(res, "base", "gemm"), _ratio(res, "torch", "base")] if has_base else []),
                "/".join(str(res["n_quiet"][k]) for k in kinds if k in res["n_quiet"]),
                f"{statistics.median(others):.2f}" if others else "?",
            ]
        )
    order = "/".join(LABELS[k].replace("GEMM bound", "GEMM") for k in kinds)
    out = [
        common.table(
            "Seconds per epoch",
            [
                "h",
                "threads",
                "ours s/epoch",
                *(["baseline s/epoch", "baseline/ours"] if has_base else []),
                "sklearn s/epoch",
                "torch s/epoch",
                "GEMM bound",
                "ours/bound",
                "sklearn/ours",
                "torch/ours",
                *(["baseline/bound", "torch/baseline"] if has_base else []),
                f"quiet epochs ({order})",
                "others (cores)",
            ],
            rows,
            note=f"Rounds: {rounds}. A ratio a/b above 1: b is faster. 'others': the median "
            "outside use over all timed epochs.",
        )
    ]
    f64 = [r for r in results if "ours64" in r["median"]]
    if f64:
        out.append(
            common.table(
                "float32 against float64 (ours)",
                [
                    "h",
                    "threads",
                    "ours float32 s/epoch",
                    "ours float64 s/epoch",
                    "float64/float32",
                ],
                [
                    [
                        r["hidden"],
                        r["threads"],
                        _cell(r, "ours"),
                        _cell(r, "ours64"),
                        _ratio(r, "ours64", "ours"),
                    ]
                    for r in f64
                ],  # fmt: skip
            )
        )
    raw_rows = [
        [res["hidden"], res["threads"], LABELS[k], res["dtypes"][k], _fmt(res["warmup"][k])]
        + [" ".join(_epoch_text(e) for e in v)]
        for res in results
        for k, v in res["epochs"].items()
    ]
    out.append(
        common.table(
            "Raw timings",
            ["h", "threads", "contender", "dtype", "warm-up epoch", "timed epochs (others)"],
            raw_rows,
            note="Seconds per timed epoch in round order, with the cores other processes used "
            "during it in parentheses.",
        )
    )
    single = [r for r in results if r["threads"] == 1]
    if single:
        out.append(
            common.table(
                "CPU seconds per epoch at 1 thread",
                ["h", *(LABELS[k] for k in kinds), "ours/bound", "sklearn/ours", "torch/ours"],
                [
                    [r["hidden"]]
                    + [
                        _fmt(statistics.median(e["cpu"] for e in r["epochs"][k]))
                        if k in r["epochs"]
                        else "n/a"
                        for k in kinds
                    ]
                    + [_cpu_ratio(r, a, b) for a, b in (("ours", "gemm"), ("sklearn", "ours"))]
                    + [_cpu_ratio(r, "torch", "ours")]
                    for r in single
                ],
                note="Median over all timed epochs, quiet or not: a single-threaded process "
                "that waits for a core loses wall time, not CPU time.",
            )
        )
    for res in results:
        p = res["profile"]
        if p:
            out.append(
                common.table(
                    f"Where ours spends an epoch: h={res['hidden']}, {res['threads']} "
                    f"thread(s), {p['total']:.3f} s under cProfile",
                    ["function", "calls", "own s", "share", "cumulative s"],
                    [
                        [f"`{w}`", n, _fmt(t), f"{100 * t / p['total']:.0f}%", _fmt(c)]
                        for w, n, t, c in p["rows"]
                    ],
                )
            )
    if pairs:
        names = ["numpy", "own BLAS gemm", "scipy.linalg.blas gemm", "relu' by multiply",
                 "relu' by index"]  # fmt: skip
        out.append(
            common.table(
                "A gemm into the velocity: NumPy's BLAS or SciPy's (ms)",
                ["threads", *names],
                [
                    [p["threads"], *("n/a" if p[k] is None else f"{p[k]:.3f}" for k in names)]
                    for p in pairs
                ],
                note="Milliseconds per pair: `X_b @ W1` by NumPy, then `v <- v - X_b.T @ dZ1` "
                "(h=800, batch 128) by NumPy (a product and a subtraction), by a gemm on "
                "NumPy's own BLAS (`nnsweep.nn._blas`), or by `scipy.linalg.blas.sgemm` "
                "(SciPy's own OpenBLAS and thread pool). The relu derivative at (128, 800): "
                "`delta *= (A > 0)` against `delta[A <= 0] = 0`. Medians of 7 rounds of 200.",
            )
        )
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: h=256, 1 round")
    parser.add_argument("--rounds", type=int, help="timed rounds per configuration")
    parser.add_argument(
        "--hidden",
        nargs="+",
        help="hidden layers' widths, 800 or 1024x1024 for two layers (default 256 800 1024x1024)",
    )
    parser.add_argument("--threads", type=int, nargs="+", help="BLAS threads (default 1 2)")
    parser.add_argument(
        "--max-wait",
        type=float,
        help="seconds to wait at most, before each epoch, for other processes to go quiet "
        "(default 20, or 2 with --quick)",
    )
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument(
        "--no-sklearn", action="store_true", help="leave scikit-learn out (a shorter run)"
    )
    parser.add_argument(
        "--baseline",
        metavar="REF",
        help="also time nnsweep as of this git commit, as one more contender in the same rounds",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, _widths(args.hidden[0]), args.threads[0])

    rounds = args.rounds or (1 if args.quick else 7)
    if args.max_wait is None:
        args.max_wait = 2.0 if args.quick else 20.0
    hiddens = args.hidden or (["256"] if args.quick else ["256", "800", "1024x1024"])
    widest = max((h for h in hiddens if len(_widths(h)) == 1), key=_widths, default=None)
    threads = args.threads or [1, 2]
    has_torch = not args.no_torch and common.version("torch") is not None
    kinds = tuple(
        k
        for k in CONTENDERS
        if (has_torch or k != "torch") and not (args.no_sklearn and k == "sklearn")
    )
    env = common.environment(torch=has_torch)
    if args.baseline:
        env["baseline"] = common.git("rev-parse", "--short", args.baseline) or args.baseline
        Worker.baseline_tree = Path(tempfile.mkdtemp(prefix="nnsweep-baseline-"))
        archive = subprocess.run(
            ["git", "archive", args.baseline, "nnsweep"], cwd=common.ROOT, capture_output=True
        )
        if archive.returncode:
            raise SystemExit(f"git archive {args.baseline}: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x"], input=archive.stdout, cwd=Worker.baseline_tree, check=True)
        kinds = kinds[:1] + ("base",) + kinds[1:]
    results = []
    for t in threads:
        for h in hiddens:
            extra = ("ours64",) if (h == widest and t == max(threads)) else ()
            here = kinds if len(_widths(h)) == 1 else tuple(k for k in kinds if k != "base")
            t0 = time.perf_counter()
            res = measure(h, t, here + extra, rounds, args.max_wait, profile=True)
            print(
                f"h={h} threads={t}: "
                + ", ".join(f"{LABELS[k]} {v:.3f}" for k, v in res["median"].items())
                + f" s/epoch ({time.perf_counter() - t0:.0f} s, load {common.loadavg()})",
                file=sys.stderr,
                flush=True,
            )
            results.append(res)
    pairs = []
    for t in threads:
        QUIET_WAIT.wait(args.max_wait)
        w = Worker("pairs", "800", t)
        pairs.append(w.read())
        w.proc.stdin.close()
        w.proc.wait(timeout=60)
    env["extra"] = {"time spent waiting for a quiet machine": f"{QUIET_WAIT.waited:.0f} s"}
    if Worker.baseline_tree is not None:
        shutil.rmtree(Worker.baseline_tree, ignore_errors=True)
    common.write_results(
        "speed",
        "Training speed: seconds per epoch on MNIST",
        env,
        tables(results, rounds, pairs),
        data={"rounds": rounds, "results": results, "pairs": pairs},
        about=ABOUT,
        quick=args.quick,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
