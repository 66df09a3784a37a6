"""Method tests: masking softmax, predictor, training masking == inference gather, index bookkeeping."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from livepapers.dynamicvit import (
    Block,
    PredictorLG,
    VisionTransformerDiffPruning,
    batch_index_select,
    deit_small_dynamic,
    gumbel_softmax_hard,
    kept_counts,
    make_token_ratio,
    masked_softmax,
)


def official_masked_softmax(attn: torch.Tensor, policy: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Reference: the official formula, max over ALL keys (written independently of the package)."""
    b, _, n, _ = attn.shape
    p = policy.reshape(b, 1, 1, n).double()
    eye = torch.eye(n, dtype=torch.float64)
    g = p + (1 - p) * eye
    a = attn.double()
    e = (a - a.max(dim=-1, keepdim=True).values).exp() * g
    return (e + eps / n) / (e.sum(-1, keepdim=True) + eps)


# ---------------------------------------------------------------------------------------------
# masked softmax
# ---------------------------------------------------------------------------------------------


def test_masked_softmax_all_ones_equals_softmax():
    g = torch.Generator().manual_seed(0)
    a = 3 * torch.randn(2, 3, 7, 7, generator=g)
    out = masked_softmax(a, torch.ones(2, 7, 1))
    torch.testing.assert_close(out, a.softmax(-1), atol=1e-5, rtol=0)


def test_masked_softmax_hand_computed():
    # n = 3, token 1 dropped, all logits 0: kept rows share 1/2 between keys 0 and 2, the dropped
    # row still sees every key (its own diagonal term included) -> 1/3 each
    eps = 1e-6
    out = masked_softmax(torch.zeros(1, 1, 3, 3), torch.tensor([[1.0, 0.0, 1.0]]), eps=eps)[0, 0]
    kept = (1 + eps / 3) / (2 + eps)
    dropped = (eps / 3) / (2 + eps)
    expected = torch.tensor([[kept, dropped, kept], [1 / 3, 1 / 3, 1 / 3], [kept, dropped, kept]])
    torch.testing.assert_close(out, expected, atol=1e-7, rtol=0)


