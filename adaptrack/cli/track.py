"""``adaptrack track SOURCE --box x,y,w,h``: track one object in a video file, an image folder or a webcam.

Writes ``<out>/<source>_<tracker>.mp4`` (the frames with the box drawn) and ``<out>/<source>_<tracker>.txt``
(one ``x,y,w,h`` line per frame, the first being the initial box), shows a progress bar with the live
tracking speed, and ends with an FPS line. Without ``--box`` the box is drawn with the mouse on the first
frame when a display is available.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import AdaptrackError
from ..geometry import validate_init_box

HELP = "track one object in a video file, an image folder or a webcam"


def add_parser(subparsers):
    p = subparsers.add_parser("track", help=HELP, description=HELP + ".")
    p.add_argument("source", help="video file, folder of images, or webcam index (0, 1, ...)")
    p.add_argument(
        "--box",
        metavar="X,Y,W,H",
        help="initial box in pixels of the first frame, 0-based top-left corner and size; "
        "if omitted, draw it with the mouse (needs a display)",
    )
    p.add_argument("--tracker", metavar="NAME[:VARIANT]", help="tracker to use (default: the best available; see `adaptrack list`)")
    p.add_argument("--weights", default="default", help="'default' (bundled) or a path to a .pt file")
    p.add_argument("--out", default="out", metavar="DIR", help="output folder (default: out)")
    p.add_argument("--no-video", action="store_true", help="write only the boxes file, no annotated video")
    p.add_argument("--show", action="store_true", help="show the tracking live in a window (needs a display; q quits)")
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    p.add_argument("--fps", type=float, help="frame rate of the output video when the source has none (default 30)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


# ---------------------------------------------------------------------------------------------------
# argument parsing helpers (also used by `adaptrack demo`)


def parse_box(text: str) -> np.ndarray:
    """``"x,y,w,h"`` (commas or spaces) -> float array; ValueError with a clear message otherwise."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = None
    if values is None or len(values) != 4:
        raise ValueError(f"--box must be four numbers x,y,w,h (e.g. --box 120,80,60,40), got {text!r}")
    return np.asarray(values, dtype=np.float64)


def parse_tracker_spec(spec: str | None) -> tuple[str, str | None]:
    """``"NAME[:VARIANT]"`` -> ``(name, variant)``; ``None`` -> the default tracker. Unknown names and
    variants raise :class:`~adaptrack.errors.UnknownNameError` listing the known ones."""
    from ..trackers import default_tracker_name, get_entry

    if not spec:
        spec = default_tracker_name()
    name, _, variant = spec.partition(":")
    entry = get_entry(name.strip())
    variant = variant.strip() or None
    entry.make_params(variant)  # checks the variant now, before any frame is read
    return entry.name, variant


def build_tracker(name: str, variant: str | None, weights: str = "default"):
    from ..trackers import create

    return create(name, variant=variant, weights=weights)


def tracker_label(name: str, variant: str | None) -> str:
    return f"{name}:{variant}" if variant else name


# ---------------------------------------------------------------------------------------------------
# the tracking loop shared by `track` and `demo`


@dataclass
class TrackRun:
    boxes: list = field(default_factory=list)
    scores: list = field(default_factory=list)
    tracker_seconds: float = 0.0  # time inside initialize()/track() only
    wall_seconds: float = 0.0  # everything: reading, tracking, drawing, writing
    interrupted: bool = False

    @property
    def n(self) -> int:
        return len(self.boxes)

    @property
    def fps(self) -> float:
        return self.n / self.tracker_seconds if self.tracker_seconds > 0 else float("nan")

    @property
    def wall_fps(self) -> float:
        return self.n / self.wall_seconds if self.wall_seconds > 0 else float("nan")


def run_tracker(
    tracker,
    frames,
    init_box,
    *,
    writer=None,
    label: str | None = None,
    annotate=None,
    show: bool = False,
    progress: bool = True,
    total: int | None = None,
    max_frames: int | None = None,
) -> TrackRun:
    """Initialise ``tracker`` on the first frame of ``frames`` with ``init_box`` and track the rest.

    ``writer`` (an :class:`~adaptrack.io.AnnotatedVideoWriter`) receives every frame with the box drawn;
    ``annotate(i, frame) -> frame`` may draw more first (the demo draws the ground truth). A Ctrl-C
    stops the loop and keeps the frames done (``run.interrupted``).
    """
    from tqdm import tqdm

    run = TrackRun()
    if max_frames is not None:
        total = min(total, max_frames) if total is not None else max_frames
    bar = tqdm(total=total, unit="frame", disable=not progress, dynamic_ncols=True, file=sys.stderr)
    t_wall = time.perf_counter()
    try:
        for i, frame in enumerate(frames):
            if max_frames is not None and i >= max_frames:
                break
            t0 = time.perf_counter()
            if i == 0:
                tracker.initialize(frame, init_box)
                box, score = np.asarray(init_box, dtype=np.float64), 1.0
            else:
                out = tracker.track(frame)
                box, score = out.box, float(out.score)
            run.tracker_seconds += time.perf_counter() - t0
            run.boxes.append(np.asarray(box, dtype=np.float64))
            run.scores.append(score)
            if writer is not None or show:
                shown = annotate(i, frame) if annotate is not None else frame
                if writer is not None:
                    writer.write(shown, box=box, score=score, label=label)
                if show and not _show(shown, box, score, label):
                    run.interrupted = True
                    break
            bar.update(1)
            if i % 10 == 0 and run.tracker_seconds > 0:
                bar.set_postfix(fps=f"{run.n / run.tracker_seconds:.1f}", refresh=False)
    except KeyboardInterrupt:
        run.interrupted = True
    finally:
        bar.close()
        run.wall_seconds = time.perf_counter() - t_wall
        if show:
            _close_windows()
    return run


