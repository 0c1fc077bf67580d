"""Study files: load a ``studies/*.toml`` file, validate it, return a frozen `StudySpec`.

The schema is declared once, as pydantic dataclasses (`schema`: each key's type, constraints,
default, meaning and metadata, the rules across keys); `load_study` reads the TOML, applies
command-line overrides (`parse_overrides`) and validates it, refusing any problem before
anything starts as one `StudyFileError` naming the file, the dotted key and what was expected
(`errors` words pydantic's errors). A study's identity for resuming it: `study_fingerprint`,
`changed_keys`, `StudyChangedError` (`fingerprint`).

Leaves out: running anything. No Optuna, MLflow, scikit-learn or estimator import; no data
loading (only ``data.path`` is checked to exist). The estimator's parameters come from the
caller: its parameter names, so that *keys* are checked here, and a validator of its own, so
that the *values* of ``[estimator]`` and the search space's bounds and choices are checked
with the estimator's constraints (``nnsweep.estimator.check_estimator_params``).
"""

from .errors import StudyFileError
from .fingerprint import StudyChangedError, changed_keys, study_fingerprint
from .load import load_study, parse_overrides
from .schema import DATASETS, DEFAULT_TRACKING_URI, METRICS, CVSpec, DataSpec, ParamSpec, StudySpec

__all__ = [
    "DATASETS",
    "DEFAULT_TRACKING_URI",
    "METRICS",
    "CVSpec",
    "DataSpec",
    "ParamSpec",
    "StudyChangedError",
    "StudyFileError",
    "StudySpec",
    "changed_keys",
    "load_study",
    "parse_overrides",
    "study_fingerprint",
]
