"""Released UniVTG checkpoints (showlab/UniVTG) as checkpoints of the project's UniVTG-style teacher.

A released ``model_best.ckpt`` is what UniVTG's training script saves: a dict with ``model`` (the state
dict of its ``Model``), ``optimizer``, ``lr_scheduler``, ``epoch`` and ``opt`` (the run's
``argparse.Namespace``). The Namespace is a pickled Python object, so ``torch.load(weights_only=True)``
refuses the file; :func:`read_released` reads it with an unpickler that builds only tensors, plain
containers and an inert record standing for the Namespace, and refuses any other global in one line,
so nothing in the file is ever run.

The architecture is ``configs/univtg_official.yaml``'s (every switch of
:mod:`sdst_teacher.univtg.config` set to UniVTG's); the sizes come from the weights' shapes, the number
of heads and the feature options from ``opt`` when the file has it (else the preset's). Every key of the
released state dict is accounted for by :func:`map_state_dict`: renamed, split (the attention's packed
``in_proj`` into query, key and value; no transposes are needed, both sides store ``Linear`` weights as
(out, in)) or, for the text position embedding that UniVTG builds but does not use unless
``use_txt_pos``, left out and said so. An unknown, missing or mis-shaped key is a :class:`UserError`
naming it.
"""

from __future__ import annotations

import dataclasses
import pickle
import re
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
import yaml

from vtg.checkpoint import READ_ERRORS, refuse_torchscript
from vtg.config import preset
from vtg.errors import UserError

PRESET = preset("univtg_official.yaml")  # shipped with the toolkit (vtg.configs when installed)
TEF_CHANNELS = 2  # UniVTG's temporal endpoint feature, appended by the model here (video_tef)
UNUSED_TEXT_POSITIONS = "txt_position_embed."  # built by UniVTG, used only with use_txt_pos


class ReleasedOptions:
    """Inert stand-in for the pickled ``argparse.Namespace`` of a released checkpoint: its fields, no code."""

    def __setstate__(self, state: Any) -> None:
        self.fields = dict(state) if isinstance(state, dict) else {}


# the only globals a released checkpoint may name; each is a type or a tensor rebuild, none runs user code
SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch", "device"): torch.device,
    ("torch", "Size"): torch.Size,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("argparse", "Namespace"): ReleasedOptions,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"the file needs the Python object {module}.{name}")
        return SAFE_GLOBALS[(module, name)]


# torch.load's pickle_module: torch subclasses its Unpickler (adding tensor storages), so find_class above
# decides every other global
_RESTRICTED_PICKLE = types.SimpleNamespace(
    Unpickler=_RestrictedUnpickler,
    load=lambda file, **kwargs: _RestrictedUnpickler(file, **kwargs).load(),
    __name__="restricted_pickle",
)


