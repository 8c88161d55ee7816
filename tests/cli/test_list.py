"""`adaptrack list`."""

from adaptrack.cli import main
from adaptrack.trackers import default_tracker_name, list_trackers


def test_list_all(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for e in list_trackers():
        row = next(l for l in lines if l.split() and l.split()[0] == e.name)
        assert e.family in row
        if e.family == "opencv":
            assert "not needed" in row
    default = default_tracker_name()  # NAME or NAME:VARIANT
    name = default.partition(":")[0]
    assert any(l.startswith(f"{name} (default)") or l.startswith(f"{name} (default: {default})") for l in lines)
    assert "bundled weights" in out and "variants" in out
    for name in ("otb", "vot", "got10k", "lasot", "folder"):
        assert any(l.split() and l.split()[0] == name for l in lines), name


def test_list_only_trackers(capsys):
    assert main(["list", "trackers"]) == 0
    out = capsys.readouterr().out
    assert "csrt" in out and "Datasets" not in out
