"""``[budget] stop = "converged"`` (nnsweep.sweep.convergence): the rule by hand, and a study
that ends early, says why, and stays ended when run again."""

import datetime

import optuna
import pytest

from nnsweep.config import load_study
from nnsweep.datasets import load_dataset
from nnsweep.study.records import Attr, StudyAttr
from nnsweep.sweep import run_sweep
from nnsweep.sweep.convergence import converged, cv_noise
from tests.support.studyfiles import write_study

T0 = datetime.datetime(2026, 1, 1)


def _trial(number, value, folds):
    return optuna.trial.FrozenTrial(
        number=number,
        state=optuna.trial.TrialState.COMPLETE,
        value=value,
        datetime_start=T0 + datetime.timedelta(seconds=number),
        datetime_complete=T0 + datetime.timedelta(seconds=number + 1),
        params={},
        distributions={},
        user_attrs={Attr.FOLD_SCORES: folds},
        system_attrs={},
        intermediate_values={},
        trial_id=number,
    )


def test_cv_noise_is_optunas_cross_validation_error():
    # K = 4, var = mean of squared deviations from 0.9: (0.02^2 * 2 + 0 * 2) / 4 = 2e-4
    # (1/4 + 1/3) * 2e-4 = 1.1667e-4, sqrt: 0.010801
    assert cv_noise([0.92, 0.88, 0.90, 0.90]) == pytest.approx(0.010801, abs=1e-6)
    from optuna.terminator import CrossValidationErrorEvaluator, report_cross_validation_scores

    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    report_cross_validation_scores(trial, [0.92, 0.88, 0.90, 0.90])
    study.tell(trial, 0.9)
    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        theirs = CrossValidationErrorEvaluator().evaluate(study.trials, study.direction)
    assert cv_noise([0.92, 0.88, 0.90, 0.90]) == pytest.approx(theirs)


def test_converged_when_the_window_moved_the_best_less_than_its_noise():
    folds = [0.92, 0.88, 0.90, 0.90]  # noise 0.0108
    rising = [_trial(i, 0.80 + 0.01 * i, folds) for i in range(6)]  # +0.01 a trial
    assert converged(rising, window=2, min_trials=3) is None  # improved 0.02 > 0.0108
    flat = rising + [_trial(6 + i, 0.85 + 0.001 * i, folds) for i in range(3)]
    figures = converged(flat, window=3, min_trials=3)
    assert figures["improvement"] == pytest.approx(0.002)  # 0.852 - 0.85
    assert figures["noise"] == pytest.approx(0.010801, abs=1e-6)
    assert figures["n_complete"] == 9 and figures["best_trial"] == 8
    assert converged(flat, window=3, min_trials=10) is None  # too few trials yet


def test_trials_added_by_a_warm_start_do_not_count():
    folds = [0.92, 0.88, 0.90, 0.90]
    added = [_trial(i, 0.85, folds) for i in range(6)]
    for t in added:
        t.user_attrs[Attr.WARM_START] = f"old#{t.number}"
    own = [_trial(6 + i, 0.85, folds) for i in range(3)]
    assert converged(added + own, window=3, min_trials=3) is None  # 3 own: no window before
    figures = converged(added + own + [_trial(9, 0.85, folds)], window=3, min_trials=3)
    assert figures["n_complete"] == 4 and figures["best_trial"] == 6


def test_a_converging_study_ends_early_says_why_and_stays_ended(tmp_path, capsys):
    changes = {
        "budget": {"n_trials": 60, "stop": "converged", "window": 3, "min_trials": 6},
        "workers": {"n_jobs": 1},
        "data": {"subset": 240},
    }
    spec = load_study(
        write_study(tmp_path, "conv", changes, extra="\n[evaluation]\nrefit = false\n")
    )
    digits = load_dataset("digits")
    result = run_sweep(spec, digits, progress=False, output_dir=tmp_path / "out")
    study = optuna.load_study(
        study_name="conv",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(spec.storage.url)
        ),
    )
    n = len(study.trials)
    assert 6 <= n < 60, "stopped before its budget"
    figures = study.user_attrs[StudyAttr.CONVERGED]
    assert result.converged == figures and figures["improvement"] < figures["noise"]
    assert "converged after" in capsys.readouterr().out
    run_sweep(spec, digits, progress=False, output_dir=tmp_path / "out")
    assert len(study.trials) == n, "a converged study stays ended when run again"
