r"""
A small sweep: optimisation history and parallel coordinates
=============================================================

The digits study of ``studies/digits.toml``, cut down to a couple of dozen short trials so
that it runs while the documentation builds: TPE samples the learning rate, the momentum,
the L2 penalty (or none), the dropout rate and the hidden layer's width, every trial is
scored by 3-fold CV, and the median pruner stops the hopeless ones. This is what
``nnsweep run`` does, with MLflow off; the plots are Optuna's own, drawn from the study's
storage.
"""

import os
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from nnsweep import NeuralNetworkClassifier
from nnsweep.config import load_study
from nnsweep.datasets import load_dataset
from nnsweep.sweep import run_sweep

# sphinx_gallery_start_ignore
QUICK = os.environ.get("NNSWEEP_DOCS_QUICK") == "1"  # the tests build a fast version
# sphinx_gallery_end_ignore

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
folder = Path(tempfile.mkdtemp(prefix="nnsweep-docs-"))
N_TRIALS, EPOCHS = (10, 12) if QUICK else (40, 30)

study_file = folder / "small.toml"
study_file.write_text(f"""
name = "small"
metric = "accuracy"

[data]
name = "digits"
test_size = 0.25

[estimator]
max_epochs = {EPOCHS}
batch_size = 32
learning_rate_schedule = "exponential"
learning_rate_decay = 0.02
random_state = 0

[search_space.learning_rate]
type = "float"
low = 1e-4
high = 1.0
log = true

[search_space.momentum]
type = "float"
low = 0.0
high = 0.99

[search_space.l2_penalty]
type = "float"
low = 1e-5
high = 1e-1
log = true
off = 0.0

[search_space.dropout_rate]
type = "float"
low = 0.0
high = 0.5

[search_space.hidden_layer_sizes]
type = "layers"
max_layers = 1
low = 32
high = 256
step = 32

[cv]
n_splits = 3

[budget]
n_trials = {N_TRIALS}

[sampler]
name = "tpe"
seed = 0
n_startup_trials = 8

[pruner]
name = "median"
n_startup_trials = 6
n_warmup_steps = 10

[workers]
n_jobs = 1

[storage]
url = "{folder / "small.log"}"

[tracking]
enabled = false

[evaluation]
refit = true
""")
spec = load_study(study_file, estimator_params=NeuralNetworkClassifier().get_params())
result = run_sweep(spec, load_dataset("digits"), progress=False, output_dir=folder / "model")
print(f"{result.n_complete} complete, {result.n_pruned} pruned in {result.wall_time:.1f} s")
print(
    f"best trial #{result.best_trial_number}: CV accuracy {result.best_value:.4f} "
    f"+- {result.best_std:.4f}; refit on the whole training split, "
    f"test accuracy {result.test_score:.4f}"
)
for name in sorted(p.name for p in spec.search_space):
    print(f"  {name:<18} {result.best_params[name]}")

storage = JournalStorage(JournalFileBackend(str(folder / "small.log")))
study = optuna.load_study(study_name="small", storage=storage)

# %%
# Optimisation history
# --------------------
# Each dot is a complete trial's CV accuracy; the line is the best so far. Pruned trials have
# no final value and are not drawn, and the axis is zoomed to 0.9-1.0.

with plt.rc_context({"figure.figsize": (8, 4)}):
    ax = optuna.visualization.matplotlib.plot_optimization_history(study)
ax.set_ylim(0.9, 1.0)  # zoomed in: the interesting part is near the top
values = [t.value for t in study.trials if t.value is not None]
below = sum(v < 0.9 for v in values)
print(f"{below} of {len(values)} complete trials scored below 0.9 (off the axis)")
plt.tight_layout()

# %%
# Parallel coordinates
# --------------------
# One line per complete trial across the tuned parameters, coloured by its CV accuracy. The
# ``l2_penalty.enabled`` axis is the on/off choice that ``off = 0.0`` adds in the study file;
# ``layer_1_units`` is the hidden layer's width (the layers table has one depth, so no
# ``n_layers`` is drawn).

with plt.rc_context({"figure.figsize": (12, 6), "font.size": 9}):
    optuna.visualization.matplotlib.plot_parallel_coordinate(study)
plt.tight_layout()

# %%
# Learning curves of every trial
# ------------------------------
# Optuna's intermediate values: the CV mean after each epoch. The short ones were pruned.

with plt.rc_context({"figure.figsize": (8, 4)}):
    optuna.visualization.matplotlib.plot_intermediate_values(study)
ax = plt.gca()
ax.set_ylim(0.0, 1.0)
legend = ax.get_legend()
if legend is not None:
    legend.remove()
plt.tight_layout()

plt.show()

# sphinx_gallery_thumbnail_number = 3
