import math

import pytest
import torch

from adaptrack.training.losses import (
    balanced_logistic_loss, bce_with_logits, focal_loss, iou_loss, siamfc_labels,
)


def test_label_map_centre_cross_and_weights():
    labels, weights = siamfc_labels(5, stride=8, r_pos=8, batch=1)
    expect = torch.zeros(5, 5)
    for r, c in [(2, 2), (1, 2), (3, 2), (2, 1), (2, 3)]:  # distance 0 and 8 px; diagonals are 11.3 px
        expect[r, c] = 1
    assert torch.equal(labels[0, 0], expect)
    assert torch.allclose(weights[0, 0][expect == 1], torch.full((5,), 0.1))
    assert torch.allclose(weights[0, 0][expect == 0], torch.full((20,), 0.025))


def test_label_map_follows_offset_and_negative_pairs():
    labels, w = siamfc_labels((5, 5), stride=8, r_pos=8, offsets=[[8.0, 0.0], [0.0, 0.0]], is_pos=[1, 0])
    pos = {tuple(x) for x in torch.nonzero(labels[0, 0]).tolist()}
    assert pos == {(2, 3), (2, 2), (2, 4), (1, 3), (3, 3)}
    assert labels[1].sum() == 0 and torch.allclose(w[1], torch.full_like(w[1], 1 / 25))


def test_ignore_band_between_radii():
    labels, w = siamfc_labels(5, stride=8, r_pos=8, r_neg=12, batch=1)
    assert (w[0, 0] == 0).sum() == 4  # the four diagonal neighbours (11.3 px)
    assert torch.allclose(w[0, 0][(labels[0, 0] == 0) & (w[0, 0] > 0)], torch.full((16,), 0.5 / 16))


def test_balanced_logistic_loss_hand_values():
    labels, weights = siamfc_labels(5, stride=8, r_pos=8, batch=2)
    assert balanced_logistic_loss(torch.zeros(2, 1, 5, 5), labels, weights).item() == pytest.approx(math.log(2))
    v = torch.full((2, 1, 5, 5), 2.0)
    expect = 0.5 * math.log(1 + math.exp(-2)) + 0.5 * math.log(1 + math.exp(2))
    assert balanced_logistic_loss(v, labels, weights).item() == pytest.approx(expect, rel=1e-6)


def test_balanced_logistic_loss_equals_two_means_and_gradient():
    torch.manual_seed(0)
    labels, weights = siamfc_labels(7, stride=8, r_pos=16, offsets=torch.randn(3, 2) * 8)
    v = torch.randn(3, 1, 7, 7, dtype=torch.float64, requires_grad=True)
    loss = balanced_logistic_loss(v, labels.double(), weights.double())
    manual = 0
    for b in range(3):
        y = labels[b, 0] * 2 - 1
        lo = torch.log1p(torch.exp(-y.double() * v[b, 0]))
        manual = manual + 0.5 * lo[y > 0].mean() + 0.5 * lo[y < 0].mean()
    assert loss.item() == pytest.approx((manual / 3).item(), rel=1e-6)
    assert torch.autograd.gradcheck(lambda x: balanced_logistic_loss(x, labels.double(), weights.double()), (v,))


def test_focal_loss_hand_value_and_gradient():
    # p = 0.5, target 1: -0.25 * 0.5^2 * log 0.5
    assert focal_loss(torch.zeros(1), torch.ones(1)).item() == pytest.approx(0.25 * 0.25 * math.log(2))
    # target 0, logit log(3) -> p = 0.75: -(0.75) * 0.75^2 * log 0.25
    assert focal_loss(torch.tensor([math.log(3)]), torch.zeros(1)).item() == pytest.approx(
        0.75 * 0.75**2 * math.log(4), rel=1e-6)
    x = torch.randn(10, dtype=torch.float64, requires_grad=True)
    t = (torch.rand(10) > 0.5).double()
    assert torch.autograd.gradcheck(lambda z: focal_loss(z, t, normalizer=3.0), (x,))
    # gamma 0 and alpha -1 is plain BCE
    assert focal_loss(x, t, alpha=-1, gamma=0, reduction="mean").item() == pytest.approx(bce_with_logits(x, t).item())


def test_iou_loss_hand_values_and_gradient():
    t = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    assert iou_loss(t.clone(), t).item() == pytest.approx(0.0, abs=1e-6)
    p = torch.tensor([[2.0, 1.0, 0.0, 1.0]])  # 2x2 box shifted by 1: IoU 2 / 6
    assert iou_loss(p, t).item() == pytest.approx(2 / 3, rel=1e-5)
    assert iou_loss(p, t, mode="log").item() == pytest.approx(math.log(3), rel=1e-5)
    p2 = torch.tensor([[0.5, 0.5, 0.5, 0.5]])  # inside: IoU 1/4, enclosing = target -> GIoU = IoU
    assert iou_loss(p2, t, mode="giou").item() == pytest.approx(0.75, rel=1e-5)
    w = torch.tensor([1.0, 0.0])
    both = torch.cat([p, t])
    assert iou_loss(both, torch.cat([t, t]), weight=w).item() == pytest.approx(2 / 3, rel=1e-5)
    x = (torch.rand(6, 4, dtype=torch.float64) + 0.5).requires_grad_()
    y = torch.rand(6, 4, dtype=torch.float64) + 0.5
    for mode in ("linear", "log", "giou"):
        assert torch.autograd.gradcheck(lambda z: iou_loss(z, y, mode=mode), (x,))
    with pytest.raises(ValueError):
        iou_loss(x, y, mode="bad")


def test_bce_with_logits_weighted_mean():
    x = torch.tensor([0.0, 0.0])
    y = torch.tensor([1.0, 0.0])
    w = torch.tensor([1.0, 3.0])
    assert bce_with_logits(x, y, w).item() == pytest.approx(math.log(2))
    assert bce_with_logits(x, y, reduction="sum").item() == pytest.approx(2 * math.log(2))
