"""ONNX export of the fixed-shape branches of Siamese trackers, and an ONNX Runtime runner for them.

A SiamFC-style tracker spends nearly all its time in two fixed-shape calls: the template branch on one
``Z x Z`` exemplar crop (once per sequence, or per template update) and the search branch on the
``S x X x X`` multi-scale batch (every frame). Both are exported as ONNX graphs and run by ONNX Runtime,
which fuses BatchNorm into the convolutions and uses faster CPU kernels (measured in docs/backbones.md);
the cheap correlation and the post-processing stay in PyTorch/numpy.

    >>> from adaptrack.export import export_onnx
    >>> paths = export_onnx("siamfc", "out/onnx")      # {'template': ..., 'search': ...}

Trackers select this path with the parameter ``backend="onnx"`` (parity with PyTorch is tested in
tests/test_export.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = [
    "export_onnx", "export_branch", "cached_export", "fingerprint_of", "correlation_model", "OnnxBranches",
    "ort_session", "torch_threads",
]


@contextlib.contextmanager
def torch_threads(n: int | None):
    """PyTorch's intra-op thread count set to ``n`` for the block, then restored (``None``: unchanged).

    Trackers whose networks run in ONNX Runtime (sessions with their own thread pools, see
    :func:`ort_session`) do their small per-frame PyTorch work (correlation, score maps, updates) in a
    ``torch_threads(1)`` block. A second PyTorch thread gains little on such ops, and after every parallel
    region PyTorch's OpenMP workers spin-wait for more work, taking a core from the ONNX Runtime run that
    follows: measured on SiamFC's frame (2 threads, 224^2 crops), the search branch 10.8 ms after 2-thread
    PyTorch work against 7.9 ms with the workers idle.
    """
    old = torch.get_num_threads()
    if n is None or old == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def ort_session(model, num_threads: int | None = None):
    """An ONNX Runtime CPU session for ``model`` (bytes or path) with the project's settings: all graph
    optimisations, ``num_threads`` intra-op threads (default: PyTorch's count), one inter-op thread, and
    **no spin-waiting** between runs. Trackers interleave ONNX Runtime runs with PyTorch/numpy work; with
    the default spinning, ONNX Runtime's idle threads keep the cores busy and that work (and PyTorch's
    own pool) waits for them: measured here on SiamFC++'s frame (search branch in ONNX Runtime, head in
    PyTorch, 2 threads), 11.3 + 4.3 ms with spinning against 7.6 + 1.6 ms without."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = int(num_threads or torch.get_num_threads())
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def fuse_pads_into_convs(model_bytes: bytes) -> bytes:
    """Fold each zero ``Pad`` feeding a single ``Conv`` into that conv's ``pads`` attribute.

    EfficientNet's TF-'same' strided convolutions pad asymmetrically, which PyTorch expresses as a separate
    pad; left in the graph, every such ``Pad`` forces ONNX Runtime to leave its blocked (NCHWc) layout and
    come back. Constants are folded first (ONNX Runtime's hardware-independent basic level) so the pad
    amounts are initializers. The result computes exactly the same function.
    """
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            opts.optimized_model_filepath = os.path.join(d, "basic.onnx")
            ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
            model = onnx.load(opts.optimized_model_filepath)
    g = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    remove = []
    for n in g.node:
        if n.op_type != "Pad" or len(n.input) < 2 or n.input[1] not in inits:
            continue
        mode = next((a.s for a in n.attribute if a.name == "mode"), b"constant")
        if mode != b"constant" or (len(n.input) > 2 and n.input[2] and (n.input[2] not in inits or inits[n.input[2]].any())):
            continue
        pads = inits[n.input[1]].astype(int).tolist()
        users = consumers.get(n.output[0], [])
        if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or len(users) != 1 or users[0].op_type != "Conv":
            continue
        conv = users[0]
        attr = next((a for a in conv.attribute if a.name == "pads"), None)
        if attr is None:
            attr = onnx.helper.make_attribute("pads", [0, 0, 0, 0])
            conv.attribute.append(attr)
        old = list(attr.ints)
        del attr.ints[:]
        attr.ints.extend([old[0] + pads[2], old[1] + pads[3], old[2] + pads[6], old[3] + pads[7]])
        conv.input[0] = n.input[0]
        remove.append(n)
    for n in remove:
        g.node.remove(n)
    used = {i for n in g.node for i in n.input}
    for t in [t for t in g.initializer if t.name not in used]:
        g.initializer.remove(t)
    return model.SerializeToString()


class _Branch(nn.Module):
    def __init__(self, net: nn.Module, method: str):
        super().__init__()
        self.net = net
        self.method = method

    def forward(self, *x):
        return getattr(self.net, self.method)(*x)


#: ONNX input names of a branch, by position: the image, then (fused frame graphs) the template features
INPUT_NAMES = ("image", "template")


