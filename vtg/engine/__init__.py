"""The training engine (PyTorch Lightning) and the commands built on it.

- ``train_config``: the ``train:`` section, checked field by field, with command-line overrides;
- ``schedule``: linear warm-up, then a constant, cosine or step-decayed learning rate;
- ``module``: :class:`~vtg.engine.module.VTGModule`, the LightningModule around any registered model (its
  validation gathers the predictions of every process and scores them with :mod:`vtg.evaluation`);
- ``datamodule``: :class:`~vtg.engine.datamodule.VTGDataModule` over :class:`vtg.data.dataset.VTGDataset`;
- ``epoch_seed`` and ``history``: callbacks that make resumed runs repeat and record metrics per epoch;
- ``checkpoint``: Lightning's plugin for the checkpoint files of :mod:`vtg.checkpoint` (format, writer, reader,
  :func:`~vtg.checkpoint.load_model`), which lives outside the engine and imports no Lightning;
- ``trainer``: putting it together into one ``fit``; ``parameters``: parameter counts by module;
- ``run_options``: the options of a training run shared by ``vtg train`` and ``vtg distill``, and ``--accelerator``;
- ``train_command``, ``predict_command``, ``info_command``: ``vtg train``, ``vtg predict``, ``vtg info``.

Nothing is imported by this ``__init__``, so that importing a submodule stays cheap.
"""
