"""BLAS calls that NumPy does not expose, on the BLAS that NumPy itself uses.

``np.matmul`` always writes a fresh product. The BLAS routine beneath it, ``gemm``,
computes ``C <- alpha * op(A) @ op(B) + beta * C``, so SGD's velocity update
``v <- mu * v - A.T @ B`` is ``scal`` (``v <- mu * v``) and one gemm that adds the
product into the velocity buffer (``alpha = -1``, ``beta = 1``), instead of a
product into a new array and a pass to subtract it. ``scal`` and ``axpy``
(``y <- alpha * x + y``) are passes that OpenBLAS spreads over its threads, where
a NumPy ufunc runs on one core. `fused.FusedSGD` uses them when it can.

Where the calls go: the BLAS library that NumPy's own extension module is linked
against, reached with ``ctypes`` through that module (``dlsym`` on its handle searches
it and the libraries it is linked to), so the calls run on NumPy's kernels and
NumPy's threads (``threadpoolctl`` limits apply to them as to ``np.matmul``).
``scipy.linalg.blas`` is not used on purpose: SciPy ships its own copy of OpenBLAS
with its own thread pool, and with 2 threads each pool's idle threads spin while the
other works, so that a product by NumPy followed by a gemm by SciPy is many times
slower than both on NumPy's BLAS (``benchmarks/results/speed.md`` measures it).

Which names: the CBLAS names as NumPy's ``npy_cblas.h`` builds them,
``{prefix}cblas_{s,d}{gemm,axpy,scal}{suffix}``, tried in the order of `_NAMINGS`; the
first set found in full is used, with the integer width that goes with its name:

* ``scipy_cblas_*64_``, 64-bit: scipy-openblas64, NumPy's wheels (Linux, and macOS on
  x86-64 or before macOS 14); ``scipy_cblas_*``, 32-bit: scipy-openblas32.
* ``cblas_*64_``, 64-bit: OpenBLAS built with 64-bit integers under its usual suffix
  (NumPy 1.x wheels, some Linux distributions).
* ``cblas_*_64``, 64-bit: MKL's ILP64 names (oneMKL 2023 and later), which NumPy's
  ILP64 MKL builds use.
* ``cblas_*$NEWLAPACK$ILP64``, 64-bit, and ``cblas_*$NEWLAPACK``, 32-bit: macOS
  Accelerate (13.3 and later), which NumPy's arm64 wheels for macOS 14 and later use.
* ``cblas_*``, 32-bit: conda-forge's ``libcblas`` (OpenBLAS, MKL, BLIS or Netlib
  behind it), MKL's ``libmkl_rt`` (LP64 unless told otherwise), Accelerate's classic
  names, FlexiBLAS, a distribution's OpenBLAS. 64-bit instead when ``np.__config__``
  shows an OpenBLAS built ``USE64BITINT``, or ``MKL_INTERFACE_LAYER`` asks for ILP64.

Only the first is tried on this project's machines; the others follow the libraries'
naming conventions. A wrong integer width would misread the sizes (and may crash the
self-test), so no name is guessed beyond these. Not found, hence NumPy: Windows
(``GetProcAddress`` sees only the module's own exports), and a BLAS linked into NumPy
statically.

This is an optional path, in a module of its own: `fused` uses it, when `AVAILABLE` (the
one switch: the names found and the self-test passed) and `usable` say so. `gemm`, `axpy`
and `scal` return False, and do nothing, whenever it does not apply: no BLAS found or the
switch off, arrays that are not C-contiguous float32/float64 of one dtype, an output
smaller than `MIN_SIZE` elements (there a NumPy ufunc costs less than a call through
ctypes). The caller then computes the same thing with NumPy, and gets the same bits, as
long as the calls are kept to the forms `fused` uses: gemm with ``alpha = +-1`` and
``beta`` 0 or 1 adds the product as ``np.matmul`` computes it (the same kernel) with one
rounding, as ``C += A.T @ B`` does; ``scal`` is one rounded product per element, as
``x *= alpha``; ``axpy`` with ``alpha = +-1`` one rounded sum, as ``y += x`` or ``y -= x``.
(Not so a gemm with another ``beta``: OpenBLAS's kernel for small matrices then rounds
``beta * C + product`` once, where NumPy rounds twice.) The self-test at import checks
these forms against NumPy, bit for bit, and turns the path off if one differs, as a BLAS
that accumulates ``C + A.T @ B`` in another order would; ``tests/test_optim.py`` checks
them on larger shapes when the path is on.

The math core still imports nothing but numpy (and the standard library).
"""

import ctypes
import os

import numpy as np

__all__ = ["AVAILABLE", "FOUND", "MIN_SIZE", "axpy", "gemm", "scal", "usable"]

#: Outputs with fewer elements are left to NumPy (a bias, a 10-class output layer).
MIN_SIZE = 1 << 15

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112  # CBLAS enums

#: ``(prefix, suffix, 64-bit integers)`` of the CBLAS names, in the order tried (above).
_NAMINGS = (
    ("scipy_", "64_", True),
    ("scipy_", "", False),
    ("", "64_", True),
    ("", "_64", True),
    ("", "$NEWLAPACK$ILP64", True),
    ("", "$NEWLAPACK", False),
    ("", "", None),  # plain names: 32-bit unless `_plain_names_take_int64`
)


def _plain_names_take_int64():
    """Whether plain ``cblas_*`` names take 64-bit integers here (module docstring)."""
    blas = getattr(np.__config__, "CONFIG", {}).get("Build Dependencies", {}).get("blas", {})
    mkl_layer = os.environ.get("MKL_INTERFACE_LAYER", "").upper()
    return "USE64BITINT" in blas.get("openblas configuration", "") or mkl_layer.startswith("ILP64")


