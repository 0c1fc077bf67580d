"""``--warm-start``: a new study starts with the finished trials of an earlier one that lie in
its space (added as observed trials, or queued again when the folds differ), skips the others
with a count, refuses another data set or metric, and counts only its own trials."""

import pytest

from nnsweep.cli.compare import compare_rows
from nnsweep.config import StudyFileError, load_study
from nnsweep.datasets import load_dataset
from nnsweep.study.records import Attr
from nnsweep.study.storage import load_study as open_study
from nnsweep.sweep import count_budget, run_sweep
from nnsweep.sweep.warmstart import TOP_K
from tests.support.processes import run_nnsweep
from tests.support.studyfiles import write_study

NO_REFIT = "\n[evaluation]\nrefit = false\n"


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def _spec(folder, name, **changes):
    changes = {"workers": {"n_jobs": 1}, **changes}
    return load_study(write_study(folder, name, changes, extra=NO_REFIT))


def _old(folder, digits):
    spec = _spec(
        folder, "old", budget={"n_trials": 8}, sampler={"name": "random", "n_startup_trials": None}
    )
    run_sweep(spec, digits, progress=False, log=lambda _: None)
    return spec, open_study(spec)


def test_warm_start_adds_the_trials_in_the_space_skips_the_others_and_counts_its_own(
    tmp_path, digits
):
    old_spec, old = _old(tmp_path, digits)
    space = {"learning_rate": {"type": "float", "low": 0.05, "high": 0.3, "log": True}}
    new_spec = _spec(tmp_path, "new", budget={"n_trials": 3}, search_space=space)
    inside = [
        t for t in old.trials if t.state.name == "COMPLETE" and t.params["learning_rate"] >= 0.05
    ]
    assert 0 < len(inside) < 8, "the test needs old trials on both sides of the new range"
    said = []
    run_sweep(new_spec, digits, progress=False, log=said.append, warm_start=[(old_spec, old)])
    skipped = 8 - len(inside)
    added_as = (
        f"{len(inside)} trial(s) added as observed trials ({len(inside)} complete, 0 pruned); "
        f"{skipped} outside this study"
    )
    assert f"warm start from old: {added_as}'s space skipped" in said
    new = open_study(new_spec)
    added = [t for t in new.trials if Attr.WARM_START in t.user_attrs]
    assert sorted(t.user_attrs[Attr.WARM_START] for t in added) == sorted(
        f"old#{t.number}" for t in inside
    )
    assert {t.value for t in added} == {t.value for t in inside}
    drawn = {"learning_rate", "layer_1_units"}  # one layer always: n_layers is not drawn
    assert all(t.state.name == "COMPLETE" and set(t.params) == drawn for t in added)
    assert count_budget(new) == 3 and len(new.trials) == len(inside) + 3
    row = compare_rows(new_spec, new)  # compare's line: the study's own trials, the added apart
    own = [t for t in new.trials if t not in added]
    assert row["added"] == len(inside) and row["complete"] + row["pruned"] + row["failed"] == 3
    assert row["best"] == max(t.value for t in own if t.state.name == "COMPLETE")
    said.clear()
    run_sweep(new_spec, digits, progress=False, log=said.append, warm_start=[(old_spec, old)])
    assert "warm start: old was added before; nothing added" in said
    assert len(open_study(new_spec).trials) == len(inside) + 3


def test_pruned_trials_are_added_as_pruned_with_their_curves(tmp_path, digits):
    pruner = {"name": "median", "n_startup_trials": 2, "n_warmup_steps": 1}
    random = {"name": "random", "n_startup_trials": None}
    old_spec = _spec(tmp_path, "old", budget={"n_trials": 10}, sampler=random, pruner=pruner)
    run_sweep(old_spec, digits, progress=False, log=lambda _: None)
    old = open_study(old_spec)
    pruned = [t for t in old.trials if t.state.name == "PRUNED"]
    assert pruned, "the test needs a pruned trial in the source"
    new_spec = _spec(tmp_path, "new", budget={"n_trials": 1})
    said = []
    run_sweep(new_spec, digits, progress=False, log=said.append, warm_start=[(old_spec, old)])
    assert any(f"({10 - len(pruned)} complete, {len(pruned)} pruned)" in m for m in said), said
    added = {t.user_attrs[Attr.WARM_START]: t for t in open_study(new_spec).trials[:10]}
    for t in pruned:
        copy = added[f"old#{t.number}"]
        assert copy.state.name == "PRUNED" and copy.intermediate_values == t.intermediate_values


def test_other_folds_queue_the_best_configurations_again(tmp_path, digits):
    old_spec, old = _old(tmp_path, digits)
    new_spec = _spec(tmp_path, "refolded", budget={"n_trials": 2}, cv={"n_splits": 2})
    said = []
    run_sweep(new_spec, digits, progress=False, log=said.append, warm_start=[(old_spec, old)])
    assert any(
        f"{TOP_K} trial(s) queued again (its folds or fixed estimator differ)" in m for m in said
    )
    new = open_study(new_spec)
    again = [t for t in new.trials if Attr.WARM_START in t.user_attrs]
    best = sorted((t for t in old.trials if t.state.name == "COMPLETE"), key=lambda t: -t.value)[
        :TOP_K
    ]
    assert [t.params for t in again] == [t.params for t in best]
    assert len(again[0].user_attrs[Attr.FOLD_SCORES]) == 2, "evaluated on the new folds"
    assert count_budget(new) == 2


def test_another_metric_or_data_set_is_refused(tmp_path, digits):
    old_spec, old = _old(tmp_path, digits)
    other = _spec(tmp_path, "f1", metric="f1_macro")
    with pytest.raises(
        StudyFileError,
        match="cannot warm-start f1 from old: its metric 'accuracy', this study 'f1_macro'",
    ):
        run_sweep(other, digits, progress=False, warm_start=[(old_spec, old)])


def test_the_command_warm_starts_from_a_study_file(tmp_path):
    for name, n in (("src", 4), ("dst", 2)):
        write_study(
            tmp_path, name, {"workers": {"n_jobs": 1}, "budget": {"n_trials": n}}, extra=NO_REFIT
        )
    assert run_nnsweep("run", tmp_path / "src.toml", "--no-progress", cwd=tmp_path).returncode == 0
    ran = run_nnsweep(
        "run",
        tmp_path / "dst.toml",
        "--no-progress",
        "--warm-start",
        tmp_path / "src.toml",
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "warm start from src: 4 trial(s) added as observed trials" in ran.stdout
    missing = run_nnsweep(
        "run", tmp_path / "dst.toml", "--warm-start", tmp_path / "none.toml", cwd=tmp_path
    )
    assert missing.returncode == 2 and "none.toml: cannot read the study file" in missing.stderr