def export_branch(net: nn.Module, method: str, example, f=None, *, input_names=None, output_names=("features",),
                  dynamic_axes: dict | None = None) -> bytes:
    """Export ``net.<method>(*example)`` for the input shapes of ``example`` (a tensor or a tuple of tensors);
    returns the ONNX bytes (also written to ``f``, a path, when given). Inputs are named ``input_names``
    (default: ``image``, then ``template``), outputs ``output_names``; ``dynamic_axes`` (as
    ``torch.onnx.export``'s) leaves some sizes free, otherwise every shape is fixed. EfficientNet's 'same'
    pads are folded into the convolutions (:func:`fuse_pads_into_convs`). Every module of the network is left
    in the mode it was in (a fresh wrapper around an eval-mode network stays a wrapper around an eval-mode
    network)."""
    modes = [(m, m.training) for m in net.modules()]
    branch = _Branch(net, method).eval()
    buf = io.BytesIO()
    examples = tuple(example) if isinstance(example, (tuple, list)) else (example,)
    xs = tuple(e.contiguous().float() if e.is_floating_point() else e.contiguous() for e in examples)
    names = list(input_names) if input_names is not None else list(INPUT_NAMES[: len(xs)])
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python ints from shapes (fixed here)
        torch.onnx.export(
            branch, xs, buf, input_names=names, output_names=list(output_names), opset_version=17,
            dynamic_axes=dynamic_axes, dynamo=False,
        )
    for m, mode in modes:
        m.training = mode
    data = fuse_pads_into_convs(buf.getvalue())
    if f is not None:
        Path(f).parent.mkdir(parents=True, exist_ok=True)
        Path(f).write_bytes(data)
    return data


def fingerprint_of(net: nn.Module) -> str:
    """Hash of the network's class and every tensor of its state (so changed weights re-export)."""
    h = hashlib.sha1(type(net).__qualname__.encode())
    for k, v in net.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


_EXPORTS: OrderedDict = OrderedDict()  # (net fingerprint, method, input shapes) -> ONNX bytes
_EXPORTS_SIZE = 8


def cached_export(net: nn.Module, method: str, example, fingerprint: str | None = None, **export_kw) -> bytes:
    """:func:`export_branch`, remembered for the process: a network with identical weights, method, input
    shapes and export options (``export_kw``: :func:`export_branch`'s keywords) is exported once (evaluations
    build one tracker per sequence; an export takes seconds, the fingerprint milliseconds). Pass
    ``fingerprint`` (:func:`fingerprint_of` of ``net``) when exporting several methods of one network, or when
    what the graph computes depends on more than the network's tensors (settings held as plain attributes).
    Holds the last few exports only."""
    examples = tuple(example) if isinstance(example, (tuple, list)) else (example,)
    key = (fingerprint or fingerprint_of(net), method, tuple(tuple(e.shape) for e in examples), repr(sorted(export_kw.items())))
    data = _EXPORTS.get(key)
    if data is None:
        data = _EXPORTS[key] = export_branch(net, method, example, **export_kw)
        while len(_EXPORTS) > _EXPORTS_SIZE:
            _EXPORTS.popitem(last=False)
    else:
        _EXPORTS.move_to_end(key)
    return data


