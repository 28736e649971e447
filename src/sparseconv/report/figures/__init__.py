"""Every figure of the book and the notebooks, drawn with matplotlib from frames the
report's other modules compute: the shared style (:mod:`~.style`), results
(:mod:`~.results`), depth (:mod:`~.depth`), training (:mod:`~.training`) and the method
page's illustrations (:mod:`~.method`).

Imports: matplotlib, the report's table modules and everything below the report; never
:mod:`sparseconv.report.pages` or :mod:`sparseconv.report.text`.
"""
