"""GradNet (Alg. 1, template generalisation) and DSiam (clip loss, eq. 10) training steps on small tensors."""

import numpy as np
import pytest
import torch

from adaptrack.training.recipes import get_recipe, list_recipes
from adaptrack.training.recipes.dsiam import dsiam_clip_loss, encode_clip
from adaptrack.training.recipes.gradnet import gradnet_loss

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def gradnet_net():
    from adaptrack.trackers.gradnet import GradNetNet
    from adaptrack.trackers.siamfc import SiamFCNet

    torch.manual_seed(0)
    net = GradNetNet.from_siamfc(SiamFCNet(pretrained=None), u2_init_std=0.05)
    net.xcorr_method = "fft"
    return net.train()


@pytest.fixture(scope="module")
def dsiam_net():
    from adaptrack.trackers import get_entry
    from adaptrack.trackers.dsiam import build_dsiam_net

    # the two-stride pair (s8 + s16 at 128/256): layers of different sizes, the harder case for the recipe
    torch.manual_seed(0)
    net = build_dsiam_net(get_entry("dsiam").make_params("s8s16"))
    net.xcorr_method = "fft"
    return net.train()


def test_recipes_are_registered():
    assert {"gradnet", "dsiam"} <= set(list_recipes())
    for name in ("gradnet", "dsiam"):
        mod = get_recipe(name)
        assert callable(mod.build) and callable(mod.export) and "epochs" in mod.DEFAULTS


def _gradnet_batch(b, seed=1):
    g = torch.Generator().manual_seed(seed)
    f2 = torch.randn(b, 24, 32, 32, generator=g)
    xf = torch.randn(b, 128, 32, 32, generator=g)
    centre = 128 + torch.randint(-40, 40, (b, 2), generator=g).float()
    box = torch.cat([centre - 20, torch.full((b, 2), 40.0)], dim=1)
    return f2, xf, box


def test_gradnet_loss_trains_the_update_branch(gradnet_net):
    f2, xf, box = _gradnet_batch(8)
    gradnet_net.zero_grad()
    out = gradnet_loss(gradnet_net, f2, xf, box, 4, 128, 256, 16.0)
    assert torch.isfinite(out["loss"]) and out["loss"] > 0 and torch.isfinite(out["initial_loss"])
    out["loss"].backward()
    assert all(p.grad is not None for p in gradnet_net.u1.parameters())
    assert gradnet_net.u2.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in gradnet_net.search_adjust.parameters())  # f_x stays frozen


def test_template_generalisation_uses_only_the_first_template_of_each_group(gradnet_net):
    f2, xf, box = _gradnet_batch(8)
    ref = gradnet_loss(gradnet_net, f2, xf, box, 4, 128, 256, 16.0)["loss"]
    poisoned = f2.clone()
    poisoned[1:4] = float("nan")
    poisoned[5:8] = float("nan")
    out = gradnet_loss(gradnet_net, poisoned, xf, box, 4, 128, 256, 16.0)["loss"]
    torch.testing.assert_close(out, ref)
    # group = 1 (no template generalisation) uses every template
    assert torch.isnan(gradnet_loss(gradnet_net, poisoned, xf, box, 1, 128, 256, 16.0)["loss"])
    with pytest.raises(ValueError):
        gradnet_loss(gradnet_net, f2[:6], xf[:6], box[:6], 4, 128, 256, 16.0)


def test_label_jitter_moves_only_the_update_label(gradnet_net, monkeypatch):
    """label_jitter displaces the label of the update's gradient (the tracker's estimate when tracking);
    the initial and the trained loss are still taken against the true labels."""
    import adaptrack.training.recipes.gradnet as recipe

    f2, xf, box = _gradnet_batch(8)
    seen = []
    real = recipe.siamfc_labels
    monkeypatch.setattr(recipe, "siamfc_labels", lambda *a, **k: seen.append(k["offsets"].clone()) or real(*a, **k))
    torch.manual_seed(5)
    ref = gradnet_loss(gradnet_net, f2, xf, box, 4, 128, 256, 16.0)
    assert len(seen) == 1  # no jitter: one label set for the gradient and the losses
    seen.clear()
    out = gradnet_loss(gradnet_net, f2, xf, box, 4, 128, 256, 16.0, label_jitter=8.0)
    true_offsets, noisy = seen
    shift = (noisy - true_offsets).abs()
    assert shift.max() > 0.5 and shift.mean() < 3 * 8.0
    torch.testing.assert_close(out["initial_loss"], ref["initial_loss"])  # true labels
    assert not torch.allclose(out["loss"], ref["loss"])  # the update saw other labels


