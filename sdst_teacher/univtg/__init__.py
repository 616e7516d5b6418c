"""UniVTG-style teacher: a clip-wise encoder over concatenated video and text tokens (no pre-training).

``build(config, dims)`` in :mod:`sdst_teacher.univtg.model` is registered as ``univtg`` in
``vtg.models``. Per-layer hidden states and attention probabilities are exposed for CLRM.
"""
