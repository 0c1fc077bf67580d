"""``nnsweep compare A B [...]``: studies side by side, in one table and one figure.

"Did TPE beat random search here? Did the new space help?" For each study: the best CV and its
fold std, the trials complete, pruned and failed, the wall time, the time to come within 0.002
of its own best, and the test score with its interval when the study was refit. The figure has
two panels on shared axes: the empirical distribution function of the trial scores and the
best so far against wall time.

All of it is of each study's own trials. Trials a warm start added from an earlier study are
counted in a column of their own and left out of the rest: they are the earlier study's
findings, at its times (Optuna's ``plot_edf`` would count them, so the EDF is drawn here).

Studies are compared only on one data set and one metric: the same scores on other data mean
something else. Times are measured from a study's first trial start, so a resumed study's
pause counts as time.
"""

from __future__ import annotations

from pathlib import Path

from ..config import StudyFileError
from ..study.records import StudyAttr, count_states, is_added
from .inputs import load_built_study

__all__ = [
    "add_parser",
    "cmd_compare",
    "compare_rows",
    "format_row",
    "own_trials",
    "plot_comparison",
]

WITHIN = 0.002  # "came within 0.002 of its own best"


def add_parser(sub) -> None:
    """``nnsweep compare``'s arguments."""
    p = sub.add_parser("compare", help="compare studies: one table, one figure")
    p.add_argument("studies", nargs="+", help="study files, or names of studies/<name>.toml")
    p.add_argument("--out", help="the figure's path (default: mlruns/compare/<A>-vs-<B>.png)")
    p.add_argument(
        "--mlflow",
        action="store_true",
        help="also log the table and figure to a run of their own, in the experiment "
        "nnsweep-compare of the first study's tracking store",
    )
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> int:
    """Print the table, write the figure; exit code 2 on a bad study (the caller prints it)."""
    if len(args.studies) < 2:
        raise StudyFileError(args.studies[0], None, "compare needs two studies or more")
    loaded = [_load(name) for name in args.studies]
    _same_data(loaded)
    rows = [compare_rows(spec, study) for spec, study in loaded]
    header = ["study", "best CV", "+- std", "complete", "pruned", "failed", "warm-start", "wall s"]
    header += [f"s to best-{WITHIN}", "test"]
    from .report import _print_table

    _print_table(header, [[format_row(r)[k] for k in _KEYS] for r in rows])
    out = Path(
        args.out or Path("mlruns") / "compare" / ("-vs-".join(s.name for s, _ in loaded) + ".png")
    )
    import matplotlib

    matplotlib.use("Agg")  # the command writes a file and shows no window
    fig = plot_comparison([study for _, study in loaded])
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"figure: {out}")
    if args.mlflow:
        _log(loaded, dict(zip(_KEYS, header, strict=True)), rows, out)
    return 0


def _log(loaded, columns, rows, figure) -> None:
    """The comparison as an MLflow run (`nnsweep.tracking.comparison`), and where it went."""
    from ..study.redact import redact_url
    from ..tracking.comparison import EXPERIMENT, log_comparison
    from .ui import runs_page

    spec = loaded[0][0]
    uids = {s.name: study.user_attrs.get(StudyAttr.MLFLOW_UID) for s, study in loaded}
    cells = [format_row(row) for row in rows]
    experiment_id, run_id = log_comparison(spec.tracking.uri, columns, rows, cells, uids, figure)
    print(
        f"MLflow: run {run_id} in experiment {EXPERIMENT} (id {experiment_id}) of "
        f"{redact_url(spec.tracking.uri)}"
    )
    print(f"MLflow run: {runs_page(spec.tracking.uri, experiment_id, run_id)}")


_KEYS = (
    "study",
    "best",
    "std",
    "complete",
    "pruned",
    "failed",
    "added",
    "wall",
    "to_best",
    "test",
)


def _load(name):
    spec, study = load_built_study(name)
    if not any(t.state.name == "COMPLETE" for t in own_trials(study)):
        raise StudyFileError(
            str(spec.path), None, f"the study {spec.name!r} has no complete trial yet"
        )
    return spec, study


