"""``python -m sparseconv.sweep``: run a data set's grid (see :mod:`sparseconv.sweep.cli`)."""

from sparseconv.sweep.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
