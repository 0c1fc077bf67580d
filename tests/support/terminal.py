"""A real terminal for the tests that claim Ctrl-C behaviour: a pseudo-terminal.

`Terminal` runs a command as the session leader of a new pseudo-terminal, in the terminal's
foreground process group, as a shell would. Typing Ctrl-C (``ctrl_c``) writes ``\\x03`` to the
terminal, and the kernel's line discipline sends SIGINT to the whole foreground group: the
command, its worker processes and its MLflow writer, exactly as in a terminal window. That is
not what ``Popen.send_signal`` to one pid does.

It also records every process the command starts (``descendants``), so that a test can check
that none outlives it.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import subprocess
import termios
import threading
import time

import psutil

from tests.support.processes import note_overdue_stop


class Terminal:
    """``Terminal(cmd, cwd, env)``: the command running in a pseudo-terminal of its own."""

    def __init__(self, cmd, cwd, env):
        master, slave = os.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[3] |= termios.ISIG  # Ctrl-C makes SIGINT (the default; made sure)
        termios.tcsetattr(slave, termios.TCSANOW, attrs)

        def become_terminal_session():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            preexec_fn=become_terminal_session,
            close_fds=True,
        )
        os.close(slave)
        self.master = master
        self.started = time.monotonic()
        self._chunks = []
        self.descendants: set[int] = set()
        self._stop = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._watch, daemon=True).start()

    def _read(self):
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:  # the terminal's last process is gone
                return
            if not data:
                return
            self._chunks.append(data)

    def _watch(self):
        while not self._stop.is_set() and self.proc.poll() is None:
            try:
                for child in psutil.Process(self.proc.pid).children(recursive=True):
                    self.descendants.add(child.pid)
            except psutil.Error:
                pass
            time.sleep(0.05)

    @property
    def output(self) -> str:
        """Everything the terminal showed so far."""
        return b"".join(self._chunks).decode(errors="replace")

    def ctrl_c(self):
        """Type Ctrl-C: SIGINT to the terminal's foreground process group."""
        os.write(self.master, b"\x03")

    def signal_group(self, sig):
        """Send ``sig`` to the whole process group (as a terminal hang-up sends SIGHUP)."""
        os.killpg(self.proc.pid, sig)

    def signal_command(self, sig):
        """Send ``sig`` to the command alone (as ``timeout``, systemd or Slurm do)."""
        os.kill(self.proc.pid, sig)

    def wait_until(self, predicate, timeout, interval=0.05):
        """Poll ``predicate()`` while the command runs: True once it holds, False when the
        command ended first or ``timeout`` s passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if predicate():
                return True
            time.sleep(interval)
        return False

    def wait(self, timeout):
        """The exit code and the seconds it took, or (None, timeout) after killing it all."""
        start = time.monotonic()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.dump_stacks()
            self.kill()
            return None, timeout
        took = time.monotonic() - start
        note_overdue_stop(self.output, "the command in the terminal")
        return code, took

    def survivors(self, grace=2.0) -> list[str]:
        """Processes the command started that are still alive (after ``grace`` s)."""
        deadline = time.monotonic() + grace
        while True:
            alive = []
            for pid in self.descendants:
                try:
                    p = psutil.Process(pid)
                    if p.status() != psutil.STATUS_ZOMBIE:
                        alive.append(f"{pid} {' '.join(p.cmdline())[:120]}")
                except psutil.Error:
                    continue
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.1)

    def _signal_all(self, sig):
        for pid in [self.proc.pid, *self.descendants]:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def dump_stacks(self):
        """Each process of the sweep prints its threads' stacks into the output (a hang)."""
        self._signal_all(signal.SIGUSR1)
        time.sleep(2.0)

    def kill(self):
        """Kill the command and everything it started."""
        self._signal_all(signal.SIGKILL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def close(self):
        """Stop reading; kill what is left; close the terminal."""
        self._stop.set()
        if self.proc.poll() is None:
            self.kill()
        try:
            os.close(self.master)
        except OSError:
            pass
