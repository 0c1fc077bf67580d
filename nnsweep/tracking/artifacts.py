"""What the parent run holds besides its tags: params, study file, result, model, plots.

Params are logged once (a resumed study keeps its first values); the study file once per
distinct content; the sweep's result, the refit model (registered) and the study's plots at
the end of the sweep.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import warnings
from pathlib import Path

import mlflow
import numpy as np
import optuna
from mlflow.entities import Metric

from ..study.records import Attr
from ..study.redact import redact_text
from . import payload as pl
from .util import finite, param_value, short

_log = logging.getLogger(__name__)
TrialState = optuna.trial.TrialState


def prewarm(model_format: str = "cloudpickle") -> None:
    """Import what `log_model` needs (MLflow's sklearn flavour, skops), best effort.

    The writer process calls it while the command refits the best model (the plots, made
    just before, imported matplotlib), so that the imports are not on the user's wait after
    the refit. A failing import shows later, where it is needed.
    """
    with contextlib.suppress(Exception):
        import mlflow.sklearn  # noqa: F401

        if model_format == "skops":
            import skops.io  # noqa: F401


def log_params_once(client, run_id: str, params: dict) -> None:
    """Log the params the run lacks; warn about (and keep) ones whose value changed."""
    have = client.get_run(run_id).data.params
    changed = [
        f"{k}: {have[k]} -> {param_value(v)}"
        for k, v in params.items()
        if k in have and have[k] != param_value(v)
    ]
    if changed:
        _log.warning(
            "MLflow run %s keeps its first values of these params (params cannot change): %s",
            run_id,
            "; ".join(changed),
        )
    entities, _ = pl.as_entities({k: v for k, v in params.items() if k not in have})
    client.log_batch(run_id, params=entities)  # MLflow's client splits it at its limit


def log_result(client, uri, spec, run_id: str, result: dict) -> None:
    """The sweep's result on the parent run: best params, test score, counts, the model once."""
    best = dict(result.get("best_params") or {})
    log_params_once(client, run_id, {f"best.{k}": v for k, v in best.items()})
    payload = {
        "best_trial_number": result.get("best_trial_number"),
        "best_value": result.get("best_value"),
        "params": best,
    }
    client.log_dict(run_id, payload, "best_params.json")
    stamp = int(1000 * float(result.get("finished_at") or 0)) or None
    metrics = []
    interval = result.get("test_interval") or {}
    figures = {
        **{k: result.get(k) for k in ("test_score", "test_mean", "test_std", "ensemble_score")},
        **{k: result.get(k) for k in ("n_complete", "n_pruned", "n_failed", "n_interrupted")},
        "wall_time": result.get("wall_time"),
        "test_ci_low": interval.get("low"),
        "test_ci_high": interval.get("high"),
        "n_within_noise": len(result.get("within_noise") or []) or None,
        **{f"converged_{k}": v for k, v in (result.get("converged") or {}).items()},
    }
    for key, value in figures.items():
        if isinstance(value, int | float) and stamp:
            metrics.append(Metric(key, float(value), stamp, 0))
    tags = {"nnsweep.best_trial": str(result.get("best_trial_number"))}
    chosen = result.get("chosen") or {}
    if chosen:
        tags["nnsweep.refit_trial"] = f"{chosen.get('trial')} ({chosen.get('rule')})"
    refits = zip(result.get("test_trials") or [], result.get("test_seeds") or [], strict=False)
    if described := ", ".join(f"#{trial} seed {seed}" for trial, seed in refits):
        tags["nnsweep.refits"] = described  # which trial and seed each refit is
    if result.get("registered"):
        tags["nnsweep.registered"] = str(result["registered"])
    if result.get("test_metric"):
        tags["nnsweep.test_metric"] = str(result["test_metric"])
    warnings = list(result.get("warnings") or [])
    tags["nnsweep.warnings"] = str(len(warnings))  # the UI filters on it: > 0 wants a look
    if warnings:  # a line each under the study's description, on the run's page
        note = spec.description + "\n\n" if spec.description else ""
        tags["mlflow.note.content"] = note + "\n".join(f"Warning: {w}" for w in warnings)
    client.log_batch(run_id, metrics=metrics, tags=pl.as_entities(tags=tags)[1])
    if result.get("model_path") and "nnsweep.model" not in client.get_run(run_id).data.tags:
        log_model(client, uri, spec, run_id, result)


def log_study_text(client, spec, run_id: str, text: str) -> None:
    """The study file (secrets already masked) under ``study/``: once per distinct content.

    A resumed study whose file was changed gets the new text beside the first one, under
    ``study/<sha>/``; the tag ``nnsweep.study_sha`` names the newest.
    """
    if not text:
        return
    if spec.overrides:
        text += "\n# overrides applied on top of this file:\n" + "".join(
            f"#   {k} = {redact_text(str(v))}\n" for k, v in spec.overrides
        )
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    have = client.get_run(run_id).data.tags
    if have.get("nnsweep.study_sha") == digest:
        return
    name = Path(spec.path).name if spec.path else f"{spec.name}.toml"
    client.log_text(
        run_id,
        text,
        f"study/{name}" if not have.get("nnsweep.study_sha") else f"study/{digest}/{name}",
    )
    client.set_tag(run_id, "nnsweep.study_sha", digest)


def log_model(client, uri: str, spec, run_id: str, result: dict) -> None:
    """The refit model saved by the sweep, logged on the parent run and registered (``best``).

    Read from ``result["model_path"]`` (joblib, written by this study's own sweep on this
    machine: trusted), with the input example saved beside it.
    """
    import joblib

    path = Path(result["model_path"])
    if not path.is_file():
        _log.warning("MLflow: model file %s is gone: no model logged", path)
        return
    model = joblib.load(path)
    example = path.with_name("X_example.npy")
    X = np.load(example) if example.is_file() else None
    name = f"nnsweep-{spec.name}"
    save_as = _serialization(model, getattr(spec.tracking, "model_format", "cloudpickle"))
    with _tracking_uri(uri):
        info = mlflow.sklearn.log_model(
            model,
            run_id=run_id,
            name="model",
            input_example=X,  # MLflow infers the signature from it
            registered_model_name=name,
            pip_requirements=_pip_requirements(save_as["serialization_format"]),
            code_paths=[str(Path(__file__).resolve().parents[1])],  # the nnsweep package
            **save_as,
        )
    version = str(info.registered_model_version)
    client.set_registered_model_alias(name, "best", version)
    version_tags = {
        pl.STUDY_TAG: spec.name,
        "nnsweep.parent_run_id": run_id,
        "best_cv_mean": result.get("best_value"),
        "best_trial_number": result.get("best_trial_number"),
        "test_score": result.get("test_score"),
    }
    for key, value in version_tags.items():
        if value is not None:
            client.set_model_version_tag(name, version, key, str(value))
    client.set_tag(run_id, "nnsweep.model", f"models:/{name}@best (version {version})")


def log_plots(client, study, run_id: str) -> None:
    """Optuna's matplotlib plots and the best learning curves, as PNG artifacts."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:  # nobody chose a backend yet: headless
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.importance import FanovaImportanceEvaluator
    from optuna.visualization import matplotlib as ovm

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    evaluator = FanovaImportanceEvaluator(n_trees=32, seed=0)
    plots = [
        ("optimization_history", ovm.plot_optimization_history, 1),
        ("param_importances", lambda s: ovm.plot_param_importances(s, evaluator), 2),
        ("parallel_coordinate", ovm.plot_parallel_coordinate, 1),
    ]
    notes = []
    with matplotlib.rc_context():  # Optuna's plots set pyplot's style: undo it after
        for name, plot, needed in plots:
            if len(complete) < needed:
                have = len(complete)
                notes.append(f"{name}: skipped, needs {needed}+ complete trials, has {have}")
                continue
            before = set(plt.get_fignums())
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    fig = np.ravel(plot(study))[0].figure
                fig.tight_layout()
                client.log_figure(run_id, fig, f"plots/{name}.png")
            except Exception as exc:  # one plot failing never stops the others
                notes.append(f"{name}: skipped ({short(exc)})")
            finally:
                for number in set(plt.get_fignums()) - before:
                    plt.close(number)
        fig = _learning_curves(complete, study.direction)
        if fig is None:
            notes.append("learning_curves: skipped, no complete trial has curve_val_mean")
        else:
            client.log_figure(run_id, fig, "plots/learning_curves.png")
    if notes:
        client.log_text(run_id, "\n".join(notes) + "\n", "plots/NOTES.txt")


def _learning_curves(complete: list, direction):
    """A figure of ``curve_val_mean`` of the best 5 complete trials; None if none has one."""
    from matplotlib.figure import Figure

    with_curve = [t for t in complete if t.user_attrs.get(Attr.CURVE_VAL_MEAN) and finite(t.value)]
    if not with_curve:
        return None
    maximize = direction == optuna.study.StudyDirection.MAXIMIZE
    best = sorted(with_curve, key=lambda t: t.value, reverse=maximize)[:5]
    fig = Figure(figsize=(7, 4.5), layout="tight")  # not pyplot's: nothing global to close
    ax = fig.subplots()
    for t in best:
        curve = t.user_attrs[Attr.CURVE_VAL_MEAN]
        label = f"trial {t.number}: {t.value:.4f}"
        ax.plot(range(1, len(curve) + 1), curve, marker=".", label=label)
    ax.set(xlabel="epoch", ylabel="validation score, mean over folds")
    ax.set_title(f"Learning curves of the best {len(best)} trials")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def _serialization(model, model_format: str) -> dict:
    """``tracking.model_format``: cloudpickle (default), or skops trusting the model's classes.

    cloudpickle, like pickle, runs code when the model is loaded: load models only from a
    tracking store you trust. skops loads only the types it is told to trust, at the price of
    importing it (its CPU time is in benchmarks/results/logging.md).
    """
    if model_format == "skops":
        try:
            import skops.io as sio

            trusted = sio.get_untrusted_types(data=sio.dumps(model))
            return {"serialization_format": "skops", "skops_trusted_types": trusted}
        except Exception as exc:
            _log.warning("skops cannot save this model (%s): saving with cloudpickle", short(exc))
    return {"serialization_format": "cloudpickle"}


def _pip_requirements(serialization_format: str) -> list[str]:
    """Pinned requirements; MLflow would infer them by loading the model in a subprocess (s)."""
    from importlib.metadata import PackageNotFoundError, version

    names = ["mlflow", "numpy", "scikit-learn", "scipy", "joblib", "threadpoolctl"]
    names.append("skops" if serialization_format == "skops" else "cloudpickle")
    out = []
    for name in names:
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            out.append(name)
    return out


@contextlib.contextmanager
def _tracking_uri(uri: str):
    """MLflow's global tracking URI set to ``uri`` (the model's logging reads it); restored.

    ``mlflow.set_tracking_uri`` also sets ``MLFLOW_TRACKING_URI`` for child processes: both
    are put back as they were.
    """
    from ..compat.mlflow import explicit_tracking_uri

    previous, env = explicit_tracking_uri(), os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)
        if env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = env