def test_masked_softmax_diagonal_self_term():
    # only cls kept: cls sees itself alone; a dropped query sees cls and ITSELF (G_ii = 1), nothing else
    a = torch.randn(1, 2, 4, 4, generator=torch.Generator().manual_seed(1))
    out = masked_softmax(a, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))[0]
    torch.testing.assert_close(out[:, 0, 0], torch.ones(2), atol=1e-5, rtol=0)
    row = out[:, 2]
    expected = torch.stack([a[0, :, 2, 0], a[0, :, 2, 2]], -1).softmax(-1)
    torch.testing.assert_close(row[:, [0, 2]], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(row[:, [1, 3]], torch.zeros(2, 2), atol=1e-5, rtol=0)


def test_masked_softmax_matches_exact_masked_softmax():
    g = torch.Generator().manual_seed(2)
    a = 2 * torch.randn(3, 2, 9, 9, generator=g)
    policy = (torch.rand(3, 9, generator=g) > 0.5).float()
    policy[:, 0] = 1
    out = masked_softmax(a, policy.unsqueeze(-1))
    g_mask = (policy[:, None, None, :] + torch.eye(9)).clamp(max=1) > 0.5
    exact = a.masked_fill(~g_mask, float("-inf")).softmax(-1)  # the eps-free definition
    # up to the official eps term: with S = sum of the visible exp(a - max over all keys), |out - exact| <= 2 eps / S
    visible = (a - a.amax(-1, keepdim=True)).exp().masked_fill(~g_mask, 0).sum(-1, keepdim=True)
    assert bool(((out - exact).abs() <= 2e-6 / visible + 1e-6).all())
    torch.testing.assert_close(out[visible.expand_as(out) > 0.1], exact[visible.expand_as(out) > 0.1], atol=1e-5,
                               rtol=0)
    torch.testing.assert_close(out.sum(-1), torch.ones(3, 2, 9), atol=1e-5, rtol=0)


def test_masked_softmax_equals_official():
    # the official formula exactly, including rows whose largest logit sits on a dropped key
    g = torch.Generator().manual_seed(3)
    policy = (torch.rand(3, 9, generator=g) > 0.5).float()
    policy[:, 0] = 1
    a = 4 * torch.randn(3, 2, 9, 9, generator=g)
    a[0, :, :, 1 if policy[0, 1] == 0 else 2] += 30.0  # some rows dominated by a key that may be dropped
    out = masked_softmax(a, policy.unsqueeze(-1))
    torch.testing.assert_close(out.double(), official_masked_softmax(a, policy), atol=1e-6, rtol=0)
    dominated = torch.zeros(1, 1, 3, 3)
    dominated[0, 0, 0, 1] = 60.0  # a dropped key 60 above the kept ones: the official eps guard takes over
    out = masked_softmax(dominated, torch.tensor([[1.0, 0.0, 1.0]]))
    torch.testing.assert_close(out.double(), official_masked_softmax(dominated, torch.tensor([[1.0, 0.0, 1.0]])),
                               atol=1e-6, rtol=0)


def _visible_max_masked_softmax(a: torch.Tensor, policy: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """The pre-fix stabiliser (max over visible keys only): same forward up to eps, unbounded mask gradient."""
    n = a.shape[-1]
    p = policy.reshape(a.shape[0], 1, 1, n)
    g = p + (1 - p) * torch.eye(n)
    m = a.detach().masked_fill(g < 0.5, float("-inf")).amax(-1, keepdim=True)
    e = (a - m).exp() * g
    return (e + eps / n) / (e.sum(-1, keepdim=True) + eps)


def test_masked_softmax_policy_gradient_is_bounded_as_official():
    """The straight-through decisions reach the predictors through d(attention)/d(policy). For a dropped key
    whose logit is far above the visible ones, the official max over all keys bounds that gradient by 1/eps;
    a max over the visible keys only (v2's first build) made it exp(gap): 1e9-1e11 predictor gradient norms on the
    task model, which froze Adam's predictor updates (the keep fractions stuck far from rho^s)."""
    a = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    a[0, 0, 0, 1] = 30.0  # query 0 would attend to dropped key 1 with a logit gap of 30
    v = torch.tensor([[0.0], [1.0], [0.0]], dtype=torch.float64)

    def policy_grad(fn) -> float:
        policy = torch.tensor([[1.0, 0.0, 1.0]], dtype=torch.float64, requires_grad=True)
        (fn(a, policy) @ v)[0, 0, 0, 0].backward()
        return float(policy.grad[0, 1])

    official = policy_grad(masked_softmax)
    assert 0 < official <= 1.0 / 1e-6
    torch.testing.assert_close(official, policy_grad(official_masked_softmax), rtol=1e-6, atol=0)
    assert policy_grad(_visible_max_masked_softmax) > 1e4 * official  # the control: the unbounded form


def test_masked_softmax_bad_policy_shape():
    with pytest.raises(ValueError, match="policy must be"):
        masked_softmax(torch.zeros(1, 1, 4, 4), torch.ones(1, 5))


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def test_batch_index_select_known_answer():
    x = torch.arange(2 * 4 * 3).reshape(2, 4, 3)
    idx = torch.tensor([[3, 0], [1, 1]])
    expected = torch.stack([x[0, [3, 0]], x[1, [1, 1]]])
    assert torch.equal(batch_index_select(x, idx), expected)
    assert torch.equal(batch_index_select(x[..., 0], idx), expected[..., 0])


@pytest.mark.parametrize(
    ("rho", "counts"), [(0.7, (137, 96, 67)), (0.8, (156, 125, 100)), (0.9, (176, 158, 142))]
)
def test_kept_counts_deit(rho, counts):
    assert kept_counts(196, make_token_ratio(rho)) == counts
    # the real model prunes to those counts (narrow DeiT-shaped stack: 224², patch 16, 12 blocks)
    torch.manual_seed(0)
    model = VisionTransformerDiffPruning(embed_dim=32, num_heads=2, num_classes=3,
                                         token_ratio=make_token_ratio(rho)).eval()
    _, kept = model(torch.randn(2, 3, 224, 224), return_keep_indices=True)
    assert tuple(k.shape[1] for k in kept) == counts


def test_make_token_ratio_cumulative():
    assert make_token_ratio(0.7) == pytest.approx((0.7, 0.49, 0.343))
    assert kept_counts(64, make_token_ratio(0.7)) == (44, 31, 21)
    assert deit_small_dynamic(rho=0.7, depth=12, embed_dim=32, num_heads=2).keep_counts == (137, 96, 67)


def test_gumbel_softmax_hard_forward_and_gradient():
    logits = torch.log(torch.tensor([[0.7, 0.3]])).expand(40000, 2).clone().requires_grad_(True)
    y = gumbel_softmax_hard(logits, generator=torch.Generator().manual_seed(0))
    assert set(y.detach().unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(y.detach().sum(-1), torch.ones(40000))
    assert abs(y[:, 0].detach().mean().item() - 0.7) < 0.01  # P(argmax = k) = p_k (Gumbel-max trick)
    y[:, 0].sum().backward()  # straight-through: gradients of the soft sample reach the logits
    assert logits.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------
# predictor
# ---------------------------------------------------------------------------------------------


def test_predictor_matches_equations():
    torch.manual_seed(0)
    pred = PredictorLG(embed_dim=8)
    x = torch.randn(2, 5, 8)
    d = torch.tensor([[1, 0, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.float32).unsqueeze(-1)
    out = pred(x, d)
    ln, lin = pred.in_conv[0], pred.in_conv[1]
    z = F.gelu(lin(F.layer_norm(x, (8,), ln.weight, ln.bias, eps=1e-5)))
    z_global = torch.stack([z[0, [0, 2, 3], 4:].mean(0), z[1, :, 4:].mean(0)])  # mean over SURVIVORS
    h = torch.cat([z[..., :4], z_global[:, None].expand(2, 5, 4)], dim=-1)
    expected = torch.log_softmax(pred.out_conv[:-1](h), dim=-1)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(2, 5), atol=1e-6, rtol=0)


def test_predictor_ignores_dropped_tokens():
    torch.manual_seed(0)
    pred = PredictorLG(embed_dim=8)
    x = torch.randn(1, 6, 8)
    d = torch.tensor([[1, 1, 0, 1, 0, 1]], dtype=torch.float32).unsqueeze(-1)
    x2 = x.clone()
    x2[0, [2, 4]] += 5 * torch.randn(2, 8)
    keep = [0, 1, 3, 5]
    torch.testing.assert_close(pred(x, d)[0, keep], pred(x2, d)[0, keep], atol=1e-6, rtol=0)


# ---------------------------------------------------------------------------------------------
# training-time masking == inference-time gather
# ---------------------------------------------------------------------------------------------


def test_block_masking_equals_gather():
    torch.manual_seed(0)
    blk = Block(dim=16, num_heads=2)
    x = torch.randn(2, 9, 16)
    keep = torch.tensor([[0, 2, 3, 7], [0, 1, 5, 8]])
    policy = torch.zeros(2, 9, 1).scatter_(1, keep.unsqueeze(-1), 1.0)
    masked = batch_index_select(blk(x, policy=policy), keep)
    gathered = blk(batch_index_select(x, keep))
    torch.testing.assert_close(masked, gathered, atol=1e-5, rtol=0)


def _scores_from_kept(kept: list[torch.Tensor], n: int) -> torch.Tensor:
    """Scores whose nested top-k reproduce given kept ORIGINAL index sets (deeper stage = higher score)."""
    b = kept[0].shape[0]
    scores = torch.zeros(b, n)
    for idx in kept:
        scores.scatter_add_(1, idx, torch.ones(idx.shape))
    return scores + 1e-3 * torch.rand(b, n)  # tie-break only within the dropped / kept groups


def test_training_masking_equals_inference_gather(make_tiny):
    """Train-mode masking with the hard policy of the eval-mode choice gives the eval logits (<= 1e-5)."""
    model = make_tiny(seed=3)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    model.eval()
    logits_eval, kept = model(x, return_keep_indices=True)
    scores = _scores_from_kept(kept, model.num_patches)
    logits_scored, kept2 = model(x, token_scores=scores, return_keep_indices=True)
    assert all(torch.equal(a.sort(1).values, b.sort(1).values) for a, b in zip(kept, kept2))
    torch.testing.assert_close(logits_scored, logits_eval, atol=1e-5, rtol=0)
    model.train()
    logits_train, _tokens, final, decisions = model(x, token_scores=scores)
    torch.testing.assert_close(logits_train, logits_eval, atol=1e-5, rtol=0)
    for d, idx in zip(decisions, kept):  # the training decisions are exactly the kept sets
        assert torch.equal(d.nonzero()[:, 1].reshape(idx.shape), idx.sort(1).values)
    assert torch.equal(final[..., 0], decisions[-1])


def _manual_pruned_logits(model: VisionTransformerDiffPruning, img: torch.Tensor,
                          decisions: list[torch.Tensor]) -> torch.Tensor:
    """Physically pruned forward of ONE image following per-stage masks over original positions."""
    x = model._embed(img[None])
    orig = torch.arange(model.num_patches)
    stage = 0
    for i, blk in enumerate(model.blocks):
        if stage < len(model.pruning_loc) and i == model.pruning_loc[stage]:
            keep_orig = decisions[stage].nonzero()[:, 0]
            pos = torch.tensor([int((orig == o).nonzero()) for o in keep_orig], dtype=torch.long)
            x = torch.cat([x[:, :1], x[:, 1:][:, pos]], dim=1)
            orig = keep_orig
            stage += 1
        x = blk(x)
    return model.head(model.norm(x)[:, 0])[0]


def _lean_to_keep(model: VisionTransformerDiffPruning) -> VisionTransformerDiffPruning:
    """Bias every predictor towards KEEP (p ~ 0.8) so that three stages leave a mixed set of tokens."""
    with torch.no_grad():
        for pred in model.score_predictor:
            pred.out_conv[-2].bias.copy_(torch.tensor([0.7, -0.7]))
    return model


def test_training_forward_with_predictors_equals_physical_pruning(make_tiny):
    """The Gumbel decisions of the training forward, applied as real pruning, give the same logits."""
    model = _lean_to_keep(make_tiny(seed=1, spread=1.0)).train()
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    logits, _tokens, _final, decisions = model(x, generator=torch.Generator().manual_seed(5))
    for s in range(1, len(decisions)):  # nested: a dropped token is never revived
        assert bool((decisions[s] <= decisions[s - 1]).all())
    assert all(0 < decisions[0][b].sum() < 16 for b in range(3)) and decisions[-1].sum() > 0  # mixed
    for b in range(3):
        manual = _manual_pruned_logits(model, x[b], [d[b] for d in decisions])
        torch.testing.assert_close(logits[b], manual, atol=1e-5, rtol=0)


def test_dropped_token_cannot_change_logits_in_training(make_tiny):
    """Perturbing the hidden state of tokens already dropped leaves the training logits unchanged."""
    model = _lean_to_keep(make_tiny(seed=2, spread=1.0)).train()
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    ref, _, _, ref_dec = model(x, generator=torch.Generator().manual_seed(9))
    noise_gen = torch.Generator().manual_seed(11)

    def perturb(module, args, kwargs):
        policy = kwargs.get("policy")
        h = args[0]
        dropped = (policy < 0.5).to(h.dtype)  # b n 1
        return (h + dropped * 3 * torch.randn(h.shape, generator=noise_gen),), kwargs

    handles = [model.blocks[i].register_forward_pre_hook(perturb, with_kwargs=True)
               for i in range(model.pruning_loc[0], model.depth)]
    try:
        out, _, _, dec = model(x, generator=torch.Generator().manual_seed(9))
    finally:
        for h in handles:
            h.remove()
    assert any(0 < d.sum() < d.numel() for d in ref_dec)
    for a, b in zip(ref_dec, dec):
        assert torch.equal(a, b)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    # control: the same perturbation on KEPT tokens does change the logits
    handles = [model.blocks[model.depth - 1].register_forward_pre_hook(
        lambda m, a, k: ((a[0] + (k["policy"] > 0.5) * 3 * torch.randn(a[0].shape),), k),
        with_kwargs=True)]
    try:
        out2 = model(x, generator=torch.Generator().manual_seed(9))[0]
    finally:
        handles[0].remove()
    assert (out2 - ref).abs().max() > 1e-3


def test_eval_keeps_top_scores_and_indices_are_original(make_tiny):
    model = make_tiny(seed=4).eval()
    x = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    _, kept = model(x, return_keep_indices=True)
    n = model.num_patches
    for s, idx in enumerate(kept):
        assert idx.shape == (5, model.keep_counts[s]) and idx.dtype == torch.long
        assert int(idx.min()) >= 0 and int(idx.max()) < n
        assert all(len(set(row.tolist())) == idx.shape[1] for row in idx)
        if s > 0:  # composed indices: stage s is a subset of stage s - 1 in ORIGINAL numbering
            assert all(set(a.tolist()) <= set(b.tolist()) for a, b in zip(idx, kept[s - 1]))
    # stage 1 keeps the K_1 highest keep-log-probs of the first predictor, in descending order
    with torch.no_grad():
        h = model._embed(x)
        for blk in model.blocks[: model.pruning_loc[0]]:
            h = blk(h)
        score = model.score_predictor[0](h[:, 1:], torch.ones(5, n, 1))[..., 0]
    expected = score.topk(model.keep_counts[0], dim=1).indices
    assert torch.equal(kept[0], expected)


def test_rho_one_equals_dense_teacher(make_tiny):
    """With keep ratio 1 the pruned model only permutes tokens: its logits equal the dense forward."""
    from livepapers.dynamicvit import VisionTransformerTeacher

    model = make_tiny(seed=6, token_ratio=(1.0, 1.0, 1.0)).eval()
    kw = {k: v for k, v in model_kwargs(model).items()}
    teacher = VisionTransformerTeacher(**kw).eval()
    teacher.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("score_")})
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x), teacher(x)[0], atol=1e-5, rtol=0)