def test_a_few_gradnet_steps_reduce_the_loss_on_a_fixed_batch(gradnet_net):
    f2, xf, box = _gradnet_batch(4, seed=3)
    params = [p for p in gradnet_net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss = gradnet_loss(gradnet_net, f2, xf, box, 2, 128, 256, 16.0)["loss"]
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def _dsiam_batch(b=2, steps=3, seed=2):
    g = torch.Generator().manual_seed(seed)
    batch = {}
    for n, c, hz, hx in (("s8", 40, 16, 32), ("s16", 112, 8, 16)):
        batch[f"o_{n}"] = torch.randn(b, steps, c, hz, hz, generator=g)
        for k in ("g", "gb", "z"):
            batch[f"{k}_{n}"] = torch.randn(b, steps, c, hx, hx, generator=g)
    centre = 128 + torch.randint(-30, 30, (b, steps + 1, 2), generator=g).float()
    batch["search_box"] = torch.cat([centre - 15, torch.full((b, steps + 1, 2), 30.0)], dim=2)
    return batch


def test_dsiam_clip_loss_reaches_lambdas_and_fusion(dsiam_net):
    batch = _dsiam_batch()
    dsiam_net.zero_grad()
    out = dsiam_clip_loss(dsiam_net, batch, 256, 16.0)
    assert torch.isfinite(out["loss"])
    out["loss"].backward()
    for n in dsiam_net.layers:
        assert dsiam_net.rlr_v[n].raw_lambda.grad.abs() > 0
        assert dsiam_net.rlr_w[n].raw_lambda.grad.abs() > 0
        assert all(p.grad is not None for p in dsiam_net.adjust[n].parameters())
    assert dsiam_net.fusion_logits.grad.abs().sum() > 0
    assert all(p.grad is None for p in dsiam_net.backbone.parameters())
    # without V, lambda_v gets no gradient; the static response is the same with V = W = identity
    dsiam_net.zero_grad()
    out = dsiam_clip_loss(dsiam_net, batch, 256, 16.0, use_v=False, use_w=False)
    out["loss"].backward()
    assert all(dsiam_net.rlr_v[n].raw_lambda.grad is None for n in dsiam_net.layers)
    torch.testing.assert_close(out["loss"].detach(), out["static_loss"])


def test_dsiam_loss_uses_the_clips_first_template(dsiam_net):
    dsiam_net.eval()  # batch-norm statistics of the batch would couple the crops
    batch = _dsiam_batch(steps=3)
    with torch.no_grad():
        ref = dsiam_clip_loss(dsiam_net, batch, 256, 16.0, use_v=False, use_w=False)["loss"]
        for n in dsiam_net.layers:
            batch[f"o_{n}"][:, 1:] = 0.0  # O_{t-1} for t > 1 does not enter without V ...
        out = dsiam_clip_loss(dsiam_net, batch, 256, 16.0, use_v=False, use_w=False)["loss"]
        torch.testing.assert_close(out, ref)
        with_v = dsiam_clip_loss(dsiam_net, batch, 256, 16.0, use_v=True, use_w=False)["loss"]
    dsiam_net.train()
    assert abs(with_v.item() - ref.item()) > 1e-4  # ... but does with V (eq. 6)


def test_encode_clip_shapes(dsiam_net):
    rng = np.random.default_rng(0)
    frames = [torch.from_numpy((rng.random((1, 120, 160, 3)) * 255).astype(np.uint8)) for _ in range(4)]
    boxes = torch.tensor([[[50.0, 40, 30, 20], [52, 41, 30, 20], [55, 43, 31, 20], [57, 44, 31, 21]]])
    batch = {"frames": frames, "boxes": boxes, "search": torch.rand(1, 4, 3, 256, 256) * 255}
    with torch.no_grad():
        out = encode_clip(dsiam_net.eval(), batch, 128, 256, 1.0)
    dsiam_net.train()
    assert out["o_s8"].shape == (1, 3, 40, 16, 16) and out["o_s16"].shape == (1, 3, 112, 8, 8)
    for k in ("g", "gb", "z"):
        assert out[f"{k}_s8"].shape == (1, 3, 40, 32, 32) and out[f"{k}_s16"].shape == (1, 3, 112, 16, 16)
    # G_bar darkens the surroundings, so its features differ from G's
    assert not torch.allclose(out["g_s8"], out["gb_s8"])