def _numpy_blas():
    """``({dtype: (gemm, axpy, scal)}, names found)`` on NumPy's own BLAS, or ``(None, None)``."""
    try:
        from numpy._core import _multiarray_umath as core

        lib = ctypes.CDLL(core.__file__)  # dlsym searches the libraries it is linked to
    except (ImportError, OSError):  # pragma: no cover (numpy < 2, or no shared module)
        return None, None

    def names(prefix, suffix, _):
        return [f"{prefix}cblas_{t}{op}{suffix}" for t in "sd" for op in ("gemm", "axpy", "scal")]

    found = [naming for naming in _NAMINGS if all(hasattr(lib, n) for n in names(*naming))]
    if not found:
        return None, None
    prefix, suffix, int64 = found[0]
    int64 = _plain_names_take_int64() if int64 is None else int64
    c_int, ptr, funcs = ctypes.c_int64 if int64 else ctypes.c_int32, ctypes.c_void_p, {}
    symbols = [getattr(lib, n) for n in names(*found[0])]  # s: gemm, axpy, scal; then d
    for dtype, c_real, (gemm_f, axpy_f, scal_f) in (
        (np.float32, ctypes.c_float, symbols[:3]),
        (np.float64, ctypes.c_double, symbols[3:]),
    ):
        gemm_f.restype = axpy_f.restype = scal_f.restype = None
        gemm_f.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, c_int, c_int, c_int]
        gemm_f.argtypes += [c_real, ptr, c_int, ptr, c_int, c_real, ptr, c_int]
        axpy_f.argtypes = [c_int, c_real, ptr, c_int, ptr, c_int]
        scal_f.argtypes = [c_int, c_real, ptr, c_int]
        funcs[np.dtype(dtype)] = (gemm_f, axpy_f, scal_f)
    return funcs, f"{prefix}cblas_*{suffix} ({64 if int64 else 32}-bit integers)"


_FUNCS, FOUND = _numpy_blas()


def usable(out, *arrays):
    """Whether the calls apply to ``out`` and ``arrays`` (module docstring).

    True when the path is on (`AVAILABLE`), ``out`` has at least `MIN_SIZE` elements,
    and all are C-contiguous ndarrays of one dtype, float32 or float64.
    """
    if not AVAILABLE or out.size < MIN_SIZE:  # checked first: the common "no"
        return False
    dtype = out.dtype
    return dtype in _FUNCS and all(
        type(a) is np.ndarray and a.dtype == dtype and a.flags.c_contiguous for a in (out, *arrays)
    )


def gemm(alpha, A, B, beta, C):
    """``C <- alpha * A.T @ B + beta * C`` in place; False (and nothing done) if not possible.

    Parameters
    ----------
    alpha, beta : float
    A : ndarray of shape (k, m)
    B : ndarray of shape (k, n)
    C : ndarray of shape (m, n)
        C-contiguous, and of the dtype of ``A`` and ``B`` (float32 or float64).

    Returns
    -------
    bool
        Whether the call was made.
    """
    if not usable(C, A, B) or A.ndim != 2 or B.ndim != 2 or C.ndim != 2:
        return False
    (k, m), (k_b, n) = A.shape, B.shape
    if k != k_b or C.shape != (m, n) or 0 in (k, m, n):
        return False
    _FUNCS[C.dtype][0](
        _ROW_MAJOR, _TRANS, _NO_TRANS, m, n, k,
        alpha, A.ctypes.data, m, B.ctypes.data, n, beta, C.ctypes.data, n,
    )  # fmt: skip
    return True


def axpy(alpha, x, y):
    """``y <- alpha * x + y`` in place; False (and nothing done) if not possible.

    ``x`` and ``y`` must be C-contiguous arrays of one shape and dtype (float32 or float64).
    """
    if not usable(y, x) or x.shape != y.shape:
        return False
    _FUNCS[y.dtype][1](x.size, alpha, x.ctypes.data, 1, y.ctypes.data, 1)
    return True


def scal(alpha, x):
    """``x <- alpha * x`` in place; False (and nothing done) if not possible.

    ``x`` must be a C-contiguous float32 or float64 array.
    """
    if not usable(x):
        return False
    _FUNCS[x.dtype][2](x.size, alpha, x.ctypes.data, 1)
    return True


def _self_test():
    """The forms `fused` uses against NumPy, bit for bit; False disables the path."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        for k, m, n in ((16, 256, 128), (128, 300, 200)):  # OpenBLAS's small-matrix kernel and not
            A = rng.standard_normal((k, m)).astype(dtype)
            B = rng.standard_normal((k, n)).astype(dtype)
            C = rng.standard_normal((m, n)).astype(dtype)
            x = rng.standard_normal((m, n)).astype(dtype)
            expected = C * dtype(0.9)
            expected -= A.T @ B
            if not (scal(0.9, C) and gemm(-1.0, A, B, 1.0, C)):
                return False
            ok = np.array_equal(C, expected)
            expected += x
            ok = ok and axpy(1.0, x, C) and np.array_equal(C, expected)
            expected -= x
            ok = ok and axpy(-1.0, x, C) and np.array_equal(C, expected)
            ok = ok and gemm(1.0, A, B, 0.0, C) and np.array_equal(C, A.T @ B)
            if not ok:
                return False
    return True


#: The one switch of the fast path: NumPy's BLAS found and self-tested (tests turn it off).
AVAILABLE = _FUNCS is not None
AVAILABLE = AVAILABLE and _self_test()
