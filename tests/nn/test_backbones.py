import json
import os
import pathlib

import numpy as np
import pytest
import torch

from adaptrack.errors import UnknownNameError
from adaptrack.nn.backbones import build_backbone
from adaptrack.nn.backbones.efficientnet_lite import EfficientNetLite0, lite0_weights_path, same_pad_amounts

torch.set_num_threads(1)


def shared_data_root() -> pathlib.Path:
    default = pathlib.Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    return pathlib.Path(os.environ.get("ADAPTRACK_SHARED_DATA", default))


@pytest.fixture(scope="module")
def lite_all():
    return build_backbone("efficientnet_lite0", layers=("s4", "s8", "s16", "s32")).eval()


def test_lite0_strict_key_coverage_of_the_registry_file():
    state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    assert len(state) == 296
    full = EfficientNetLite0(layers=("s32",), pretrained=False, include_head=True)
    mapped = {full._file_key_to_ours(k): v for k, v in state.items()}
    assert set(mapped) == set(full.state_dict())  # every key used, none missing
    full.load_state_dict(mapped, strict=True)
    # the truncated model loads the same values
    s8 = build_backbone("efficientnet_lite0", layers=("s8",))
    assert torch.equal(s8._blocks[4]._project_conv.weight, state["_blocks.4._project_conv.weight"])
    assert torch.equal(s8._stem.bn.running_var, state["_bn0.running_var"])


