"""The import direction of docs/architecture.md holds: import-linter's contracts, and the
contracts themselves are the ones the document describes."""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def lint_imports():
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("lint-imports is not installed: make install (import-linter is in [dev])")
    return found


def test_import_contracts_are_kept():
    out = subprocess.run(
        [lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_a_broken_contract_is_caught(tmp_path):
    # The check can fail: the sweep imports numpy, so forbidding it must break the contract
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "nnsweep"\ninclude_external_packages = true\n'
        '[[tool.importlinter.contracts]]\nname = "no numpy in the sweep"\ntype = "forbidden"\n'
        'source_modules = ["nnsweep.sweep"]\nforbidden_modules = ["numpy"]\n'
    )
    out = subprocess.run(
        [lint_imports(), "--no-cache", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode != 0 and "BROKEN" in out.stdout


def test_every_package_module_is_in_a_layer():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in tool["contracts"] if c["type"] == "layers")["layers"]
    named = {name.strip() for layer in layers for name in layer.replace("|", ":").split(":")}
    modules = {p.stem for p in (ROOT / "nnsweep").glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in (ROOT / "nnsweep").iterdir() if (p / "__init__.py").is_file()}
    assert modules - named == set(), "add the new module to a layer of [tool.importlinter]"


def test_import_nnsweep_is_light_and_lists_its_lazy_names():
    probe = (
        "import sys, nnsweep; names = dir(nnsweep); "
        "print(all(n in names for n in nnsweep.__all__), 'nnsweep.estimator' in sys.modules, "
        "nnsweep.NeuralNetworkClassifier.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.split() == ["True", "False", "nnsweep.estimator"], out.stderr


def test_help_texts_are_plain_text():
    from nnsweep.cli import build_parser

    parser = build_parser()
    texts = [parser.format_help()]
    sub = next(a for a in parser._actions if a.dest == "command")  # argparse's subparsers
    texts += [p.format_help() for p in sub.choices.values()]
    assert len(texts) == 10  # the program and its nine commands
    for text in texts:
        assert "``" not in text and "`" not in text and ":class:" not in text, text


def _rooms_table():
    """``(modules, may import)`` of each row of docs/architecture.md's table of rooms."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    table = text.split("## The rooms", 1)[1].split("The sweep's modules", 1)[0]
    rows = [line.strip("|").split(" | ") for line in table.splitlines() if line.startswith("| `")]
    return [([m.strip(" `") for m in first.split(",")], last.strip()) for first, _, last in rows]


def test_the_architecture_page_states_what_the_contracts_check():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["id"]: c for c in tool["contracts"]}
    layers = contracts["layers"]["layers"]
    order = [
        m.strip() for layer in layers for m in layer.split("#")[0].replace("|", ":").split(":")
    ]
    table = _rooms_table()
    rooms = [m for modules, _ in table for m in modules if "." not in m]
    assert rooms == order, "docs/architecture.md's rooms are not in the layers' order"
    stated = {last for _, last in table}
    named = {c["name"] for c in tool["contracts"] if c["id"] != "layers"}
    assert stated == named, "each room's last column must be its contract's name, word for word"