def model_kwargs(model: VisionTransformerDiffPruning) -> dict:
    pe = model.patch_embed
    return dict(img_size=pe.img_size, patch_size=pe.patch_size, in_chans=pe.in_chans,
                num_classes=model.num_classes, embed_dim=model.embed_dim, depth=model.depth,
                num_heads=model.blocks[0].attn.num_heads)


def test_training_output_structure_and_gradients(make_tiny):
    model = make_tiny(seed=0).train()
    x = torch.randn(2, 3, 32, 32)
    logits, tokens, final, decisions = model(x)
    assert logits.shape == (2, 5) and tokens.shape == (2, 16, 32) and final.shape == (2, 16, 1)
    assert len(decisions) == 3 and all(d.shape == (2, 16) for d in decisions)
    assert not final.requires_grad
    # straight-through: every predictor parameter gets a gradient through the decisions
    loss = logits.square().sum() + sum(d.sum() for d in decisions)
    loss.backward()
    for name, p in model.score_predictor.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    no_distill = make_tiny(seed=0, distill=False).train()
    out = no_distill(x)
    assert len(out) == 2 and len(out[1]) == 3


def test_eval_determinism_and_training_noise(make_tiny):
    model = make_tiny(seed=0)
    x = torch.randn(3, 3, 32, 32)
    model.eval()
    a, ka = model(x, return_keep_indices=True)
    b, kb = model(x, return_keep_indices=True)
    assert torch.equal(a, b) and all(torch.equal(p, q) for p, q in zip(ka, kb))
    model.train()
    d1 = model(x, generator=torch.Generator().manual_seed(0))[3]
    d2 = model(x, generator=torch.Generator().manual_seed(0))[3]
    d3 = model(x, generator=torch.Generator().manual_seed(1))[3]
    assert all(torch.equal(p, q) for p, q in zip(d1, d2))
    assert not all(torch.equal(p, q) for p, q in zip(d1, d3))


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


