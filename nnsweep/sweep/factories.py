"""The Optuna and scikit-learn pieces a study file names: sampler, pruner, CV, estimator, study.

Each factory turns one table of the study file (`nnsweep.config.StudySpec`) into the object
it describes; `create_study` puts them together on the study's storage. `suggest_params` draws
a trial's parameters from the search space: those that apply (``when``), in `draw_order`, a
layers table as its depth and widths. Leaves out: running anything (`nnsweep.sweep.worker`),
and the storage itself (`nnsweep.study.storage`).
"""

from __future__ import annotations

import math
import warnings

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.trial import TrialState
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from ..compat.optuna import grid_point
from ..estimator import NeuralNetworkClassifier
from ..study.storage import make_storage

__all__ = [
    "GridSampler",
    "build_estimator",
    "create_study",
    "draw_order",
    "fixed_params",
    "grid_done",
    "layer_units",
    "make_cv",
    "make_pruner",
    "make_sampler",
    "network",
    "suggest_params",
]

_NOT_DRAWN = object()  # a parameter a trial left out: no condition's value


def build_estimator(spec):
    """The study's model: the network with its fixed parameters, after a scaler if asked."""
    net = NeuralNetworkClassifier(**dict(spec.estimator))
    scaler = {"standard": StandardScaler, "minmax": MinMaxScaler}.get(spec.data.preprocessing)
    return Pipeline([("scale", scaler()), ("net", net)]) if scaler else net


def network(estimator):
    """The `NeuralNetworkClassifier` of an estimator: itself, or a Pipeline's last step."""
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def fixed_params(estimator, search_space):
    """A trial's estimator parameters that its space does not draw: fixed and default values.

    The search space's own parameters are left out, drawn or not (a tuned one a trial did not
    draw is not recorded at the estimator's default), and so is the ``epoch_callback``.
    """
    tuned = {"epoch_callback", *(p.name for p in search_space)}
    return {k: v for k, v in network(estimator).get_params().items() if k not in tuned}


def make_sampler(sampler_spec, search_space, seed):
    """The Optuna sampler named by a study's ``[sampler]`` table, seeded with ``seed``.

    ``seed`` differs per worker (so TPE, random and CMA-ES workers explore differently); the
    grid and QMC samplers take the study's own seed instead, the same in every worker, since
    their trial i is point i of one seeded sequence.
    """
    name = sampler_spec.name
    startup = {}
    if sampler_spec.n_startup_trials is not None:
        startup = {"n_startup_trials": sampler_spec.n_startup_trials}
    if name == "tpe":
        multivariate = sampler_spec.multivariate
        # group=True lets a multivariate TPE model a conditional space (a when, a layers
        # table's deeper layers, "off or a range"): jointly within each group of parameters
        # that the trials drew together
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=seed, multivariate=multivariate, group=multivariate, **startup
            )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        # One low-discrepancy sequence for the study: every worker scrambles it the same way.
        return optuna.samplers.QMCSampler(
            seed=sampler_spec.seed or 0, warn_independent_sampling=False
        )
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False, **startup)
    if name == "grid":
        grid = {}
        for p in search_space:  # no when, and a layers table of one depth (the config's rule)
            if p.type == "categorical":
                grid[p.name] = list(p.choices)
            elif p.type == "layers":
                units = list(range(p.low, p.high + 1, p.step))
                grid |= {layer_units(k): units for k in range(1, p.max_layers + 1)}
            else:
                grid[p.name] = list(range(p.low, p.high + 1, p.step or 1))
        # The grid's order comes from the seed, and trial i takes point i of that order: every
        # worker must use the same seed, or two workers map one trial number to two points.
        return GridSampler(grid, seed=sampler_spec.seed or 0)
    raise ValueError(f"unknown sampler {name!r}")


class GridSampler(optuna.samplers.GridSampler):
    """Optuna's grid sampler for workers that ask and tell.

    Optuna's own calls ``study.stop()`` once the grid is exhausted, which works only inside
    ``study.optimize`` and raises in an ask-and-tell loop. Here `run_worker` stops instead:
    before asking, when every grid point has been started (`grid_done`).
    """

    def __init__(self, search_space, seed=None):
        super().__init__(search_space, seed=seed)
        self.n_points = math.prod(len(v) for v in search_space.values())

    def after_trial(self, study, trial, state, values):
        """Nothing: no ``study.stop()`` (see the class's docstring)."""
        return None


