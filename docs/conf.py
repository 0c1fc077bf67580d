"""Sphinx configuration of the nnsweep documentation site.

Built by ``make docs`` into ``docs/_build/html``, offline: the PyData theme, numpydoc for the API
reference, sphinx-gallery for the examples (every figure is made by running ``examples/*.py``
during the build), and MathJax 3 copied from the ``sphinx-mathjax-offline`` wheel into
``_static/mathjax`` (no CDN: the site renders its formulas with no network).

``NNSWEEP_DOCS_QUICK=1`` makes the examples train on less data for fewer epochs
(``tests/test_docs.py`` builds that way); the figures then show the same things, less smoothly.
"""

import dataclasses
import inspect
import os
import re
import subprocess
import sys
import tomllib
import typing
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.parsers.rst.directives.images import Figure
from docutils.statemachine import StringList
from sphinx.util.nodes import nested_parse_with_titles

import nnsweep

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

project = "nnsweep"
author = "the nnsweep developers"
copyright = "2026, the nnsweep developers"  # noqa: A001 (Sphinx's name)
version = release = nnsweep.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "sphinx-mathjax-offline",  # MathJax 3.2.2 from the wheel; sets mathjax_path
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "tutorial/examples/*.md"]
templates_path = []
default_role = "py:obj"  # `name` links to the API where it can, plain code elsewhere
pygments_style = "sphinx"
suppress_warnings = [
    # docs/scaling.md (not ours to edit) links to files outside the site (benchmarks/results/);
    # those links stay plain. Every rst reference is still checked.
    "myst.xref_missing",
]

# -- autodoc / numpydoc
autodoc_default_options = {"members": False, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
numpydoc_show_class_members = False  # members are listed by hand in docs/api/*.rst
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()  # ruff's D rules check docstrings; see the report in docs/api

# -- MathJax
mathjax3_config = {
    "tex": {
        "macros": {
            "R": r"\mathbb{R}",
            "E": r"\mathbb{E}",
            "softmax": r"\operatorname{softmax}",
            "sign": r"\operatorname{sign}",
            "diag": r"\operatorname{diag}",
        }
    }
}

# -- sphinx-gallery
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "tutorial/examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("nnsweep",),
    "backreferences_dir": "tutorial/examples/backreferences",
    "reference_url": {"nnsweep": None},
    "image_scrapers": ("matplotlib",),
    "remove_config_comments": True,
    "write_computation_times": False,
    "abort_on_example_error": False,  # every broken example is reported, and fails the build
    "show_memory": False,
    "min_reported_time": 1,
    "default_thumb_file": None,
    "capture_repr": (),  # the scripts print what they mean to show
    "plot_gallery": "True",
}

# -- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"nnsweep {release}"
html_static_path = ["_static"]
html_css_files = ["nnsweep.css"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "header_links_before_dropdown": 5,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_context = {"default_mode": "light"}


# -- the CLI's help, from the installed command itself
def _command_help(args):
    """``nnsweep ARGS --help`` as run by this Python (raises RuntimeError if it fails)."""
    env = dict(os.environ, COLUMNS="84")
    cmd = [sys.executable, "-m", "nnsweep", *args, "--help"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"nnsweep {' '.join(args)} --help failed: {proc.stderr.strip()}")
    return proc.stdout.rstrip()


class CliReference(Directive):
    """``.. cli-reference::``: ``nnsweep --help``, then a section per sub-command.

    The sub-commands are read from the ``{run,worker,...}`` choice in the usage line, and each
    one's ``--help`` is run at build time, so the reference cannot drift from the parser. A
    command that fails is a build error.
    """

    def run(self):
        """Run the command's help texts and parse them in place."""
        try:
            top = _command_help([])
            found = re.search(r"\{([\w,-]+)\}", top)
            subcommands = found.group(1).split(",") if found else []
            helps = {name: _command_help([name]) for name in subcommands}
        except RuntimeError as exc:
            raise self.error(str(exc)) from None
        lines = [
            ".. code-block:: text",
            "",
            *("   " + x for x in f"$ nnsweep --help\n{top}".split("\n")),
        ]
        for name, text in helps.items():
            title = f"``nnsweep {name}``"
            lines += ["", f".. _cli-{name}:", "", title, "-" * len(title), ""]
            lines += [".. code-block:: text", ""]
            lines += ["   " + x for x in f"$ nnsweep {name} --help\n{text}".split("\n")]
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="nnsweep --help"), node)
        return node.children


