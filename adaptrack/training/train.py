"""Command line: ``python -m adaptrack.training.train RECIPE [--epochs N] [--out runs/NAME] [--resume]
[--opts key=value ...] [--export PATH] [--threads N]``.

Builds the recipe (see :mod:`adaptrack.training.recipes`) with its ``DEFAULTS`` overridden by
``--epochs`` and ``--opts``, trains with :class:`~adaptrack.training.trainer.Trainer` into ``--out``
(``config.json``, ``log.jsonl``, ``checkpoints/last.pt``, ``curves.png``, ``weights.pt``), and, with
``--export PATH``, writes the recipe's bundled weights there. Under ``torchrun --nproc_per_node N``
the same command trains with DDP (gloo).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch
import yaml

from .recipes import get_recipe, list_recipes
from .trainer import TrainConfig, Trainer, init_distributed, plot_log

__all__ = ["main", "parse_opts", "run"]


def parse_opts(items) -> dict:
    """``["a=1", "b=x", "c=[1, 2]"]`` -> ``{"a": 1, "b": "x", "c": [1, 2]}`` (YAML scalars)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--opts entries must be key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def run(recipe_name: str, overrides: dict | None = None, out: str | None = None, resume: bool = False,
        export: str | None = None, progress: bool = True) -> dict:
    """Train ``recipe_name``; returns ``{"history": [...], "wall_seconds": t, "cfg": cfg}``."""
    mod = get_recipe(recipe_name)
    cfg = dict(mod.DEFAULTS)
    unknown = set(overrides or {}) - set(cfg) - {f for f in TrainConfig.__dataclass_fields__}
    if unknown:
        raise ValueError(f"unknown option(s) for recipe {recipe_name!r}: {', '.join(sorted(unknown))}")
    cfg.update(overrides or {})
    cfg.setdefault("progress", progress)
    out = out or os.path.join("runs", recipe_name)
    t0 = time.time()
    init_distributed()  # before build: feature caches are built by rank 0 only
    recipe = mod.build(cfg)
    trainer = Trainer(recipe.model, recipe.forward_train, recipe.train_data, TrainConfig.from_dict(cfg), out,
                      val_data=recipe.val_data, callbacks=recipe.callbacks, params=recipe.params,
                      collate_fn=recipe.collate_fn)
    if trainer.is_main:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump({"recipe": recipe_name, "cfg": cfg, "info": recipe.info, "argv": sys.argv}, f, indent=1, default=str)
    history = trainer.fit(resume=resume)
    wall = time.time() - t0
    if trainer.is_main:
        plot_log(trainer.log_path, os.path.join(out, "curves.png"))
        if hasattr(mod, "export"):
            state = mod.export(recipe.model, cfg)
            torch.save(state, os.path.join(out, "weights.pt"))
            if export:
                os.makedirs(os.path.dirname(os.path.abspath(export)), exist_ok=True)
                torch.save(state, export)
        with open(os.path.join(out, "summary.json"), "w") as f:
            json.dump({"wall_seconds": wall, "last_epoch": history[-1] if history else None}, f, indent=1, default=str)
    return {"history": history, "wall_seconds": wall, "cfg": cfg}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m adaptrack.training.train", description=__doc__.split("\n\n")[0])
    p.add_argument("recipe", help=f"one of: {', '.join(list_recipes())}")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--out", default=None, help="run directory (default runs/RECIPE)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.pt")
    p.add_argument("--opts", nargs="*", default=[], metavar="KEY=VALUE", help="override recipe defaults")
    p.add_argument("--export", default=None, help="also save the recipe's bundled weights to this path")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        overrides = parse_opts(args.opts)
        if args.epochs is not None:
            overrides["epochs"] = args.epochs
        if args.no_progress:
            overrides["progress"] = False
        res = run(args.recipe, overrides, args.out, args.resume, args.export)
    except (ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    last = res["history"][-1] if res["history"] else {}
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"wall_seconds": round(res["wall_seconds"], 1), "epoch": last.get("epoch"),
                          "train": last.get("train"), "val": last.get("val"),
                          **{k: v for k, v in last.items() if k.endswith("auc")}}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
