"""CLRM (Eq. 6) on plain tensors: zero at a match, gradients, token and head maps, layer maps, padding."""

from __future__ import annotations

import pytest
import torch

from spiking.distillation.clrm import CLRMConfig, CLRMLoss, cos_l2, match_heads, resolve_layer_map
from vtg.errors import UserError

B, LV, LQ, DS, DT = 2, 5, 3, 6, 4


def masks() -> dict:
    """Sample 0 is full; sample 1 has 3 real clips and 2 real words."""
    return {
        "video_mask": torch.tensor([[True] * LV, [True] * 3 + [False] * (LV - 3)]),  # (B, Lv)
        "text_mask": torch.tensor([[True] * LQ, [True] * 2 + [False] * (LQ - 2)]),  # (B, Lq)
    }


def attention(batch: int, heads: int, length: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, heads, length, length, generator=g).softmax(dim=-1)  # (B, H, L, L)


def student_outputs(layers: int, heads: int, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    length = LV + LQ  # the student always has video then text tokens
    return {
        "hidden_states": [torch.rand(B, length, DS, generator=g) * 2 - 1 for _ in range(layers)],  # (B, L, d_s)
        "attentions": [attention(B, heads, length, seed + i) for i in range(layers)],
    }


def teacher_outputs(layers: int, heads: int, length: int, seed: int = 100) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "hidden_states": [torch.randn(B, length, DT, generator=g) for _ in range(layers)],  # (B, L_t, d_t)
        "attentions": [attention(B, heads, length, seed + i) for i in range(layers)],
    }


def test_zero_when_projected_student_equals_teacher():
    loss = CLRMLoss({0: 1, 1: 3}, DS, DT, CLRMConfig())
    student = student_outputs(layers=2, heads=2)
    with torch.no_grad():
        teacher = {
            "hidden_states": [torch.zeros(B, LV + LQ, DT)] * 4,
            "attentions": [attention(B, 2, LV + LQ, 7)] * 4,
        }
        for i, m in loss.layer_map.items():
            teacher["hidden_states"][m] = loss.projections[str(i)](student["hidden_states"][i])  # s = a* W_d
            teacher["attentions"][m] = student["attentions"][i]
    out = loss(student, teacher, masks())
    assert out["clrm_rep"].item() == pytest.approx(0.0, abs=1e-6)
    assert out["clrm_att"].item() == pytest.approx(0.0, abs=1e-6)
    assert out["clrm"].item() == pytest.approx(0.0, abs=1e-6)


def test_positive_and_decreasing_under_gradient_descent():
    torch.manual_seed(0)
    loss = CLRMLoss({0: 0, 1: 1}, DS, DT, CLRMConfig(lambda_l2=0.1))
    student = student_outputs(layers=2, heads=2)
    teacher = teacher_outputs(layers=2, heads=2, length=LV + LQ)
    optimizer = torch.optim.Adam(loss.parameters(), lr=0.05)
    values = []
    for _ in range(30):
        value = loss(student, teacher, masks())["clrm_rep"]
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        values.append(value.item())
    assert values[0] > 0
    assert values[-1] < 0.7 * values[0]


def test_gradients_reach_projections_and_student_representations():
    loss = CLRMLoss({0: 1, 1: 3}, DS, DT, CLRMConfig())
    student = student_outputs(layers=2, heads=4)
    for tensor in student["hidden_states"] + student["attentions"]:
        tensor.requires_grad_()
    teacher = teacher_outputs(layers=4, heads=4, length=LV + LQ)
    loss(student, teacher, masks())["clrm"].backward()
    for name, parameter in loss.projections.items():
        assert parameter.weight.grad is not None and parameter.weight.grad.abs().sum() > 0, name
    for tensor in student["hidden_states"] + student["attentions"]:
        assert tensor.grad is not None and tensor.grad.abs().sum() > 0


