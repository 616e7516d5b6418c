"""Data: the on-disk contracts of docs/ARCHITECTURE.md and the things built on them.

- ``jsonl`` and ``fields``: reading JSON-lines files and typed fields with errors that name file and line;
- ``annotations``: QVHighlights-style annotation lines (prediction lines are read by :mod:`vtg.metrics.records`);
- ``npz`` and ``features``: feature files (video ``{vid}.npz``, text ``qid{qid}.npz``), deterministic writing;
- ``dataset_config``: ``dataset.yaml``; ``dataset``: the PyTorch :class:`~vtg.data.dataset.VTGDataset`;
  ``labels``: clip-level targets from windows; ``collate``: the padded batch;
- ``synth``: the built-in synthetic dataset; ``converters``: Charades-STA, TACoS, YouTube Highlights;
- ``command``: ``vtg data``.

Nothing here is imported by this ``__init__`` so that ``vtg data synth`` does not pay for torch.
"""
