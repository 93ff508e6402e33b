"""What an inference worker does with one uploaded image, and the JSON it answers with.

The tasks run in a pool thread (:mod:`posekit.serve.pool`) with that thread's
estimator: decode (:func:`posekit.io.decode_image`: EXIF orientation applied,
the pixel limit checked again from the header), estimate, and for
``/v1/pose/render`` draw (:func:`posekit.draw.draw_poses`) and encode. Decoding
happens in the worker, so at most ``workers`` decoded images exist at a time.

:func:`pose_payload` writes each person's keypoints and score through
:meth:`posekit.structures.Poses.to_coco`, the writer of ``posekit predict``'s
``results.json``: the numbers are the same, rounded the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from posekit.io import ImageReadError, decode_image
from posekit.serve.errors import ApiError
from posekit.structures import Poses

__all__ = ["ImageResult", "pose_task", "render_task", "pose_payload", "image_error", "RENDER_FORMATS"]

#: ``/v1/pose/render`` output formats: name -> (OpenCV extension, MIME type).
RENDER_FORMATS = {"jpeg": (".jpg", "image/jpeg"), "png": (".png", "image/png")}


@dataclass
class ImageResult:
    """One processed image.

    Attributes:
        width, height: the decoded (upright) image size.
        poses: the people found.
        timing_ms: ``decode``, ``inference``, and the estimator's stages when it times them.
        started: ``time.perf_counter()`` when the worker took the task (queue wait = started - submitted).
        model: ``{"preset": ...}`` of the worker's estimator.
        encoded: the rendered image (render tasks only).
    """

    width: int
    height: int
    poses: Poses
    timing_ms: dict[str, float]
    started: float
    model: dict[str, Any]
    encoded: bytes | None = None


def _estimate(estimator: Any, data: bytes, max_pixels: int) -> tuple[np.ndarray, ImageResult]:
    started = time.perf_counter()
    image = decode_image(data, source="upload", max_pixels=max_pixels)
    decoded = time.perf_counter()
    timer = getattr(estimator, "timer", None)
    if timer is not None:
        timer.reset()
    poses = estimator(image)
    done = time.perf_counter()
    timing = {"decode": 1000 * (decoded - started), "inference": 1000 * (done - decoded)}
    if timer is not None:
        timing.update({f"stage_{k}": v for k, v in timer.mean_ms(per=1).items()})
    model = {"preset": getattr(estimator, "preset", None), "keypoint_schema": poses.schema.name}
    h, w = image.shape[:2]
    return image, ImageResult(w, h, poses, timing, started, model)


def pose_task(data: bytes, max_pixels: int) -> Callable[[Any], ImageResult]:
    """The task ``estimator -> ImageResult`` for ``/v1/pose`` (raises :class:`~posekit.io.ImageReadError`)."""
    def task(estimator: Any) -> ImageResult:
        return _estimate(estimator, data, max_pixels)[1]

    return task


def render_task(data: bytes, max_pixels: int, *, fmt: str, pose_thresh: float, keypoint_thresh: float,
                quality: int) -> Callable[[Any], ImageResult]:
    """The task for ``/v1/pose/render``: as :func:`pose_task`, plus the drawn image encoded as ``fmt``."""
    import cv2

    from posekit.draw import draw_poses

    ext, _ = RENDER_FORMATS[fmt]
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]

    def task(estimator: Any) -> ImageResult:
        image, result = _estimate(estimator, data, max_pixels)
        start = time.perf_counter()
        drawn = draw_poses(image, result.poses, pose_thresh=pose_thresh, keypoint_thresh=keypoint_thresh)
        ok, buf = cv2.imencode(ext, drawn, params)
        if not ok:
            raise RuntimeError(f"OpenCV could not encode the rendered image as {fmt}")
        result.encoded = buf.tobytes()
        result.timing_ms["render"] = 1000 * (time.perf_counter() - start)
        return result

    return task


def image_error(exc: ImageReadError) -> ApiError:
    """The HTTP error for an upload :func:`posekit.io.decode_image` refused (its reason as the detail)."""
    reason = exc.reason or str(exc)
    if reason.startswith("empty"):
        return ApiError(400, "empty body: the upload has no bytes", "empty_body")
    if reason.startswith("not an image"):
        return ApiError(415, f"{reason}: send a JPEG, PNG, BMP, WebP, TIFF, JPEG 2000 or PNM image", "not_an_image")
    if reason.startswith("image too large"):
        return ApiError(413, reason, "image_too_large")
    if reason.startswith("truncated"):
        return ApiError(400, f"{reason}: the upload ends before the image does", "truncated_image")
    return ApiError(400, f"cannot decode the image: {reason}", "invalid_image")


def pose_payload(result: ImageResult, timing_ms: dict[str, float]) -> dict[str, Any]:
    """The ``/v1/pose`` answer: image size, people (box, score, box score, keypoints), names, skeleton, timing.

    Keypoints ``[[x, y, score], ...]`` and ``score`` are :meth:`Poses.to_coco`'s values
    (``posekit predict``'s ``results.json``); boxes are rounded to 0.01 px, box scores to 5 decimals.
    """
    poses = result.poses
    people = []
    for i, entry in enumerate(poses.to_coco(0, flat=True)):
        flat = entry["keypoints"]  # all K keypoints in schema order, whatever COCO fields the schema writes
        people.append({
            "box": [round(float(v), 2) for v in poses.boxes[i]],
            "score": entry["score"],
            "box_score": round(float(poses.box_scores[i]), 5),
            "keypoints": [flat[k : k + 3] for k in range(0, len(flat), 3)],
        })
    schema = poses.schema
    return {
        "image": {"width": result.width, "height": result.height},
        "people": people,
        "keypoint_names": list(schema.keypoints),
        "skeleton": [list(pair) for pair in schema.skeleton],
        "timing_ms": {k: round(v, 2) for k, v in timing_ms.items()},
        "model": result.model,
    }
