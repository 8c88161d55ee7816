"""GradNet: the gradient branch (eqs. 4-7), second-order training signal, the online update schedule."""

import numpy as np
import pytest
import torch

from adaptrack.errors import AdaptrackError, InvalidBoxError
from adaptrack.nn.siamese import SearchResult
from adaptrack.trackers import create, get_entry
from adaptrack.trackers.gradnet import GradNetNet, GradNetParams, GradNetTracker, load_gradnet_weights
from adaptrack.trackers.siamfc import SiamFCNet
from adaptrack.training.losses import balanced_logistic_loss, siamfc_labels

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def siamfc():
    torch.manual_seed(0)
    sf = SiamFCNet(pretrained=None).eval()
    with torch.no_grad():
        sf.out_scale.fill_(0.01)
    return sf


@pytest.fixture(scope="module")
def inputs():
    g = torch.Generator().manual_seed(1)
    return torch.rand(2, 3, 128, 128, generator=g) * 255, torch.rand(2, 3, 256, 256, generator=g) * 255


def _net(siamfc, u2_std=0.05):
    torch.manual_seed(2)
    return GradNetNet.from_siamfc(siamfc, u2_init_std=u2_std).eval()


def test_initial_template_is_siamfcs(siamfc, inputs):
    net = _net(siamfc)
    z, x = inputs
    with torch.no_grad():
        torch.testing.assert_close(net.template(net.shallow_features(z)), siamfc.template(z))
        torch.testing.assert_close(net.search_features(x), siamfc.search(x))


def test_gradient_branch_uses_dL_df2(siamfc, inputs):
    net = _net(siamfc)
    z, x = inputs
    with torch.no_grad():
        f2, xf = net.shallow_features(z), net.search_features(x)
    labels, weights = siamfc_labels(17, 8, 16.0, offsets=[[0.0, 0.0], [24.0, -8.0]])
    out = net.generate(f2, xf, labels, weights, create_graph=False)
    # the gradient is dL/df2 of eq. (5), computed independently here
    leaf = f2.clone().requires_grad_(True)
    loss = balanced_logistic_loss(net.score(net.template(leaf), xf), labels, weights) * 2
    (ref,) = torch.autograd.grad(loss, leaf)
    torch.testing.assert_close(out["grad"], ref)
    rms = ref.square().mean(dim=(1, 2, 3), keepdim=True).sqrt()
    torch.testing.assert_close(out["h2"], f2 + net.u2(ref / rms))
    torch.testing.assert_close(out["beta_star"], net.template(out["h2"]))
    # another label map -> another gradient -> another beta*
    labels2, weights2 = siamfc_labels(17, 8, 16.0, offsets=[[-40.0, 16.0], [0.0, 32.0]])
    out2 = net.generate(f2, xf, labels2, weights2, create_graph=False)
    assert not torch.allclose(out2["grad"], out["grad"])
    assert (out2["beta_star"] - out["beta_star"]).abs().max() > 1e-4
    # with U2 = 0 the gradient is ignored: beta* = beta
    with torch.no_grad():
        net.u2.weight.zero_()
    out0 = net.generate(f2, xf, labels, weights, create_graph=False)
    torch.testing.assert_close(out0["beta_star"], out0["beta"])


def test_second_order_gradient_reaches_u1(siamfc, inputs):
    net = _net(siamfc).train()
    z, x = inputs
    with torch.no_grad():
        f2, xf = net.shallow_features(z), net.search_features(x)
    labels, weights = siamfc_labels(17, 8, 16.0, offsets=[[8.0, 0.0], [-16.0, 8.0]])
    grads = {}
    for create_graph in (True, False):
        net.zero_grad()
        out = net.generate(f2, xf, labels, weights, create_graph=create_graph)
        loss = balanced_logistic_loss(net.score(out["beta_star"], xf), labels, weights)
        loss.backward()
        grads[create_graph] = [p.grad.clone() for p in net.u1.parameters()]
        assert out["grad"].requires_grad == create_graph
    # the first-order path alone gives different U1 gradients: the second-order term is there
    diff = max(float((a - b).abs().max()) for a, b in zip(grads[True], grads[False]))
    assert diff > 1e-7
    assert all(torch.isfinite(g).all() for g in grads[True])
    # and U2 is trained too
    assert net.u2.weight.grad is not None and net.u2.weight.grad.abs().sum() > 0


def test_generate_under_inference_mode(siamfc, inputs):
    net = _net(siamfc)
    z, x = inputs
    labels, weights = siamfc_labels(17, 8, 16.0, batch=2)
    with torch.inference_mode():
        f2, xf = net.shallow_features(z), net.search_features(x)
        out = net.generate(f2, xf, labels, weights)
    ref = net.generate(f2.clone(), xf.clone(), labels, weights, create_graph=False)
    torch.testing.assert_close(out["beta_star"], ref["beta_star"])


def test_template_generalisation_group_shapes(siamfc):
    net = _net(siamfc).train()
    f2 = torch.randn(2, 24, 32, 32)
    xf = torch.randn(8, 128, 32, 32)
    labels, weights = siamfc_labels(17, 8, 16.0, batch=8)
    out = net.generate(f2, xf, labels, weights, group=4)
    assert out["beta_star"].shape == (2, 128, 16, 16) and out["score"].shape == (8, 1, 17, 17)
    with pytest.raises(ValueError):
        net.generate(f2, xf[:7], labels[:7], weights[:7], group=4)


def _frames(n, size=(200, 240)):
    rng = np.random.default_rng(0)
    return [(rng.random((*size, 3)) * 255).astype(np.uint8) for _ in range(n)]


