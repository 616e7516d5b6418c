"""Hungarian matching against brute force over every assignment (itertools.permutations)."""

from __future__ import annotations

import itertools

import pytest
import torch

from sdst_teacher.sdst.matcher import HungarianMatcher

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread (conftest.py)


def brute_force_cost(cost: torch.Tensor) -> float:
    """Least total cost of assigning each of the M* columns to a distinct row, by enumerating all of them."""
    num_rows, num_cols = cost.shape
    return min(
        sum(float(cost[row, col]) for col, row in enumerate(rows))
        for rows in itertools.permutations(range(num_rows), num_cols)
    )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("num_queries,num_targets", [(3, 1), (4, 2), (5, 3), (4, 4)])
def test_matching_is_the_least_cost_assignment(seed, num_queries, num_targets):
    g = torch.Generator().manual_seed(seed)
    matcher = HungarianMatcher(cost_cls=1.0, cost_l1=2.0, cost_iou=1.5, alpha=0.25, gamma=2.0)
    logits = torch.randn(1, num_queries, generator=g)
    spans = torch.rand(1, num_queries, 2, generator=g) * 0.5 + 0.1
    targets = [torch.rand(num_targets, 2, generator=g) * 0.5 + 0.1]
    ((rows, cols),) = matcher(logits, spans, targets)
    cost = matcher.cost_matrix(logits[0], spans[0], targets[0])
    assert len(rows) == num_targets and sorted(cols.tolist()) == list(range(num_targets))
    assert len(set(rows.tolist())) == num_targets
    assert float(cost[rows, cols].sum()) == pytest.approx(brute_force_cost(cost), abs=1e-5)


def test_cost_matrix_terms():
    """A query equal to the target has zero L1 and IoU 1; the class term is Deformable DETR's focal cost."""
    matcher = HungarianMatcher(cost_cls=0.0, cost_l1=1.0, cost_iou=1.0, alpha=0.25, gamma=2.0)
    spans = torch.tensor([[0.5, 0.2], [0.5, 0.4]])
    target = torch.tensor([[0.5, 0.2]])
    cost = matcher.cost_matrix(torch.zeros(2), spans, target)
    assert cost[0, 0] == pytest.approx(-1.0)  # L1 0, IoU 1
    assert cost[1, 0] == pytest.approx(0.2 - 0.5)  # L1 |0.4-0.2| = 0.2, IoU 0.2/0.4
    matcher = HungarianMatcher(cost_cls=1.0, cost_l1=0.0, cost_iou=0.0, alpha=0.25, gamma=2.0)
    p = torch.tensor(0.7)
    expected = 0.25 * (1 - p) ** 2 * -p.log() - 0.75 * p**2 * -(1 - p).log()
    cost = matcher.cost_matrix(torch.logit(p)[None], spans[:1], target)
    assert float(cost[0, 0]) == pytest.approx(float(expected), abs=1e-6)


def test_obvious_pairs_are_found_and_empty_videos_match_nothing():
    matcher = HungarianMatcher(1.0, 1.0, 1.0, 0.25, 2.0)
    spans = torch.tensor([[[0.1, 0.1], [0.5, 0.1], [0.9, 0.1]], [[0.2, 0.2], [0.4, 0.2], [0.6, 0.2]]])
    targets = [torch.tensor([[0.9, 0.1], [0.1, 0.1]]), torch.zeros(0, 2)]
    (rows, cols), (rows2, cols2) = matcher(torch.zeros(2, 3), spans, targets)
    assert dict(zip(cols.tolist(), rows.tolist())) == {0: 2, 1: 0}
    assert len(rows2) == 0 and len(cols2) == 0


def test_a_batch_is_matched_as_each_of_its_videos_alone():
    """The batched cost (every prediction against every moment of the batch) gives each video the assignment
    it gets alone, videos without moments included."""
    g = torch.Generator().manual_seed(3)
    matcher = HungarianMatcher(cost_cls=1.0, cost_l1=2.0, cost_iou=1.5, alpha=0.25, gamma=2.0)
    logits, spans = torch.randn(4, 5, generator=g), torch.rand(4, 5, 2, generator=g) * 0.5 + 0.1
    targets = [torch.rand(n, 2, generator=g) * 0.5 + 0.1 for n in (2, 0, 5, 1)]
    together = matcher(logits, spans, targets)
    for b, (rows, cols) in enumerate(together):
        ((alone_rows, alone_cols),) = matcher(logits[b : b + 1], spans[b : b + 1], targets[b : b + 1])
        assert rows.tolist() == alone_rows.tolist() and cols.tolist() == alone_cols.tolist()
    assert len(together[1][0]) == 0
