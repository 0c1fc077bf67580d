"""``python -m nnsweep``: the same as the ``nnsweep`` command."""

import sys

from .cli import main

sys.exit(main())