def _same_data(loaded) -> None:
    """Refuse studies of two data sets or two metrics (naming both)."""
    first_spec, first = loaded[0]
    what = {"data set": lambda s, st: _data_of(s, st), "metric": lambda s, st: s.metric}
    for spec, study in loaded[1:]:
        for name, of in what.items():
            a, b = of(first_spec, first), of(spec, study)
            if a != b:
                raise StudyFileError(
                    str(spec.path),
                    None,
                    f"compare needs one {name}: {first_spec.name} has {a}, {spec.name} has {b}",
                )


def _data_of(spec, study) -> str:
    info = study.user_attrs.get(StudyAttr.DATASET) or {}
    return f"{info.get('name', spec.data.name)} ({info.get('digest', 'no digest')[:12]})"


def own_trials(study) -> list:
    """The study's own trials: not those a warm start added from an earlier study."""
    return [t for t in study.get_trials(deepcopy=False) if not is_added(t)]


def compare_rows(spec, study) -> dict:
    """One study's line of the table, as numbers keyed like the columns (`format_row`).

    Of the study's own trials: trials a warm start added are counted apart (``added``) and
    take no part in the best, the counts, the times or the curve.
    """
    every = study.get_trials(deepcopy=False)
    trials = [t for t in every if not is_added(t)]
    counts = count_states(trials)
    curve = best_so_far(trials)
    best = max(
        (t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value, default=None
    )
    wall = to_best = None
    if best:
        start = min(t.datetime_start for t in trials if t.datetime_start)
        end = max(t.datetime_complete for t in trials if t.datetime_complete)
        wall = (end - start).total_seconds()
        to_best = next(s for s, value in curve if value >= best.value - WITHIN)
    result = study.user_attrs.get(StudyAttr.RESULT) or {}
    scores = result.get("test_scores") or (
        [result["test_score"]] if result.get("test_score") is not None else []
    )
    interval = result.get("test_interval") or {}
    return {
        "study": spec.name,
        "best": best.value if best else None,
        "std": best.user_attrs.get("cv_std") if best else None,
        "complete": counts["COMPLETE"],
        "pruned": counts["PRUNED"],
        "failed": counts["FAIL"],
        "added": len(every) - len(trials),
        "wall": wall,
        "to_best": to_best,
        "test": sum(scores) / len(scores) if scores else None,
        "test_ci": interval.get("half_width") if scores else None,
    }


def format_row(row) -> dict:
    """`compare_rows`'s numbers as the table's cells (an empty cell for what is not there)."""
    formats = {"best": "{:.4f}", "std": "{:.4f}", "wall": "{:.0f}", "to_best": "{:.0f}"}
    cells = {k: "" if row[k] is None else formats.get(k, "{}").format(row[k]) for k in _KEYS}
    if row["test"] is not None:
        ci = "" if row["test_ci"] is None else f" +-{row['test_ci']:.4f}"
        cells["test"] = f"{row['test']:.4f}{ci}"
    return cells


def best_so_far(trials) -> list[tuple[float, float]]:
    """``(seconds since the first trial started, best value so far)`` at each complete trial."""
    start = min((t.datetime_start for t in trials if t.datetime_start), default=None)
    done = sorted(
        (t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.datetime_complete
    )
    curve, best = [], float("-inf")
    for t in done:
        best = max(best, t.value)
        curve.append(((t.datetime_complete - start).total_seconds(), best))
    return curve


def plot_comparison(studies):
    """The figure of ``nnsweep compare``: a `matplotlib.figure.Figure` of two panels.

    Parameters
    ----------
    studies : list of optuna.Study
        Maximised studies, compared on the same axes: the empirical distribution function of
        each study's own trial scores, and its best so far against wall time.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for study in studies:
        trials = own_trials(study)
        # the empirical distribution function of its trials' scores
        values = np.sort([t.value for t in trials if t.state.name == "COMPLETE"])
        fraction = np.arange(1, len(values) + 1) / len(values)
        left.step(values, fraction, where="post", label=study.study_name)
        xs, ys = zip(*best_so_far(trials), strict=True)
        right.step(xs, ys, where="post", label=study.study_name)
    left.set(
        xlabel="CV score", ylabel="fraction of trials at or below", title="trial scores (EDF)"
    )
    right.set(
        xlabel="wall time since the first trial (s)", ylabel="best CV so far", title="best so far"
    )
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
