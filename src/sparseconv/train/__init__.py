"""One run: its parameters (:mod:`~sparseconv.train.params`), the epoch loop
(:mod:`~sparseconv.train.engine`), the tasks (:mod:`~sparseconv.train.classify`,
:mod:`~sparseconv.train.depth`, :mod:`~sparseconv.train.kitti_task`), the record it
writes (:mod:`~sparseconv.train.record`) and the entry point the notebooks call
(:func:`sparseconv.train.run.train_run`).

Imports: :mod:`sparseconv.nn`, :mod:`sparseconv.data`, :mod:`sparseconv.registry`;
never the sweep or the report.
"""
