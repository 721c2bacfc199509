"""Packaging: one version, typed, licensed, and the installed dependencies inside the bounds
the project declares (the Solara assets code is verified for one minor version)."""

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

import market

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_written_once_and_installed():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert metadata.version("compute-market") == market.__version__


def test_package_is_typed_and_licensed():
    assert (Path(market.__file__).parent / "py.typed").is_file()
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    notice = (ROOT / "NOTICE").read_text()
    assert "CC BY 4.0" in notice and '"Epoch AI"' in notice
    assert metadata.metadata("compute-market")["License-Expression"] == "MIT"


def test_installed_dependencies_are_in_the_declared_ranges():
    """The tests ran against these versions: a bound that excludes them is wrong."""
    for text in metadata.requires("compute-market"):
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": "test"}):
            continue
        installed = metadata.version(req.name)
        assert req.specifier.contains(installed, prereleases=True), (req.name, installed)
    solara = next(Requirement(t) for t in metadata.requires("compute-market")
                  if t.startswith("solara"))
    assert not solara.specifier.contains("1.65.0")  # bounded above
