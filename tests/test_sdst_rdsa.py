"""RDSA and deformable attention: sampling positions, bilinear sampling, key spots l/c/r, padding, gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sdst_teacher.sdst.deformable_attention import DeformableAttention
from sdst_teacher.sdst.rdsa import RDSA
from sdst_teacher.sdst.sampling import sample_1d

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread (conftest.py)


def ramp(length: int, channels: int = 1) -> torch.Tensor:
    """(1, length, channels) features whose every channel holds the clip index."""
    return torch.arange(length, dtype=torch.float32)[None, :, None].expand(1, length, channels).clone()


def identity_attention(heads: int, points: int, dim: int) -> DeformableAttention:
    attention = DeformableAttention(query_dim=4, dim=dim, num_heads=heads, num_points=points)
    with torch.no_grad():
        for linear in (attention.key_proj, attention.out_proj):
            linear.weight.copy_(torch.eye(dim))
            linear.bias.zero_()
    return attention


def test_offsets_minus_one_and_plus_one_land_on_the_reference_edges():
    references = torch.tensor([[[0.4, 0.2], [0.7, 0.5]]])  # (1, M=2, 2) centre-width
    offsets = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3).expand(1, 2, 1, 3)
    positions = DeformableAttention.sampling_positions(references, offsets)  # (1, 2, 1, 3)
    assert positions[0, 0, 0].tolist() == pytest.approx([0.3, 0.4, 0.5])
    assert positions[0, 1, 0].tolist() == pytest.approx([0.45, 0.7, 0.95])


def test_bilinear_sampling_in_clip_units():
    features = ramp(10).transpose(1, 2)  # (1, 1, 10), clip i holds i, its centre is at i + 0.5
    positions = torch.tensor([[[0.5, 3.0, 4.25, 9.5]]])  # (1, 1, 4)
    sampled = sample_1d(features, positions)[0, 0, 0]  # (4,)
    assert sampled.tolist() == pytest.approx([0.0, 2.5, 3.75, 9.0], abs=1e-5)


def test_initial_offsets_spread_heads_over_left_right_and_centre():
    attention = DeformableAttention(query_dim=4, dim=6, num_heads=3, num_points=2)
    offsets = attention.offsets(torch.randn(1, 1, 4)).view(3, 2)  # zero weights: the bias alone
    assert offsets.mean(dim=1).tolist() == pytest.approx([-1.0, 1.0, 0.0])


def test_deformable_attention_averages_keys_at_the_offsets():
    """Eq. 9 with uniform A over offsets -1 and +1: the mean of the keys at the reference's two edges."""
    attention = identity_attention(heads=1, points=2, dim=2)
    with torch.no_grad():
        attention.offsets.bias.copy_(torch.tensor([-1.0, 1.0]))
    references = torch.tensor([[[0.5, 0.5]]])  # edges at 0.25 and 0.75 of 10 clips: positions 2.5 and 7.5
    dense, valid, span = ramp(10, 2), torch.ones(1, 10, dtype=torch.bool), torch.tensor([10.0])
    out, offsets, weights = attention(torch.randn(1, 1, 4), references, dense, valid, span)
    assert weights[0, 0, 0].tolist() == pytest.approx([0.5, 0.5])
    assert out[0, 0].tolist() == pytest.approx([4.5, 4.5])  # (2.0 + 7.0) / 2
    with torch.no_grad():
        attention.weights.bias.copy_(torch.tensor([20.0, 0.0]))  # all weight on the left point
    out, _, _ = attention(torch.randn(1, 1, 4), references, dense, valid, span)
    assert out[0, 0].tolist() == pytest.approx([2.0, 2.0], abs=1e-4)


def test_heads_sample_their_own_channels():
    attention = identity_attention(heads=2, points=1, dim=2)
    with torch.no_grad():
        attention.offsets.bias.copy_(torch.tensor([-1.0, 1.0]))  # head 0 left edge, head 1 right edge
    references = torch.tensor([[[0.5, 0.5]]])
    out, _, _ = attention(
        torch.randn(1, 1, 4), references, ramp(10, 2), torch.ones(1, 10, dtype=torch.bool), torch.tensor([10.0])
    )
    assert out[0, 0].tolist() == pytest.approx([2.0, 7.0])


def test_padding_reads_as_zero():
    attention = identity_attention(heads=1, points=1, dim=1)
    with torch.no_grad():
        attention.offsets.bias.fill_(1.0)
    valid = torch.arange(10)[None] < 5
    out, _, _ = attention(torch.randn(1, 1, 4), torch.tensor([[[0.5, 0.5]]]), ramp(10) + 1, valid, torch.tensor([10.0]))
    assert out.abs().max() == 0  # position 7.5 lies in the padding


@pytest.mark.parametrize("points,expected", [("c", [0.5]), ("l-r", [0.3, 0.7]), ("l-c-r", [0.3, 0.5, 0.7])])
def test_rdsa_samples_the_reference_left_centre_right(points, expected):
    names = {"c": ("c",), "l-r": ("l", "r"), "l-c-r": ("l", "c", "r")}[points]
    rdsa = RDSA(dim=2, num_heads=1, num_points=4, latent_dim=4, points=names, use_cnn=False, cnn_hidden=4)
    references = torch.tensor([[[0.5, 0.4]]])
    assert rdsa.key_positions(references)[0, 0].tolist() == pytest.approx(expected)
    captured = {}

    def capture(module, args, out):  # returns None so the module's output is kept
        captured["query"] = args[0]

    rdsa.query_proj.register_forward_hook(capture)
    rdsa(
        torch.zeros(1, 1, 2),
        torch.zeros(1, 1, 2),
        references,
        ramp(20, 2),
        torch.ones(1, 20, dtype=torch.bool),
        torch.tensor([20.0]),
    )
    # X_Q = D[l, c, r] concatenated (Eq. 10): clip position u * 20, value position - 0.5 on the ramp
    values = [u * 20 - 0.5 for u in expected]
    assert captured["query"][0, 0].tolist() == pytest.approx([v for v in values for _ in range(2)])


def test_rdsa_gradients_reach_offsets_and_through_them_the_cnn():
    torch.manual_seed(0)
    rdsa = RDSA(dim=8, num_heads=2, num_points=4, latent_dim=6, points=("l", "c", "r"), use_cnn=True, cnn_hidden=5)
    # G_Delta and G_A start at zero weights (Deformable DETR), so at initialisation only they receive a
    # gradient; give them small weights, as after a first step, for the gradient to reach the query path.
    with torch.no_grad():
        rdsa.attention.offsets.weight.normal_(std=0.1)
        rdsa.attention.weights.weight.normal_(std=0.1)
    assert isinstance(rdsa.cnn, nn.Module) and sum(p.numel() for p in rdsa.cnn.parameters()) == (
        8 * 5 * 3 + 5 + 2 * 5 + 5 * 8 * 3 + 8
    )
    dense = torch.randn(2, 12, 8, requires_grad=True)
    references = torch.tensor([[[0.3, 0.2]] * 3, [[0.6, 0.4]] * 3])
    out, offsets, weights = rdsa(
        None, None, references, dense, torch.ones(2, 12, dtype=torch.bool), torch.tensor([12.0, 10.0])
    )
    assert out.shape == (2, 3, 8) and offsets.shape == weights.shape == (2, 3, 2, 4)
    (out.square().sum() + offsets.sum()).backward()
    assert rdsa.attention.offsets.weight.grad.abs().sum() > 0
    assert rdsa.cnn.conv1.weight.grad.abs().sum() > 0
