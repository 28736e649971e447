"""The data: MNIST and Caltech-101 images (:mod:`~sparseconv.data.images`), their fixed
splits and twins, sparsification masks (:mod:`~sparseconv.data.sparsify`), the synthetic
depth scenes (:mod:`~sparseconv.data.scenes`) and KITTI's LiDAR frames
(:mod:`~sparseconv.data.kitti`).

Imports: torch, numpy and :mod:`sparseconv.registry`; never the networks, training,
the sweep or the report.
"""
