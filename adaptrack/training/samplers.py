"""Training samplers: pairs (SiamFC family), clips (DSiam, SiamTFA) and train/test sets (DiMP).

All three are index-able ``torch.utils.data.Dataset`` objects of a fixed length (samples per epoch).
Item ``i`` of epoch ``e`` is drawn from ``numpy.random.default_rng([seed, e, i])`` so the data are
deterministic, independent of worker count / DDP rank, and a resumed run sees the same samples
(call :meth:`set_epoch`; the :class:`~adaptrack.training.trainer.Trainer` does).

Crops follow SiamFC's sizing: for a target of size ``(w, h)`` with context ``p = context * (w + h)``
(``context = 0.5``), the template window side is ``s_z = sqrt((w + p)(h + p))``, resized to
``template_size`` (127); the search window is ``s_x = s_z * search_size / template_size``, resized
to ``search_size`` (255), so template and search share one scale ``template_size / s_z`` (the
target appears at the same size in both). The search window is jittered by a random shift (at most
``search_shift`` output pixels per axis) and a random scale ``exp(U(-search_scale, search_scale))``;
the target box is returned in crop coordinates so labels can follow it.

Images are returned as float32 ``(3, H, W)`` tensors, RGB in 0..255 (what the backbones take), and
boxes as ``(x, y, w, h)`` float32 in crop pixels.

Sources are sequences (:class:`~adaptrack.datasets.base.Sequence`) and still images
(:class:`~adaptrack.training.data.StillImage`): a still image gives a pair by cropping the same
object twice with independent jitter and augmentation.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset

from ..image import crop_and_resize, read_image
from .augmentation import Augmenter

__all__ = ["siamfc_window", "crop_with_box", "PairSampler", "ClipSampler", "SetSampler"]


def siamfc_window(box, context: float = 0.5) -> float:
    """SiamFC template window side ``sqrt((w + p)(h + p))`` with ``p = context * (w + h)``."""
    w, h = float(box[2]), float(box[3])
    p = context * (w + h)
    return math.sqrt((w + p) * (h + p))


def crop_with_box(frame, box, center, side, out_size):
    """Crop a square window of ``side`` frame pixels centred at ``center`` resized to ``out_size``;
    returns ``(crop, box_in_crop)`` where the box is mapped by the same transform."""
    crop = crop_and_resize(frame, center, side, out_size)
    s = out_size / side
    b = np.asarray(box, dtype=np.float64)
    x0, y0 = center[0] - side / 2.0, center[1] - side / 2.0
    bc = np.array([(b[0] - x0) * s, (b[1] - y0) * s, b[2] * s, b[3] * s])
    return crop, bc


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()


def _valid_frames(boxes: np.ndarray, min_size: float) -> np.ndarray:
    ok = np.isfinite(boxes).all(1) & (boxes[:, 2] >= min_size) & (boxes[:, 3] >= min_size)
    return np.flatnonzero(ok)


class _Base(Dataset):
    """Shared bookkeeping: sources, epoch-seeded rng, frame reading."""

    def __init__(self, sequences=(), images=(), samples_per_epoch: int = 1000, seed: int = 0, min_size: float = 2.0):
        self.sequences = list(sequences)
        self.images = list(images)
        self.samples_per_epoch = int(samples_per_epoch)
        self.seed = int(seed)
        self.epoch = 0
        self.min_size = float(min_size)
        self._valid = [_valid_frames(s.boxes, min_size) for s in self.sequences]
        self._seq_ids = [k for k, v in enumerate(self._valid) if len(v) > 0]

    def __len__(self) -> int:
        return self.samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def _frame(self, k: int, i: int) -> np.ndarray:
        return self.sequences[k].frame(int(i))


class PairSampler(_Base):
    """Template/search pairs from sequences (frames at most ``max_gap`` apart) and still images.

    Args:
        sequences, images: the sources (see :func:`~adaptrack.training.data.load_training_sources`).
        samples_per_epoch: dataset length.
        template_size, search_size: output crop sides (127 / 255).
        context: SiamFC context amount (0.5).
        max_gap: largest frame distance between template and search frames.
        image_prob: probability of drawing a still-image pair (when both kinds exist).
        neg_prob: probability of a negative pair (search from another sequence / image; ``is_pos=0``).
        search_shift: max shift of the search window, in output pixels per axis.
        search_scale: max |log scale| jitter of the search window.
        template_shift, template_scale: the same for the template window (0 keeps the target centred).
        image_shift, image_scale: jitter used for still-image pairs' search crops (larger: the only
            source of motion for them).
        augment: an :class:`Augmenter` (``None``: no photometric augmentation, no flips).

    Item: dict with ``template`` (3, T, T), ``search`` (3, S, S) float32 RGB 0..255, ``template_box``,
    ``search_box`` (4,) float32 crop coordinates, ``is_pos`` float32 scalar (1 positive, 0 negative).
    """

    def __init__(
        self,
        sequences=(),
        images=(),
        samples_per_epoch: int = 1000,
        template_size: int = 127,
        search_size: int = 255,
        context: float = 0.5,
        max_gap: int = 100,
        image_prob: float = 0.3,
        neg_prob: float = 0.0,
        search_shift: float = 32.0,
        search_scale: float = 0.15,
        template_shift: float = 0.0,
        template_scale: float = 0.05,
        image_shift: float | None = None,
        image_scale: float | None = None,
        augment: Augmenter | None = None,
        seed: int = 0,
        min_size: float = 2.0,
    ):
        super().__init__(sequences, images, samples_per_epoch, seed, min_size)
        if not self._seq_ids and not self.images:
            raise ValueError("PairSampler needs at least one sequence with a valid box or one still image")
        self.template_size, self.search_size = int(template_size), int(search_size)
        self.context, self.max_gap = float(context), int(max_gap)
        self.image_prob = float(image_prob) if (self.images and self._seq_ids) else (1.0 if self.images else 0.0)
        self.neg_prob = float(neg_prob)
        self.search_shift, self.search_scale = float(search_shift), float(search_scale)
        self.template_shift, self.template_scale = float(template_shift), float(template_scale)
        self.image_shift = self.search_shift if image_shift is None else float(image_shift)
        self.image_scale = self.search_scale if image_scale is None else float(image_scale)
        self.augment = augment

    # -- source draws ---------------------------------------------------------------------------
    def _draw_object(self, rng, from_image: bool):
        """A (frame-getter, box) pair for the template and one for the search region."""
        if from_image:
            im = self.images[int(rng.integers(len(self.images)))]
            box = im.boxes[int(rng.integers(len(im.boxes)))]
            cache = {}

            def get(path=im.path):
                if "img" not in cache:
                    cache["img"] = read_image(path)
                return cache["img"]

            return (get, box), (get, box)
        k = self._seq_ids[int(rng.integers(len(self._seq_ids)))]
        valid = self._valid[k]
        i = int(valid[int(rng.integers(len(valid)))])
        near = valid[np.abs(valid - i) <= self.max_gap]
        j = int(near[int(rng.integers(len(near)))])
        seq = self.sequences[k]
        return (lambda: seq.frame(i), seq.boxes[i]), (lambda: seq.frame(j), seq.boxes[j])

    def _crop(self, get, box, rng, out_size, ratio, shift, scale):
        side = siamfc_window(box, self.context) * ratio
        cx, cy = box[0] + box[2] / 2.0, box[1] + box[3] / 2.0
        side *= float(np.exp(rng.uniform(-scale, scale))) if scale > 0 else 1.0
        if shift > 0:
            dx, dy = rng.uniform(-shift, shift, size=2) * side / out_size
            cx, cy = cx + dx, cy + dy
        return crop_with_box(get(), box, (cx, cy), side, out_size)

    def __getitem__(self, index: int) -> dict:
        rng = self.rng(index)
        from_image = bool(rng.random() < self.image_prob)
        (tget, tbox), (sget, sbox) = self._draw_object(rng, from_image)
        is_pos = True
        if self.neg_prob > 0 and rng.random() < self.neg_prob:
            is_pos = False
            other_image = bool(rng.random() < self.image_prob)
            _, (sget, sbox) = self._draw_object(rng, other_image)
        t_img, t_box = self._crop(tget, tbox, rng, self.template_size, 1.0, self.template_shift, self.template_scale)
        shift, scale = (self.image_shift, self.image_scale) if from_image else (self.search_shift, self.search_scale)
        ratio = self.search_size / self.template_size
        s_img, s_box = self._crop(sget, sbox, rng, self.search_size, ratio, shift, scale)
        if self.augment is not None:
            flags = self.augment.pair_flags(rng)
            t_img, t_box = self.augment(t_img, t_box, rng, flags)
            s_img, s_box = self.augment(s_img, s_box, rng, flags)
        return {
            "template": _to_tensor(t_img),
            "search": _to_tensor(s_img),
            "template_box": torch.tensor(t_box, dtype=torch.float32),
            "search_box": torch.tensor(s_box, dtype=torch.float32),
            "is_pos": torch.tensor(1.0 if is_pos else 0.0),
        }


class ClipSampler(_Base):
    """``T`` frames of one sequence in temporal order with random steps in ``[1, max_step]``.

    For DSiam / SiamTFA: the template is cropped around the target in the clip's first frame; search
    crop ``t`` is cropped around the *true* box of frame ``t-1`` (frame 0: its own box) with the SiamFC
    search window of that box, plus jitter. Recipes that want crops to follow *predicted* positions
    use ``frames``/``boxes`` (the raw clip) instead.

    Item: ``template`` (3, T, T), ``search`` (T_len, 3, S, S), ``search_box`` (T_len, 4) in crop
    coordinates, ``boxes`` (T_len, 4) in frame coordinates, ``frame_ids`` (T_len,), and, when
    ``return_frames``, ``frames``: a list of the uint8 frames.
    """

    def __init__(
        self,
        sequences,
        samples_per_epoch: int = 500,
        clip_len: int = 8,
        max_step: int = 3,
        template_size: int = 127,
        search_size: int = 255,
        context: float = 0.5,
        search_shift: float = 8.0,
        search_scale: float = 0.05,
        augment: Augmenter | None = None,
        return_frames: bool = False,
        seed: int = 0,
        min_size: float = 2.0,
    ):
        super().__init__(sequences, (), samples_per_epoch, seed, min_size)
        self.clip_len, self.max_step = int(clip_len), int(max_step)
        self._seq_ids = [k for k in self._seq_ids if len(self._valid[k]) >= self.clip_len]
        if not self._seq_ids:
            raise ValueError(f"ClipSampler needs a sequence with at least {clip_len} valid frames")
        self.template_size, self.search_size, self.context = int(template_size), int(search_size), float(context)
        self.search_shift, self.search_scale = float(search_shift), float(search_scale)
        self.augment, self.return_frames = augment, bool(return_frames)

    def _frame_ids(self, rng, valid):
        n = len(valid)
        steps = rng.integers(1, self.max_step + 1, size=self.clip_len - 1)
        span = int(steps.sum())
        if span >= n:  # shrink the steps until the clip fits in the valid frames
            steps = np.ones(self.clip_len - 1, dtype=int)
            span = self.clip_len - 1
        start = int(rng.integers(0, n - span))
        pos = start + np.concatenate([[0], np.cumsum(steps)])
        return valid[pos]

    def __getitem__(self, index: int) -> dict:
        rng = self.rng(index)
        k = self._seq_ids[int(rng.integers(len(self._seq_ids)))]
        seq = self.sequences[k]
        ids = self._frame_ids(rng, self._valid[k])
        frames = [seq.frame(int(i)) for i in ids]
        boxes = seq.boxes[ids]
        flags = self.augment.pair_flags(rng) if self.augment is not None else {}
        b0 = boxes[0]
        side_z = siamfc_window(b0, self.context)
        t_img, _ = crop_with_box(frames[0], b0, b0[:2] + b0[2:] / 2, side_z, self.template_size)
        if self.augment is not None:
            t_img, _ = self.augment(t_img, np.zeros(4), rng, flags)
        ratio = self.search_size / self.template_size
        s_imgs, s_boxes = [], []
        for t in range(self.clip_len):
            ref = boxes[max(t - 1, 0)]
            side = siamfc_window(ref, self.context) * ratio * float(np.exp(rng.uniform(-1, 1) * self.search_scale))
            c = ref[:2] + ref[2:] / 2 + rng.uniform(-1, 1, size=2) * self.search_shift * side / self.search_size
            img, bc = crop_with_box(frames[t], boxes[t], c, side, self.search_size)
            if self.augment is not None:
                img, bc = self.augment(img, bc, rng, flags)
            s_imgs.append(_to_tensor(img))
            s_boxes.append(bc)
        out = {
            "template": _to_tensor(t_img),
            "search": torch.stack(s_imgs),
            "search_box": torch.tensor(np.asarray(s_boxes), dtype=torch.float32),
            "boxes": torch.tensor(boxes, dtype=torch.float32),
            "frame_ids": torch.tensor(ids, dtype=torch.long),
        }
        if self.return_frames:
            out["frames"] = frames
        return out


class SetSampler(_Base):
    """DiMP-style train/test frame sets: ``num_train`` + ``num_test`` frames from one segment of at
    most ``segment_len`` frames of a sequence (or, for a still image, ``num_train + num_test``
    differently jittered crops of it).

    Each crop is a square of side ``sqrt(w * h) * area_factor`` around the target centre, shifted by
    ``U(-1, 1) * center_jitter * sqrt(w * h)`` per axis and scaled by ``exp(U(-scale_jitter,
    scale_jitter))``, resized to ``output_size``. Test crops are jittered more than train crops.

    Item: ``train_images`` (n_tr, 3, S, S), ``train_boxes`` (n_tr, 4), ``test_images``, ``test_boxes``
    (crop coordinates).
    """

    def __init__(
        self,
        sequences=(),
        images=(),
        samples_per_epoch: int = 500,
        num_train: int = 3,
        num_test: int = 3,
        segment_len: int = 60,
        output_size: int = 288,
        area_factor: float = 5.0,
        train_center_jitter: float = 0.1,
        train_scale_jitter: float = 0.1,
        test_center_jitter: float = 1.5,
        test_scale_jitter: float = 0.25,
        image_prob: float = 0.2,
        augment: Augmenter | None = None,
        seed: int = 0,
        min_size: float = 2.0,
    ):
        super().__init__(sequences, images, samples_per_epoch, seed, min_size)
        if not self._seq_ids and not self.images:
            raise ValueError("SetSampler needs at least one sequence with a valid box or one still image")
        self.num_train, self.num_test, self.segment_len = int(num_train), int(num_test), int(segment_len)
        self.output_size, self.area_factor = int(output_size), float(area_factor)
        self.train_jitter = (float(train_center_jitter), float(train_scale_jitter))
        self.test_jitter = (float(test_center_jitter), float(test_scale_jitter))
        self.image_prob = float(image_prob) if (self.images and self._seq_ids) else (1.0 if self.images else 0.0)
        self.augment = augment

    def _crop(self, frame, box, rng, jitter):
        cj, sj = jitter
        size = math.sqrt(box[2] * box[3])
        side = size * self.area_factor * float(np.exp(rng.uniform(-sj, sj)))
        c = box[:2] + box[2:] / 2 + rng.uniform(-1, 1, size=2) * cj * size
        return crop_with_box(frame, box, c, side, self.output_size)

    def __getitem__(self, index: int) -> dict:
        rng = self.rng(index)
        n = self.num_train + self.num_test
        if rng.random() < self.image_prob:
            im = self.images[int(rng.integers(len(self.images)))]
            box = im.boxes[int(rng.integers(len(im.boxes)))]
            frame = read_image(im.path)
            pairs = [(frame, box)] * n
        else:
            k = self._seq_ids[int(rng.integers(len(self._seq_ids)))]
            valid, seq = self._valid[k], self.sequences[k]
            start_pos = int(rng.integers(len(valid)))
            seg = valid[(valid >= valid[start_pos]) & (valid < valid[start_pos] + self.segment_len)]
            if len(seg) < 2:  # short tail: take the segment ending here instead
                seg = valid[(valid <= valid[start_pos]) & (valid > valid[start_pos] - self.segment_len)]
            ids = rng.choice(seg, size=n, replace=len(seg) < n)
            tr, te = np.sort(ids[: self.num_train]), np.sort(ids[self.num_train :])
            cache = {}
            pairs = []
            for i in np.concatenate([tr, te]):
                if i not in cache:
                    cache[i] = seq.frame(int(i))
                pairs.append((cache[i], seq.boxes[i]))
        flags = self.augment.pair_flags(rng) if self.augment is not None else {}
        imgs, boxes = [], []
        for t, (frame, box) in enumerate(pairs):
            img, bc = self._crop(frame, box, rng, self.train_jitter if t < self.num_train else self.test_jitter)
            if self.augment is not None:
                img, bc = self.augment(img, bc, rng, flags)
            imgs.append(_to_tensor(img))
            boxes.append(bc)
        boxes = torch.tensor(np.asarray(boxes), dtype=torch.float32)
        imgs = torch.stack(imgs)
        nt = self.num_train
        return {"train_images": imgs[:nt], "train_boxes": boxes[:nt], "test_images": imgs[nt:], "test_boxes": boxes[nt:]}
