"""JupyterLab on the project: ``sparseconv-lab notebooks/mnist.ipynb``.

Plain ``jupyter lab notebooks/mnist.ipynb`` makes ``notebooks/`` the server's root (so
``src/``, ``results/`` and ``runs/`` are out of reach in the file browser) and refuses to
start for the root user, as in many containers, without ``--allow-root``. This starts
JupyterLab with the project root as the server root, and allows root when the user is
root; every other argument goes to JupyterLab unchanged.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from sparseconv.registry.paths import project_root

__all__ = ["lab_arguments", "main"]


def lab_arguments(argv: Sequence[str], is_root: bool) -> list[str]:
    """JupyterLab's arguments: ``argv`` plus the project root as the server root (unless
    given) and ``--allow-root`` for the root user (unless given)."""
    args = list(argv)
    if not any(a.startswith(("--ServerApp.root_dir", "--notebook-dir")) for a in args):
        args.append(f"--ServerApp.root_dir={project_root()}")
    if is_root and "--allow-root" not in args:
        args.append("--allow-root")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Start JupyterLab (blocks until it stops); returns its exit status."""
    from jupyterlab.labapp import LabApp

    args = lab_arguments(sys.argv[1:] if argv is None else argv, os.geteuid() == 0)
    LabApp.launch_instance(argv=args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
