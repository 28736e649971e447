"""One module per book page: each gathers its page's tables, figures and sentences from
the report's modules and glues them (:func:`sparseconv.report.publish.publish`).
"""
