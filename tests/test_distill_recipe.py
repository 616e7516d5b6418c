"""The CLRM recipe on real models: a SpikingVTG student (implicit differentiation) with either teacher."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from test_sdst_batch import TINY_DIMS, make_batch
from test_sdst_batch import TINY_MODEL as SDST_TINY

from spiking.distillation.clrm import CLRMConfig, CLRMLoss, resolve_layer_map
from spiking.distillation.recipe import DistillationModel, DistillConfig, teacher_layout
from vtg.errors import UserError
from vtg.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread (conftest.py)

STUDENT = {"hidden_dim": 8, "num_layers": 2, "num_heads": 2, "ffn_dim": 8, "tc": 3, "solver_iters": 4}
UNIVTG_TINY = {"hidden_dim": 12, "num_layers": 3, "num_heads": 3, "ffn_dim": 16}
TEACHERS = {"univtg": UNIVTG_TINY, "sdst": {k: v for k, v in SDST_TINY.items() if k != "name"}}


def recipe(teacher_name: str, variant: str, config: DistillConfig | None = None, **teacher) -> DistillationModel:
    torch.manual_seed(0)
    student = build_model("spikingvtg", {**STUDENT, "variant": variant}, TINY_DIMS)
    teacher = build_model(teacher_name, {**TEACHERS[teacher_name], **teacher}, TINY_DIMS).requires_grad_(False).eval()
    config = config or DistillConfig(clrm=CLRMConfig(lambda_l2=0.1))
    layers, width = teacher_layout(teacher, make_batch())
    layer_map = resolve_layer_map(config.clrm.layer_map, STUDENT["num_layers"], layers, "test")
    return DistillationModel(student, teacher, CLRMLoss(layer_map, STUDENT["hidden_dim"], width, config.clrm), config)


@pytest.mark.parametrize("teacher_name", ["univtg", "sdst"])
@pytest.mark.parametrize("variant", ["base", "nf", "1bit_nf"])
def test_clrm_gradients_reach_projections_and_student_through_the_equilibrium(teacher_name, variant):
    model = recipe(teacher_name, variant).train()
    batch = make_batch()
    outputs = model(batch)
    losses = model.loss(outputs, batch)  # epoch 0: the CLRM stage, total = L_CLRM
    assert "task" not in losses and torch.allclose(losses["total"], losses["clrm"])
    losses["total"].backward()
    for name, projection in model.clrm.projections.items():
        assert projection.weight.grad is not None and projection.weight.grad.abs().sum() > 0, name
    student = model.student
    # the first layer's weights and the input projection get gradient only through the hidden states
    # at equilibrium, i.e. through the implicit backward (whose adjoint solve ran: its residual is set)
    for name in ("inputs.video", "layers.0.attention.query", "layers.0.intermediate", "layers.1.output"):
        weight = student.get_submodule(name).weight
        assert weight.grad is not None and weight.grad.abs().sum() > 0, name
    assert student.implicit.last_residual == student.implicit.last_residual  # not NaN: the hook ran
    assert all(p.grad is None for p in model.teacher.parameters())


def test_layouts_of_both_teachers_fit_the_student():
    batch = make_batch()
    lv, lq = batch["video_mask"].shape[1], batch["text_mask"].shape[1]
    for teacher_name, length in (("univtg", lv + lq), ("sdst", lv)):
        model = recipe(teacher_name, "1bit_nf").eval()
        with torch.no_grad():
            outputs = model(batch)
        teacher = outputs["teacher"]
        assert all(h.shape[:2] == (3, length) for h in teacher["hidden_states"]), teacher_name
        assert all(a.shape[2:] == (length, length) for a in teacher["attentions"]), teacher_name
        assert all(a.shape[1:] == (2, lv + lq, lv + lq) for a in outputs["attentions"])  # mean over Tc
        clrm = model.clrm(outputs, teacher, batch)
        assert all(torch.isfinite(value) and value > 0 for value in clrm.values()), teacher_name


def test_teacher_stays_frozen_in_training_mode():
    model = recipe("univtg", "1bit_nf").train()
    assert model.student.training and not model.teacher.training
    before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=0.1)
    batch = make_batch()
    model.loss(model(batch), batch)["total"].backward()
    optimizer.step()
    assert all(torch.equal(before[k], v) for k, v in model.teacher.state_dict().items())
    assert not any(p.requires_grad for p in model.teacher.parameters())


def test_schedule_weights_and_loss_terms():
    config = DistillConfig(clrm_epochs=2, clrm_stage_task_weight=0.5, task_stage_clrm_weight=0.25)
    assert [config.weights(e) for e in range(4)] == [(1.0, 0.5), (1.0, 0.5), (0.25, 1.0), (0.25, 1.0)]
    model = recipe("univtg", "nf", config).train()
    batch = make_batch()
    outputs = model(batch)
    for epoch, (clrm_weight, task_weight) in ((0, (1.0, 0.5)), (3, (0.25, 1.0))):
        model.set_epoch(epoch)
        losses = model.loss(outputs, batch)
        expected = task_weight * losses["task"] + clrm_weight * losses["clrm"]
        assert torch.allclose(losses["total"], expected)
    assert {"foreground", "boundary", "giou", "clrm_rep", "clrm_att"} <= set(losses)


def test_distill_config_checks_fields():
    config = DistillConfig.from_dict({"clrm_epochs": 2, "layer_map": {0: 1}, "lambda_l2": 0.5}, "c.yaml", epochs=4)
    assert config.clrm_epochs == 2 and config.clrm.layer_map == {0: 1} and config.clrm.lambda_l2 == 0.5
    assert DistillConfig.from_dict(config.to_dict(), "c.yaml", epochs=4) == config
    with pytest.raises(UserError, match=r"c.yaml: field 'distill.clrm_epochs'.*0..4"):
        DistillConfig.from_dict({"clrm_epochs": 5}, "c.yaml", epochs=4)
    with pytest.raises(UserError, match="field 'distill.lamda_cos': unknown option"):
        DistillConfig.from_dict({"lamda_cos": 1.0}, "c.yaml", epochs=4)
    with pytest.raises(UserError, match="field 'distill.task_stage_clrm_weight'"):
        DistillConfig.from_dict({"task_stage_clrm_weight": -1}, "c.yaml", epochs=4)


def test_transfer_split_needs_a_clrm_stage_without_task_loss():
    config = DistillConfig.from_dict({"clrm_epochs": 1, "transfer_split": "pretrain"}, "c.yaml", epochs=3)
    assert config.transfer_split == "pretrain" and DistillConfig.from_dict(config.to_dict(), "c.yaml", 3) == config
    assert DistillConfig.from_dict({}, "c.yaml", epochs=3).transfer_split is None
    for section, message in (
        ({"clrm_epochs": 0, "transfer_split": "pretrain"}, "field 'distill.transfer_split': needs a CLRM stage"),
        ({"transfer_split": 3}, "field 'distill.transfer_split': expected a split name"),
        ({"transfer_split": "p", "clrm_stage_task_weight": 1.0}, "field 'distill.clrm_stage_task_weight': must be 0"),
    ):
        with pytest.raises(UserError, match=message):
            DistillConfig.from_dict(section, "c.yaml", epochs=3)


def test_task_terms_are_left_out_at_task_weight_zero():
    """The CLRM stage on a transfer split: its batches carry no labels, so the task loss is not computed."""
    model = recipe("univtg", "1bit_nf", DistillConfig(clrm_epochs=1)).train()
    batch = make_batch()
    outputs = model(batch)
    unlabelled = {k: v for k, v in batch.items() if k not in ("foreground", "boundary", "saliency", "saliency_valid")}
    losses = model.loss(outputs, unlabelled)
    assert set(losses) == {"total", "clrm", "clrm_rep", "clrm_att"} and torch.isfinite(losses["total"])
    model.set_epoch(1)
    assert "task" in model.loss(outputs, batch)
    with pytest.raises(KeyError):
        model.loss(outputs, unlabelled)


def test_prediction_loss_is_the_task_loss_against_the_teachers_predictions():
    """L_pred on an unlabelled batch: the student's task loss with f* = [sigmoid(f_teacher) > 1/2] and
    d* = d_teacher as labels; a student that predicts exactly the teacher's boundaries has no L_b, L_g."""
    model = recipe("univtg", "1bit_nf", DistillConfig(clrm_epochs=1, prediction_weight=2.0)).train()
    batch = make_batch()
    outputs = model(batch)
    unlabelled = {k: v for k, v in batch.items() if k not in ("foreground", "boundary", "saliency", "saliency_valid")}
    losses = model.loss(outputs, unlabelled)
    assert torch.allclose(losses["total"], losses["clrm"] + 2.0 * losses["prediction"])
    losses["total"].backward()
    assert model.student.get_submodule("d_decoder").convs[-1].weight.grad.abs().sum() > 0
    teacher = outputs["teacher"]
    pseudo = {**batch, "foreground": (teacher["foreground_logits"] > 0).float(), "boundary": teacher["boundary"]}
    pseudo["saliency_valid"] = torch.zeros_like(batch["saliency_valid"])
    assert torch.allclose(losses["prediction"], model.student.loss(outputs, pseudo)["total"])
    copied = {**outputs, "boundary": teacher["boundary"]}
    terms = model.student.loss(copied, pseudo)
    assert float(terms["boundary"]) == 0.0 and float(terms["giou"]) == pytest.approx(0.0, abs=1e-5)


