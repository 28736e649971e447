"""The report: records as tables (:mod:`~sparseconv.report.analysis`), statistics and
verdicts (:mod:`~sparseconv.report.stats`, :mod:`~sparseconv.report.verdicts`,
:mod:`~sparseconv.report.claims`), tables, figures and sentences, and the book's pages
(:mod:`sparseconv.report.pages`), which only assemble them. ``python -m
sparseconv.report`` writes ``results/summary.md`` and ``results/claims.csv``.

Imports: any subpackage below it (sweep, train, nn, data, registry); nothing imports
the report except the book, the notebooks and :mod:`sparseconv.lab`.
"""