def grid_done(study) -> bool:
    """True when the study's sampler is a `GridSampler` and every grid point has a trial.

    A point counts once a trial for it started (running or finished), so a second worker does
    not re-run a point the first is still on; a trial waiting in the queue (an interrupted one
    to retry) keeps the study going.
    """
    sampler = study.sampler
    if not isinstance(sampler, GridSampler):
        return False
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):
        return False
    started = {grid_point(t) for t in trials} - {None}
    return len(started) >= sampler.n_points


def make_pruner(pruner_spec):
    """The Optuna pruner named by a study's ``[pruner]`` table (epochs are its steps)."""
    p = pruner_spec
    if p.name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=p.n_startup_trials, n_warmup_steps=p.n_warmup_steps
        )
    min_resource = "auto" if p.min_resource is None else p.min_resource
    if p.name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=min_resource, reduction_factor=p.reduction_factor
        )
    if p.name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1 if p.min_resource is None else p.min_resource,
            reduction_factor=p.reduction_factor,
        )
    return optuna.pruners.NopPruner()


def layer_units(k):
    """The Optuna name of hidden layer ``k``'s width (1-based): ``layer_<k>_units``."""
    return f"layer_{k}_units"


def draw_order(search_space):
    """The search space in the order a trial draws it.

    File order, but each parameter after those its ``when`` names (the config refuses cycles).
    """
    order, left = [], list(search_space)
    while left:
        drawn = {p.drawn_as for p in order}
        p = next(p for p in left if all(name in drawn for name, _ in p.when or ()))
        order.append(p)
        left.remove(p)
    return order


def suggest_params(trial, search_space):
    """Draw one trial's estimator parameters from a study's search space: those that apply.

    A parameter with a ``when`` is drawn only when each parameter it names was drawn with one
    of its values; else it is left out (the estimator's own value stands). A layers table
    draws its depth ``n_layers`` (unless it has one depth: min_layers = max_layers), then
    ``layer_<k>_units`` for k = 1 .. n_layers, and gives ``hidden_layer_sizes = (w_1, ...,
    w_n)``. A parameter with ``off`` set is "off or a
    range": the trial first chooses ``<name>.enabled`` and takes the ``off`` value when it is
    False.

    Returns
    -------
    dict
        ``{estimator parameter: value}`` of the drawn parameters alone.
    """
    params, values = {}, {}  # values: what conditions test (a layers table's: its depth)
    for p in draw_order(search_space):
        if not all(values.get(name, _NOT_DRAWN) in allowed for name, allowed in p.when or ()):
            continue
        if p.type == "layers":
            n = p.max_layers  # one depth: not a parameter; else drawn first
            if p.min_layers < n:
                n = trial.suggest_int(p.drawn_as, p.min_layers, p.max_layers)
            values[p.drawn_as] = n
            params[p.name] = tuple(
                trial.suggest_int(layer_units(k), p.low, p.high, step=p.step or 1, log=p.log)
                for k in range(1, n + 1)
            )
            continue
        if p.off is not None and not trial.suggest_categorical(f"{p.name}.enabled", [False, True]):
            value = p.off
        elif p.type == "categorical":
            value = trial.suggest_categorical(p.name, list(p.choices))
        elif p.type == "int":
            value = trial.suggest_int(p.name, p.low, p.high, step=p.step or 1, log=p.log)
        else:
            value = trial.suggest_float(p.name, p.low, p.high, step=p.step, log=p.log)
        params[p.name] = values[p.name] = value
    return params


def make_cv(cv_spec):
    """The splitter of a study's ``[cv]`` table."""
    kind = StratifiedKFold if cv_spec.stratified else KFold
    seed = cv_spec.seed if cv_spec.shuffle else None
    return kind(n_splits=cv_spec.n_splits, shuffle=cv_spec.shuffle, random_state=seed)


def create_study(spec):
    """Create the study in its storage, or load it when it exists."""
    return optuna.create_study(
        study_name=spec.name,
        storage=make_storage(spec.storage.url, spec.storage.heartbeat_interval),
        direction="maximize",
        load_if_exists=True,
        sampler=make_sampler(spec.sampler, spec.search_space, spec.sampler.seed),
        pruner=make_pruner(spec.pruner),
    )
