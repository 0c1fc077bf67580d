"""BLAS calls that NumPy does not expose, on the BLAS that NumPy itself uses.

``np.matmul`` always writes a fresh product. The BLAS routine beneath it, ``gemm``,
computes ``C <- alpha * op(A) @ op(B) + beta * C``, so SGD's velocity update
``v <- mu * v - A.T @ B`` is ``scal`` (``v <- mu * v``) and one gemm that adds the
product into the velocity buffer (``alpha = -1``, ``beta = 1``), instead of a
product into a new array and a pass to subtract it. ``scal`` and ``axpy``
(``y <- alpha * x + y``) are passes that OpenBLAS spreads over its threads, where
a NumPy ufunc runs on one core. `optim.SGD` uses them when it can.

Where the calls go: the BLAS library that NumPy's own extension module is linked
against (the scipy-openblas of NumPy's wheels), reached with ``ctypes`` through that
module, so the calls run on NumPy's kernels and NumPy's threads (``threadpoolctl``
limits apply to them as to ``np.matmul``). ``scipy.linalg.blas`` is not used on
purpose: SciPy ships its own copy of OpenBLAS with its own thread pool, and with 2
threads each pool's idle threads spin while the other works, so that a product by
NumPy followed by a gemm by SciPy is many times slower than both on NumPy's BLAS
(``benchmarks/results/speed.md`` measures it).

This is an optional path, in a module of its own. `gemm`, `axpy` and `scal` return False,
and do nothing, whenever it does not apply: NumPy linked against another BLAS (MKL,
Accelerate, a 32-bit-integer build this module does not know), arrays that are not
C-contiguous float32/float64 of one dtype, an output smaller than `MIN_SIZE`
elements (there a NumPy ufunc costs less than a call through ctypes), or a failed
self-test at import. The
caller then computes the same thing with NumPy, and gets the same bits, as long
as the calls are kept to the forms `optim` uses: gemm with ``alpha = +-1`` and
``beta`` 0 or 1 adds the product as ``np.matmul`` computes it (the same kernel)
with one rounding, as ``C += A.T @ B`` does; ``scal`` is one rounded product per
element, as ``x *= alpha``; ``axpy`` with ``alpha = +-1`` one rounded sum, as
``y += x`` or ``y -= x``. (Not so a gemm with another ``beta``: OpenBLAS's kernel for small
matrices then rounds ``beta * C + product`` once, where NumPy rounds twice.)
``tests/test_optim.py`` checks the forms used, bit for bit, when the path is available.

The math core still imports nothing but numpy (and the standard library).
"""

import ctypes

import numpy as np

__all__ = ["AVAILABLE", "MIN_SIZE", "axpy", "gemm", "scal"]

#: Outputs with fewer elements are left to NumPy (a bias, a 10-class output layer).
MIN_SIZE = 1 << 15

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112  # CBLAS enums


def _numpy_blas():
    """The CBLAS functions of NumPy's own BLAS as ``{dtype: (gemm, axpy, scal)}``, or None."""
    try:
        from numpy._core import _multiarray_umath as core
    except ImportError:  # pragma: no cover (numpy < 2)
        return None
    try:
        lib = ctypes.CDLL(core.__file__)  # dlsym searches the libraries it is linked to
    except OSError:  # pragma: no cover
        return None
    # scipy-openblas as NumPy's wheels ship it: 64-bit integers, "scipy_" prefix, "64_" suffix.
    prefix, suffix, c_int = "scipy_cblas_", "64_", ctypes.c_int64
    funcs = {}
    reals = ((np.float32, "s", ctypes.c_float), (np.float64, "d", ctypes.c_double))
    for dtype, letter, c_real in reals:
        try:
            gemm_f = getattr(lib, f"{prefix}{letter}gemm{suffix}")
            axpy_f = getattr(lib, f"{prefix}{letter}axpy{suffix}")
            scal_f = getattr(lib, f"{prefix}{letter}scal{suffix}")
        except AttributeError:
            return None
        ptr = ctypes.c_void_p
        gemm_f.restype = axpy_f.restype = scal_f.restype = None
        gemm_f.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, c_int, c_int, c_int]
        gemm_f.argtypes += [c_real, ptr, c_int, ptr, c_int, c_real, ptr, c_int]
        axpy_f.argtypes = [c_int, c_real, ptr, c_int, ptr, c_int]
        scal_f.argtypes = [c_int, c_real, ptr, c_int]
        funcs[np.dtype(dtype)] = (gemm_f, axpy_f, scal_f)
    return funcs


_FUNCS = _numpy_blas()


def _usable(out, *arrays):
    if _FUNCS is None or out.size < MIN_SIZE:  # checked first: the common "no"
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
    if not _usable(C, A, B) or A.ndim != 2 or B.ndim != 2 or C.ndim != 2:
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
    if not _usable(y, x) or x.shape != y.shape:
        return False
    _FUNCS[y.dtype][1](x.size, alpha, x.ctypes.data, 1, y.ctypes.data, 1)
    return True


def scal(alpha, x):
    """``x <- alpha * x`` in place; False (and nothing done) if not possible.

    ``x`` must be a C-contiguous float32 or float64 array.
    """
    if not _usable(x):
        return False
    _FUNCS[x.dtype][2](x.size, alpha, x.ctypes.data, 1)
    return True


def _self_test():
    """The forms `optim` uses against NumPy, bit for bit; False disables the path."""
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


AVAILABLE = _FUNCS is not None and _self_test()
if not AVAILABLE:
    _FUNCS = None
