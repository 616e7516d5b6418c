"""Shared core of the toolkit: data formats and loaders, synthetic data, metrics, post-processing,
training glue and the ``vtg`` command line. Imports nothing from the model packages."""

__version__ = "0.1.0"
