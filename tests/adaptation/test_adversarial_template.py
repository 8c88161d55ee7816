"""Adversarial template adaptation (AUTracker eq. 7 / eq. 6) on its own and plugged into trackers."""

import numpy as np
import pytest
import torch

import adaptrack
from adaptrack.adaptation.adversarial_template import AdversarialTemplateConfig, adapt_template, bim_template

torch.set_num_threads(1)


def test_bim_steps_hand_computed():
    # L = sum (z - c)^2 with c = 10: sign(grad) = -1 while z < 10 -> z rises by alpha per step, capped at z0 + eps
    c = torch.full((1, 3, 2, 2), 10.0)
    z0 = torch.zeros(1, 3, 2, 2)
    z, losses = bim_template(lambda z: ((z - c) ** 2).sum(), z0, eps=3.0, alpha=2.0, steps=3)
    assert torch.all(z == 3.0)  # 0 -> 2 -> 3 (clipped) -> 3
    assert losses == pytest.approx([12 * 100.0, 12 * 64.0, 12 * 49.0])
    # eps is a ball around z0, and the pixel range caps it: z0 = 254 pushed up stops at 255
    z, _ = bim_template(lambda z: ((z - 300.0) ** 2).sum(), torch.full((1, 3, 1, 1), 254.0), 8.0, 2.0, 4)
    assert torch.all(z == 255.0)
    # descent, not ascent (the attack of eq. 5 would move away from c)
    z, _ = bim_template(lambda z: ((z - 5.0) ** 2).sum(), torch.full((1, 1, 1, 1), 9.0), 10.0, 1.0, 2)
    assert z.item() == 7.0


def test_select_best_keeps_lowest_iterate():
    # alpha larger than the distance: steps overshoot back and forth; select_best returns the best iterate
    z, losses = bim_template(lambda z: ((z - 1.0) ** 2).sum(), torch.zeros(1, 1, 1, 1), 10.0, 3.0, 2, select_best=True)
    # iterates 0 (loss 1), 3 (loss 4), 0 (loss 1) -> best is 0
    assert losses == pytest.approx([1.0, 4.0, 1.0]) and z.item() == 0.0


def test_config_validation():
    with pytest.raises(ValueError, match="method"):
        AdversarialTemplateConfig(method="fgsm")
    with pytest.raises(ValueError):
        AdversarialTemplateConfig(eps=-1)


def _scene(seed=0):
    rng = np.random.default_rng(seed)
    base = (rng.random((30, 40, 3)) * 90 + 40).astype(np.uint8)
    frame = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))
    obj = np.kron((rng.random((4, 5, 3)) * 255).astype(np.uint8), np.ones((8, 8, 1), dtype=np.uint8))
    frame[100:132, 140:180] = obj
    return frame, np.array([140.0, 100.0, 40.0, 32.0])


@pytest.fixture(scope="module")
def siamfcpp():
    # trained heads if bundled, else untrained heads on the ImageNet backbone (the loss is still the tracker's)
    from adaptrack.trackers.siamfcpp import SiamFCppTracker

    weights = "default" if SiamFCppTracker.has_default_weights() else None
    return adaptrack.create("siamfcpp", weights=weights, backend="torch")


@pytest.mark.parametrize("method", ["bim", "target"])
def test_adapted_template_lowers_first_frame_loss_within_eps(siamfcpp, method):
    frame, box = _scene()
    siamfcpp.initialize(frame, box)
    z, x, bx = siamfcpp.adaptation_pair(frame, box)
    label = "true" if method == "bim" else "peak"
    eps = 6.0
    with torch.no_grad():
        before = siamfcpp.template_loss(z, x, bx, label=label).item()
    info = adapt_template(siamfcpp, frame, box, method=method, eps=eps, alpha=1.5, steps=5)
    z_adv = siamfcpp._z
    with torch.no_grad():
        after = siamfcpp.template_loss(z_adv, x, bx, label=label).item()
    assert after < before, (before, after, info["losses"])
    assert info["losses"][0] == pytest.approx(before, rel=1e-4)
    assert (z_adv - z).abs().max().item() <= eps + 1e-4
    assert info["linf"] <= eps + 1e-4 and info["linf"] > 0
    assert z_adv.min().item() >= 0.0 and z_adv.max().item() <= 255.0
    # the tracker now uses the adapted template
    with torch.no_grad():
        k_adv = siamfcpp.net.template_branch(z_adv)[0]
    assert torch.allclose(siamfcpp._kernels[0], k_adv)


def test_adversarial_variant_is_autracker(siamfcpp):
    tr = adaptrack.create("siamfcpp", variant="adversarial", weights="default" if type(siamfcpp).has_default_weights() else None,
                          backend="torch")
    assert tr.params.adaptation["method"] == "bim"
    frame, box = _scene(1)
    with torch.inference_mode():  # evaluation loops may run trackers under inference mode
        tr.initialize(frame, box)
        out = tr.track(frame)
    info = tr.adaptation_info
    assert len(info["losses"]) == tr.params.adaptation["steps"] and info["ms"] > 0
    assert np.isfinite(out.box).all()


def test_tracker_without_protocol_is_rejected():
    tr = adaptrack.create("kcf") if "kcf" in {e.name for e in adaptrack.list_trackers()} else None
    if tr is None:
        pytest.skip("no OpenCV KCF here")
    frame, box = _scene()
    with pytest.raises(TypeError, match="template adaptation"):
        adapt_template(tr, frame, box)


@pytest.mark.parametrize("name", ["siamfc", "gradnet", "dsiam"])
def test_adversarial_variant_on_the_siamfc_family(name):
    from adaptrack.trackers.base import get_entry
    from adaptrack.weights import has_bundled

    assert "adversarial" in get_entry(name).variants()
    weights = "default" if has_bundled(name) else None
    tr = adaptrack.create(name, variant="adversarial", weights=weights, backend="torch")
    frame, box = _scene(2)
    tr.initialize(frame, box)
    assert len(tr.adaptation_info["losses"]) == tr.params.adaptation["steps"]
    out = tr.track(frame)
    assert np.isfinite(out.box).all()
    # the tracker's own loss goes down within the eps ball (select_best also evaluates the last iterate)
    info = adapt_template(tr, frame, box, eps=6.0, alpha=1.5, steps=3, select_best=True)
    assert info["losses"][-1] < info["losses"][0], info["losses"]
    assert 0 < info["linf"] <= 6.0 + 1e-4
    out = tr.track(frame)
    assert np.isfinite(out.box).all()
