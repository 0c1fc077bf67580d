"""``python -m nnsweep``: the same as the ``nnsweep`` command."""

import signal
import sys

# A stop signal while the command is still importing, before `main` handles stops: the exit
# status of a stop (130, 143, 129), without a traceback. Imports can take seconds on a busy
# machine; nothing has started yet, so there is nothing to clean up. After the imports, a
# stop raises KeyboardInterrupt, which `main` handles for every command.
_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


def _stopped_while_importing(signum, _frame):
    sys.exit(_CODES[signum])


def run():
    """The ``nnsweep`` command: `nnsweep.cli.main`, with stops during its imports handled."""
    for sig in _CODES:
        signal.signal(sig, _stopped_while_importing)
    # Each line as it is printed, also into a pipe or a file (`| tee`, a log, the tests)
    sys.stdout.reconfigure(line_buffering=True)
    from .stopping import enable_stack_dumps

    enable_stack_dumps()
    from .cli import main
    from .cli.signals import arm_deadline, interrupt_on_stop

    interrupt_on_stop()
    arm_deadline()  # once asked to stop, the command exits within seconds, whatever happens

    return main()


if __name__ == "__main__":
    sys.exit(run())