@pytest.mark.parametrize("size", [127, 128, 255, 288])
def test_lite0_shapes_and_strides(lite_all, size):
    with torch.inference_mode():
        out = lite_all(torch.rand(2, 3, size, size) * 255)
    assert list(out) == ["s4", "s8", "s16", "s32"]
    for name, t in out.items():
        s = lite_all.strides[name]
        assert t.shape == (2, lite_all.channels[name], -(-size // s), -(-size // s))
    assert lite_all.channels == {"s4": 24, "s8": 40, "s16": 112, "s32": 320}
    assert lite_all.strides == {"s4": 4, "s8": 8, "s16": 16, "s32": 32}


def test_truncated_after_deepest_layer_and_same_values(lite_all):
    s8 = build_backbone("efficientnet_lite0", layers=("s8",)).eval()
    assert len(s8._blocks) == 5 and sum(p.numel() for p in s8.parameters()) < 60_000
    x = torch.rand(1, 3, 128, 128) * 255
    with torch.inference_mode():
        assert torch.allclose(s8(x)["s8"], lite_all(x)["s8"], atol=1e-5)


def test_s8a_is_the_first_block_of_the_stride8_stage():
    # two layers at one stride (DSiam's pair): s8a is block 3's output, s8 = block 4 applied to it
    bb = build_backbone("efficientnet_lite0", layers=("s8a", "s8")).eval()
    assert len(bb._blocks) == 5 and bb.channels == {"s8a": 40, "s8": 40} and bb.strides == {"s8a": 8, "s8": 8}
    x = torch.rand(1, 3, 112, 112) * 255
    with torch.inference_mode():
        out = bb(x)
        assert out["s8a"].shape == out["s8"].shape == (1, 40, 14, 14)
        torch.testing.assert_close(bb._blocks[4](out["s8a"]), out["s8"])
        assert not torch.allclose(out["s8a"], out["s8"], atol=1e-3)
    assert len(build_backbone("efficientnet_lite0", layers=("s8a",))._blocks) == 4


def test_same_padding_is_tf_rule():
    assert same_pad_amounts(224, 3, 2) == (0, 1)  # even input: asymmetric, extra on the bottom/right
    assert same_pad_amounts(127, 3, 2) == (1, 1)
    assert same_pad_amounts(128, 5, 2) == (1, 2)
    assert same_pad_amounts(64, 5, 1) == (2, 2)


def test_freeze_policy_keeps_frozen_bn_in_eval():
    bb = build_backbone("efficientnet_lite0", layers=("s8", "s16")).freeze(upto="s8")
    bb.train()
    frozen = bb.frozen_parameter_names()
    assert frozen and all(n.startswith(("_stem", "_blocks.0.", "_blocks.1.", "_blocks.2.", "_blocks.3.", "_blocks.4.")) for n in frozen)
    assert all(p.requires_grad for n, p in bb.named_parameters() if n.startswith("_blocks.10."))
    assert not bb._blocks[4]._bn1.training and bb._blocks[5]._bn1.training
    before = bb._blocks[4]._bn1.running_mean.clone()
    out = bb(torch.rand(2, 3, 64, 64) * 255)
    assert torch.equal(bb._blocks[4]._bn1.running_mean, before)  # frozen BN statistics unchanged
    out["s16"].sum().backward()
    assert bb._stem.conv.weight.grad is None and bb._blocks[10]._project_conv.weight.grad is not None
    bb.freeze()
    assert all(not p.requires_grad for p in bb.parameters())
    bb.unfreeze()
    assert all(p.requires_grad for p in bb.parameters())


@pytest.mark.parametrize("name,width", [("alexnet", 1.0), ("alexnet_half", 0.5)])
def test_alexnet_shapes(name, width):
    bb = build_backbone(name, layers=("s4", "s8")).eval()
    assert bb.channels == {"s4": int(256 * width), "s8": int(256 * width)}
    assert bb.strides == {"s4": 4, "s8": 8}
    with torch.inference_mode():
        z, x = bb(torch.rand(1, 3, 127, 127) * 255), bb(torch.rand(3, 3, 255, 255) * 255)
    assert z["s8"].shape[-2:] == (6, 6) and x["s8"].shape == (3, int(256 * width), 22, 22)
    assert z["s4"].shape[-2:] == (25, 25)


def test_alexnet_trains_from_scratch_and_truncates():
    bb = build_backbone("alexnet", layers=("s4",))
    assert not hasattr(bb, "conv5")
    bb(torch.rand(2, 3, 127, 127) * 255)["s4"].mean().backward()
    assert bb.conv1[0].weight.grad is not None
    with pytest.raises(ValueError, match="no pretrained"):
        build_backbone("alexnet", pretrained=True)


def test_bad_names_and_inputs():
    with pytest.raises(UnknownNameError):
        build_backbone("resnet50")
    with pytest.raises(ValueError, match="no layer"):
        build_backbone("efficientnet_lite0", layers=("s64",))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        build_backbone("alexnet")(torch.rand(1, 1, 127, 127))


def _crops(source, n):
    from adaptrack.image import crop_and_resize, read_image

    root = shared_data_root() / "images" / source
    if not (root / "annotations.json").is_file():
        pytest.skip(f"shared data absent: {root}")
    ann = json.loads((root / "annotations.json").read_text())
    files = {i["id"]: i["file_name"] for i in ann["images"]}
    out = []
    for a in ann["annotations"][:n]:
        x, y, w, h = a["bbox"]
        img = read_image(root / files[a["image_id"]])
        out.append(crop_and_resize(img, (x + w / 2, y + h / 2), 1.1 * max(w, h), 224))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float()


def test_lite0_classifies_real_images():
    """ImageNet weights + TF padding + (x-127.5)/128 must recognise dogs (classes 151-268) and
    kangaroos (class 104, 'wallaby') in real photos; random or misloaded weights would not."""
    net = EfficientNetLite0(layers=("s32",), include_head=True).eval()
    with torch.inference_mode():
        dogs = net.classify(_crops("dogs", 10)).argmax(1)
        roos = net.classify(_crops("kangaroo", 10)).argmax(1)
    assert ((dogs >= 151) & (dogs <= 268)).sum() >= 7
    assert (roos == 104).sum() >= 6


@pytest.mark.parametrize("size", [7, 8, 127, 128])
@pytest.mark.parametrize("k", [3, 5])
def test_conv2d_same_equals_explicit_tf_padding(size, k):
    import torch.nn.functional as F

    from adaptrack.nn.backbones.efficientnet_lite import Conv2dSame

    conv = Conv2dSame(2, 3, k, stride=2)
    x = torch.randn(1, 2, size, size + 1)
    t, b = same_pad_amounts(size, k, 2)
    l, r = same_pad_amounts(size + 1, k, 2)
    ref = F.conv2d(F.pad(x, (l, r, t, b)), conv.weight, stride=2)
    out = conv(x)
    assert out.shape == ref.shape == (1, 3, -(-size // 2), -(-(size + 1) // 2))
    assert torch.allclose(out, ref, atol=1e-5)
