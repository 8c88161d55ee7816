"""Cache of frozen-backbone features, so a small head can be trained for many epochs on a CPU.

When the backbone is frozen its output for a given crop never changes, yet computing it costs
~95% of a training step on this machine. :func:`build_feature_cache` therefore draws
``num_pools x pool_size`` samples from a sampler once (with all its augmentation), runs the frozen
``encode`` function over them in batches, and stores the features (float16 by default) plus the
samples' non-image fields (boxes, ``is_pos``, ...) in one ``.pt`` file under ``cache/``.
:class:`CachedFeatures` then serves them as an index-able dataset: epoch ``e`` sees pool
``e % num_pools`` (so a few pools give some of the variety of fresh sampling), and the trainer runs
only the head.

Each pool is one file ``cache/features_<hash>.pt`` keyed by the caller's ``key`` string (recipe name,
backbone, sampler settings, seed, sizes) plus the pool index and size: a file whose stored key differs
is rebuilt, never silently reused, and a later run asking for more pools reuses the pools already
built (pool ``p`` is always the sampler's epoch ``p``). The key cannot see the encoder's code or weights,
so each pool file also stores ``encode``'s output for its first two samples (a probe); on load these
two samples are encoded again and the file is rebuilt when the features differ (a backbone fix or new
weights), instead of training a head on features the tracker will never see.
"""

from __future__ import annotations

import hashlib
import os
import time

import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["build_feature_cache", "CachedFeatures", "cache_path"]


def cache_path(key: str, cache_dir: str = "cache") -> str:
    """``<cache_dir>/features_<sha1(key)[:12]>.pt``."""
    return os.path.join(cache_dir, f"features_{hashlib.sha1(key.encode()).hexdigest()[:12]}.pt")


class CachedFeatures(Dataset):
    """Index-able dataset over a feature cache (see the module docstring)."""

    def __init__(self, data: dict, pool_size: int, num_pools: int, meta: dict | None = None):
        self.data = data
        self.pool_size, self.num_pools = int(pool_size), int(num_pools)
        self.meta = meta or {}
        self.epoch = 0

    def __len__(self) -> int:
        return self.pool_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict:
        j = (self.epoch % self.num_pools) * self.pool_size + int(index)
        return {k: (v[j].float() if v.is_floating_point() else v[j]) for k, v in self.data.items()}


@torch.no_grad()
def _encode_pool(sampler, encode, p, pool_size, batch_size, dtype, image_keys, num_workers, progress, num_pools):
    sampler.set_epoch(p)
    sub = torch.utils.data.Subset(sampler, range(pool_size))
    loader = DataLoader(sub, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    if progress:
        from tqdm import tqdm

        loader = tqdm(loader, desc=f"feature cache pool {p + 1}/{num_pools}", leave=False)
    chunks: dict = {}
    feat_keys: set = set()
    for batch in loader:
        feats = encode(batch)
        feat_keys.update(feats)
        for k, v in feats.items():
            chunks.setdefault(k, []).append(v.detach().to(dtype))
        for k, v in batch.items():
            if k not in image_keys and torch.is_tensor(v) and k not in feats:
                chunks.setdefault(k, []).append(v)
    data = {k: torch.cat(v) for k, v in chunks.items()}
    return data, {k: data[k][:PROBE_SAMPLES].float() for k in sorted(feat_keys)}


PROBE_SAMPLES = 2


def _probe_matches(sampler, encode, p: int, probe: dict | None, dtype) -> bool:
    """Whether ``encode`` still gives the stored features for the first samples of pool ``p``."""
    if not probe:
        return False  # a file from before probes existed: its encoder is unknown
    from torch.utils.data import default_collate

    sampler.set_epoch(p)
    # one sample per call: items whose raw frames differ in size (clips with ``frames``) cannot be collated
    # together, and the encoders that take them expect batches of one
    parts = [encode(default_collate([sampler[i]])) for i in range(PROBE_SAMPLES)]
    feats = {k: torch.cat([f[k] for f in parts]) for k in parts[0]}
    if sorted(feats) != sorted(probe):
        return False
    for k, v in feats.items():
        new = v.detach().to(dtype).float()
        old = probe[k]
        scale = float(old.abs().max()) or 1.0
        if new.shape != old.shape or float((new - old).abs().max()) > 1e-2 * scale:
            return False
    return True


@torch.no_grad()
def build_feature_cache(
    sampler,
    encode,
    key: str,
    pool_size: int,
    num_pools: int = 1,
    cache_dir: str = "cache",
    batch_size: int = 16,
    dtype: torch.dtype = torch.float16,
    image_keys: tuple = ("template", "search"),
    num_workers: int = 0,
    progress: bool = True,
) -> CachedFeatures:
    """Build (or load, when ``key`` matches) a feature cache.

    Args:
        sampler: a sampler with ``set_epoch`` (pool ``p`` is drawn as the sampler's epoch ``p``).
        encode: ``encode(batch) -> dict[str, Tensor]`` of features (frozen backbone, eval mode).
        key: describes everything that determines the content; stored and checked on load.
        pool_size, num_pools: samples per pool and the number of pools.
        image_keys: batch fields dropped from the cache (the images themselves); every other tensor
            field of the sampler's items (boxes, ``is_pos``) is kept beside the features.
    """
    import torch.distributed as dist

    args = (sampler, encode, key, pool_size, num_pools, cache_dir, batch_size, dtype, image_keys, num_workers, progress)
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        # under torchrun rank 0 builds the files, the other ranks wait and then load them
        if dist.get_rank() == 0:
            out = _build_or_load(*args)
            dist.barrier()
            return out
        dist.barrier()
        return _build_or_load(*args[:-1], progress=False)
    return _build_or_load(*args)


def _build_or_load(sampler, encode, key, pool_size, num_pools, cache_dir, batch_size, dtype, image_keys,
                   num_workers, progress) -> CachedFeatures:
    t0 = time.time()
    parts, built = [], 0
    for p in range(num_pools):
        pool_key = f"{key}|pool={p}|pool_size={pool_size}"
        ppath = cache_path(pool_key, cache_dir)
        if os.path.isfile(ppath):
            blob = torch.load(ppath, map_location="cpu", weights_only=True)
            if blob.get("key") == pool_key and _probe_matches(sampler, encode, p, blob.get("probe"), dtype):
                parts.append(blob["data"])
                continue
        data, probe = _encode_pool(sampler, encode, p, pool_size, batch_size, dtype, image_keys, num_workers,
                                   progress, num_pools)
        parts.append(data)
        os.makedirs(cache_dir, exist_ok=True)
        tmp = ppath + ".tmp"
        torch.save({"key": pool_key, "data": data, "probe": probe}, tmp)
        os.replace(tmp, ppath)
        built += 1
    data = {k: torch.cat([d[k] for d in parts]) for k in parts[0]}
    meta = {"build_seconds": time.time() - t0, "samples": pool_size * num_pools, "pools_built": built}
    return CachedFeatures(data, pool_size, num_pools, meta)
