"""``python -m sparseconv.report``: write ``results/summary.md`` and ``results/claims.csv``."""

from sparseconv.report.summary import main

if __name__ == "__main__":
    raise SystemExit(main())
