"""The DynamicViT objective on hand-computed cases (ratio, KL direction, token distillation, weights)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from livepapers.dynamicvit import DistillDiffPruningLoss


class FixedTeacher(nn.Module):
    """Returns fixed logits / tokens; records whether it ran in training mode or with gradients."""

    def __init__(self, logits: torch.Tensor, tokens: torch.Tensor) -> None:
        super().__init__()
        self.logits, self.tokens = logits, tokens
        self.w = nn.Parameter(torch.ones(()))
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.logits * self.w, self.tokens


def test_ratio_loss_hand_computed():
    d1 = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])  # kept fractions 0.5, 1.0
    d2 = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])  # 0.25, 0.5
    # stage 1 target 0.5: ((0)^2 + (0.5)^2) / 2 = 0.125; stage 2 target 0.25: (0 + 0.25^2) / 2 = 0.03125
    got = DistillDiffPruningLoss.ratio_loss([d1, d2], (0.5, 0.25))
    assert got.item() == pytest.approx((0.125 + 0.03125) / 2)


def test_ratio_targets_are_cumulative():
    # decisions that keep exactly rho^s of the ORIGINAL tokens give zero loss with (rho, rho^2, rho^3)
    n = 1000
    ds = [torch.cat([torch.ones(1, k), torch.zeros(1, n - k)], 1) for k in (700, 490, 343)]
    assert DistillDiffPruningLoss.ratio_loss(ds, (0.7, 0.49, 0.343)).item() == pytest.approx(0.0, abs=1e-12)
    assert DistillDiffPruningLoss.ratio_loss(ds, (0.7, 0.7, 0.7)).item() > 0.01


def test_kl_direction_teacher_to_student():
    p_s = torch.tensor([[0.9, 0.1]])
    p_t = torch.tensor([[0.5, 0.5]])
    kl_ts = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)  # KL(teacher || student) = 0.5108
    kl_st = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)  # the other direction = 0.3681
    got = DistillDiffPruningLoss.kl_loss(p_s.log() + 3.0, p_t.log() - 1.0)  # logits: shifts do not matter
    assert got.item() == pytest.approx(kl_ts, rel=1e-5)
    assert abs(got.item() - kl_st) > 0.1


def test_kl_batchmean():
    s = torch.tensor([[0.9, 0.1], [0.5, 0.5]]).log()
    t = torch.tensor([[0.5, 0.5], [0.5, 0.5]]).log()
    kl0 = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert DistillDiffPruningLoss.kl_loss(s, t).item() == pytest.approx(kl0 / 2, rel=1e-5)


def _loss(ratio_weight=2.0, distill_weight=0.5, mse_token=True, tokens_t=None):
    teacher_logits = torch.tensor([[0.0, 0.0], [1.0, -1.0]])
    tokens_t = torch.zeros(2, 3, 2) if tokens_t is None else tokens_t
    teacher = FixedTeacher(teacher_logits, tokens_t)
    crit = DistillDiffPruningLoss(teacher, nn.CrossEntropyLoss(), ratio_weight=ratio_weight,
                                  distill_weight=distill_weight, keep_ratio=(0.5,), mse_token=mse_token)
    return crit, teacher


def test_token_distillation_uses_kept_tokens_only():
    crit, _ = _loss()
    s = torch.tensor([[[1.0, 1.0], [2.0, 0.0], [9.0, 9.0]], [[0.0, 3.0], [5.0, 5.0], [0.0, 0.0]]])
    final = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]).unsqueeze(-1)
    # kept: (1,1), (2,0), (0,3) vs teacher zeros -> squares 1+1+4+0+0+9 = 15 over 3 tokens x 2 channels
    got = crit.token_loss(s, torch.zeros_like(s), final)
    assert got.item() == pytest.approx(15 / 6)
    assert crit.token_loss(s, torch.zeros_like(s), torch.zeros(2, 3, 1)).item() == 0.0


def test_total_loss_weights_and_teacher_mode():
    crit, teacher = _loss()
    crit.train()  # putting the loss in training mode must not put the teacher in training mode
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]], requires_grad=True)
    tokens = torch.ones(2, 3, 2, requires_grad=True)
    final = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]).unsqueeze(-1)
    decisions = [final[..., 0]]  # kept fractions 1/3 and 2/3 vs target 0.5
    labels = torch.tensor([0, 1])
    loss, parts = crit(torch.zeros(2, 1), (logits, tokens, final, decisions), labels)
    ce = nn.functional.cross_entropy(logits, labels).item()
    ratio = ((1 / 3 - 0.5) ** 2 + (2 / 3 - 0.5) ** 2) / 2
    kl = DistillDiffPruningLoss.kl_loss(logits, teacher.logits).item()
    assert parts["cls"] == pytest.approx(ce)
    assert parts["ratio"] == pytest.approx(ratio)
    assert parts["kl"] == pytest.approx(kl)
    assert parts["distill"] == pytest.approx(1.0)
    assert loss.item() == pytest.approx(ce + 2.0 * ratio + 0.5 * kl + 0.5 * 1.0, rel=1e-6)
    assert parts["total"] == pytest.approx(loss.item())
    assert teacher.calls == [(False, False)]  # eval mode, no_grad
    loss.backward()
    assert teacher.w.grad is None and logits.grad is not None


def test_loss_rejects_non_distill_outputs():
    crit, _ = _loss()
    with pytest.raises(ValueError, match="outputs must be"):
        crit(torch.zeros(2, 1), (torch.zeros(2, 2), []), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="keep_ratio"):
        DistillDiffPruningLoss(FixedTeacher(torch.zeros(1, 2), torch.zeros(1, 1, 1)), nn.CrossEntropyLoss(),
                               keep_ratio=(0.7, 1.3))
