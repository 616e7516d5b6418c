"""SDST (Sparse-Dense Side-Tuner), complete: dense and sparse streams, RDSA, recurrent decoder queries, heads,
Hungarian matching, losses and soft-NMS inference. ``build(config, dims)`` is in :mod:`sdst_teacher.sdst.model`.

One concept per module: ``config`` (keys and ablation switches), ``position`` (sinusoidal encodings),
``blocks`` (post-norm blocks, DropPath), ``dense_stream`` (Eq. 3-4), ``sparse_stream`` (Eq. 5-6),
``sampling`` (bilinear 1-D sampling), ``deformable_attention`` (Eq. 7-9), ``rdsa`` (Eq. 10-11),
``queries`` (R and H), ``layer`` (Eq. 1-2), ``heads``, ``roi_pooling``, ``segments``, ``matcher``,
``losses`` (Eq. 17, InfoNCE), ``criterion`` (Eq. 12-14, 16-22), ``postprocess`` (Eq. 23, with the shared
soft-NMS of ``vtg.postprocess``),
``model`` and ``parameters`` (counts by module).
"""
