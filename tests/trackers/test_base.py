"""The tracker contract and the registry."""

from dataclasses import dataclass

import numpy as np
import pytest

import adaptrack
from adaptrack.errors import InvalidBoxError, UnknownNameError
from adaptrack.trackers import DEFAULT_PREFERENCE, default_tracker_name, get_entry, list_trackers
from adaptrack.trackers import base
from adaptrack.trackers.base import TrackOutput, Tracker, register_tracker


@dataclass
class EchoParams:
    alpha: float = 1.0
    steps: int = 3


class Echo(Tracker):
    """Moves its box by ``alpha`` px per frame; remembers the frames it saw."""

    def __init__(self, params, weights="default"):
        self.params, self.weights, self.seen = params, weights, []

    def _initialize(self, frame, box):
        self.seen.append(frame)
        self.box = box.copy()

    def _track(self, frame):
        self.seen.append(frame)
        self.box[0] += self.params.alpha
        return TrackOutput(self.box.tolist(), 0.5, {"n": len(self.seen)})


@pytest.fixture
def echo(monkeypatch):
    register_tracker("echo_test", EchoParams, "test tracker", family="test")(Echo)
    variants = {"fast": {"alpha": 4.0}, "slow": {"alpha": 0.25, "steps": 1}}
    real = base._load_variants
    monkeypatch.setattr(base, "_load_variants", lambda name: variants if name == "echo_test" else real(name))
    yield "echo_test"
    base._REGISTRY.pop("echo_test", None)


def test_unknown_tracker_lists_known():
    with pytest.raises(UnknownNameError) as e:
        adaptrack.create("no_such_tracker")
    msg = str(e.value)
    assert "no_such_tracker" in msg and "csrt" in msg and "kcf" in msg
    assert isinstance(e.value, KeyError)  # also a KeyError, for dict-like use


def test_variant_and_params_override(echo):
    t = adaptrack.create(echo)
    assert isinstance(t, Echo) and t.name == echo and t.variant is None
    assert (t.params.alpha, t.params.steps) == (1.0, 3)
    t = adaptrack.create(echo, variant="slow")
    assert (t.params.alpha, t.params.steps) == (0.25, 1) and t.variant == "slow"
    t = adaptrack.create(echo, variant="fast", steps=7)  # keyword overrides win over the variant
    assert (t.params.alpha, t.params.steps) == (4.0, 7)
    t = adaptrack.create(echo, alpha=2.0, weights=None)
    assert t.params.alpha == 2.0 and t.weights is None
    assert get_entry(echo).variants() == {"fast": {"alpha": 4.0}, "slow": {"alpha": 0.25, "steps": 1}}


def test_unknown_variant_and_param(echo):
    with pytest.raises(UnknownNameError, match=r"no variant 'turbo' \(variants: fast, slow\)"):
        adaptrack.create(echo, variant="turbo")
    with pytest.raises(UnknownNameError, match=r"no parameter\(s\) beta \(parameters: alpha, steps\)"):
        adaptrack.create(echo, beta=1)
    with pytest.raises(UnknownNameError, match="variants: none"):
        adaptrack.create("kcf", variant="x")


def test_registering_a_name_twice_fails(echo):
    class Other(Echo):
        pass

    with pytest.raises(ValueError, match="registered twice"):
        register_tracker(echo, EchoParams)(Other)
    register_tracker(echo, EchoParams, "test tracker", family="test")(Echo)  # same class again: fine


def test_contract_validates_and_normalises(echo):
    t = adaptrack.create(echo, alpha=2.0)
    gray = np.zeros((40, 50), np.uint8)
    with pytest.raises(RuntimeError, match="initialize"):
        t.track(gray)
    with pytest.raises(InvalidBoxError, match="50x40"):
        t.initialize(gray, (0, 0, 0, 5))
    t.initialize(gray, [1, 2, 3, 4])
    assert t.seen[-1].shape == (40, 50, 3) and t.seen[-1].dtype == np.uint8
    out = t.track(np.zeros((40, 50, 4), np.float32))
    assert isinstance(out.box, np.ndarray) and out.box.dtype == np.float64 and out.box.tolist() == [3, 2, 3, 4]
    assert out.score == 0.5 and out.extras == {"n": 2}
    assert "Echo(name='echo_test')" == repr(t)


def test_list_trackers_order(echo):
    entries = list_trackers()
    fams = [e.family for e in entries]
    # adaptrack's own first, then the peers; each group by name
    assert fams == sorted(fams, key=lambda f: f != "adaptrack")
    opencv = [e.name for e in entries if e.family == "opencv"]
    assert opencv == sorted(opencv)


def test_default_tracker_prefers_learned_with_weights(monkeypatch, echo):
    assert default_tracker_name() in DEFAULT_PREFERENCE
    # a registered learned tracker with bundled weights wins over csrt; without weights it is skipped
    monkeypatch.setattr("adaptrack.trackers.DEFAULT_PREFERENCE", (echo, "csrt"))
    Echo.has_default_weights = classmethod(lambda cls: False)
    try:
        assert default_tracker_name() == "csrt"
        Echo.has_default_weights = classmethod(lambda cls: True)
        assert default_tracker_name() == echo
    finally:
        del Echo.has_default_weights
    assert default_tracker_name() == "csrt"  # no method: ready only if adaptrack/weights/echo_test.pt exists
    monkeypatch.setattr("adaptrack.trackers.DEFAULT_PREFERENCE", ("nope",))
    with pytest.raises(LookupError, match="nope"):
        default_tracker_name()


def test_default_tracker_may_be_a_variant_and_unknown_variants_are_skipped(monkeypatch):
    monkeypatch.setattr("adaptrack.trackers.DEFAULT_PREFERENCE", ("siamfcpp:no_such_variant", "csrt:x", "csrt"))
    assert default_tracker_name() == "csrt"
    monkeypatch.setattr("adaptrack.trackers.DEFAULT_PREFERENCE", ("siamfcpp:adversarial", "csrt"))
    assert default_tracker_name() == "siamfcpp:adversarial"  # bundled weights + a real variant
