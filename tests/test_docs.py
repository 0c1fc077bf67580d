"""The documentation site builds, with warnings as errors, and renders offline.

The build runs every gallery script in ``examples/`` (``NNSWEEP_DOCS_QUICK=1``: less data,
fewer epochs), so a broken example, a literalinclude whose function moved, a dangling
reference or a docstring that reST cannot parse fails here. It builds a copy of the sources in
a temporary folder, so the working tree's ``docs/_build`` and gallery are left alone.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ["problem", "single_neuron", "hidden_layer", "backpropagation", "gradient_descent",
            "regularization", "cross_validation", "sweeps", "deeper"]  # fmt: skip


def _copy_sources(dest):
    """What the build reads: docs/ (without build outputs), examples/, studies/, nnsweep/."""
    ignore = shutil.ignore_patterns("_build", "__pycache__", "*.pyc")
    shutil.copytree(ROOT / "docs", dest / "docs", ignore=ignore)
    shutil.rmtree(dest / "docs" / "tutorial" / "examples", ignore_errors=True)
    for name in ("examples", "studies", "nnsweep"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the site once (quick gallery) and return its output folder."""
    src = tmp_path_factory.mktemp("docs-src")
    out = tmp_path_factory.mktemp("docs-html")
    _copy_sources(src)
    env = dict(os.environ, NNSWEEP_DOCS_QUICK="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MPLBACKEND="agg")  # fmt: skip
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
           "-d", str(src / "doctrees"), str(src / "docs"), str(out)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=src, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (
        f"sphinx-build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    )
    return out


@pytest.mark.slow
def test_site_builds_with_every_tutorial_section_and_figure(site):
    for name in TUTORIAL:
        html = (site / "tutorial" / f"{name}.html").read_text()
        images = re.findall(r'<img[^>]+src="([^"]+)"', html)
        figures = [i for i in images if "sphx_glr_plot_" in i]
        assert figures, f"tutorial/{name}: no figure from the gallery"
        for src in figures:
            assert (site / "tutorial" / src).is_file(), f"tutorial/{name}: {src} missing"
        if name != "sweeps":  # the one section without formulas
            assert 'class="math' in html, f"tutorial/{name}: no math"


@pytest.mark.slow
def test_math_renders_offline_with_the_mathjax_shipped_in_static(site):
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (site / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    for page in site.rglob("*.html"):
        text = page.read_text()
        loaded = re.findall(r'<script[^>]+src="([^"]+)"', text)
        loaded += re.findall(r'<link[^>]+href="([^"]+)"', text)
        remote = [s for s in loaded if s.startswith(("http:", "https:", "//"))]
        assert not remote, f"{page.relative_to(site)} loads from the network: {remote}"
    html = (site / "tutorial" / "single_neuron.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in html


@pytest.mark.slow
def test_reference_pages_hold_the_api_the_study_keys_and_the_cli(site):
    api = {p.stem: p.read_text() for p in (site / "api").glob("*.html")}
    assert 'id="nnsweep.NeuralNetworkClassifier"' in api["estimator"]
    for name in ("forward", "backward", "init_params", "penalty"):
        assert f'id="nnsweep.nn.network.{name}"' in api["network"]
    assert 'id="nnsweep.nn.optim.decayed_learning_rate"' in api["optim"]
    assert 'id="nnsweep.datasets.load_dataset"' in api["datasets"]
    for key in ("n_splits", "n_trials", "n_warmup_steps", "heartbeat_interval", "off"):
        assert (
            f'<code class="docutils literal notranslate"><span class="pre">{key}</span>'
            in (api["study_file"])
        ), key
    assert "nnsweep run --help" in api["cli"]
