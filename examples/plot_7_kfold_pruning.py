r"""
K-fold cross-validation in lockstep, and where pruning cut
==========================================================

nnsweep scores a trial by K-fold cross-validation, and it trains the K fold models in
lockstep: one epoch of each, then each is scored on its held-out fold, and the mean of the K
scores is the trial's value at that epoch. The pruner compares trials on that mean at equal
epochs. This script runs a real (small) sweep through :func:`nnsweep.sweep.run_sweep` from a
study file, with MLflow off, and draws what the Optuna study recorded.
"""

import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from nnsweep import NeuralNetworkClassifier
from nnsweep.config import load_study
from nnsweep.datasets import load_dataset
from nnsweep.study.records import TrialRecord
from nnsweep.sweep import run_sweep

# sphinx_gallery_start_ignore
QUICK = os.environ.get("NNSWEEP_DOCS_QUICK") == "1"  # the tests build a fast version
# sphinx_gallery_end_ignore

optuna.logging.set_verbosity(optuna.logging.WARNING)
folder = Path(tempfile.mkdtemp(prefix="nnsweep-docs-"))
N_TRIALS, EPOCHS = (8, 15) if QUICK else (16, 40)

# %%
# The study file
# --------------
# Everything a sweep does is in one TOML file (the :doc:`format </api/study_file>`). Two
# parameters are tuned, the learning rate on a log scale and the momentum; 5-fold CV on the
# training split; the median pruner may stop a trial from epoch 5 on, once 3 trials have
# finished.

study_file = folder / "kfold.toml"
study_file.write_text(f"""
name = "kfold"

[data]
name = "digits"

[estimator]
hidden_layer_sizes = [64]
max_epochs = {EPOCHS}
batch_size = 32
n_iter_no_change = {EPOCHS}
random_state = 0

[search_space.learning_rate]
type = "float"
low = 1e-4
high = 0.5
log = true

[search_space.momentum]
type = "float"
low = 0.0
high = 0.95

[cv]
n_splits = 5

[budget]
n_trials = {N_TRIALS}

[sampler]
name = "random"
seed = 1

[pruner]
name = "median"
n_startup_trials = 3
n_warmup_steps = 5

[workers]
n_jobs = 1

[storage]
url = "{folder / "kfold.log"}"

[tracking]
enabled = false

[evaluation]
refit = false
""")
spec = load_study(study_file, estimator_params=NeuralNetworkClassifier().get_params())
result = run_sweep(spec, load_dataset("digits"), progress=False)
print(
    f"{result.n_complete} complete, {result.n_pruned} pruned, {result.n_failed} failed; "
    f"best CV accuracy {result.best_value:.4f} +- {result.best_std:.4f}"
)

# %%
# Reading the study back
# ----------------------
# The journal file is the source of truth: Optuna's intermediate values are the CV means per
# epoch, and each trial's user attributes hold its per-fold curves.

storage = JournalStorage(JournalFileBackend(str(folder / "kfold.log")))
study = optuna.load_study(study_name="kfold", storage=storage)
trials = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
best = study.best_trial
record = TrialRecord.of(best)  # the trial's user attributes, typed
print(f"best trial #{best.number}: {best.params}")
print(f"its fold scores: {np.round(record.fold_scores, 4)}")

# %%
# The K folds of the best trial, epoch by epoch
# ---------------------------------------------
# Five models, each trained on four fifths of the training split and scored on the fifth it
# did not see. Their mean (black) is what Optuna saw after every epoch.

fig, ax_folds = plt.subplots(figsize=(8, 4))
folds = record.curve_val_folds
for k, curve in enumerate(folds):
    ax_folds.plot(np.arange(1, len(curve) + 1), curve, lw=1, alpha=0.8, label=f"fold {k + 1}")
steps = sorted(best.intermediate_values)
ax_folds.plot(steps, [best.intermediate_values[s] for s in steps], "k", lw=2, label="mean")
ax_folds.set(
    xlabel="epoch",
    ylabel="validation accuracy",
    ylim=(min(0.8, min(min(curve) for curve in folds) - 0.02), 1.0),
    title=f"trial #{best.number}: 5 folds in lockstep",
)
ax_folds.legend(fontsize=8)
fig.tight_layout()

# %%
# Every trial's CV mean, and where pruning cut
# ---------------------------------------------
# A pruned trial ends with a cross where the median pruner stopped it: even its best CV mean
# so far was below the median of the completed trials' CV means at that epoch. Early trials
# tend to run to the end, slow ones included: the pruner waits for three completed trials,
# and until good trials have completed, the median it compares with is low.

fig, ax_trials = plt.subplots(figsize=(8, 4))
for t in trials:
    steps = sorted(t.intermediate_values)
    values = [t.intermediate_values[s] for s in steps]
    pruned = t.state == TrialState.PRUNED
    ax_trials.plot(steps, values, color="tab:red" if pruned else "tab:blue", alpha=0.7, lw=1)
    if pruned:
        ax_trials.plot(steps[-1], values[-1], "x", color="tab:red")
ax_trials.plot([], [], color="tab:blue", label="complete")
ax_trials.plot([], [], "x-", color="tab:red", label="pruned (x: the cut)")
ax_trials.set(
    xlabel="epoch",
    ylabel="CV mean accuracy",
    ylim=(0.0, 1.0),
    title=f"{len(trials)} trials, median pruner",
)
ax_trials.legend(fontsize=8)
fig.tight_layout()

plt.show()