def test_padding_takes_no_part():
    loss = CLRMLoss({0: 0}, DS, DT, CLRMConfig())
    student = student_outputs(layers=1, heads=2)
    teacher = teacher_outputs(layers=1, heads=2, length=LV + LQ)
    before = loss(student, teacher, masks())["clrm"]
    padded = torch.cat([~masks()["video_mask"], ~masks()["text_mask"]], dim=1)  # (B, L) padding
    for outputs in (student, teacher):
        hidden = outputs["hidden_states"][0].clone()
        hidden[padded] = 1e3  # garbage on padded tokens
        outputs["hidden_states"] = [hidden]
        maps = outputs["attentions"][0].clone()
        maps[padded[:, None, :, None].expand_as(maps)] = 5.0  # padded query rows
        maps[padded[:, None, None, :].expand_as(maps)] = 5.0  # padded key columns
        outputs["attentions"] = [maps]
    after = loss(student, teacher, masks())["clrm"]
    assert after.item() == pytest.approx(before.item(), rel=1e-6)


def test_sdst_layout_compares_the_students_video_tokens():
    """SDST: teacher tokens are the Lv clips; the student's first Lv tokens and video-to-video block."""
    loss = CLRMLoss({0: 2}, DS, DT, CLRMConfig(tokens="auto"))
    student = student_outputs(layers=1, heads=2)
    teacher = teacher_outputs(layers=3, heads=4, length=LV)  # (B, Lv, d_t), (B, 4, Lv, Lv)
    out = loss(student, teacher, masks())
    assert out["clrm"].ndim == 0 and torch.isfinite(out["clrm"])
    # the text tokens of the student play no part
    student["hidden_states"][0][:, LV:] = 123.0
    student["attentions"][0][:, :, LV:] = 0.5
    assert loss(student, teacher, masks())["clrm"].item() == pytest.approx(out["clrm"].item(), rel=1e-6)
    explicit = CLRMLoss({0: 2}, DS, DT, CLRMConfig(tokens="video"))
    explicit.load_state_dict(loss.state_dict())
    assert explicit(student, teacher, masks())["clrm"].item() == pytest.approx(out["clrm"].item(), rel=1e-6)


def test_univtg_layout_compares_every_token():
    loss = CLRMLoss({0: 1, 1: 3}, DS, DT, CLRMConfig(tokens="auto"))
    student = student_outputs(layers=2, heads=2)
    teacher = teacher_outputs(layers=4, heads=4, length=LV + LQ)  # (B, L, d_t), (B, 4, L, L)
    out = loss(student, teacher, masks())
    student["hidden_states"][0][0, LV] = 9.0  # a real text token of sample 0 counts
    assert loss(student, teacher, masks())["clrm_rep"].item() != pytest.approx(out["clrm_rep"].item())


def test_token_map_that_does_not_fit_is_a_user_error():
    student = student_outputs(layers=1, heads=2)
    with pytest.raises(UserError, match="distill.tokens"):
        CLRMLoss({0: 0}, DS, DT, CLRMConfig())(student, teacher_outputs(1, 2, length=LV + 1), masks())
    with pytest.raises(UserError, match="distill.tokens"):  # 'all' on a teacher of video tokens only
        CLRMLoss({0: 0}, DS, DT, CLRMConfig(tokens="all"))(student, teacher_outputs(1, 2, length=LV), masks())


def test_video_map_on_a_univtg_layout_compares_the_clip_tokens_alone():
    loss = CLRMLoss({0: 1}, DS, DT, CLRMConfig(tokens="video"))
    student = student_outputs(layers=1, heads=2)
    teacher = teacher_outputs(layers=2, heads=2, length=LV + LQ)  # (B, L, d_t), (B, 2, L, L)
    out = loss(student, teacher, masks())
    for outputs in (student, teacher):  # text rows and columns of either side play no part
        outputs["hidden_states"][-1][:, LV:] = 77.0
        outputs["attentions"][-1][:, :, LV:] = 0.25
        outputs["attentions"][-1][:, :, :, LV:] = 0.25
    again = loss(student, teacher, masks())
    assert again["clrm"].item() == pytest.approx(out["clrm"].item(), rel=1e-6)
    teacher["hidden_states"][1][0, 0] += 1.0  # a real clip token of sample 0 counts
    assert loss(student, teacher, masks())["clrm_rep"].item() != pytest.approx(out["clrm_rep"].item())


