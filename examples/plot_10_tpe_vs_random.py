r"""
Comparing studies: TPE against random search on the digits
==========================================================

Two studies that differ only in their sampler, on the same data, folds and budget: Optuna's
TPE and random search. ``nnsweep compare`` puts them side by side; here its table and figure
come from Python (`nnsweep.cli.compare.compare_rows` and `plot_comparison`). The left panel is
the empirical distribution of the trial scores (further right is better), the right one the
best CV so far against wall time.
"""

import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import optuna

from nnsweep.cli.compare import compare_rows, format_row, plot_comparison
from nnsweep.config import load_study
from nnsweep.datasets import load_dataset
from nnsweep.study.storage import load_study as open_study
from nnsweep.sweep import run_sweep

# sphinx_gallery_start_ignore
QUICK = os.environ.get("NNSWEEP_DOCS_QUICK") == "1"  # the tests build a fast version
# sphinx_gallery_end_ignore

optuna.logging.set_verbosity(optuna.logging.WARNING)
folder = Path(tempfile.mkdtemp(prefix="nnsweep-docs-"))
digits = load_dataset("digits")
N_TRIALS, EPOCHS = (8, 8) if QUICK else (30, 30)
runs = []
for sampler in ("tpe", "random"):
    study_file = folder / f"{sampler}.toml"
    study_file.write_text(f"""
name = "{sampler}"
[data]
name = "digits"
[estimator]
max_epochs = {EPOCHS}
random_state = 0
[search_space.learning_rate]
type = "float"
low = 1e-3
high = 1.0
log = true
[search_space.momentum]
type = "float"
low = 0.0
high = 0.99
[search_space.l2_penalty]
type = "float"
low = 1e-6
high = 1e-1
log = true
[cv]
n_splits = 3
[budget]
n_trials = {N_TRIALS}
[sampler]
name = "{sampler}"
seed = 0
[pruner]
name = "none"
[workers]
n_jobs = 1
[storage]
url = "{folder / f"{sampler}.log"}"
[tracking]
enabled = false
[evaluation]
refit = false
""")
    spec = load_study(study_file)
    run_sweep(spec, digits, progress=False, log=lambda _: None)
    runs.append((spec, open_study(spec)))

for spec, study in runs:
    row = format_row(compare_rows(spec, study))
    print(
        f"{row['study']:>6}: best CV {row['best']} +- {row['std']}, {row['complete']} complete, "
        f"{row['pruned']} pruned, {row['wall']} s, within 0.002 of its best after "
        f"{row['to_best']} s"
    )

fig = plot_comparison([study for _, study in runs])
plt.show()
