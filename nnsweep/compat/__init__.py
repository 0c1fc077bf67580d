"""Compatibility modules: one per third-party library, holding every private name we use.

Nothing else in nnsweep imports a library's private names (a leading ``_`` in the module or
the name); they are imported here, once, so that a release that moves one breaks one import
and one test (``tests/test_compat.py``), not code scattered over the package.
"""
