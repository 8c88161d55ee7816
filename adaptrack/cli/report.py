"""``adaptrack report``: tables (markdown / CSV / JSON) and plots from raw results; nothing is re-run.

    adaptrack report --results runs/eval --split val --out runs/report
    adaptrack report --results runs/eval --dataset otb --root /data/OTB100 --convention official
    adaptrack report --results rank0,rank1 --dataset vot --root /data/vot2018 --eao-interval 100,356
"""

from __future__ import annotations

from .eval import add_dataset_args, load_sequences

HELP = "build the score table and plots from raw results"


def add_parser(subparsers):
    p = subparsers.add_parser("report", help=HELP, description=HELP + ".")
    p.add_argument("--results", required=True, action="append", metavar="DIR[,DIR]",
                   help="results folder(s) written by `adaptrack eval` (shards are merged; repeatable)")
    add_dataset_args(p)
    p.add_argument("--out", default="runs/report", metavar="DIR", help="report folder (default runs/report)")
    p.add_argument("--convention", default="got10k", choices=("got10k", "pysot", "official"),
                   help="metric convention (default got10k; see docs/evaluation.md)")
    p.add_argument("--protocol", choices=("ope", "vot"), help="which results to score (default: what is found)")
    p.add_argument("--trackers", metavar="A,B", help="only these trackers (results folder names)")
    p.add_argument("--eao-interval", default="100,356", metavar="LOW,HIGH",
                   help="sequence-length interval of the EAO score (default 100,356 = VOT2018)")
    p.add_argument("--no-plots", action="store_true", help="tables only")
    return p


def run(args) -> int:
    from ..evaluation.report import make_report

    try:
        lo, hi = (int(v) for v in args.eao_interval.split(","))
    except ValueError:
        raise ValueError(f"--eao-interval must be LOW,HIGH (e.g. 100,356), got {args.eao_interval!r}") from None
    seqs, label = load_sequences(args)
    trackers = [t.strip() for t in args.trackers.split(",")] if args.trackers else None
    rep = make_report(args.results, seqs, label, args.out, convention=args.convention, protocol=args.protocol,
                      trackers=trackers, eao_interval=(lo, hi), plots=not args.no_plots)
    print(f"# {rep.title()}")
    print(rep.markdown())
    print("wrote " + ", ".join(rep.files))
    return 0
