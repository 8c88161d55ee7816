"""``adaptrack eval``: run trackers over a dataset with a protocol and store raw results (resumable).

    adaptrack eval --trackers csrt,kcf --split val --workers 2 --out runs/eval
    adaptrack eval --trackers dimp:no_update --dataset otb --root /data/OTB100 --protocol ope
    adaptrack eval --trackers csrt --dataset vot --root /data/vot2018 --protocol vot

Run it again after an interruption: finished sequences are skipped. Under ``torchrun`` each rank takes its
share of the sequences (``RANK`` / ``WORLD_SIZE``). Then ``adaptrack report`` builds tables and plots.
"""

from __future__ import annotations

import os

HELP = "run trackers over a dataset (one-pass or VOT protocol) and store raw results"


def add_dataset_args(p) -> None:
    """Dataset selection shared by ``eval`` and ``report``."""
    g = p.add_argument_group("dataset")
    g.add_argument("--dataset", metavar="NAME", help="loader name (otb, vot, got10k, lasot, uav123, folder, ...; "
                   "see `adaptrack list`) or 'shared' for the shared development data")
    g.add_argument("--root", metavar="PATH", help="dataset folder")
    g.add_argument("--split", metavar="SPLIT", help="split of the shared development data (train|val); "
                   "implies --dataset shared")
    g.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="extra loader argument, e.g. --opt subset=val or --opt version=2013 (repeatable)")
    g.add_argument("--name", metavar="LABEL", help="results folder name of the dataset (default: derived "
                   "from the dataset, e.g. 'otb' or 'shared_val')")
    g.add_argument("--sequences", metavar="A,B,...", help="only these sequences (comma-separated names)")
    g.add_argument("--limit", type=int, metavar="N", help="only the first N sequences")


def load_sequences(args):
    """``(sequences, dataset_label)`` from the dataset arguments."""
    import yaml

    from ..datasets import load_dataset

    kw = {}
    for item in args.opt or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--opt must be KEY=VALUE, got {item!r}")
        kw[key.strip()] = yaml.safe_load(value)
    name = args.dataset
    if args.split:
        if name not in (None, "shared"):
            raise ValueError("--split selects the shared development data; do not combine it with --dataset "
                             f"{name!r} (use --opt subset={args.split} for a benchmark's own split)")
        name = "shared"
        kw["split"] = args.split
    elif name and name.startswith("shared_") and not args.root:
        kw["split"] = name.split("_", 1)[1]
        name = "shared"
    if not name:
        raise ValueError("give --dataset NAME [--root PATH] or --split train|val")
    seqs = list(load_dataset(name, args.root, **kw))
    if args.sequences:
        wanted = [s.strip() for s in args.sequences.split(",") if s.strip()]
        by_name = {s.name: s for s in seqs}
        unknown = [w for w in wanted if w not in by_name]
        if unknown:
            raise ValueError(f"unknown sequence(s) {', '.join(unknown)} in dataset {name!r}")
        seqs = [by_name[w] for w in wanted]
    if args.limit:
        seqs = seqs[: args.limit]
    if not seqs:
        raise ValueError(f"dataset {name!r} has no sequences")
    if args.name:
        label = args.name
    elif name == "shared":
        label = f"shared_{kw['split']}"
    else:
        label = name + "".join(f"_{kw[k]}" for k in sorted(kw) if k in ("subset", "version", "fps"))
    return seqs, label


def add_parser(subparsers):
    p = subparsers.add_parser("eval", help=HELP, description=HELP + ".")
    p.add_argument("--trackers", required=True, metavar="A,B[:VARIANT],...", help="trackers to evaluate")
    add_dataset_args(p)
    p.add_argument("--protocol", choices=("ope", "vot"), default="ope",
                   help="ope: one pass from the first frame; vot: supervised with re-initialisation (default ope)")
    p.add_argument("--convention", default="got10k", choices=("got10k", "pysot", "official"),
                   help="metric convention of the summary printed at the end (default got10k)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument("--weights", metavar="PATH", help="weights file for every listed tracker instead of the bundled "
                   "ones (e.g. a training run's weights.pt; use its own --out folder)")
    p.add_argument("--out", default="runs/eval", metavar="DIR", help="results folder (default runs/eval)")
    p.add_argument("--repetitions", type=int, default=15, help="VOT repetitions (default 15; stops after 3 identical)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-summary", action="store_true", help="do not print the score table at the end")
    return p


def run(args) -> int:
    from ..evaluation.runner import run_eval
    from ..trackers.base import get_entry

    specs = [t.strip() for t in args.trackers.split(",") if t.strip()]
    if not specs:
        raise ValueError("--trackers is empty")
    for s in specs:  # unknown names / variants fail here, before any work
        name, _, variant = s.partition(":")
        entry = get_entry(name)
        if variant:
            entry.make_params(variant)
        if args.weights and entry.family != "adaptrack":
            raise ValueError(f"--weights: {name!r} is not an adaptrack tracker (it has no weights to replace)")
    if args.weights:
        import dataclasses

        from ..evaluation.runner import parse_tracker_spec

        if not os.path.isfile(args.weights):
            raise ValueError(f"--weights: no such file {args.weights!r}")
        specs = [dataclasses.replace(parse_tracker_spec(s), weights=args.weights) for s in specs]
    if args.workers < 1:
        raise ValueError("--workers must be >= 1")
    seqs, label = load_sequences(args)
    summary = run_eval(specs, seqs, protocol=args.protocol, out_dir=args.out, workers=args.workers, dataset=label,
                       repetitions=args.repetitions, progress=not args.quiet)
    print(summary)
    if not args.no_summary and (summary.done or summary.skipped):
        from ..evaluation.report import evaluate
        from ..evaluation.runner import parse_tracker_spec

        labels = [parse_tracker_spec(s).label for s in specs]
        rank_world = os.environ.get("WORLD_SIZE", "1")
        if rank_world == "1":
            try:
                rep = evaluate(args.out, seqs, label, convention=args.convention, protocol=args.protocol, trackers=labels)
                print(rep.markdown())
            except ValueError as e:  # e.g. every sequence failed: nothing to score
                print(f"(no summary: {e})")
    return 1 if summary.failed else 0
