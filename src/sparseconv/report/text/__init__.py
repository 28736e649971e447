"""Every generated sentence of the book in one place: about the claims
(:mod:`~.claims`), the results (:mod:`~.results`) and the runs (:mod:`~.runs`). Static
prose and captions live in the MyST pages.

Imports: the report's tables and verdicts and everything below the report; never
:mod:`sparseconv.report.pages` or :mod:`sparseconv.report.figures`.
"""