def test_heads_matched_one_to_one_or_by_their_means():
    s, t = attention(B, 2, 4, 0), attention(B, 2, 4, 1)
    assert match_heads(s, t)[0] is s
    s_mean, t_mean = match_heads(s, attention(B, 4, 4, 1))
    assert s_mean.shape == t_mean.shape == (B, 1, 4, 4)
    assert torch.allclose(s_mean[:, 0], s.mean(dim=1))


def test_cos_l2_per_row_values():
    s = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # (1, 2, 2)
    t = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]])
    # row 0: cos 0 -> (1-0)^2 = 1, ||s-t||^2 = 2; row 1: cos 1 -> 0, ||s-t||^2 = 1
    mask = torch.tensor([[True, True]])
    assert cos_l2(s, t, mask, 1.0, 1.0).item() == pytest.approx((1 + 2 + 0 + 1) / 2)
    assert cos_l2(s, t, torch.tensor([[True, False]]), 2.0, 0.5).item() == pytest.approx(2 * 1 + 0.5 * 2)


def test_layer_maps():
    assert resolve_layer_map("uniform", 2, 4, "c.yaml") == {0: 1, 1: 3}
    assert resolve_layer_map("uniform", 4, 4, "c.yaml") == {0: 0, 1: 1, 2: 2, 3: 3}
    assert resolve_layer_map("uniform", 3, 2, "c.yaml") == {1: 0, 2: 1}
    assert resolve_layer_map({0: 1, "1": 2}, 2, 3, "c.yaml") == {0: 1, 1: 2}
    with pytest.raises(UserError, match=r"c.yaml: field 'distill.layer_map'.*teacher layer 3"):
        resolve_layer_map({0: 3}, 2, 3, "c.yaml")
    with pytest.raises(UserError, match="student layer 5"):
        resolve_layer_map({5: 0}, 2, 3, "c.yaml")
    with pytest.raises(UserError, match="maps no layer"):
        resolve_layer_map({}, 2, 3, "c.yaml")


def test_config_errors_name_the_field():
    with pytest.raises(UserError, match="c.yaml: field 'distill.lambda_l2'"):
        CLRMConfig.from_dict({"lambda_l2": -1}, "c.yaml")
    with pytest.raises(UserError, match="field 'distill.tokens'"):
        CLRMConfig.from_dict({"tokens": "text"}, "c.yaml")
    with pytest.raises(UserError, match="field 'distill.layer_map'"):
        CLRMConfig.from_dict({"layer_map": [0, 1]}, "c.yaml")
    with pytest.raises(UserError, match="field 'distill.center': expected true or false"):
        CLRMConfig.from_dict({"center": "yes"}, "c.yaml")
    assert CLRMConfig.from_dict({"layer_map": {0: 1}, "lambda_cos": 2}, "c.yaml").lambda_cos == 2.0


def test_centred_matching_ignores_each_samples_common_state_and_its_padding():
    loss = CLRMLoss({0: 1}, DS, DT, CLRMConfig(center=True, tokens="video"))
    student = student_outputs(layers=1, heads=2)
    teacher = teacher_outputs(layers=2, heads=2, length=LV)  # (B, Lv, d_t)
    out = loss(student, teacher, masks())
    shifted = {**teacher, "hidden_states": [h.clone() for h in teacher["hidden_states"]]}
    shifted["hidden_states"][1] += torch.randn(B, 1, DT)  # one common vector per sample
    shifted["hidden_states"][1][1, 3:] = 50.0  # and garbage on sample 1's padded clips
    assert loss(student, shifted, masks())["clrm_rep"].item() == pytest.approx(out["clrm_rep"].item(), rel=1e-5)
    plain = CLRMLoss({0: 1}, DS, DT, CLRMConfig(tokens="video"))
    plain.load_state_dict(loss.state_dict())
    assert plain(student, shifted, masks())["clrm_rep"].item() != pytest.approx(out["clrm_rep"].item(), rel=1e-3)
    # a student whose projection is the teacher up to a per-sample vector matches exactly
    with torch.no_grad():
        exact = {**teacher, "hidden_states": list(teacher["hidden_states"])}
        exact["hidden_states"][1] = loss.projections["0"](student["hidden_states"][0][:, :LV]) + 3.0
    assert loss(student, exact, masks())["clrm_rep"].item() == pytest.approx(0.0, abs=1e-6)