def test_update_schedule_and_reliability_gate(siamfc, monkeypatch):
    tr = GradNetTracker(GradNetParams(update_interval=5, reliable_ratio=0.5, template_mix=0.5, backend="torch"), weights=None,
                        net=_net(siamfc))
    frames = _frames(16)
    tr.initialize(frames[0], (100, 80, 30, 40))
    tr.threshold = 0.8  # first frame's peak score; reliable means score > 0.4
    beta1 = tr.template.clone()
    # scripted peak scores (probabilities) for frames 1..15
    probs = [0.9, 0.3, 0.9, 0.3, 0.3, 0.1, 0.2, 0.3, 0.1, 0.2, 0.3, 0.35, 0.45, 0.3, 0.2]
    logits = [float(np.log(p / (1 - p))) for p in probs]
    script = iter(logits)

    def fake_search(responses, center, window):
        return SearchResult(np.asarray(center, dtype=float) + 1.0, 1, 1.0, next(script), np.zeros((2, 2)))

    monkeypatch.setattr(tr, "searcher", fake_search, raising=False)
    tr.searcher.scales = np.array([1 / 1.0375, 1.0, 1.0375])
    generated = []
    orig = tr._generate

    def spy(f2, xf, offset):
        generated.append((tr.frame_index, xf.clone(), offset))
        return orig(f2, xf, offset)

    monkeypatch.setattr(tr, "_generate", spy)
    outs = [tr.track(f) for f in frames[1:]]
    reliable = [o.extras["reliable"] for o in outs]
    assert reliable == [p > 0.4 for p in probs]
    updated = [i + 1 for i, o in enumerate(outs) if o.extras["updated"]]
    # frame 5: reliable samples at frames 1 and 3 -> update; frame 10: none since -> no update;
    # frame 15: frame 13 was reliable -> update
    assert updated == [5, 15]
    assert [g[0] for g in generated] == [5, 15]
    assert tr.updates == 2
    assert not torch.allclose(tr.template, beta1)
    # the combined template: (1 - mix) beta*_1 + mix beta*_t
    out = orig(tr.h2, generated[-1][1], generated[-1][2])
    torch.testing.assert_close(tr.template, 0.5 * tr.beta1 + 0.5 * out["beta_star"])


def test_no_update_variant_keeps_the_first_template(siamfc):
    tr = create("gradnet", variant="no_update", weights=None, backend="torch")
    frames = _frames(7)
    tr.initialize(frames[0], (100, 80, 30, 40))
    t0 = tr.template.clone()
    for f in frames[1:]:
        assert not tr.track(f).extras["updated"]
    torch.testing.assert_close(tr.template, t0)


def test_variants_are_declared():
    v = get_entry("gradnet").variants()
    assert v["fast"] == {"scale_pyramid": "feature"}
    with pytest.raises(ValueError, match="scale_pyramid"):
        GradNetParams(scale_pyramid="pixels")
    assert v["no_update"] == {"use_update": False}
    assert v["no_template_generalization"]["weights_name"] != "gradnet"


@pytest.mark.parametrize("box", [(10, 10, -5, 20), (np.inf, 1, 5, 5), (300, 300, 10, 10)])
def test_invalid_init_box_raises(siamfc, box):
    tr = GradNetTracker(GradNetParams(backend="torch"), weights=None, net=_net(siamfc))
    with pytest.raises(InvalidBoxError):
        tr.initialize(_frames(1)[0], box)


def test_weights_without_search_branch_are_rejected(siamfc, tmp_path):
    net = _net(siamfc)
    full = net.own_state_dict()
    good = tmp_path / "good.pt"
    torch.save(full, good)
    load_gradnet_weights(_net(siamfc), str(good))
    bad = tmp_path / "bad.pt"
    torch.save({k: v for k, v in full.items() if not k.startswith("search_adjust.")}, bad)
    with pytest.raises(AdaptrackError):
        load_gradnet_weights(_net(siamfc), str(bad))


@pytest.mark.parametrize("scale_pyramid", ["image", "feature"])
def test_onnx_backend_matches_torch(siamfc, scale_pyramid):
    frames = _frames(4)
    net = _net(siamfc)
    results = {}
    for backend in ("torch", "onnx"):
        params = GradNetParams(backend=backend, update_interval=2, scale_pyramid=scale_pyramid)
        tr = GradNetTracker(params, weights=None, net=net)
        tr.initialize(frames[0], (100, 80, 30, 40))
        results[backend] = [tr.track(f) for f in frames[1:]]
    for a, b in zip(results["torch"], results["onnx"]):
        np.testing.assert_allclose(a.box, b.box, atol=0.5)
        assert abs(a.extras["peak_logit"] - b.extras["peak_logit"]) < 1e-2 * max(1.0, abs(a.extras["peak_logit"]))


def test_bundled_weights_follow_a_moving_target():
    from adaptrack.weights import has_bundled

    if not has_bundled("gradnet"):
        pytest.skip("gradnet weights not bundled yet")
    rng = np.random.default_rng(0)
    frames, boxes = [], []
    for t in range(12):
        f = (rng.random((200, 240, 3)) * 60 + 40).astype(np.uint8)
        x, y = 90 + 5 * t, 80 + 3 * t
        f[y : y + 28, x : x + 28] = (230, 40, 40)
        f[y + 8 : y + 20, x + 8 : x + 20] = (30, 200, 60)
        frames.append(f)
        boxes.append((x, y, 28, 28))
    tr = create("gradnet")
    tr.initialize(frames[0], boxes[0])
    for f in frames[1:]:
        out = tr.track(f)
    assert tr.updates >= 1  # the online update ran on this easy sequence
    centre = out.box[:2] + out.box[2:] / 2
    truth = np.array(boxes[-1][:2]) + 14
    assert np.linalg.norm(centre - truth) < 10
