import torch

from adaptrack.training.features import PROBE_SAMPLES, build_feature_cache
from toy_training import ToyData


def test_cache_builds_once_reuses_pools_and_serves_pool_per_epoch(tmp_path):
    calls = []

    def encode(batch):
        calls.append(len(batch["x"]))
        return {"f": batch["x"] * 2}

    data = ToyData(n=10, seed=3)
    c1 = build_feature_cache(data, encode, "k", pool_size=10, num_pools=1, cache_dir=str(tmp_path), batch_size=4,
                             image_keys=("x",), progress=False)
    assert sum(calls) == 10 and len(c1) == 10
    data.set_epoch(0)
    assert torch.allclose(c1[3]["f"], data[3]["x"] * 2, atol=1e-2)  # float16 storage
    assert torch.equal(c1[3]["y"], data[3]["y"]) and "x" not in c1[3]
    calls.clear()
    c2 = build_feature_cache(data, encode, "k", pool_size=10, num_pools=2, cache_dir=str(tmp_path), batch_size=4,
                             image_keys=("x",), progress=False)
    assert sum(calls) == 10 + PROBE_SAMPLES  # pool 0 reused (after re-encoding its probe), only pool 1 encoded
    c2.set_epoch(1)
    data.set_epoch(1)
    assert torch.allclose(c2[5]["f"], data[5]["x"] * 2, atol=1e-2)
    c2.set_epoch(2)  # epoch 2 -> pool 0 again
    data.set_epoch(0)
    assert torch.allclose(c2[5]["f"], data[5]["x"] * 2, atol=1e-2)
    calls.clear()
    build_feature_cache(data, encode, "other", pool_size=10, num_pools=1, cache_dir=str(tmp_path), batch_size=4,
                        image_keys=("x",), progress=False)
    assert sum(calls) == 10  # another key is never served from the old files


def test_cache_built_by_another_encoder_is_rebuilt(tmp_path):
    """Same key, different backbone output (a fixed bug, new weights): the stale pool must not be served."""
    data = ToyData(n=10, seed=3)
    kw = dict(pool_size=10, num_pools=1, cache_dir=str(tmp_path), batch_size=4, image_keys=("x",), progress=False)
    build_feature_cache(data, lambda b: {"f": b["x"] * 2}, "k", **kw)
    calls = []

    def shifted(batch):
        calls.append(len(batch["x"]))
        return {"f": batch["x"] * 2 + 1}

    c = build_feature_cache(data, shifted, "k", **kw)
    assert sum(calls) == PROBE_SAMPLES + 10  # probe mismatch, whole pool encoded again
    data.set_epoch(0)
    assert torch.allclose(c[3]["f"], data[3]["x"] * 2 + 1, atol=1e-2)
    calls.clear()
    build_feature_cache(data, shifted, "k", **kw)
    assert sum(calls) == PROBE_SAMPLES  # and the rebuilt file is then reused