def test_bad_image_shape(make_tiny):
    model = make_tiny().eval()
    with pytest.raises(ValueError, match=r"expected 32×32 images \(img_size\), got 64×64"):
        model(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match=r"expected 3 channels \(in_chans\), got 1 \(shape \(1, 1, 32, 32\)\)"):
        model(torch.zeros(1, 1, 32, 32))


@pytest.mark.parametrize(
    ("ratios", "message"),
    [((0.7, 0.0, 0.3), r"in \(0, 1\]"), ((1.2, 0.5, 0.3), r"in \(0, 1\]"),
     ((0.5, 0.7, 0.3), "non-increasing"), ((0.7, 0.5), "one value per pruning stage")],
)
def test_bad_token_ratio(tiny_kwargs, ratios, message):
    with pytest.raises(ValueError, match=message):
        VisionTransformerDiffPruning(**{**tiny_kwargs, "token_ratio": ratios})


def test_bad_rho_and_pruning_loc(tiny_kwargs):
    with pytest.raises(ValueError, match="rho must be in"):
        make_token_ratio(1.5)
    with pytest.raises(ValueError, match="pruning_loc"):
        VisionTransformerDiffPruning(**{**tiny_kwargs, "pruning_loc": (2, 1, 4)})
    with pytest.raises(ValueError, match="keeps no token"):
        VisionTransformerDiffPruning(**{**tiny_kwargs, "token_ratio": (0.5, 0.2, 0.01)})


def test_return_keep_indices_needs_eval(make_tiny):
    with pytest.raises(ValueError, match="eval mode"):
        make_tiny().train()(torch.zeros(1, 3, 32, 32), return_keep_indices=True)


def test_sqrt_scale():
    blk = Block(dim=16, num_heads=4)
    assert math.isclose(blk.attn.scale, 1 / 2)
