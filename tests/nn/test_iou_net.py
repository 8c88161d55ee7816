import pytest
import torch

from adaptrack.nn.iou_net import IoUNet, boxes_to_rois

torch.set_num_threads(1)


def _net(dtype=torch.float32):
    torch.manual_seed(0)
    net = IoUNet(in_channels=(8, 12), width=16).to(dtype).eval()
    # non-trivial BatchNorm statistics so eval mode is not the identity
    for m in net.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net


def _feats(B, dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, 8, 16, 16, generator=g, dtype=dtype), torch.randn(B, 12, 8, 8, generator=g, dtype=dtype)


def test_boxes_to_rois():
    boxes = torch.tensor([[[1.0, 2.0, 3.0, 4.0]], [[5.0, 6.0, 7.0, 8.0]]])
    rois = boxes_to_rois(boxes)
    torch.testing.assert_close(rois, torch.tensor([[0.0, 1, 2, 4, 6], [1.0, 5, 6, 12, 14]]))


def test_shapes_and_seq_index_equals_repeated_reference():
    net = _net()
    ref = _feats(2)
    test = _feats(4, seed=3)
    ref_boxes = torch.tensor([[30.0, 30.0, 40.0, 50.0], [50.0, 40.0, 30.0, 30.0]])
    props = torch.rand(4, 6, 4) * 40 + torch.tensor([20.0, 20.0, 10.0, 10.0])
    idx = torch.tensor([0, 0, 1, 1])
    out = net(ref, ref_boxes, test, props, seq_index=idx)
    assert out.shape == (4, 6)
    rep = (ref[0][idx], ref[1][idx])
    out2 = net(rep, ref_boxes[idx], test, props)
    torch.testing.assert_close(out, out2)
    # the modulation depends on the reference box
    m_a = net.get_modulation(ref[0][:1], ref[1][:1], ref_boxes[:1])[0]
    m_b = net.get_modulation(ref[0][:1], ref[1][:1], ref_boxes[1:])[0]
    assert not torch.allclose(m_a, m_b)


