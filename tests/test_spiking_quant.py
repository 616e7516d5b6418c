"""1-bit weights (SpikingVTG Sec. 4.6): W_q = sgn(W - mean W), scaled by beta = mean|W|."""

import torch
from brevitas.nn import QuantConv1d, QuantLinear

from spiking.model import build
from spiking.quant import effective_weight, make_conv1d, make_linear


def test_effective_weights_are_exactly_plus_or_minus_beta():
    torch.manual_seed(0)
    for layer in (make_linear(12, 5, binary=True), make_conv1d(4, 6, 3, binary=True)):
        with torch.no_grad():
            layer.weight.add_(0.05)  # a non-zero mean, so that centring matters
        latent = layer.weight.detach()
        beta = latent.abs().mean()
        weight = effective_weight(layer).detach()
        assert torch.equal(weight.abs(), torch.full_like(weight, float(beta)))
        assert torch.equal(weight > 0, latent - latent.mean() >= 0)  # sgn of the centred weight, sgn(0) = +1


def test_binary_layer_output_is_beta_times_sign_product_and_gradient_is_straight_through():
    torch.manual_seed(1)
    layer = make_linear(6, 3, binary=True)
    x = torch.randn(2, 6)
    latent = layer.weight.detach()
    signs = torch.where(latent - latent.mean() >= 0, 1.0, -1.0)
    expected = latent.abs().mean() * (x @ signs.T) + layer.bias.detach()
    assert torch.allclose(layer(x), expected, atol=1e-6)
    layer(x).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_every_weight_matrix_of_the_1bit_model_is_binary_except_sfg_pooling():
    model = build(
        {"variant": "1bit_nf", "hidden_dim": 8, "num_layers": 1, "num_heads": 2, "ffn_dim": 8, "f_layers": 2},
        {"video_dim": 5, "text_dim": 7},
    )
    real = []
    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv1d)):
            if isinstance(module, (QuantLinear, QuantConv1d)):
                weight = effective_weight(module).detach()
                assert len(torch.unique(weight.abs())) == 1, name
            else:
                real.append(name)
    assert real == ["sfg.pool"]
