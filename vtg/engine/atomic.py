"""Atomic file writes, for the training engine's callers: the one home is :mod:`vtg.atomic`."""

from __future__ import annotations

from vtg.atomic import atomic_write, atomic_write_text

__all__ = ["atomic_write", "atomic_write_text"]