def correlation_model(template: torch.Tensor, search_shape, scale: float = 1.0, bias=0.0) -> bytes:
    """ONNX graph of ``scale * xcorr(template, x) + bias`` for one fixed template, written directly with
    ``onnx.helper`` (no tracing: it is built once per tracked sequence, in about a millisecond).

    ``template`` is ``(1, C, hz, wz)``; the graph's input ``features`` has the fixed shape ``search_shape``
    ``(B, C, H, W)`` and its output ``response`` is ``(B, 1, H - hz + 1, W - wz + 1)``. The template is a
    constant of the graph, so ONNX Runtime packs it once as the weights of a depthwise convolution
    (``group = C``) whose ``C`` outputs are then summed: the depthwise form of
    :func:`adaptrack.nn.correlation.xcorr`. ``scale`` and ``bias`` are single numbers.
    """
    from onnx import TensorProto, helper, numpy_helper

    z = template.detach().float().cpu().numpy()
    if z.ndim != 4 or z.shape[0] != 1:
        raise ValueError(f"correlation_model expects a (1, C, hz, wz) template, got {z.shape}")
    b, c, h, w = (int(v) for v in search_shape)
    if c != z.shape[1] or h < z.shape[2] or w < z.shape[3]:
        raise ValueError(f"template {z.shape} does not fit search features {tuple(search_shape)}")
    out_shape = [b, 1, h - z.shape[2] + 1, w - z.shape[3] + 1]
    inits = [
        numpy_helper.from_array(np.ascontiguousarray(z.transpose(1, 0, 2, 3)), "w"),
        numpy_helper.from_array(np.array([1], np.int64), "axes"),
        numpy_helper.from_array(np.array(scale, np.float32).reshape(()), "scale"),
        numpy_helper.from_array(np.array(bias, np.float32).reshape(()), "bias"),
    ]
    nodes = [
        helper.make_node("Conv", ["features", "w"], ["per_channel"], group=c, kernel_shape=list(z.shape[2:])),
        helper.make_node("ReduceSum", ["per_channel", "axes"], ["corr"], keepdims=1),
        helper.make_node("Mul", ["corr", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], ["response"]),
    ]
    graph = helper.make_graph(
        nodes, "xcorr",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [b, c, h, w])],
        [helper.make_tensor_value_info("response", TensorProto.FLOAT, out_shape)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


class OnnxBranches:
    """ONNX Runtime sessions for a network's ``template`` and ``search`` branches at fixed shapes, and
    optionally its fused per-frame graph ``frame(x, zf)`` (search branch + correlation + head in one
    run: one hand-over between runtimes per frame instead of two, and the head gets ONNX Runtime's
    kernels too)."""

    def __init__(self, template_model, search_model, num_threads: int | None = None, frame_model=None):
        # sessions are opened on first use: a tracker running the fused frame graph (SiamFC++) computes its
        # template in PyTorch and needs the search branch only for template adaptation
        self._models = {"template": template_model, "search": search_model, "frame": frame_model}
        self._sessions: dict = {}
        # the thread count is fixed now: a session opened later must not pick up whatever PyTorch's count
        # is at that moment (trackers run their per-frame PyTorch work on one thread)
        self._threads = int(num_threads or torch.get_num_threads())

    @property
    def num_threads(self) -> int:
        """The intra-op thread count of every session of these branches."""
        return self._threads

    def _session(self, name: str):
        sess = self._sessions.get(name)
        if sess is None:
            sess = self._sessions[name] = ort_session(self._models[name], self._threads)
        return sess

    @classmethod
    def from_net(
        cls, net: nn.Module, exemplar_size: int, instance_size: int, num_scales: int, num_threads=None,
        frame: bool = False, search_method: str = "search",
    ):
        """Export (or reuse, for a network with identical weights and shapes: trackers are built once per
        sequence) the two branches and open ONNX Runtime sessions on them. ``frame=True`` also exports
        ``net.frame(x, zf)`` with ``zf`` shaped like ``net.template``'s output. ``search_method`` names the
        method exported as the search branch (SiamFC exports ``search_trunk``, see its docstring)."""
        fp = fingerprint_of(net)
        z = torch.zeros(1, 3, exemplar_size, exemplar_size)
        x = torch.zeros(num_scales, 3, instance_size, instance_size)
        t = cached_export(net, "template", z, fp)
        s = cached_export(net, search_method, x, fp)
        f = None
        if frame:
            with torch.no_grad():
                zf = net.template(z)
            f = cached_export(net, "frame", (x, zf), fp)
        return cls(t, s, num_threads, f)

    @staticmethod
    def _feed(x: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)

    def template(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._session("template").run(None, {"image": self._feed(x)})[0])

    def search(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self._session("search").run(None, {"image": self._feed(x)})[0])

    @property
    def has_frame(self) -> bool:
        return self._models["frame"] is not None

    def frame(self, x: torch.Tensor, zf: torch.Tensor) -> torch.Tensor:
        """``net.frame(x, zf)`` in one ONNX Runtime run (requires ``frame=True`` at construction)."""
        if not self.has_frame:
            raise RuntimeError("OnnxBranches was built without the fused frame graph (frame=True)")
        feed = {"image": self._feed(x), "template": self._feed(zf)}
        return torch.from_numpy(self._session("frame").run(None, feed)[0])


def export_onnx(tracker_name: str, out_dir: str | os.PathLike, variant: str | None = None, weights="default") -> dict:
    """Export the template and search branches of a Siamese tracker (built with :func:`adaptrack.create`)
    to ``out_dir/<name>_template.onnx`` and ``out_dir/<name>_search.onnx``; returns their paths.

    The input shapes are the tracker's: ``(1, 3, Z, Z)`` and ``(num_scales, 3, X, X)``, float RGB 0..255.
    """
    from .trackers.base import create

    tracker = create(tracker_name, variant=variant, weights=weights)
    net = getattr(tracker, "net", None)
    p = tracker.params
    if net is None or not all(hasattr(net, m) for m in ("template", "search")):
        raise ValueError(f"tracker {tracker_name!r} has no template/search branches to export")
    out = Path(out_dir)
    stem = tracker_name if variant is None else f"{tracker_name}_{variant}"
    paths = {"template": out / f"{stem}_template.onnx", "search": out / f"{stem}_search.onnx"}
    export_branch(net, "template", torch.zeros(1, 3, p.exemplar_size, p.exemplar_size), paths["template"])
    export_branch(net, "search", torch.zeros(p.num_scales, 3, p.instance_size, p.instance_size), paths["search"])
    return paths
