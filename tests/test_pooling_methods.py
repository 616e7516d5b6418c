"""CLS, average and frozen attention pooling (SDST Eq. 15) against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sdst_teacher.pooling import AdaptivePool, load_adaptive_pool, pool_tokens, seeded_adaptive_pool
from vtg.errors import UserError


def identity_pool() -> AdaptivePool:
    """F = 2, one head, identity projections, zero biases, identity LayerNorms."""
    pool = AdaptivePool(2, 1)
    with torch.no_grad():
        for name, parameter in pool.named_parameters():
            if name.startswith("cross_attn.") and name.endswith("weight"):
                parameter.copy_(torch.eye(2))
            elif name.endswith("bias"):
                parameter.zero_()
    return pool.eval()


def test_cls_and_avg_hand_values():
    tokens = np.arange(2 * 1 * 3 * 2, dtype=np.float32).reshape(2, 1, 3, 2)  # (T=2, K=1, L_v=3, F=2)
    assert pool_tokens(tokens, "cls").tolist() == [[[0.0, 1.0]], [[6.0, 7.0]]]
    assert pool_tokens(tokens, "avg").tolist() == [[[2.0, 3.0]], [[8.0, 9.0]]]
    assert pool_tokens(tokens, "avg").dtype == np.float32


def test_attention_pool_hand_value():
    # LayerNorm of a 2-vector (a, b) is (-1, 1) if a < b else (1, -1): keys/values +-(-1, 1)
    tokens = np.array([[[[0.0, 2.0], [3.0, 1.0], [1.0, 5.0]]]], dtype=np.float32)  # (1, 1, 3, 2)
    # query = LN(mean) = LN(4/3, 8/3) = (-1, 1): scores sqrt(2), -sqrt(2), sqrt(2)
    r = math.sqrt(2.0)
    w1 = math.exp(-r) / (2 * math.exp(r) + math.exp(-r))
    expected = (1 - 2 * w1) * np.array([-1.0, 1.0])
    pooled = pool_tokens(tokens, "attn", identity_pool())
    assert pooled.shape == (1, 1, 2)
    assert np.allclose(pooled[0, 0], expected, atol=1e-4)


def test_attention_pool_is_the_same_frozen_module_for_every_level():
    rng = np.random.default_rng(0)
    tokens = rng.standard_normal((3, 4, 5, 8)).astype(np.float32)  # (T, K, L_v, F)
    pool = seeded_adaptive_pool(8, 2, seed=3)
    pooled = pool_tokens(tokens, "attn", pool, chunk=5)  # chunks that cut across levels
    for level in range(4):
        alone = pool_tokens(tokens[:, level : level + 1], "attn", pool)
        assert np.allclose(pooled[:, level : level + 1], alone, atol=1e-5)
    assert not any(p.requires_grad for p in pool.parameters())


def test_seeded_pool_is_fixed_by_its_seed():
    tokens = np.random.default_rng(1).standard_normal((2, 1, 4, 8)).astype(np.float32)
    a = pool_tokens(tokens, "attn", seeded_adaptive_pool(8, 2, seed=0))
    b = pool_tokens(tokens, "attn", seeded_adaptive_pool(8, 2, seed=0))
    c = pool_tokens(tokens, "attn", seeded_adaptive_pool(8, 2, seed=1))
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_weights_load_from_an_internvideo2_style_state_dict(tmp_path):
    source = seeded_adaptive_pool(8, 2, seed=5)
    source.cross_attn.proj = torch.nn.Linear(8, 6)  # a projecting pool: F' = 6, as InternVideo2's 3200 -> 768
    state = {f"vision_encoder.clip_projector.{k}": v for k, v in source.state_dict().items()}
    state["vision_encoder.blocks.0.attn.qkv.weight"] = torch.zeros(3, 3)  # other modules are ignored
    del state["vision_encoder.clip_projector.cross_attn.k_bias"]  # optional: a constant shift of the scores
    torch.save(state, tmp_path / "pool.pt")
    np.savez(tmp_path / "pool.npz", **{k: v.numpy() for k, v in source.state_dict().items()})
    tokens = np.random.default_rng(2).standard_normal((2, 3, 4, 8)).astype(np.float32)
    expected = pool_tokens(tokens, "attn", source.eval())
    for name in ["pool.pt", "pool.npz"]:
        loaded = load_adaptive_pool(tmp_path / name, num_heads=2)
        assert np.allclose(pool_tokens(tokens, "attn", loaded), expected, atol=1e-6)
        assert expected.shape == (2, 3, 6)


def test_bad_weight_files_name_the_file(tmp_path):
    state = seeded_adaptive_pool(8, 2, seed=0).state_dict()
    np.savez(tmp_path / "partial.npz", **{k: v.numpy() for k, v in state.items() if "v_bias" not in k})
    with pytest.raises(UserError, match=r"partial\.npz: .*cross_attn\.v_bias"):
        load_adaptive_pool(tmp_path / "partial.npz", num_heads=2)
    bad = {k: v.numpy() for k, v in state.items()}
    bad["norm1_k.weight"] = np.ones(5, dtype=np.float32)
    np.savez(tmp_path / "shape.npz", **bad)
    with pytest.raises(UserError, match=r"shape\.npz: 'norm1_k\.weight' has shape"):
        load_adaptive_pool(tmp_path / "shape.npz", num_heads=2)
    flat = {**bad, "norm1_k.weight": state["norm1_k.weight"].numpy(), "cross_attn.q.weight": np.ones(8, np.float32)}
    np.savez(tmp_path / "flat.npz", **flat)
    with pytest.raises(UserError, match=r"flat\.npz: 'cross_attn\.q\.weight' has shape \(8,\), expected a matrix"):
        load_adaptive_pool(tmp_path / "flat.npz", num_heads=2)
    torch.save({**state, "epoch": 3}, tmp_path / "extra.pt")  # an entry the pool does not read is left alone
    assert load_adaptive_pool(tmp_path / "extra.pt", num_heads=2) is not None
    torch.save({**state, "cross_attn.proj.bias": [0.0] * 8}, tmp_path / "lists.pt")
    with pytest.raises(UserError, match=r"lists\.pt: 'cross_attn\.proj\.bias' is a list"):
        load_adaptive_pool(tmp_path / "lists.pt", num_heads=2)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match=r"junk\.pt: refused: not a"):
        load_adaptive_pool(tmp_path / "junk.pt", num_heads=2)
    np.savez(tmp_path / "text.npz", **{**{k: v.numpy() for k, v in state.items()}, "norm1_q.bias": np.array(["a"])})
    with pytest.raises(UserError, match=r"text\.npz: 'norm1_q\.bias' holds <U1 values, not numbers"):
        load_adaptive_pool(tmp_path / "text.npz", num_heads=2)
    torch.save({**state, 1: torch.zeros(2)}, tmp_path / "numbered.pt")
    with pytest.raises(
        UserError, match=r"numbered\.pt: expected a state dict whose names are strings, found the key 1"
    ):
        load_adaptive_pool(tmp_path / "numbered.pt", num_heads=2)
    np.savez(tmp_path / "good.npz", **{k: v.numpy() for k, v in state.items()})
    with pytest.raises(UserError, match="attn-heads"):
        load_adaptive_pool(tmp_path / "good.npz", num_heads=3)  # 3 heads do not divide the width 8