# -- the study-file reference, from the schema's dataclasses (nnsweep.config.trial, runtime...)
# Example values for keys that studies/digits.toml (the annotated reference) does not set, or
# sets to something too long for a table cell. Otherwise a key's default is its example; a key
# with none of the three is a build error.
STUDY_KEY_EXAMPLES = {
    "description": '"Relu network on the digits"',
    "data.path": '"data/train.csv"',
    "data.label_column": '"label"',
    "data.data_dir": '"/data"  (holding mnist/ and fashion-mnist/)',
    "data.subset": "500",
    "pruner.min_resource": "5",
    "pruner.reduction_factor": "3",
    "workers.scheduler": '"tcp://sched:8786"',
    "storage.url": '"postgresql+psycopg2://nnsweep@db/optuna"',
    "storage.heartbeat_interval": "60",
    "tracking.uri": '"http://localhost:5000"',
    "tracking.experiment": '"digits"',
    "search_space.step": "64",
    "search_space.choices": '["relu", "tanh"]',
    "search_space.off": "0.0",
    "search_space.min_layers": "1",
    "search_space.max_layers": "3",
    "search_space.when": '{ learning_rate_schedule = "step" }',
}
# StudySpec fields that load_study fills in, not keys of the file.
NOT_FILE_KEYS = {"path", "source_text", "overrides"}


def _field_comments(cls):
    """Field name -> its comment in the class body: on its line(s), else the lines above it."""
    out, above, field, depth = {}, [], None, 0
    for line in inspect.getsource(cls).splitlines()[1:]:
        code, _, comment = line.partition("  #")
        if depth == 0 and re.match(r"\s*#", line):
            above.append(line.strip().lstrip("#").strip())
            continue
        start = re.match(r"\s+(\w+):", code) if depth == 0 else None
        if start:
            field, out[start.group(1)] = start.group(1), " ".join(above)
        depth += code.count("[") + code.count("(") - code.count("]") - code.count(")")
        if field and comment.strip() and depth == 0:
            out[field] = comment.strip()  # a comment on the field's own line wins
        if depth == 0:
            above, field = [], None
    return out


def _toml(value):
    """A Python default as TOML would write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def _literal(text):
    return f"``{text}``" if text else ""


def _default(field):
    """A field's default as TOML, *unset* for None (TOML has no null), or **required**."""
    if field.default is None:
        return "*unset*"
    if field.default is not dataclasses.MISSING:
        return _literal(_toml(field.default))
    if field.default_factory is not dataclasses.MISSING:
        return _literal(_toml(field.default_factory()))
    return "**required**"


def _meaning(comment, cls, key):
    """The field's comment, then which variants use it and which variable fills it."""
    parts = [comment + ("" if comment.endswith(".") else ".")] if comment else []
    only = key.get("only")
    if only:
        used = " or ".join(f'``{cls.variant} = "{o}"``' for o in only)
        parts.append(f"Only with {used}.")
    var = key.get("env")
    if var:
        parts.append(f"Unset: ``${var}``, if set.")
    return " ".join(parts)


_TABLE_HEAD = [
    ".. list-table::",
    "   :header-rows: 1",
    "   :widths: 14 16 14 22 34",
    "",
    "   * - key",
    "     - type",
    "     - default",
    "     - example",
    "     - meaning",
]


class StudyKeys(Directive):
    """``.. study-keys::``: every key of a study file, as tables, from `nnsweep.config`.

    Names and defaults come from the schema's dataclasses, types in words from their JSON
    schema (``nnsweep.config.errors.expected``: "an integer >= 1"), meanings from the comment
    on (or above) each field with the variants using it and the variable filling it (``only``
    and ``env`` in the JSON schema), examples from `STUDY_KEY_EXAMPLES`, else
    ``studies/digits.toml``, else the default.
    A key with no example and no default is a build error.
    """

    def run(self):
        """Build the tables as reST and parse them in place."""
        from nnsweep import config

        reference = tomllib.loads((ROOT / "studies" / "digits.toml").read_text())
        hints = typing.get_type_hints(config.StudySpec)
        fields = [f for f in dataclasses.fields(config.StudySpec) if f.name not in NOT_FILE_KEYS]
        sections = [f.name for f in fields if dataclasses.is_dataclass(hints[f.name])]
        tables = ("estimator", "search_space", *sections)
        space = reference.get("search_space", {})
        first_param = next(iter(space), "")

        lines = []
        self._table(
            lines,
            "Top level",
            "top",
            config.StudySpec,
            "",
            reference,
            "Keys before the first ``[table]`` header.",
            skip=(*tables, *NOT_FILE_KEYS),
        )
        for name in sections:
            cls = hints[name]
            self._table(
                lines,
                f"[{name}]",
                name,
                cls,
                name,
                reference.get(name, {}),
                inspect.getdoc(cls).splitlines()[0],
            )
        estimator = reference.get("estimator", {})
        lines += ["", ".. _study-estimator:", "", "[estimator]", "~~~~~~~~~~~", ""]
        lines += [
            "Fixed parameters of :class:`~nnsweep.NeuralNetworkClassifier`: any of its",
            "constructor's parameters (a string, number, boolean or list of integers each, as",
            "``hidden_layer_sizes = [128, 64]``), the same in every trial. A key that is not a",
            "parameter is an error. From ``studies/digits.toml``:",
            "",
            ".. code-block:: toml",
            "",
            "   [estimator]",
            *(f"   {k} = {_toml(v)}" for k, v in estimator.items()),
        ]
        self._table(
            lines,
            "[search_space.<parameter>]",
            "search-space",
            config.ParamSpec,
            "search_space",
            space.get(first_param, {}),
            "One table per tuned parameter, named after it; the examples are from "
            f"``[search_space.{first_param}]`` in ``studies/digits.toml`` where it "
            "sets the key.",
            skip=("name",),
        )
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="nnsweep.config"), node)
        return node.children

    def _table(self, lines, title, anchor, cls, prefix, values, intro, skip=()):
        """Append one section's table of keys to ``lines``."""
        from pydantic import TypeAdapter

        from nnsweep.config.errors import expected

        comments = _field_comments(cls)
        keys = TypeAdapter(cls).json_schema()["properties"]
        lines += ["", f".. _study-{anchor}:", "", title, "~" * len(title), "", intro, ""]
        lines += _TABLE_HEAD
        for field in dataclasses.fields(cls):
            if field.name in skip:
                continue
            dotted = f"{prefix}.{field.name}" if prefix else field.name
            if dotted in STUDY_KEY_EXAMPLES:
                example = STUDY_KEY_EXAMPLES[dotted]
            elif field.name in values:
                example = _toml(values[field.name])
            elif field.default not in (None, "", dataclasses.MISSING):
                example = _toml(field.default)
            else:
                raise self.error(
                    f"study-keys: no example for {dotted}; add one to STUDY_KEY_EXAMPLES "
                    "in docs/conf.py"
                )
            lines += [
                f"   * - ``{field.name}``",
                f"     - {expected(keys[field.name])}",
                f"     - {_default(field)}",
                f"     - {_literal(example)}",
                f"     - {_meaning(comments.get(field.name, ''), cls, keys[field.name])}",
            ]


