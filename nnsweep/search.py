"""The sweep's public names, as before `nnsweep.sweep` became a package (kept for imports).

``from nnsweep.search import run_sweep`` goes on working; new code imports `nnsweep.sweep`.
"""

from .sweep import *  # noqa: F403
from .sweep import __all__  # noqa: F401
