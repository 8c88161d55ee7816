"""Per-step time of SiamFC training: images through the frozen backbone vs cached features (batch 16, 1 thread)."""
# Run: .venv/bin/python benchmarks/training_cache_speed.py  (prints ms per training step both ways)
import time, torch
torch.set_num_threads(1)
from adaptrack.training.recipes import siamfc
from adaptrack.training.data import load_training_sources
cfg = dict(siamfc.DEFAULTS)
model = siamfc._net(cfg); model.out_scale.requires_grad_(False); model.train()
opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
src = load_training_sources("train")
samp = siamfc._sampler(cfg, src, "train", 64, 0)
from torch.utils.data import DataLoader
def step(batch):
    out = siamfc.forward_train(model, batch, cfg); opt.zero_grad(); out["loss"].backward(); opt.step()
# images: sampling + backbone + head
t = time.time(); n = 0
for b in DataLoader(samp, batch_size=16):
    step(b); n += 1
t_img = (time.time() - t) / n
# cached: encode once, then step on the features (with the 24-cell window)
bb = model.backbone.eval()
with torch.no_grad():
    b = next(iter(DataLoader(samp, batch_size=16)))
    feats = {"z_s8": bb(b["template"])["s8"].half().float(), "x_s8": bb(b["search"])["s8"].half().float(),
             "search_box": b["search_box"], "is_pos": b["is_pos"]}
t = time.time()
for _ in range(8):
    step(feats)
t_cache = (time.time() - t) / 8
print(f"images: {t_img*1000:.0f} ms/step  cached: {t_cache*1000:.0f} ms/step  speed-up x{t_img/t_cache:.1f}")