def _rerun_examples_if_mode_changed(app):
    """Run every example again when ``NNSWEEP_DOCS_QUICK`` differs from the last build's.

    sphinx-gallery re-runs an example only when its source changed (an MD5 beside the output);
    without this a full ``make docs`` after a quick build would keep the quick figures.
    """
    gallery = DOCS / "tutorial" / "examples"
    mode = "quick" if os.environ.get("NNSWEEP_DOCS_QUICK") == "1" else "full"
    marker = gallery / ".built-mode"
    if marker.exists() and marker.read_text().strip() != mode:
        for stale in gallery.glob("*.md5"):
            stale.unlink()
    gallery.mkdir(parents=True, exist_ok=True)
    marker.write_text(mode + "\n")


class MnistFigure(Figure):
    """``.. mnist-figure:: path``: a figure that only an example run with MNIST on disk makes.

    The gallery scripts draw their MNIST figures when ``$NNSWEEP_DATA_DIR`` holds the IDX
    files, and skip them with a note otherwise. This shows the figure if the build made it,
    and a one-line note in its place if not (a missing image would be a build error).
    """

    def run(self):
        """The figure, or a note that the build had no MNIST."""
        env = self.state.document.settings.env
        _, path = env.relfn2path(self.arguments[0], env.docname)
        if Path(path).is_file():
            return super().run()
        note = nodes.paragraph(
            text="(A figure on MNIST goes here when the site is built with the MNIST files in "
            "$NNSWEEP_DATA_DIR; this build had none.)"
        )
        note["classes"].append("mnist-note")
        return [note]


def _ignore_build_outputs(app):
    """Keep git status clean: the build's own outputs carry a ``.gitignore`` of ``*``.

    (As pytest's cache does.) Covers ``docs/_build`` and the generated gallery pages.
    """
    out = Path(app.outdir).resolve()
    targets = [DOCS / "tutorial" / "examples"]
    if out.parent.name == "_build":
        targets.append(out.parent)
    for folder in targets:
        folder.mkdir(parents=True, exist_ok=True)
        marker = folder / ".gitignore"
        if not marker.exists():
            marker.write_text("# made by docs/conf.py: build output\n*\n")


_SHAPE = re.compile(r"of shape \(([^)]*)\)")


def _escape_shape_names(app, what, name, obj, options, lines):
    """Escape fitted-attribute names in numpydoc shapes: ``(n_features_in_,)``.

    reST reads ``n_features_in_`` as a reference to a target ``n_features_in``, which does
    not exist (an error with -W). The docstrings are right as plain text (ruff and ``help()``
    read them), so the docs escape the trailing underscore instead of editing them.
    """
    for i, line in enumerate(lines):
        lines[i] = _SHAPE.sub(
            lambda m: "of shape (" + re.sub(r"(\w)_(?=[,)\s]|$)", r"\1\\_", m.group(1)) + ")",
            line,
        )


def setup(app):
    """Register the directives, the docstring fix and the ``.gitignore`` markers."""
    app.add_directive("cli-reference", CliReference)
    app.add_directive("study-keys", StudyKeys)
    app.add_directive("mnist-figure", MnistFigure)
    app.connect("builder-inited", _ignore_build_outputs, priority=100)
    app.connect("builder-inited", _rerun_examples_if_mode_changed, priority=100)
    app.connect("autodoc-process-docstring", _escape_shape_names)
    return {"parallel_read_safe": True}
