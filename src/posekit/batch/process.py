"""The work of one image, the same in every engine: poses -> a record, and the optional rendering.

An engine (:mod:`posekit.batch.engines`) runs :func:`process_items` wherever its
estimator lives (this process, a Ray actor) and hands :class:`Outcome` objects to
the job, which commits them (:mod:`posekit.batch.job`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import cv2
import numpy as np

from posekit.batch.inputs import InputItem
from posekit.draw import draw_poses
from posekit.structures import Poses

__all__ = ["RenderOptions", "Outcome", "process_items", "render_name", "encode_render"]

log = logging.getLogger(__name__)

#: Extensions OpenCV encodes; a rendering keeps its image's extension when it is one of these.
_ENCODABLE = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class RenderOptions:
    """What a job does with each image besides estimating poses.

    Attributes:
        save_img: render the skeletons (``OUT/vis/KEY``).
        ignore_exif: use the stored pixels, not the EXIF orientation.
        pose_thresh: poses scoring below this are not drawn.
        keypoint_thresh: keypoints scoring below this are not drawn.
    """

    save_img: bool = False
    ignore_exif: bool = False
    pose_thresh: float = 0.2
    keypoint_thresh: float = 0.3


@dataclass(frozen=True)
class Outcome:
    """One finished image: its record (JSON-able) and, with ``save_img``, the encoded rendering."""

    record: dict[str, Any]
    render: bytes | None = None


def render_name(key: str) -> str:
    """Where the rendering of ``key`` goes under ``OUT/vis/``: the same relative path, with
    ``.jpg`` appended when OpenCV cannot write the image's own format."""
    return key if os.path.splitext(key)[1].lower() in _ENCODABLE else key + ".jpg"


def encode_render(image: np.ndarray, poses: Poses, key: str, options: RenderOptions) -> bytes:
    """The skeletons drawn on ``image`` ``(H, W, 3)``, encoded in the format of :func:`render_name`.

    Encoded in memory (``cv2.imencode``) so that the file is written by Python's own
    file I/O: OpenCV never sees a path (``cv2.imwrite`` crashes on undecodable names).
    """
    drawn = draw_poses(image, poses, pose_thresh=options.pose_thresh, keypoint_thresh=options.keypoint_thresh)
    ext = os.path.splitext(render_name(key))[1].lower()
    ok, buffer = cv2.imencode(ext, drawn)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {ext} image")
    return buffer.tobytes()


def _record(item: InputItem, **fields: Any) -> dict[str, Any]:
    return {"key": item.key, "size": item.size, "mtime_ns": item.mtime_ns, **fields}


def process_items(
    estimator: Any, items: Iterable[InputItem], options: RenderOptions,
    prefetch: int = 4,
    workers: int | None = None,
    threads: int | None = None,
) -> Iterator[Outcome]:
    """Estimate poses for each item (read ahead in a thread) and yield its :class:`Outcome`, in order.

    A file that cannot be read or processed gives an ``"error"`` record naming the reason;
    nothing a file holds stops the others.

    Args:
        estimator: a :class:`posekit.pipeline.PoseEstimator`.
        items: the images.
        options: rendering and reading options.
        prefetch: images decoded ahead.
        workers, threads: the parallel engine's plan (:meth:`~posekit.pipeline.PoseEstimator.predict_files`).
    """
    items = list(items)
    ready = [it for it in items if it.error is None]
    for it in items:
        if it.error is not None:
            yield Outcome(_record(it, status="error", error=it.error))
    results = estimator.predict_files([it.path for it in ready], prefetch=prefetch,
                                      ignore_orientation=options.ignore_exif, workers=workers, threads=threads)
    for item, (_, image, poses, error) in zip(ready, results):  # one result per path, in order
        if error is not None:
            yield Outcome(_record(item, status="error", error=error))
            continue
        height, width = image.shape[:2]
        render = None
        if options.save_img:
            try:
                render = encode_render(image, poses, item.key, options)
            except Exception as exc:  # the poses stay; the rendering failure is named
                log.warning("could not render %s: %s", item.path, exc)
        record = _record(item, status="ok", width=width, height=height,
                         poses=poses.to_record())
        if options.save_img:
            record["render"] = render_name(item.key) if render is not None else None
        yield Outcome(record, render)
