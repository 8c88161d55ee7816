import types

import pytest
import torch

from adaptrack.nn.correlation import xcorr
from adaptrack.training.recipes import get_recipe, list_recipes
from adaptrack.errors import UnknownNameError

siamfc = get_recipe("siamfc")


class FakeNet(torch.nn.Module):
    """Identity adjust, plain correlation: the score peak is where the template pattern was pasted."""

    def __init__(self):
        super().__init__()
        self.backbone = types.SimpleNamespace(layers=("s8",))
        self.total_stride = 8

    def adjust(self, feats):
        return feats[0]

    def score(self, zf, xf):
        return xcorr(zf, xf)


def _batch(dx_cells, dy_cells, n=6):
    g = torch.Generator().manual_seed(0)
    z = torch.rand(n, 1, 16, 16, generator=g) + 0.1
    x = torch.zeros(n, 1, 32, 32)
    x[:, :, 8 + dy_cells : 24 + dy_cells, 8 + dx_cells : 24 + dx_cells] = z  # response peak at (8+dy, 8+dx)
    c = torch.tensor([128.0 + 8 * dx_cells, 128.0 + 8 * dy_cells])
    box = torch.cat([c - 10, torch.tensor([20.0, 20.0])]).repeat(n, 1)
    return {"z_s8": z, "x_s8": x, "search_box": box, "is_pos": torch.ones(n)}


@pytest.mark.parametrize("d", [(0, 0), (3, -2), (-4, 1)])
def test_labels_follow_the_target_on_the_full_map(d):
    cfg = dict(siamfc.DEFAULTS, feature_crop=0)
    net = FakeNet().train()
    out = siamfc.forward_train(net, _batch(*d), cfg)
    assert out["peak_acc"].item() == 1.0


def test_labels_follow_the_target_in_random_feature_windows():
    cfg = dict(siamfc.DEFAULTS, feature_crop=24)
    net = FakeNet().train()
    torch.manual_seed(1)
    accs = [siamfc.forward_train(net, _batch(0, 0), cfg)["peak_acc"].item() for _ in range(5)]
    assert accs == [1.0] * 5
    # a wrong label position (box moved by 3 cells) must be detected
    b = _batch(0, 0)
    b["search_box"][:, 0] += 24
    assert siamfc.forward_train(net, b, dict(cfg, feature_crop=0))["peak_acc"].item() == 0.0


def test_recipe_registry():
    assert "siamfc" in list_recipes()
    with pytest.raises(UnknownNameError):
        get_recipe("nope")