def read_released(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], list[str]]:
    """Return the released state dict, the run's options (``{}`` when absent) and the entries left out.

    Accepted: UniVTG's checkpoint dict (``model`` + ``opt`` + training state) or a bare state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: released checkpoint not found")
    try:
        refuse_torchscript(path, "checkpoint")
        content = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_RESTRICTED_PICKLE)
    except pickle.UnpicklingError as error:
        message = " ".join(str(error).split())
        raise UserError(f"{path}: refused: {message}; reading it could run code") from None
    except READ_ERRORS as error:
        message = " ".join(str(error).split())
        raise UserError(f"{path}: not a readable checkpoint ({type(error).__name__}: {message})") from None
    if not isinstance(content, dict):
        raise UserError(f"{path}: not a UniVTG checkpoint (a {type(content).__name__}, not a dict)")
    if "model" in content:
        state, options = content["model"], content.get("opt")
        dropped = sorted(str(key) for key in content if key != "model")
    else:
        state, options, dropped = content, None, []
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path}: entry 'model': not a state dict of tensors")
    if options is not None and not isinstance(options, ReleasedOptions):
        raise UserError(f"{path}: entry 'opt': expected the run's options, got {type(options).__name__}")
    state = {str(key): value for key, value in state.items()}
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}  # saved from a DDP wrapper
    return state, (options.fields if options is not None else {}), dropped


def _count(state: dict[str, torch.Tensor], pattern: str) -> int:
    """How many distinct indices ``{i}`` keys of the form ``pattern`` (a regex with one group) have."""
    found = {int(m.group(1)) for key in state if (m := re.fullmatch(pattern, key))}
    if found != set(range(len(found))):
        raise UserError(f"key '{pattern}': indices {sorted(found)} are not 0..{len(found) - 1}")
    return len(found)


def _shape(state: dict[str, torch.Tensor], key: str, dim: int) -> int:
    if key not in state:
        raise UserError(f"key '{key}': missing from the released state dict")
    if state[key].dim() <= dim:
        raise UserError(f"key '{key}': shape {tuple(state[key].shape)} has no dimension {dim}")
    return int(state[key].shape[dim])


def released_config(
    state: dict[str, torch.Tensor], options: dict[str, Any], preset: Path = PRESET
) -> tuple[dict[str, Any], dict[str, int], dict[str, str]]:
    """The ``model:`` section and dims that rebuild the released model, and where each size came from.

    Sizes are read from the weights; heads, dropouts and the feature options from ``options`` (the run's
    ``opt``) when present, else from the preset. Options this model cannot reproduce are refused.
    """
    if not preset.is_file():
        raise UserError(f"{preset}: the preset of the released architecture is missing from this installation")
    with open(preset, encoding="utf-8") as file:
        section = dict(yaml.safe_load(file)["model"])
    section.pop("name", None)
    unsupported = {
        "pre_norm": (False, "pre-norm encoder layers"),
        "use_txt_pos": (False, "text position embeddings"),
        "span_loss_type": ("l1", "span classification"),
        "position_embedding": ("sine", "learned video positions"),
        "model_id": ("univtg", "another model"),
    }
    for name, rule in unsupported.items():
        if name in options and options[name] != rule[0]:
            raise UserError(f"option 'opt.{name}': {options[name]!r} ({rule[1]}) is not supported, only {rule[0]!r}")
    ctx_mode = str(options.get("ctx_mode", "video_tef"))
    if "video" not in ctx_mode:
        raise UserError(f"option 'opt.ctx_mode': {ctx_mode!r} has no video features (only 'video' or 'video_tef')")
    tef = "tef" in ctx_mode
    sources = {
        "hidden_dim": "token_type_embeddings.weight",
        "num_layers": "transformer.encoder.layers.{i}",
        "ffn_dim": "transformer.encoder.layers.0.linear1.weight",
        "input_proj_layers": "input_vid_proj.{i}",
        "head_layers": "class_embed.layers.{i}",
        "head_kernel": "class_embed.layers.0.weight",
        "video_dim": "input_vid_proj.0.LayerNorm.weight",
        "text_dim": "input_txt_proj.0.LayerNorm.weight",
    }
    section.update(
        hidden_dim=_shape(state, sources["hidden_dim"], 1),
        num_layers=_count(state, r"transformer\.encoder\.layers\.(\d+)\..*"),
        ffn_dim=_shape(state, sources["ffn_dim"], 0),
        input_proj_layers=_count(state, r"input_vid_proj\.(\d+)\..*"),
        head_layers=_count(state, r"class_embed\.layers\.(\d+)\..*"),
        head_kernel=_shape(state, sources["head_kernel"], 2),
        video_tef=tef,
    )
    for option, field in [("nheads", "num_heads"), ("dropout", "dropout"), ("droppath", "droppath")]:
        if option in options:
            section[field] = options[option]
            sources[field] = f"opt.{option}"
    if "input_dropout" in options:
        section["input_dropout"] = options["input_dropout"]
    video_in = _shape(state, sources["video_dim"], 0)
    dims = {
        "video_dim": video_in - (TEF_CHANNELS if tef else 0),
        "text_dim": _shape(state, sources["text_dim"], 0),
        "video_levels": 1,
        "text_levels": 1,
    }
    if dims["video_dim"] < 1:
        raise UserError(f"key '{sources['video_dim']}': {video_in} channels leave no video features besides tef")
    # the run's own record of its sizes must agree with its weights
    recorded = {
        "hidden_dim": section["hidden_dim"],
        "enc_layers": section["num_layers"],
        "dim_feedforward": section["ffn_dim"],
        "n_input_proj": section["input_proj_layers"],
        "v_feat_dim": video_in,
        "t_feat_dim": dims["text_dim"],
    }
    for option, value in recorded.items():
        if option in options and options[option] is not None and options[option] != value:
            raise UserError(f"option 'opt.{option}': {options[option]!r} disagrees with the weights ({value})")
    return section, dims, sources


def key_map(num_layers: int, proj_layers: int, head_layers: int) -> dict[str, list[str]]:
    """Released key -> the project's keys it becomes (several: its rows split equally among them, in order).

    The project's input projection is one ``Sequential`` of LayerNorm, Dropout, Linear (and ReLU on all
    but the last layer), so UniVTG's layer p sits at indices 4p (LayerNorm) and 4p + 2 (Linear).
    """
    table: dict[str, list[str]] = {
        "token_type_embeddings.weight": ["embedding.token_type.weight"],
        "weightedpool.weight": ["saliency_head.pool.weight"],
    }
    for source, target in [("input_vid_proj", "embedding.video_proj"), ("input_txt_proj", "embedding.text_proj")]:
        for p in range(proj_layers):
            for part in ["weight", "bias"]:
                table[f"{source}.{p}.LayerNorm.{part}"] = [f"{target}.{4 * p}.{part}"]
                table[f"{source}.{p}.net.1.{part}"] = [f"{target}.{4 * p + 2}.{part}"]
    for i in range(num_layers):
        source, target = f"transformer.encoder.layers.{i}", f"layers.{i}"
        for part in ["weight", "bias"]:
            # nn.MultiheadAttention packs query, key and value projections as rows [q; k; v] of one matrix
            table[f"{source}.self_attn.in_proj_{part}"] = [
                f"{target}.attention.{name}.{part}" for name in ["query", "key", "value"]
            ]
            table[f"{source}.self_attn.out_proj.{part}"] = [f"{target}.attention.out.{part}"]
            table[f"{source}.linear1.{part}"] = [f"{target}.ffn.0.{part}"]
            table[f"{source}.linear2.{part}"] = [f"{target}.ffn.3.{part}"]
            table[f"{source}.norm1.{part}"] = [f"{target}.norm1.{part}"]
            table[f"{source}.norm2.{part}"] = [f"{target}.norm2.{part}"]
    for k in range(head_layers):
        for part in ["weight", "bias"]:
            table[f"class_embed.layers.{k}.{part}"] = [f"foreground_head.convs.{k}.{part}"]
            table[f"span_embed.layers.{k}.{part}"] = [f"boundary_head.conv.convs.{k}.{part}"]
    return table


def _split_rows(value: torch.Tensor, parts: int) -> tuple[torch.Tensor, ...] | None:
    """``value`` cut into ``parts`` equal blocks of rows, or ``None`` when its rows do not divide."""
    if parts == 1:
        return (value,)
    if value.dim() == 0 or value.shape[0] % parts:
        return None
    return value.chunk(parts, dim=0)


def map_state_dict(
    state: dict[str, torch.Tensor], model: torch.nn.Module, config: Any, sources: dict[str, str]
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The project's state dict for ``model`` from the released ``state``, and the account of every key.

    The account maps each released key to what became of it. Refused with a :class:`UserError` naming the
    key: a released key this mapping does not know, one the model needs that is missing, a shape that does
    not fit (with the sizes' sources, since they were read from other keys).
    """
    expected = model.state_dict()
    table = key_map(config.num_layers, config.input_proj_layers, config.head_layers)
    sizes = ", ".join(f"{field} from '{key}'" for field, key in sources.items())
    mapped: dict[str, torch.Tensor] = {}
    account: dict[str, str] = {}
    for key in sorted(state):
        value = state[key]
        if key.startswith(UNUSED_TEXT_POSITIONS):
            account[key] = "left out: UniVTG's text position embedding, unused without use_txt_pos"
            continue
        if key not in table:
            raise UserError(f"key '{key}': not a key of the released UniVTG model (renamed, or another model)")
        targets = table[key]
        parts = _split_rows(value, len(targets))  # one part per target; None when the rows do not split
        if parts is None or any(
            tuple(part.shape) != tuple(expected[target].shape) for target, part in zip(targets, parts)
        ):
            want = tuple(expected[targets[0]].shape)
            want = (want[0] * len(targets), *want[1:])  # a packed q, k, v matrix holds three of its targets
            raise UserError(
                f"key '{key}': shape {tuple(value.shape)} does not fit the architecture read from the "
                f"checkpoint ({want} expected; sizes: {sizes})"
            )
        for target, part in zip(targets, parts):
            mapped[target] = part.clone().to(expected[target].dtype)
        split = " (rows split into query, key, value)" if len(targets) > 1 else ""
        account[key] = " + ".join(targets) + split
    for key in table:
        if key not in state:
            raise UserError(f"key '{key}': missing from the released state dict")
    if set(mapped) != set(expected):
        missing = sorted(set(expected) - set(mapped))
        raise UserError(f"key '{missing[0]}': no released key fills it")
    return mapped, account


