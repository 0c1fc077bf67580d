"""The summary's warnings (nnsweep.sweep.checks) and its counts, on studies built by hand.

The study file's space (tests/support/studyfiles.TINY): learning_rate in [0.02, 0.3] on a log
scale, one hidden layer of 16 to 64 units by 16 (its width: layer_1_units).
"""

import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from nnsweep.config import load_study
from nnsweep.study.records import Attr, StopReason, count_states
from nnsweep.sweep.checks import at_bounds, failures, outlier_fold, warnings
from nnsweep.sweep.refit import SweepResult, summarise_trials
from tests.support.studyfiles import write_study

DISTS = {
    "learning_rate": FloatDistribution(0.02, 0.3, log=True),
    "layer_1_units": IntDistribution(16, 64, step=16),
}


@pytest.fixture
def spec(tmp_path):
    return load_study(write_study(tmp_path, "checks"))


def trial(value, lr=0.08, hidden=32, std=0.01, state=TrialState.COMPLETE, **attrs):
    params = {"learning_rate": lr, "layer_1_units": hidden}
    user = {Attr.CV_STD: std, Attr.FOLD_SCORES: [value - std, value + std], **attrs}
    if state != TrialState.COMPLETE:
        value = None
    return create_trial(
        state=state, value=value, params=params, distributions=DISTS, user_attrs=user
    )


def study_of(*trials):
    study = optuna.create_study(direction="maximize")
    study.add_trials(trials)
    return study


@pytest.mark.parametrize(
    ("lr", "hidden", "expected"),
    [
        (0.0201, 32, ["learning_rate (0.0201) is at the lower bound 0.02", "low = 0.002"]),
        (0.295, 32, ["learning_rate (0.295) is at the upper bound 0.3", "high = 3"]),
        (0.08, 64, ["layer_1_units (64) is at the upper bound 64", "high = 112"]),
        (0.08, 32, []),
        (0.022, 48, []),  # 3.6 % of the log width from the bound: inside
    ],
)
def test_a_best_value_at_a_bound_is_named_with_the_way_to_widen_it(spec, lr, hidden, expected):
    said = " ".join(at_bounds(spec, {"learning_rate": lr, "hidden_layer_sizes": [hidden]}))
    for part in expected:
        assert part in said
    assert bool(said) == bool(expected)


def test_many_failed_trials_are_reported_with_the_commonest_error():
    boom = {Attr.STOP_REASON: StopReason.DIVERGED.value, Attr.ERROR: "TrainingDivergedError: nan"}
    trials = [trial(0.9)] * 7 + [trial(0, state=TrialState.FAIL, **boom)] * 2
    trials += [trial(0, state=TrialState.FAIL, **{Attr.STOP_REASON: "failed", Attr.ERROR: "x"})]
    said = failures(study_of(*trials).get_trials())
    assert said == [
        "3 of 10 trials failed (2 diverged); the commonest error (2): TrainingDivergedError: nan"
    ]
    assert failures(study_of(*[trial(0.9)] * 9, trials[-1]).get_trials()) == []  # 1 of 10


def test_interrupted_trials_are_counted_apart_and_are_not_failures(spec):
    stopped = {Attr.STOP_REASON: StopReason.INTERRUPTED.value}
    trials = [trial(0.9), trial(0.8), trial(0, state=TrialState.FAIL, **stopped)]
    trials += [trial(0, state=TrialState.FAIL)]  # a dead worker's: no stop reason at all
    trials += [trial(0, state=TrialState.FAIL, **{Attr.STOP_REASON: "failed", Attr.ERROR: "e"})]
    study = study_of(*trials)
    counts = count_states(study.get_trials())
    assert (counts["COMPLETE"], counts["FAIL"], counts["INTERRUPTED"]) == (2, 1, 2)
    result = SweepResult("checks")
    summarise_trials(spec, study, result)
    assert (result.n_failed, result.n_interrupted) == (1, 2)
    summary = result.summary()
    assert summary["n_failed"] == 1 and summary["n_interrupted"] == 2
    assert any("1 of 3 trials failed" in w for w in summary["warnings"])  # 1 of 3 > a tenth


def test_a_best_trial_resting_on_one_fold_is_pointed_out():
    trials = [trial(0.90 + i / 1000, std=0.01) for i in range(6)] + [trial(0.95, std=0.05)]
    study = study_of(*trials)
    said = outlier_fold(study.get_trials(), study.best_trial)
    assert len(said) == 1 and "CV std 0.0500 is 5.0x the median" in said[0]
    calm = study_of(*trials[:-1], trial(0.95, std=0.02))
    assert outlier_fold(calm.get_trials(), calm.best_trial) == []


def test_a_clean_study_has_no_warnings(spec):
    study = study_of(*[trial(0.9 + i / 100, lr=0.05 + i / 100) for i in range(6)])
    assert warnings(spec, study, study.best_trial.params) == []


def test_a_log_range_of_widths_widens_by_its_own_ratio_in_whole_units():
    from pathlib import Path

    deep = load_study(Path(__file__).parents[1] / "studies" / "mnist-deep.toml")  # 768-1024
    said = at_bounds(deep, {"hidden_layer_sizes": [1019, 800], "learning_rate": 0.1})
    assert len(said) == 1 and "layer_1_units (1019) is at the upper bound 1024" in said[0]
    assert "high = 1365," in said[0]  # 1024 x 1024/768, not 10 x 1024 nor 1.37e+03
