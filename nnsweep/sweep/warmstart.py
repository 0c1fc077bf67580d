"""Warm start: a new study begins with what earlier studies found (``--warm-start OLD``).

Optuna takes finished trials as data: ``study.add_trial(create_trial(...))`` puts a trial in
the storage as if it had run, and TPE models it like any other. So the finished trials of an
earlier study, on the same data set and metric, whose parameters lie in the new study's space,
are added to the new study as observed trials, with their values, fold scores, estimator
parameters and learning curves: the complete ones, and the pruned ones too, as pruned trials,
because TPE ranks a pruned trial by its last reported epoch and learns from the bad regions
as much as from the good (``optuna.copy_study`` copies them the same way).
When the earlier study's folds or fixed estimator parameters differ, its scores
do not mean the same thing here: its best ``TOP_K`` configurations are queued instead
(``study.enqueue_trial``), to be evaluated again on the new study's folds.

A trial outside the new space (a value out of a range, a parameter the new space does not
tune set to another value than the new study fixes) is skipped, and counted. The added trials
carry the user attribute ``warm_start`` (``"<study>#<number>"``); they do not count against
the new study's budget. A source is added once: running the command again adds nothing.
"""

from __future__ import annotations

import json
import warnings

import optuna

from ..config import StudyFileError, study_fingerprint
from ..study.records import Attr, StudyAttr, is_added
from .factories import suggest_params

__all__ = ["TOP_K", "warm_start"]

TOP_K = 5  # configurations queued again when the folds or the fixed estimator differ


def warm_start(study, spec, sources, new_estimator_params) -> list[str]:
    """Seed ``study`` (of ``spec``) with the finished trials of ``sources``; return messages.

    Parameters
    ----------
    study : optuna.Study
        The new study, open in its storage.
    spec : nnsweep.config.StudySpec
    sources : list of (StudySpec, optuna.Study)
        The earlier studies.
    new_estimator_params : dict
        The new study's estimator parameters that its space does not draw
        (`factories.fixed_params`): what an old trial's must equal.

    Raises
    ------
    nnsweep.config.StudyFileError
        A source on another data set or with another metric.
    """
    done = set(study.user_attrs.get(StudyAttr.WARM_STARTED) or [])
    new = study_fingerprint(spec)
    messages = []
    for old_spec, old in sources:
        key = f"{old_spec.name}@{old_spec.storage.url}"
        _same_problem(spec, study, old_spec, old)
        if key in done:
            messages.append(f"warm start: {old_spec.name} was added before; nothing added")
            continue
        old_print = study_fingerprint(old_spec)
        same_folds = all(old_print[k] == new[k] for k in ("cv", "estimator"))
        fit, skipped = _in_space(spec, old, new_estimator_params)
        if same_folds:
            for t in fit:
                study.add_trial(_observed(spec, t, old_spec.name))
            pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in fit)
            how = f"added as observed trials ({len(fit) - pruned} complete, {pruned} pruned)"
        else:
            complete = [t for t in fit if t.state == optuna.trial.TrialState.COMPLETE]
            best = sorted(complete, key=lambda t: -t.value)[:TOP_K]
            for t in best:
                params = _drawn(spec, t).params
                study.enqueue_trial(params, user_attrs={Attr.WARM_START: _mark(old_spec.name, t)})
            fit, how = best, "queued again (its folds or fixed estimator differ)"
        done.add(key)
        study.set_user_attr(StudyAttr.WARM_STARTED, sorted(done))
        messages.append(
            f"warm start from {old_spec.name}: {len(fit)} trial(s) {how}; {skipped} outside "
            "this study's space skipped"
        )
    return messages


def _same_problem(spec, study, old_spec, old) -> None:
    """Refuse a source on another data set or with another metric, naming both."""
    digest = (study.user_attrs.get(StudyAttr.DATASET) or {}).get("digest")
    old_digest = (old.user_attrs.get(StudyAttr.DATASET) or {}).get("digest")
    if old_spec.metric != spec.metric:
        what = f"metric {old_spec.metric!r}, this study {spec.metric!r}"
    elif old_spec.data.name != spec.data.name or (digest and old_digest and digest != old_digest):
        what = f"data set {old_spec.data.name} ({(old_digest or '?')[:12]}), this study " + (
            f"{spec.data.name} ({(digest or '?')[:12]})"
        )
    else:
        return
    raise StudyFileError(
        str(old_spec.path), None, f"cannot warm-start {spec.name} from {old_spec.name}: its {what}"
    )


def _in_space(spec, old, new_estimator_params):
    """``(trials that fit the new space, how many did not)`` of ``old``'s finished trials."""
    fit, skipped = [], 0
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    for t in old.get_trials(deepcopy=False, states=finished):
        if is_added(t):
            continue  # the source's own warm start: not its finding
        params = dict(t.user_attrs.get(Attr.ESTIMATOR_PARAMS) or t.params)
        ok = all(
            params.get(name) == _as_stored(value)
            for name, value in new_estimator_params.items()
            if name in params
        )
        if ok and _drawn(spec, t) is not None:
            fit.append(t)
        else:
            skipped += 1
    return fit, skipped


def _as_stored(value):
    """A value as the storage gives it back (JSON: a tuple comes back a list)."""
    return json.loads(json.dumps(value, default=str))


def _inside(distribution, value) -> bool:
    """Whether ``value`` lies in an Optuna distribution (its public bounds and choices)."""
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return value in distribution.choices
    return distribution.low <= value <= distribution.high


def _drawn(spec, t):
    """The old trial's values drawn through the new space (a `FixedTrial`), or None.

    The `FixedTrial` records the new space's distributions (its conditions and layers too),
    so the added trial is modelled on this study's ranges. An old trial without a value that
    the new space draws, or with one outside it, gives None.
    """
    fixed = optuna.trial.FixedTrial(dict(t.params))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # out of range: refused just below
            suggest_params(fixed, spec.search_space)
    except ValueError:
        return None
    inside = all(_inside(fixed.distributions[n], v) for n, v in fixed.params.items())
    return fixed if inside else None


def _observed(spec, t, source):
    """An old finished trial as one of the new study, in its state (under the drawn names)."""
    fixed = _drawn(spec, t)
    attrs = {k: v for k, v in t.user_attrs.items() if not k.startswith(Attr.CURVE_CHUNK)}
    attrs[Attr.WARM_START] = _mark(source, t)
    return optuna.trial.create_trial(
        state=t.state,
        value=t.value,
        params=fixed.params,
        distributions=fixed.distributions,
        user_attrs=attrs,
        intermediate_values=t.intermediate_values,
    )


def _mark(source, t) -> str:
    return f"{source}#{t.number}"
