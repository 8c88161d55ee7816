"""Adversarial template adaptation (AUTracker): Li, Wang, Gao, Li, Hu, "Use Adversarial Template for Model
Adaptation for Siamese Networks for Real-Time Visual Object Tracking" (``../shared/papers/000_*``).

The network stays frozen; only the template *image* ``z`` changes, once, on the first frame, by a few
steps of the Basic Iterative Method run *with* the true label (eq. 7):

    z_0 = z,    z_{n+1} = Clip_{z, eps}( z_n - alpha * sign( grad_z L(z_n, y_true) ) ),   n < N

``L`` is the base tracker's own training loss of the template against a search region of the first
frame centred on the ground-truth box (whose target is that box); ``Clip_{z, eps}`` keeps every pixel
within ``eps`` of the original template (L-infinity ball) and inside the valid range 0..255. The
adapted template is used for the rest of the sequence. ``method="target"`` is the iterative
target-class variant (eq. 6): the same descent, but towards a chosen target label ``y_target`` instead
of the training label; here the target label is the ideal response, only the score cell nearest the
box centre positive (each tracker's ``template_loss(..., label="peak")``).

Pixel units: ``z`` is RGB in 0..255 (what every adaptrack backbone takes), so ``eps`` and ``alpha`` are
in grey levels (``eps = 8`` is ``8/255`` in the [0, 1] convention of the adversarial-example papers).

Plugging into a tracker: a tracker supports the adaptation when it implements the small protocol
:class:`TemplateAdaptable` (SiamFC++, SiamFC, GradNet and DSiam do); its parameter dataclass has a field
``adaptation: dict | None`` and it calls :func:`adapt_template` at the end of its initialisation when
that is set. The variant ``adversarial`` in each tracker's YAML sets it, so
``adaptrack.create("siamfcpp", variant="adversarial")`` is AUTracker.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable, Protocol, runtime_checkable

import numpy as np
import torch

from ..image import crop_and_resize
from ..nn.siamese import first_frame_windows, frames_to_tensor

__all__ = ["TemplateAdaptable", "AdversarialTemplateConfig", "bim_template", "adapt_template"]


@runtime_checkable
class TemplateAdaptable(Protocol):
    """What a tracker exposes so its template image can be adapted (network untouched)."""

    def adaptation_pair(self, frame: np.ndarray, box) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """First-frame template image ``z`` (1,3,h,w), search image ``x`` (1,3,H,W) (float RGB 0..255,
        cropped the way the tracker crops them) and the box ``(x, y, w, h)`` in search-crop pixels."""
        ...

    def template_loss(self, z: torch.Tensor, x: torch.Tensor, box_in_x: torch.Tensor, label: str = "true") -> torch.Tensor:
        """The tracker's training loss (scalar), differentiable w.r.t. ``z``. ``label``: ``"true"`` (the
        training targets for ``box_in_x``) or ``"peak"`` (only the cell nearest the box centre positive)."""
        ...

    def set_template_image(self, z: torch.Tensor) -> None:
        """Use ``z`` as the template from now on."""
        ...


@dataclass(frozen=True)
class AdversarialTemplateConfig:
    """``method``: ``"bim"`` (eq. 7, true label) or ``"target"`` (eq. 6, peak target label); ``eps``,
    ``alpha`` in grey levels (0..255 scale); ``steps`` = N; ``select_best``: keep the iterate with the
    lowest loss (costs one more forward pass) instead of the last one."""

    method: str = "bim"
    eps: float = 8.0
    alpha: float = 2.0
    steps: int = 5
    select_best: bool = False

    def __post_init__(self):
        if self.method not in ("bim", "target"):
            raise ValueError(f"adversarial template: method must be 'bim' or 'target', got {self.method!r}")
        if not (self.eps >= 0 and self.alpha >= 0 and int(self.steps) >= 0):
            raise ValueError(f"adversarial template: eps, alpha and steps must be >= 0 (got {self.eps}, {self.alpha}, {self.steps})")


def bim_template(
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    z0: torch.Tensor,
    eps: float,
    alpha: float,
    steps: int,
    select_best: bool = False,
    value_range: tuple[float, float] = (0.0, 255.0),
) -> tuple[torch.Tensor, list[float]]:
    """Eq. 7 (and eq. 6, given a target-label loss): ``steps`` signed-gradient *descent* steps on
    ``loss_fn(z)``, each followed by the projection onto ``[z0 - eps, z0 + eps] ∩ value_range``.

    Returns the adapted template (detached) and the loss at every evaluated iterate (``z_0 .. z_{N-1}``,
    plus ``z_N`` when ``select_best``)."""
    z0 = z0.detach()
    lo = torch.clamp(z0 - eps, min=value_range[0])
    hi = torch.clamp(z0 + eps, max=value_range[1])
    z = z0.clone()
    losses: list[float] = []
    best, best_loss = z0, float("inf")
    for _ in range(int(steps)):
        z.requires_grad_(True)
        loss = loss_fn(z)
        (grad,) = torch.autograd.grad(loss, z)
        lv = float(loss.detach())
        losses.append(lv)
        if lv < best_loss:
            best, best_loss = z.detach(), lv
        with torch.no_grad():
            z = torch.minimum(torch.maximum(z.detach() - alpha * torch.sign(grad), lo), hi)
    z = z.detach()
    if select_best:
        with torch.no_grad():
            lv = float(loss_fn(z))
        losses.append(lv)
        if lv < best_loss:
            best, best_loss = z, lv
        z = best
    return z, losses


def adapt_template(tracker, frame: np.ndarray, box, method: str = "bim", eps: float = 8.0, alpha: float = 2.0,
                   steps: int = 5, select_best: bool = False) -> dict:
    """Adapt ``tracker``'s template on its first frame (call after its own initialisation) and install it
    with ``set_template_image``. Returns ``{"losses", "ms" (wall), "cpu_ms" (process CPU time), "linf",
    "config"}`` for diagnostics."""
    cfg = AdversarialTemplateConfig(method, float(eps), float(alpha), int(steps), bool(select_best))
    if not isinstance(tracker, TemplateAdaptable):
        raise TypeError(
            f"{type(tracker).__name__} does not support template adaptation "
            "(needs adaptation_pair, template_loss and set_template_image)"
        )
    t0, c0 = time.perf_counter(), time.process_time()
    label = "true" if cfg.method == "bim" else "peak"
    # the tracker may be driven under inference_mode (evaluation loops): gradients need it off here
    with torch.inference_mode(False), torch.enable_grad():
        z, x, bx = tracker.adaptation_pair(frame, box)
        z, x, bx = z.clone(), x.clone(), bx.clone()
        z_adv, losses = bim_template(lambda t: tracker.template_loss(t, x, bx, label=label), z, cfg.eps, cfg.alpha,
                                     cfg.steps, cfg.select_best)
        linf = float((z_adv - z).abs().max()) if z.numel() else 0.0
    tracker.set_template_image(z_adv)
    return {"losses": losses, "ms": 1000.0 * (time.perf_counter() - t0), "cpu_ms": 1000.0 * (time.process_time() - c0),
            "linf": linf, "config": asdict(cfg)}


class SiamFCTemplateAdaptation:
    """The crop and label half of :class:`TemplateAdaptable` for SiamFC-family trackers (siamfc, gradnet,
    dsiam), written once: they share SiamFC's crop geometry (``params.context``, ``exemplar_size``,
    ``instance_size``) and label maps. Each tracker adds its own ``template_loss`` and
    ``set_template_image``.
    """

    def adaptation_pair(self, frame: np.ndarray, box):
        """First-frame exemplar ``z`` (1,3,Z,Z), search image ``x`` (1,3,X,X) centred on ``box`` (float RGB
        0..255) and the box in search-crop pixels ``(x, y, w, h)``."""
        p = self.params
        box = np.asarray(box, dtype=np.float64)
        center, _, s_z, s_x, avg = first_frame_windows(frame, box, p.context, p.exemplar_size, p.instance_size)
        z = frames_to_tensor(crop_and_resize(frame, center, s_z, p.exemplar_size, avg))
        x = frames_to_tensor(crop_and_resize(frame, center, s_x, p.instance_size, avg))
        k = p.instance_size / s_x
        w, h = box[2] * k, box[3] * k
        return z, x, torch.tensor([(p.instance_size - w) / 2, (p.instance_size - h) / 2, w, h], dtype=torch.float32)

    def _adaptation_labels(self, shape, stride, box_in_x, label, radius):
        """SiamFC labels around the box centre: the training radius (``"true"``) or only the nearest
        cell (``"peak"``, the target label of the target-class method)."""
        from ..training.losses import siamfc_labels

        if label not in ("true", "peak"):
            raise ValueError(f"template_loss label must be 'true' or 'peak', got {label!r}")
        b = torch.as_tensor(box_in_x, dtype=torch.float32).reshape(4)
        offset = (b[:2] + b[2:] / 2 - self.params.instance_size / 2.0).reshape(1, 2)
        r_pos = float(radius) if label == "true" else 0.75 * stride
        return siamfc_labels(tuple(shape), stride, r_pos, offsets=offset)
