"""Regenerate the benchmark fact tables shipped beside the loaders (run once by a developer).

``python -m adaptrack.datasets._make_tables`` writes

* ``uav123_ranges.json``: for UAV123 and UAV20L, each annotated sequence's frame folder and its first
  and last 1-based frame number (``bird1_2`` is frames 775-1477 of ``data_seq/UAV123/bird1``);
* ``lasot_test.json``: the 280 sequence names of the LaSOT test split (protocol II).

Both are facts of the benchmarks (the UAV123 release's ``configSeqs`` and LaSOT's ``testing_set.txt``).
They are read here from the installed got10k toolkit package (``got10k/datasets/uav123.json`` and
``lasot.json``), which tabulates the same facts, and re-written in our own compact form.
"""

from __future__ import annotations

import json
import os


def _one_entry_per_line(table: dict) -> str:
    """JSON with one line per leaf entry (readable diffs, small files)."""
    lines = ["{"]
    keys = list(table)
    for i, key in enumerate(keys):
        value = table[key]
        end = "," if i < len(keys) - 1 else ""
        if isinstance(value, dict):
            items = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items()]
            lines.append(f" {json.dumps(key)}: {{")
            lines.append(",\n".join(items))
            lines.append(f" }}{end}")
        elif isinstance(value, list):
            lines.append(f" {json.dumps(key)}: [")
            lines.append(",\n".join(f"  {json.dumps(v)}" for v in value))
            lines.append(f" ]{end}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}{end}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> None:
    import got10k.datasets as g

    src = os.path.dirname(g.__file__)
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(src, "uav123.json")) as f:
        uav = json.load(f)
    ranges = {
        "_source": "UAV123 release configSeqs (frame folder, first, last 1-based frame); "
        "tabulated from the got10k toolkit's uav123.json by adaptrack/datasets/_make_tables.py",
    }
    for version in ("UAV123", "UAV20L"):
        ranges[version] = {
            name: [m["folder_name"], int(m["start_frame"]), int(m["end_frame"])]
            for name, m in sorted(uav[version].items())
        }
    with open(os.path.join(here, "uav123_ranges.json"), "w") as f:
        f.write(_one_entry_per_line(ranges))
    with open(os.path.join(src, "lasot.json")) as f:
        lasot = json.load(f)
    test = {
        "_source": "LaSOT testing_set.txt (protocol II, 280 sequences); "
        "tabulated from the got10k toolkit's lasot.json by adaptrack/datasets/_make_tables.py",
        "test": sorted(lasot["test"]),
    }
    with open(os.path.join(here, "lasot_test.json"), "w") as f:
        f.write(_one_entry_per_line(test))


if __name__ == "__main__":
    main()