def import_released(path: str | Path, preset: Path = PRESET) -> dict[str, Any]:
    """Everything ``vtg teacher import`` writes: the model's section, dims, state dict and account."""
    from sdst_teacher.univtg.config import UniVTGConfig
    from sdst_teacher.univtg.model import UniVTG

    state, options, dropped = read_released(path)
    section, dims, sources = released_config(state, options, preset)
    try:
        config = UniVTGConfig.from_dict(section)
    except UserError as error:
        read_from = ", ".join(sources.values())
        raise UserError(f"{path}: the sizes read from the checkpoint ({read_from}): {error}") from None
    model = UniVTG(config, video_dim=dims["video_dim"], text_dim=dims["text_dim"])
    mapped, account = map_state_dict(state, model, config, sources)
    return {
        "config": dataclasses.asdict(config),
        "dims": dims,
        "state_dict": mapped,
        "account": account,
        "dropped_entries": dropped,
        "options_read": sorted(key for key in options if key in _OPTIONS_USED),
    }


_OPTIONS_USED = {
    "nheads", "dropout", "droppath", "input_dropout", "ctx_mode", "pre_norm", "use_txt_pos", "span_loss_type",
    "position_embedding", "model_id", "hidden_dim", "enc_layers", "dim_feedforward", "n_input_proj",
    "v_feat_dim", "t_feat_dim",
}  # fmt: skip
