"""Where the project lives on disk (no torch): the folder that holds ``pyproject.toml``."""

from __future__ import annotations

from pathlib import Path

__all__ = ["project_root"]


def project_root() -> Path:
    """The folder holding ``pyproject.toml`` above this package, else the working directory."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    return Path.cwd()
