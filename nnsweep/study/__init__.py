"""The study's source of truth: the Optuna storage, and what the sweep and tracking share.

* `storage`: the Optuna storage, a journal file on this machine or a database server.
* `journal`: the journal file's lock, repair and disk checks.
* `locks`: the sweep and budget locks of a study.
* `records`: what a trial reports and how it ended, the contract between sweep and tracking.
* `redact`: secrets masked in URLs and messages.

Both `nnsweep.sweep` and `nnsweep.tracking` import this package; it imports neither.
"""
