"""Memory benchmark: a 10,000-frame stream must run in flat memory.

The stream is a video looped until ``--frames`` frames (default: ``vtest.avi``
resized to ``--width``, 384 px), decoded by OpenCV each time round, through
the full :func:`posekit.video.run_video` path -- prefetch thread, detection
every ``--detect-every`` frames, pose propagation, tracking, One-Euro
smoothing, ``results.jsonl``, ``alphapose-results.json``, ``tracks.json`` --
with the real :class:`posekit.pipeline.PoseEstimator` (the fastest models by
default: YOLOX-Nano and MoveNet Lightning).

It prints the resident set size (current and peak, from ``/proc/self/status``)
every ``--every`` frames, and checks that the peak RSS at the end exceeds the
peak at frame 500 by less than ``--limit-mb`` (50 MB). Each loop of the video
is a new scene for the tracker (ids keep counting up), so live state must be
freed as tracks die.

Usage::

    python benchmarks/bench_memory.py --frames 10000 --out /tmp/bench_memory
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Iterator

import cv2

from _estimator import SHARED, add_estimator_arguments, build_estimator
from posekit.video.run import run_video
from posekit.video.sources import Frame, FrameSource, SourceInfo



def rss_mb() -> tuple[float, float]:
    """Current and peak resident set size of this process, in MB (Linux ``/proc``)."""
    values = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, kb, _ = line.split()
                values[key[:-1]] = int(kb) / 1024.0
    return values.get("VmRSS", float("nan")), values.get("VmHWM", float("nan"))


class LoopedVideo(FrameSource):
    """``path`` decoded again and again (resized to ``width``) until ``total`` frames.

    Records the RSS every ``every`` frames in :attr:`samples` (it runs in the
    prefetch thread, RSS is per process).
    """

    def __init__(self, path: str, total: int, width: int, every: int) -> None:
        super().__init__()
        cap = cv2.VideoCapture(path)
        if not cap.isOpened():
            raise OSError(f"cannot open {path}")
        w, h = cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        cap.release()
        self.path, self.total, self.every = path, total, every
        self.size = (width, int(round(h * width / w)) // 2 * 2)
        self.info = SourceInfo("video", f"{path} (looped)", fps, self.size[0], self.size[1], total)
        self.samples: list[tuple[int, float, float, float]] = []
        self._start = time.perf_counter()

    def _frames(self) -> Iterator[Frame]:
        index = 0
        while index < self.total:
            cap = cv2.VideoCapture(self.path)
            try:
                while index < self.total:
                    ok, frame = cap.read()
                    if not ok:
                        break
                    if index % self.every == 0 or index == 500:
                        cur, peak = rss_mb()
                        self.samples.append((index, cur, peak, time.perf_counter() - self._start))
                        logging.getLogger("bench_memory").warning(
                            "frame %5d: RSS %.1f MB, peak %.1f MB (%.0f s)", index, cur, peak,
                            time.perf_counter() - self._start)
                    frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
                    self.stats.frames += 1
                    self.stats.last_index = index
                    yield Frame(index, index / self.info.fps, frame)
                    index += 1
            finally:
                cap.release()
        self._finish("end", early=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", default=str(SHARED / "data" / "videos" / "vtest.avi"))
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--width", type=int, default=384)
    parser.add_argument("--detect-every", type=int, default=10)
    add_estimator_arguments(parser, pose_model="movenet_lightning", det_thresh=0.3)
    parser.add_argument("--every", type=int, default=1000, help="print RSS every N frames")
    parser.add_argument("--limit-mb", type=float, default=50.0)
    parser.add_argument("--out", default="bench_memory_out")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    estimator = build_estimator(args)
    source = LoopedVideo(args.video, args.frames, args.width, args.every)
    print(f"estimator: {estimator!r}; {args.frames} frames of {source.size[0]}x{source.size[1]}, "
          f"detector every {args.detect_every}", flush=True)
    summary = run_video(estimator, source, args.out, detect_every=args.detect_every, smoothing=True,
                        alphapose_json=True, progress=False)
    end_cur, end_peak = rss_mb()
    at500 = next((s for s in source.samples if s[0] == 500), None)
    print()
    print(f"{'frame':>7}{'RSS MB':>9}{'peak MB':>9}{'seconds':>9}")
    for index, cur, peak, sec in source.samples:
        print(f"{index:>7}{cur:>9.1f}{peak:>9.1f}{sec:>9.0f}")
    print(f"{'end':>7}{end_cur:>9.1f}{end_peak:>9.1f}{summary.elapsed_seconds:>9.0f}")
    print()
    print(f"frames {summary.frames}, {summary.fps:.1f} frames/s, tracks created {summary.tracks}, "
          f"tracker {summary.tracker}")
    if at500 is None:
        print("fewer than 500 frames: no comparison")
        return 1
    growth = end_peak - at500[2]
    ok = growth < args.limit_mb
    print(f"peak RSS at frame 500: {at500[2]:.1f} MB; at the end: {end_peak:.1f} MB; growth {growth:.1f} MB "
          f"(limit {args.limit_mb:.0f} MB): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
