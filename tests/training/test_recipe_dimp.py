import numpy as np
import torch

from adaptrack.geometry import rect_iou
from adaptrack.training.recipes import dimp as recipe

torch.set_num_threads(1)


def _cfg(**kw):
    cfg = dict(recipe.DEFAULTS)
    cfg.update(cls_dim=16, cls_mid=16, iou_width=16, num_proposals=4)
    cfg.update(kw)
    return cfg


def _batch(B=2, seed=0):
    g = torch.Generator().manual_seed(seed)

    def boxes(n):
        c = 144 + torch.randn(B, n, 2, generator=g) * 15
        s = 57 * torch.exp(torch.randn(B, n, 2, generator=g) * 0.2)
        return torch.cat([c - s / 2, s], -1)

    return {
        "train_s16": torch.rand(B, 3, 112, 18, 18, generator=g),
        "test_s16": torch.rand(B, 3, 112, 18, 18, generator=g),
        "ref_s8": torch.rand(B, 40, 36, 36, generator=g),
        "test_s8": torch.rand(B, 3, 40, 36, 36, generator=g),
        "train_boxes": boxes(3),
        "test_boxes": boxes(3),
    }


def test_proposals_and_their_iou():
    boxes = torch.tensor([[10.0, 20.0, 40.0, 30.0], [100.0, 50.0, 20.0, 60.0]])
    props, iou = recipe.sample_proposals(boxes, 8, [0.05, 0.3], torch.Generator().manual_seed(0))
    assert props.shape == (2, 8, 4) and iou.shape == (2, 8)
    ref = rect_iou(props.reshape(-1, 4).numpy(), boxes.repeat_interleave(8, 0).numpy())
    np.testing.assert_allclose(iou.reshape(-1).numpy(), ref, rtol=1e-5, atol=1e-6)
    assert (props[..., 2:] > 0).all()


def test_classification_loss_is_eq8_eq9():
    model = recipe.build_model(_cfg())
    feat = torch.randn(2, 1, 16, 18, 18)
    boxes = torch.tensor([[[120.0, 130.0, 50.0, 40.0]], [[100.0, 90.0, 60.0, 70.0]]])
    f1, f2 = torch.randn(1, 16, 4, 4), torch.randn(1, 16, 4, 4)
    mean, per = recipe.classification_loss(model, [f1, f2], feat, boxes, 0.05)
    z = model.gaussian_label(boxes, 18)
    for f, val in zip((f1, f2), per):
        s = torch.nn.functional.conv2d(feat[:, 0], f, padding=2)[:, 0]
        err = torch.where(z[:, 0] > 0.05, s - z[:, 0], s.clamp(min=0))
        torch.testing.assert_close(val, (err**2).mean())
    torch.testing.assert_close(mean, per.mean())
    # the label peaks (=1) at the score cell nearest the box centre and is a Gaussian of label_sigma cells
    c = model.centers_to_score(boxes[0, 0, :2] + boxes[0, 0, 2:] / 2)
    k = torch.arange(19.0)
    expect = torch.exp(-0.5 * ((k[:, None] - c[1]) ** 2 + (k[None] - c[0]) ** 2) / model.label_sigma**2)
    torch.testing.assert_close(z[0, 0], expect)


def test_forward_train_losses_and_training_reduces_them():
    torch.manual_seed(0)
    cfg = _cfg()
    model = recipe.build_model(cfg).train()
    fwd = recipe.make_forward_train(cfg)
    batch = _batch()
    out = fwd(model, batch)
    assert {"loss", "cls", "cls_init", "cls_final", "cls_gd", "bb"} <= set(out)
    assert all(torch.isfinite(v).all() for v in out.values())
    torch.testing.assert_close(out["loss"], cfg["beta"] * (out["cls"] + out["cls_gd"]) + out["bb"])
    # the backbone is frozen and gets no gradient; heads do
    out["loss"].backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.cls_feat.conv_in[0].weight.grad.abs().sum() > 0
    assert model.loss.phi_m.grad.abs().sum() > 0 and model.gd_log_step.grad.abs().sum() > 0
    assert model.iou_net.iou_predictor.weight.grad.abs().sum() > 0
    # a few Adam steps on one batch reduce the total loss
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-3)
    torch.manual_seed(1)
    first = fwd(model, batch)["loss"].item()
    for _ in range(15):
        opt.zero_grad()
        torch.manual_seed(1)  # same proposals every step
        fwd(model, batch)["loss"].backward()
        opt.step()
    torch.manual_seed(1)
    assert fwd(model, batch)["loss"].item() < first


def test_export_holds_only_trained_parts(tmp_path):
    import adaptrack

    cfg = _cfg()
    model = recipe.build_model(cfg)
    state = recipe.export(model, cfg)
    assert not any(k.startswith("backbone.") for k in state["state_dict"])
    assert state["config"]["cls_dim"] == 16
    path = tmp_path / "dimp_small.pt"
    torch.save(state, path)
    t = adaptrack.create("dimp", weights=str(path))  # the tracker rebuilds the sizes from the file
    assert t.net.config["cls_dim"] == 16
    torch.testing.assert_close(t.net.loss.phi_y, model.loss.phi_y)


def test_best_box_branch_restores_the_iou_net_of_the_lowest_val_loss():
    from types import SimpleNamespace

    from adaptrack.training.recipes.dimp import BestBoxBranch

    model = torch.nn.Module()
    model.iou_net, model.cls = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    trainer = SimpleNamespace(model=model, config=SimpleNamespace(epochs=3), last_val={})
    cb, seen = BestBoxBranch(), {}
    for epoch, bb in ((1, 0.30), (2, 0.20), (3, 0.25)):
        with torch.no_grad():
            model.iou_net.weight.fill_(float(epoch))
            model.cls.weight.fill_(float(epoch))
        trainer.last_val = {"bb": bb, "cls": 0.1}
        seen = cb(trainer, epoch)
    assert seen == {"box_best_epoch": 2, "box_best_val_bb": 0.20}
    assert torch.all(model.iou_net.weight == 2.0)  # the epoch-2 IoU-Net is back ...
    assert torch.all(model.cls.weight == 3.0)  # ... the classifier is the last epoch's
