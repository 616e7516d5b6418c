"""Every ablation switch of the paper builds and trains one step; shared vs unshared levels by parameter count."""

from __future__ import annotations

import pytest
import torch
from test_sdst_batch import (
    TINY_DIMS,
    TINY_MODEL,
    make_batch,
)

from sdst_teacher.sdst.model import build
from sdst_teacher.sdst.parameters import count_parameters

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread (conftest.py)

ABLATIONS = [
    {"sparse_attention": "rdsa"},  # Tab. 5
    {"sparse_attention": "deformable_ca"},
    {"sparse_attention": "standard_ca"},
    {"rdsa_points": "c", "rdsa_cnn": True},  # Tab. M
    {"rdsa_points": "c", "rdsa_cnn": False},
    {"rdsa_points": "l-r", "rdsa_cnn": True},
    {"rdsa_points": "l-r", "rdsa_cnn": False},
    {"rdsa_points": "l-c-r", "rdsa_cnn": False},
    {"shared_levels": False},  # Tab. J
    {"actionness": False},  # Tab. E, w/o L_act
    {"cls_normalization": "boxes"},
    {"loss_mr": 0.0},  # the dense stream alone (MR untrained)
    {"levels": [2]},  # Fig. 3 / Tab. K: K = 1, 2, ... and which levels (Tab. 4)
    {"levels": [0, 2]},
    {"levels": [-1, -1, -1]},  # last-layer features only
    {"conditioning": "raw"},  # Tab. 6
    {"conditioning": "ca"},
    {"conditioning": "sa"},
    {"conditioning": "ffn"},
    {"sparse_order": ["sa", "def", "ffn"]},  # Tab. 7
    {"sparse_order": ["ca", "def", "ffn"]},
    {"sparse_order": ["ca", "sa", "ffn"]},
    {"sparse_order": ["ca", "sa", "def"]},
    {"sparse_order": ["sa", "ca", "def", "ffn"]},  # Tab. N
    {"sparse_order": ["sa", "def", "ca", "ffn"]},
    {"sparse_order": ["def", "sa", "ca", "ffn"]},
    {"sparse_order": ["def", "ca", "sa", "ffn"]},
    {"sparse_order": ["ca", "def", "sa", "ffn"]},
]


@pytest.mark.parametrize("switch", ABLATIONS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_switch_builds_runs_forward_and_backward(switch):
    torch.manual_seed(0)
    model = build({**TINY_MODEL, **switch}, TINY_DIMS)
    batch = make_batch()
    outputs = model(batch)
    levels = len(switch.get("levels", [0, 1, 2]))
    assert len(outputs["level_logits"]) == levels and outputs["pred_spans"].shape == (3, 5, 2)
    losses = model.loss(outputs, batch)
    assert torch.isfinite(losses["total"])
    losses["total"].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    uses_deformable = switch.get("sparse_attention", "rdsa") != "standard_ca" and "def" in switch.get(
        "sparse_order", ["def"]
    )
    assert ("level_offsets" in outputs) == uses_deformable


def test_switches_change_the_modules():
    count = lambda **kw: count_parameters(build({**TINY_MODEL, **kw}, TINY_DIMS))["total"]  # noqa: E731
    dim, cnn_hidden, latent = TINY_MODEL["hidden_dim"], TINY_MODEL["rdsa_cnn_hidden"], TINY_MODEL["rdsa_latent_dim"]
    cnn = dim * cnn_hidden * 3 + cnn_hidden + 2 * cnn_hidden + cnn_hidden * dim * 3 + dim
    assert count(rdsa_cnn=True) - count(rdsa_cnn=False) == cnn
    assert count(rdsa_points="l-c-r") - count(rdsa_points="c") == 2 * dim * latent  # wider first layer of W_Q
    ffn = 2 * TINY_MODEL["ffn_ratio"] * dim * dim + TINY_MODEL["ffn_ratio"] * dim + dim + 2 * dim
    assert count() - count(sparse_order=["ca", "sa", "def"]) == ffn


def test_unshared_levels_add_one_layer_per_extra_level():
    shared = build({**TINY_MODEL, "shared_levels": True}, TINY_DIMS)
    unshared = build({**TINY_MODEL, "shared_levels": False}, TINY_DIMS)
    per_layer = sum(p.numel() for p in shared.layers[0].parameters())
    # the expected size of one layer, from its parts: Eq. 2's two 2-layer MLPs, the dense stream's CA, SA
    # and FFN, and the sparse stream's CA, SA, RDSA and FFN
    d, r, v, t = TINY_MODEL["hidden_dim"], TINY_MODEL["ffn_ratio"], TINY_DIMS["video_dim"], TINY_DIMS["text_dim"]
    h, lat, p, heads = TINY_MODEL["rdsa_cnn_hidden"], TINY_MODEL["rdsa_latent_dim"], 2, TINY_MODEL["num_heads"]
    projections = (v * d + d + d * d + d) + (t * d + d + d * d + d)
    attention = 4 * d * d + 4 * d + 2 * d  # in/out projections and the block's LayerNorm
    ffn = d * r * d + r * d + r * d * d + d + 2 * d
    rdsa = (d * h * 3 + h + 2 * h + h * d * 3 + d) + (3 * d * lat + lat + lat * lat + lat)
    rdsa += 2 * (lat * heads * p + heads * p) + 2 * (d * d + d) + 2 * d  # G_Delta, G_A, W_K, W_O, block LN
    assert per_layer == projections + 2 * attention + ffn + 2 * attention + rdsa + ffn
    levels = TINY_DIMS["video_levels"]
    assert count_parameters(unshared)["total"] - count_parameters(shared)["total"] == (levels - 1) * per_layer
    assert len(unshared.layers) == levels and len(shared.layers) == 1


def test_actionness_off_drops_the_head_and_loss_act_0_with_it_on_is_refused():
    from vtg.errors import UserError

    torch.manual_seed(0)
    model = build({**TINY_MODEL, "actionness": False}, TINY_DIMS)
    assert model.actionness_head is None
    batch = make_batch()
    outputs = model(batch)
    assert "pred_actionness" not in outputs and "act" not in model.loss(outputs, batch)
    assert len(model.predict(batch, outputs)) == 3
    # Tab. E's "w/o L_act" as loss_act: 0 alone would rank by an untrained head (Eq. 23)
    with pytest.raises(UserError, match=r"^field 'model.loss_act': 0 leaves the actionness head untrained"):
        build({**TINY_MODEL, "loss_act": 0.0}, TINY_DIMS)