def test_iou_gradient_wrt_boxes_matches_finite_differences():
    net = _net(torch.float64)
    test = _feats(1, torch.float64, seed=4)
    mod = net.get_modulation(*_feats(1, torch.float64), torch.tensor([[40.0, 35.0, 30.0, 42.0]], dtype=torch.float64))
    feats = net.get_iou_features(*test)
    boxes = torch.tensor([[[33.3, 41.7, 37.1, 29.9], [60.2, 22.6, 25.3, 51.9]]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda b: net.predict_iou(mod, feats, b), (boxes,), eps=1e-6, atol=1e-5)


def test_refinement_ascends_predicted_iou():
    net = _net()
    mod = net.get_modulation(*_feats(1), torch.tensor([[40.0, 35.0, 30.0, 42.0]]))
    feats = net.get_iou_features(*_feats(1, seed=5))
    boxes = torch.tensor([[[33.0, 41.0, 37.0, 30.0], [60.0, 22.0, 25.0, 52.0], [20.0, 20.0, 50.0, 50.0]]])
    before = net.predict_iou(mod, feats, boxes)
    refined, after = net.refine(mod, feats, boxes, iterations=3, step_length=0.05)
    assert refined.shape == boxes.shape
    assert (after >= before - 1e-6).all()
    assert (after - before).max() > 0
    assert not torch.equal(refined, boxes)
    # refinement works from inside no_grad code (the tracker's inference path)
    with torch.no_grad():
        refined2, _ = net.refine(mod, feats, boxes, iterations=3, step_length=0.05)
    torch.testing.assert_close(refined, refined2)


def test_closed_form_iou_gradient_equals_autograd():
    net = _net(torch.float64)
    mod = net.get_modulation(*_feats(1, torch.float64), torch.tensor([[40.0, 35.0, 30.0, 42.0]], dtype=torch.float64))
    feats = net.get_iou_features(*_feats(1, torch.float64, seed=6))
    # inside, partly off the map (top-left), and a large box
    boxes = torch.tensor([[[33.3, 41.7, 37.1, 29.9], [-20.2, -9.6, 45.3, 51.9], [10.4, 12.8, 100.1, 90.3]]],
                         dtype=torch.float64, requires_grad=True)
    iou = net.predict_iou(mod, feats, boxes)
    (want,) = torch.autograd.grad(iou.sum(), boxes)
    got_iou, got = net.iou_and_box_grad(mod, feats, boxes)
    torch.testing.assert_close(got_iou, iou.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert want.abs().max() > 1e-4
    net.train()
    with pytest.raises(RuntimeError, match="eval mode"):
        net.iou_and_box_grad(mod, feats, boxes)


def test_closed_form_refinement_equals_autograd_refinement():
    net = _net()
    mod = net.get_modulation(*_feats(1), torch.tensor([[40.0, 35.0, 30.0, 42.0]]))
    feats = net.get_iou_features(*_feats(1, seed=5))
    boxes = torch.tensor([[[33.0, 41.0, 37.0, 30.0], [60.0, 22.0, 25.0, 52.0], [20.0, 20.0, 50.0, 50.0]]])
    for score_final in (True, False):
        want_b, want_iou = net._refine_autograd(mod, feats, boxes, 4, 0.05, 0.8, 1.0, score_final)
        got_b, got_iou = net.refine(mod, feats, boxes, 4, 0.05, 0.8, 1.0, score_final)
        torch.testing.assert_close(got_b, want_b, rtol=1e-5, atol=1e-4)  # float32 rounding only
        torch.testing.assert_close(got_iou, want_iou, rtol=1e-5, atol=1e-6)
        assert not torch.equal(got_b, boxes)


def test_folded_head_is_recomputed_when_the_weights_change():
    net = _net(torch.float64)
    mod = net.get_modulation(*_feats(1, torch.float64), torch.tensor([[40.0, 35.0, 30.0, 42.0]], dtype=torch.float64))
    feats = net.get_iou_features(*_feats(1, torch.float64, seed=6))
    boxes = torch.tensor([[[33.3, 41.7, 37.1, 29.9], [20.2, 19.6, 45.3, 51.9]]], dtype=torch.float64)
    first, _ = net.iou_and_box_grad(mod, feats, boxes)  # fills the folded-head cache
    with torch.no_grad():  # in-place changes, as load_state_dict or an optimizer step make them
        net.fc3_t.bn.running_var.mul_(2.0)
        net.iou_predictor.bias.add_(0.5)
    b = boxes.clone().requires_grad_(True)
    iou = net.predict_iou(mod, feats, b)
    (want,) = torch.autograd.grad(iou.sum(), b)
    got_iou, got = net.iou_and_box_grad(mod, feats, boxes)
    torch.testing.assert_close(got_iou, iou.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert (got_iou - first).abs().max() > 0.1


def test_closed_form_gradient_with_two_images_equals_autograd():
    net = _net(torch.float64)
    ref = _feats(2, torch.float64)
    mod = net.get_modulation(ref[0], ref[1], torch.tensor([[40.0, 35.0, 30.0, 42.0], [20.0, 25.0, 50.0, 30.0]], dtype=torch.float64))
    feats = net.get_iou_features(*_feats(2, torch.float64, seed=7))
    boxes = torch.tensor([[[33.3, 41.7, 37.1, 29.9], [60.2, 22.6, 25.3, 51.9]],
                          [[10.4, 12.8, 40.1, 30.3], [-5.0, 30.2, 45.3, 41.9]]], dtype=torch.float64, requires_grad=True)
    iou = net.predict_iou(mod, feats, boxes)
    (want,) = torch.autograd.grad(iou.sum(), boxes)
    got_iou, got = net.iou_and_box_grad(mod, feats, boxes)
    torch.testing.assert_close(got_iou, iou.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    # refinement of both images at once equals refining each image alone
    b, i = net.refine(mod, feats, boxes.detach(), iterations=2, step_length=0.05)
    for k in range(2):
        bk, ik = net.refine((mod[0][k : k + 1], mod[1][k : k + 1]), (feats[0][k : k + 1], feats[1][k : k + 1]),
                            boxes.detach()[k : k + 1], iterations=2, step_length=0.05)
        torch.testing.assert_close(b[k : k + 1], bk, rtol=0, atol=1e-10)
        torch.testing.assert_close(i[k : k + 1], ik, rtol=0, atol=1e-12)


def test_refine_graph_equals_refine_on_full_maps_and_windows():
    from adaptrack.nn.iou_net import RefineGraph

    net = _net(torch.float64)
    mod = net.get_modulation(*_feats(1, torch.float64), torch.tensor([[40.0, 35.0, 30.0, 42.0]], dtype=torch.float64))
    feats = net.get_iou_features(*_feats(1, torch.float64, seed=5))
    boxes = torch.tensor([[[33.0, 41.0, 37.0, 30.0], [40.0, 32.0, 25.0, 42.0], [30.0, 35.0, 40.0, 40.0]]], dtype=torch.float64)
    want_b, want_iou = net.refine(mod, feats, boxes, iterations=3, step_length=0.5)
    graph = RefineGraph(net.strides, iterations=3, step_length=0.5)
    head = RefineGraph.head_inputs(net)
    nhwc = [f.permute(0, 2, 3, 1) for f in feats]
    off = torch.tensor(net.offsets, dtype=torch.float64)
    with torch.no_grad():
        # the full maps (window at sample 0)
        b, iou, ext = graph(nhwc[0], nhwc[1], mod[0], mod[1], boxes[0], off[:1].repeat(2), off[1:].repeat(2), *head)
        torch.testing.assert_close(b, want_b[0], rtol=0, atol=1e-10)
        torch.testing.assert_close(iou, want_iou[0], rtol=0, atol=1e-12)
        # the extent covers every box evaluated (here: the start and the end)
        xyxy = torch.cat([torch.cat([x[:, :2], x[:, :2] + x[:, 2:]], 1) for x in (boxes[0], b)])
        assert (ext[:2] <= xyxy[:, :2].min(0).values).all() and (ext[2:] >= xyxy[:, 2:].max(0).values).all()
        # windows holding the boxes' support (stride 8: samples 2.., stride 16: 1..): the same result
        b2, iou2, _ = graph(nhwc[0][:, 2:, 2:], nhwc[1][:, 1:, 1:], mod[0], mod[1], boxes[0],
                            off[:1].repeat(2) + 2, off[1:].repeat(2) + 1, *head)
        torch.testing.assert_close(b2, want_b[0], rtol=0, atol=1e-10)
        torch.testing.assert_close(iou2, want_iou[0], rtol=0, atol=1e-12)
