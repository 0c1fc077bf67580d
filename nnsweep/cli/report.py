"""What the commands print about a study: ``nnsweep show``, ``nnsweep list``, the summary."""

from __future__ import annotations

from pathlib import Path

from ..study.records import Attr, StudyAttr, count_states
from ..study.redact import redact_url
from .inputs import load_spec

__all__ = ["cmd_list", "cmd_show", "print_summary"]


def print_summary(spec, result):
    """Best parameters, CV mean +- std, test score, trial counts, wall time."""
    retried = f", {result.n_interrupted} interrupted (retried)" if result.n_interrupted else ""
    print(
        f"\nstudy {spec.name}: {result.n_complete} complete, {result.n_pruned} pruned, "
        f"{result.n_failed} failed{retried}; {result.wall_time:.1f} s"
    )
    if result.best_value is None:
        print("no trial completed yet")
        for warning in result.warnings:
            print(f"warning: {warning}")
        return
    std = f" +- {result.best_std:.4f}" if result.best_std is not None else ""
    print(f"best trial #{result.best_trial_number}: CV {spec.metric} {result.best_value:.4f}{std}")
    tuned = {p.name for p in spec.search_space}
    for name, value in sorted(result.best_params.items()):
        if name in tuned:
            print(f"  {name:<24} {value}")
    for line in answer_lines(result.summary(), spec.metric):
        print(line)
    if result.test_score is not None:
        print(f"model ({result.registered}) saved in {result.output_dir}")
    for warning in result.warnings:
        print(f"warning: {warning}")


def answer_lines(summary, metric):
    """How sure the answer is, in words: the trials within noise of the best, the test score.

    ``summary`` is `SweepResult.summary` (``summary.json``, the study's recorded result).
    """
    lines = []
    ties = summary.get("within_noise") or []
    if len(ties) > 1:
        shown = ", ".join(f"#{t['trial']} {t['value']:.4f}" for t in ties[:8])
        more = f" and {len(ties) - 8} more" if len(ties) > 8 else ""
        lines.append(
            f"{len(ties)} trials within noise of the best (corrected resampled t-test on the "
            f"fold scores, 5 %): {shown}{more}"
        )
    chosen = summary.get("chosen") or {}
    if chosen.get("rule") == "simplest":
        lines.append(
            f"refit: trial #{chosen['trial']}, the fewest weights within noise of the best "
            f"({chosen['n_weights']:,} against {chosen['best_n_weights']:,}; CV given up "
            f"{chosen['cv_given_up']:.4f})"
        )
    scores = summary.get("test_scores") or []
    if not scores:
        return lines
    interval = summary.get("test_interval") or {}
    if len(scores) == 1:
        text = f"test {metric}: {scores[0]:.4f} (1 refit, seed {summary['test_seeds'][0]})"
    else:
        trials = summary.get("test_trials") or []
        refits = f"{len(scores)} seeds"
        if len(set(trials)) > 1:
            refits = f"{len(scores)} refits of {len(set(trials))} trials within noise"
        text = (
            f"test {metric}: {summary['test_mean']:.4f} mean of {refits} "
            f"({min(scores):.4f}-{max(scores):.4f}, std {summary['test_std']:.4f})"
        )
    if interval:
        text += f"; 95 % CI +-{interval['half_width']:.4f} on {interval['n']} test samples"
    if summary.get("ensemble_score") is not None:
        text += f"; ensemble {summary['ensemble_score']:.4f}"
    return [*lines, text]


def cmd_show(args):
    """``nnsweep show STUDY``: the best trials as a table."""
    from ..study.storage import load_study

    spec = load_spec(args)
    study = load_study(spec)
    trials = [t for t in study.get_trials(deepcopy=False) if t.value is not None]
    trials.sort(key=lambda t: t.value, reverse=True)
    names = [p.name for p in spec.search_space]
    header = ["trial", "state", spec.metric, "std", "epochs", *names]
    rows = []
    for t in trials[: args.top]:
        params = t.user_attrs.get(Attr.ESTIMATOR_PARAMS, t.params)
        std = t.user_attrs.get(Attr.CV_STD)
        rows.append(
            [
                str(t.number),
                t.state.name,
                f"{t.value:.4f}",
                "" if std is None else f"{std:.4f}",
                str(t.user_attrs.get(Attr.N_EPOCHS, "")),
                *(_fmt(params.get(n)) for n in names),
            ]
        )
    _print_table(header, rows)
    counts = count_states(study.get_trials(deepcopy=False))
    print(", ".join(f"{v} {k.lower()}" for k, v in sorted(counts.items())))
    for line in answer_lines(study.user_attrs.get(StudyAttr.RESULT) or {}, spec.metric):
        print(line)
    return 0


def cmd_list(args):
    """``nnsweep list``: the studies in a storage."""
    import optuna

    from ..study.storage import make_storage
    from ..study.url import StorageURL

    url = args.storage or "mlruns/optuna"
    urls = sorted(str(p) for p in Path(url).glob("*.log")) if StorageURL(url).is_journal else [url]
    for u in urls:
        for s in optuna.get_all_study_summaries(make_storage(u)):
            best = "" if s.best_trial is None else f"best {s.best_trial.value:.4f}"
            print(f"{s.study_name:<24} {s.n_trials:>5} trials  {best}  ({redact_url(u)})")
    return 0


def _fmt(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _print_table(header, rows):
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