def test_prediction_labels_are_the_windows_an_imported_univtg_teacher_predicts():
    """With official_decoding (an imported UniVTG checkpoint) the teacher's offsets are read from its own anchor:
    L_pred's labels are re-expressed around the clip centres, so they decode to the teacher's own windows."""
    from sdst_teacher.univtg.model import official_boundaries

    model = recipe("univtg", "1bit_nf", DistillConfig(clrm_epochs=1, prediction_weight=1.0), official_decoding=True)
    batch = make_batch(clip_len=1.5)  # not 1 s: the anchor i + c/2 and the clip centre i + 1/2 differ
    outputs = model.train()(batch)
    teacher = outputs["teacher"]
    decoded = official_boundaries(batch, teacher["boundary"])
    assert not torch.allclose(decoded, teacher["boundary"])
    pseudo = {**batch, "foreground": (teacher["foreground_logits"] > 0).float(), "boundary": decoded}
    pseudo["saliency_valid"] = torch.zeros_like(batch["saliency_valid"])
    prediction = model.loss(outputs, batch)["prediction"]
    assert torch.allclose(prediction, model.student.loss(outputs, pseudo)["total"])


def test_prediction_weight_is_checked():
    assert DistillConfig.from_dict({"prediction_weight": 1.5}, "c.yaml", epochs=3).prediction_weight == 1.5
    with pytest.raises(UserError, match="field 'distill.prediction_weight': must be >= 0"):
        DistillConfig.from_dict({"prediction_weight": -1}, "c.yaml", epochs=3)


def test_demo_recipe_is_a_valid_distill_section():
    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / "distill_demo.yaml").read_text())
    recipe = DistillConfig.from_dict(config["distill"], "configs/distill_demo.yaml", config["train"]["epochs"])
    assert recipe.transfer_split == "pretrain" and 0 < recipe.clrm_epochs < config["train"]["epochs"]
