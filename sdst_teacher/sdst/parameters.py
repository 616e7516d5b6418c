"""Parameter counts by module, for ``vtg info`` and for comparing a preset with the paper's 4.1 M (Table 1, D)."""

from __future__ import annotations

from torch import nn


def count_parameters(model: nn.Module, depth: int = 1, trainable_only: bool = False) -> dict[str, int]:
    """Number of parameters per module, cut to the first ``depth`` parts of the module path, plus ``"total"``.

    With depth 1 the keys are the model's children (``layers``, ``queries``, ``actionness_head``, ...) and
    its own parameters (``betas``); with depth 3 ``layers.0.dense_stream`` and ``layers.0.sparse_stream``
    appear, and a parameter held by a shallower module (``queries.embeddings``) counts under that module
    (``queries``), so the keys then overlap as prefixes. Shared tensors are counted once.
    """
    counts: dict[str, int] = {}
    total = 0
    for name, parameter in model.named_parameters():  # yields each shared tensor once
        if trainable_only and not parameter.requires_grad:
            continue
        module_path = name.split(".")[:-1] or [name]
        key = ".".join(module_path[:depth])
        counts[key] = counts.get(key, 0) + parameter.numel()
        total += parameter.numel()
    counts["total"] = total
    return counts
