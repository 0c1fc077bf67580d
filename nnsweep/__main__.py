"""``python -m nnsweep``: the same as the ``nnsweep`` command."""

import signal
import sys

# A stop signal while the command is still importing, before `main` handles stops: the exit
# status of a stop (130, 143, 129), without a traceback. Imports can take seconds on a busy
# machine; nothing has started yet, so there is nothing to clean up.
_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


def _stopped_while_importing(signum, _frame):
    sys.exit(_CODES[signum])


def run():
    """The ``nnsweep`` command: `nnsweep.cli.main`, with stops during its imports handled."""
    previous = {sig: signal.signal(sig, _stopped_while_importing) for sig in _CODES}
    from .cli import main

    for sig, handler in previous.items():
        signal.signal(sig, handler)
    return main()


if __name__ == "__main__":
    sys.exit(run())
