"""A toy regression problem for the trainer tests (also run as a script under torchrun)."""

import os
import sys

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset


class ToyData(Dataset):
    """y = x . w_true + noise; item i of epoch e drawn from rng([seed, e, i]) like the real samplers."""

    def __init__(self, n=24, seed=0):
        self.n, self.seed, self.epoch = n, seed, 0
        self.w = np.array([1.0, -2.0, 0.5, 3.0], np.float32)

    def __len__(self):
        return self.n

    def set_epoch(self, e):
        self.epoch = e

    def __getitem__(self, i):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        x = rng.normal(size=4).astype(np.float32)
        return {"x": torch.from_numpy(x), "y": torch.tensor(float(x @ self.w + 0.1 * rng.normal()))}


class ToyModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 8)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(8, 1)

    def forward(self, x):
        return self.out(self.drop(torch.relu(self.lin(x)))).squeeze(-1)


def forward_train(model, batch):
    err = model(batch["x"]) - batch["y"]
    mse = (err**2).mean()
    return {"loss": mse, "mae": err.abs().mean().detach()}


CONFIG = dict(epochs=2, batch_size=4, lr=0.05, optimizer="sgd", schedule="exp", progress=False, seed=0)


if __name__ == "__main__":  # torchrun --nproc_per_node 2 toy_training.py OUT
    torch.set_num_threads(1)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from adaptrack.training.trainer import Trainer

    torch.manual_seed(int(os.environ.get("RANK", "0")))  # different init per rank: DDP must broadcast rank 0's
    out = sys.argv[1]
    tr = Trainer(ToyModel(), forward_train, ToyData(), CONFIG, out, val_data=ToyData(8, seed=9))
    tr.fit()
    torch.save(tr.model.state_dict(), os.path.join(out, f"params_rank{tr.rank}.pt"))
