"""One module per book page: each gathers its page's tables, figures and sentences from
the report's modules and glues them (:func:`sparseconv.report.publish.publish`).

Imports: any module of the report (and below); nothing imports a page but the book.
"""
