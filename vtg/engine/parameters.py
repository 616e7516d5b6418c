"""Parameter counts of a model, by top-level module."""

from __future__ import annotations

from torch import nn

OWN = "(own)"  # parameters registered on the model itself rather than on a child module


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """``{child name: parameters, ..., "total": all, "trainable": those with requires_grad}``.

    Shared parameters (tied weights) are counted once, under the first child that holds them, as
    ``model.parameters()`` does.
    """
    counts: dict[str, int] = {}
    seen: set[int] = set()

    def count(parameters) -> int:
        fresh = [p for p in parameters if id(p) not in seen]
        seen.update(id(p) for p in fresh)
        return sum(p.numel() for p in fresh)

    own = count(model.parameters(recurse=False))
    if own:
        counts[OWN] = own
    for name, child in model.named_children():
        n = count(child.parameters())
        if n:  # modules without parameters (a loss, an activation) would only add zeros
            counts[name] = n
    counts["total"] = sum(p.numel() for p in model.parameters())
    counts["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return counts


def human_count(n: int) -> str:
    """``4,100,000`` as ``4.10 M``, ``6,200`` as ``6.20 K``."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)
