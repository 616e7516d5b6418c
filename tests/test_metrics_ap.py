"""Hand-computed cases for the building blocks: temporal IoU, detection AP, ranking AP, trapezoid AP."""

import numpy as np
import pytest

from vtg.metrics.detection_ap import detection_ap
from vtg.metrics.iou import iou_cross, iou_paired
from vtg.metrics.moment_retrieval import IOU_THRESHOLDS
from vtg.metrics.ranking_ap import ranking_ap
from vtg.metrics.youtube import trapezoid_ap


def test_iou_cross_and_paired():
    gt = np.array([[0, 10], [5, 15], [20, 30]])
    np.testing.assert_allclose(iou_cross(np.array([[0, 10]]), gt), [[1.0, 1 / 3, 0.0]])
    np.testing.assert_allclose(iou_paired(np.array([[0, 10], [0, 2]]), np.array([[5, 15], [4, 6]])), [1 / 3, 0.0])
    # two empty windows: no division by zero
    assert iou_cross(np.array([[3, 3]]), np.array([[3, 3]]))[0, 0] == 0.0
    assert iou_paired(np.array([[3, 3]]), np.array([[3, 3]]))[0] == 0.0


def test_thresholds_are_the_official_ones():
    expected = ["0.5", "0.55", "0.6", "0.65", "0.7", "0.75", "0.8", "0.85", "0.9", "0.95"]
    assert [str(t) for t in IOU_THRESHOLDS] == expected


def test_detection_ap_duplicate_is_a_false_positive():
    gt = np.array([[0.0, 10.0], [20.0, 30.0]])
    # sorted by score: tp, duplicate (fp), tp -> precision 1, 1/2, 2/3; envelope 1, 2/3, 2/3
    preds = np.array([[20, 30, 0.7], [0, 10, 0.9], [0, 10, 0.8]])
    np.testing.assert_allclose(detection_ap(preds, gt, IOU_THRESHOLDS), np.full(10, (1 + 2 / 3) / 2))


def test_detection_ap_depends_on_threshold_and_interpolates():
    gt = np.array([[0.0, 10.0]])
    ap = detection_ap(np.array([[0, 8, 0.9]]), gt, IOU_THRESHOLDS)  # IoU 0.8
    np.testing.assert_allclose(ap, [1.0] * 7 + [0.0] * 3)
    # a false positive ranked first: precision 0 then 1/2 at full recall
    ap = detection_ap(np.array([[30, 40, 0.9], [0, 10, 0.5]]), gt, [0.5])
    np.testing.assert_allclose(ap, [0.5])
    # fp, tp, tp with G = 3: precision 0, 1/2, 2/3; the envelope lifts 1/2 to 2/3 -> (2/3 + 2/3) / 3
    gt3 = np.array([[0.0, 10.0], [20.0, 30.0], [40.0, 50.0]])
    ap = detection_ap(np.array([[60, 70, 0.9], [0, 10, 0.8], [20, 30, 0.7]]), gt3, [0.5])
    np.testing.assert_allclose(ap, [(2 / 3 + 2 / 3) / 3])


def test_detection_ap_tied_scores_keep_listed_order():
    gt = np.array([[0.0, 10.0]])
    # equal scores: the listed order decides, so the wrong window first halves the AP
    assert detection_ap(np.array([[50, 60, 0.5], [0, 10, 0.5]]), gt, [0.5])[0] == pytest.approx(0.5)
    assert detection_ap(np.array([[0, 10, 0.5], [50, 60, 0.5]]), gt, [0.5])[0] == pytest.approx(1.0)


def test_ranking_ap_interpolated_mean_over_recall_levels():
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    labels = np.array([[1, 0, 0, 1], [0, 0, 0, 1], [1, 0, 1, 1], [0, 0, 0, 1]])  # one column per case
    # column 0: precision 1, 1/2, 2/3, 1/2 at recall 1/2, 1/2, 1, 1 -> mean(1, 2/3)
    # column 1: no positive -> 0; column 2: one positive at rank 3 -> 1/3; column 3: all positive -> 1
    np.testing.assert_allclose(ranking_ap(labels, scores), [5 / 6, 0.0, 1 / 3, 1.0])
    # a tie uncovering a positive and a negative is one level: precision 1/2 then 2/3 -> mean(2/3, 2/3)
    np.testing.assert_allclose(ranking_ap(np.array([[1], [0], [1]]), np.array([0.5, 0.5, 0.1])), [2 / 3])


def test_trapezoid_ap():
    # ranks 1, 2, 3 hold labels 1, 0, 1: 0.5 * (1 + 1) / 2 + 0 + 0.5 * (1/2 + 2/3) / 2
    assert trapezoid_ap(np.array([1, 0, 1]), np.array([0.9, 0.8, 0.7])) == pytest.approx(0.5 + 0.5 * (0.5 + 2 / 3) / 2)
    assert trapezoid_ap(np.array([0, 1]), np.array([0.2, 0.9])) == pytest.approx(1.0)
    assert trapezoid_ap(np.array([0, 0]), np.array([0.2, 0.9])) == 0.0
