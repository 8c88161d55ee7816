"""``adaptrack list``: the trackers (name, family, variants, bundled weights, description) and datasets."""

from __future__ import annotations

HELP = "list the trackers (with variants and whether bundled weights exist) and the dataset loaders"


def add_parser(subparsers):
    p = subparsers.add_parser("list", help=HELP, description=HELP + ".")
    p.add_argument("what", nargs="?", choices=("trackers", "datasets", "all"), default="all", help="what to list (default: all)")
    return p


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def tracker_rows() -> list[tuple[str, str, str, str, str]]:
    from ..trackers import default_tracker_name, has_default_weights, list_trackers

    try:
        default = default_tracker_name()
    except LookupError:
        default = None
    rows = []
    for e in list_trackers():
        if e.family == "opencv":
            weights = "not needed"
        else:
            weights = "yes" if has_default_weights(e.name) else "no"
        variants = ", ".join(sorted(e.variants())) or "-"
        if default and default.partition(":")[0] == e.name:
            name = e.name + (" (default)" if default == e.name else f" (default: {default})")
        else:
            name = e.name
        rows.append((name, e.family, variants, weights, e.description))
    return rows


def dataset_rows() -> list[tuple[str, str]]:
    from ..datasets import list_datasets

    return sorted(list_datasets().items())


def run(args) -> int:
    if args.what in ("trackers", "all"):
        print("Trackers (adaptrack.create(NAME, variant=VARIANT); CLI: --tracker NAME[:VARIANT])")
        print(_table(tracker_rows(), ("name", "family", "variants", "bundled weights", "description")))
    if args.what == "all":
        print()
    if args.what in ("datasets", "all"):
        print("Datasets (adaptrack.datasets.load_dataset(NAME, ROOT))")
        print(_table(dataset_rows(), ("name", "description")))
    return 0
