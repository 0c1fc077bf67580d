"""Where a careful user looks after a sweep, looked at for them: the summary's warnings.

* `at_bounds`: a best parameter (or a best layer's width) within `EDGE` of a bound of its
  range (on the log scale for a log range): the best may lie outside the range, so the range
  should be widened.
* `failures`: more than `MAX_FAILED` of the trials failed or diverged (interrupted trials,
  retried, do not count), with the commonest error.
* `outlier_fold`: the best trial's folds disagree far more than the other trials' do
  (`OUTLIER_STD` times their median CV std): its mean may be one lucky fold.

Each returns sentences, empty when all is well; `warnings` gathers them. They are advice about
the study, never errors: the sweep's result stands.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter

from optuna.trial import TrialState

from ..study.records import Attr, StopReason, is_interrupted
from .factories import layer_units

__all__ = [
    "EDGE",
    "MAX_FAILED",
    "OUTLIER_STD",
    "at_bounds",
    "failures",
    "outlier_fold",
    "warnings",
]

EDGE = 0.03  # a best value within 3 % of its range's width (log width for log ranges) of a bound
MAX_FAILED = 0.1  # more than a tenth of the finished trials failed or diverged
OUTLIER_STD = 3.0  # the best trial's CV std over the median of the complete trials'
_MIN_TRIALS = 5  # fewer complete trials than this: no median to compare with


def _position(value, low, high, log):
    """Where ``value`` lies in ``[low, high]``, from 0 to 1 (on the log scale if ``log``)."""
    if log:
        value, low, high = math.log(value), math.log(low), math.log(high)
    return (value - low) / (high - low)


def _widened(bound, low, high, log, lower):
    """A suggestion for the bound: one range's width further out.

    For a log range, its own ratio high / low, at most a factor of 10: 512-1024 units widen
    to 2048, not 10240.
    """
    if log:
        factor = min(10.0, high / low)
        return bound / factor if lower else bound * factor
    return bound - (high - low) if lower else bound + (high - low)


def at_bounds(spec, best_params) -> list[str]:
    """A sentence for each tuned number whose best value sits at a bound (a layer's width too)."""
    out = []
    for p in spec.search_space:
        value = best_params.get(p.name)
        named = [(p.name, value)]
        if p.type == "layers" and isinstance(value, list | tuple):
            named = [(layer_units(k), width) for k, width in enumerate(value, 1)]
        for name, value in named:
            if p.type == "categorical" or not isinstance(value, int | float) or p.high <= p.low:
                continue
            if p.log and value <= 0:
                continue
            if p.off is not None and value == p.off and not p.low <= value <= p.high:
                continue  # the parameter was off in the best trial
            where = _position(value, p.low, p.high, p.log)
            for lower, near in ((True, where <= EDGE), (False, where >= 1 - EDGE)):
                if near:
                    bound = p.low if lower else p.high
                    key = "low" if lower else "high"
                    wider = _widened(bound, p.low, p.high, p.log, lower)
                    wider = f"{round(wider)}" if p.type in ("int", "layers") else f"{wider:.3g}"
                    out.append(
                        f"the best {name} ({value:.4g}) is at the "
                        f"{'lower' if lower else 'upper'} bound {bound:g} of its range: the best "
                        f"may lie beyond it; widen it ([search_space.{p.name}] {key} = "
                        f"{wider}, where the value is valid)"
                    )
    return out


def failures(trials) -> list[str]:
    """A sentence when more than `MAX_FAILED` of the finished trials failed or diverged."""
    finished = [t for t in trials if t.state.is_finished() and not is_interrupted(t)]
    bad = [t for t in finished if t.state == TrialState.FAIL]
    if not finished or len(bad) <= MAX_FAILED * len(finished):
        return []
    diverged = sum(t.user_attrs.get(Attr.STOP_REASON) == StopReason.DIVERGED for t in bad)
    errors = Counter(t.user_attrs.get(Attr.ERROR) or "no message" for t in bad)
    error, count = errors.most_common(1)[0]
    return [
        f"{len(bad)} of {len(finished)} trials failed ({diverged} diverged); the commonest "
        f"error ({count}): {error}"
    ]


def outlier_fold(trials, best) -> list[str]:
    """A sentence when the best trial's CV std is far above the other complete trials'."""
    stds = [
        t.user_attrs.get(Attr.CV_STD)
        for t in trials
        if t.state == TrialState.COMPLETE and t.number != best.number
    ]
    stds = [s for s in stds if s is not None]
    best_std = best.user_attrs.get(Attr.CV_STD)
    if best_std is None or len(stds) < _MIN_TRIALS - 1:
        return []
    typical = statistics.median(stds)
    if typical <= 0 or best_std <= OUTLIER_STD * typical:
        return []
    scores = best.user_attrs.get(Attr.FOLD_SCORES) or []
    folds = ", ".join(f"{s:.4f}" for s in scores if s is not None)
    return [
        f"the best trial #{best.number}'s folds disagree ({folds}): its CV std {best_std:.4f} is "
        f"{best_std / typical:.1f}x the median of the other complete trials ({typical:.4f}); "
        "its mean may rest on one fold: look at the trials just below it"
    ]


def warnings(spec, study, best_params) -> list[str]:
    """Every warning about a finished study (its best trial, its failures), in order."""
    trials = study.get_trials(deepcopy=False)
    out = failures(trials)
    if any(t.state == TrialState.COMPLETE for t in trials):
        out = at_bounds(spec, best_params) + outlier_fold(trials, study.best_trial) + out
    return out