# ---------------------------------------------------------------------------------------------------
# display helpers (OpenCV highgui; the headless OpenCV build has none)


def display_available() -> bool:
    """True when OpenCV can open a window here (a GUI build of OpenCV and a display)."""
    import cv2

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        cv2.namedWindow("adaptrack")
        cv2.destroyWindow("adaptrack")
        return True
    except cv2.error:
        return False


def select_box_with_mouse(frame: np.ndarray) -> np.ndarray:
    import cv2

    title = "adaptrack: drag a box around the object, then press ENTER (c cancels)"
    x, y, w, h = cv2.selectROI(title, np.ascontiguousarray(frame[:, :, ::-1]), showCrosshair=True)
    cv2.destroyWindow(title)
    if w <= 0 or h <= 0:
        raise ValueError("no box was drawn")
    return np.array([x, y, w, h], dtype=np.float64)


def _show(frame, box, score, label) -> bool:
    import cv2

    from ..io import draw_box

    img = draw_box(frame, box, score, label=label)
    cv2.imshow("adaptrack", np.ascontiguousarray(img[:, :, ::-1]))
    return (cv2.waitKey(1) & 0xFF) not in (ord("q"), 27)


def _close_windows() -> None:
    import cv2

    try:
        cv2.destroyAllWindows()
    except cv2.error:
        pass


class _quiet_opencv:
    """Lower OpenCV's log level to errors inside the block."""

    def __enter__(self):
        try:
            from cv2.utils import logging as cvlog

            self._log, self._old = cvlog, cvlog.getLogLevel()
            cvlog.setLogLevel(cvlog.LOG_LEVEL_ERROR)
        except (ImportError, AttributeError):
            self._log = None
        return self

    def __exit__(self, *exc):
        if self._log is not None:
            self._log.setLogLevel(self._old)


def source_stem(source: str) -> str:
    """A file-name stem for the outputs: the video's name, the folder's (its parent's for ``.../img``)."""
    if source.isdigit() and not os.path.exists(source):
        return f"webcam{source}"
    path = os.path.normpath(os.path.abspath(source))
    base = os.path.basename(path)
    if os.path.isdir(path):
        if base.lower() in ("img", "imgs", "images", "frames", "color") and os.path.basename(os.path.dirname(path)):
            base = os.path.basename(os.path.dirname(path))
        return base
    return os.path.splitext(base)[0]


def run(args) -> int:
    from ..io import AnnotatedVideoWriter, open_source, write_boxes

    box = parse_box(args.box) if args.box is not None else None
    name, variant = parse_tracker_spec(args.tracker)
    if args.max_frames is not None and args.max_frames < 1:
        raise ValueError(f"--max-frames must be at least 1, got {args.max_frames}")
    gui = display_available() if (args.show or box is None) else False
    if args.show and not gui:
        raise AdaptrackError("--show needs a display and an OpenCV build with GUI support (this one has none)")
    if box is None and not gui:
        raise ValueError("--box x,y,w,h is required: there is no display to draw the box with the mouse")

    with _quiet_opencv():  # failed camera probes print backend warnings; our error says it in one line
        source = open_source(args.source)
    try:
        it = iter(source)
        try:
            first = next(it)
        except StopIteration:
            raise AdaptrackError(f"no frames in {args.source}") from None
        if box is None:
            box = select_box_with_mouse(first)
        validate_init_box(box, first.shape)  # clear error before the tracker is built
        tracker = build_tracker(name, variant, args.weights)
        label = tracker_label(name, variant)
        try:
            total = len(source)
        except TypeError:
            total = None

        def frames():
            yield first
            yield from it

        stem = f"{source_stem(args.source)}_{label.replace(':', '_')}"
        boxes_path = os.path.join(args.out, stem + ".txt")
        video_path = None if args.no_video else os.path.join(args.out, stem + ".mp4")
        fps = source.fps or args.fps or 30.0
        writer = None if video_path is None else AnnotatedVideoWriter(video_path, fps=fps)
        try:
            result = run_tracker(
                tracker,
                frames(),
                box,
                writer=writer,
                label=label,
                show=args.show,
                progress=not args.quiet,
                total=total,
                max_frames=args.max_frames,
            )
        except BaseException:
            if writer is not None:
                writer.__exit__(*sys.exc_info())
            raise
        if writer is not None:
            writer.close()
    finally:
        source.close()

    write_boxes(boxes_path, np.asarray(result.boxes))
    stopped = " (stopped early)" if result.interrupted else ""
    print(f"tracked {result.n} frames with {label}{stopped}: {result.fps:.1f} FPS tracking, {result.wall_fps:.1f} FPS overall")
    print(f"boxes: {boxes_path}")
    if video_path is not None:
        print(f"video: {video_path}")
    return 0
