"""The progress bar of a sweep: trials done, the best so far, time left.

Fed by polling the study's storage from a thread of the command's process (the workers are
other processes and report only to the storage).
"""

from __future__ import annotations

import threading
import time

from optuna.trial import TrialState

from .worker import count_budget

__all__ = ["ProgressBar"]


class ProgressBar:
    """A tqdm bar fed by polling the study's storage from a thread of the parent process."""

    def __init__(self, study, n_trials, deadline, enabled=True, interval=1.0):
        self._stop = threading.Event()
        self._thread = None
        if not enabled:
            return
        from tqdm.auto import tqdm

        self._bar = tqdm(total=n_trials, desc=f"study {study.study_name}", unit="trial")
        self._study, self._deadline, self._interval = study, deadline, interval
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self):
        while not self._stop.wait(self._interval):
            self._update()

    def _update(self):
        try:
            done = count_budget(self._study, running=False)
            trials = self._study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        except Exception:  # the storage is busy: try again at the next tick
            return
        values = [t.value for t in trials]
        postfix = {"best": f"{max(values):.4f}"} if values else {}
        if self._deadline:
            postfix["left"] = f"{max(0, self._deadline - time.time()):.0f}s"
        self._bar.n = done
        self._bar.set_postfix(postfix, refresh=True)

    def close(self):
        """Stop polling and close the bar after a last update."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._update()
            self._bar.close()
