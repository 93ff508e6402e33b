"""Paths of the repository's test data (``tests/data``, see its README) and the synthetic contract models.

Plain constants and helpers (``import testdata``); the fixtures that wrap them are in ``conftest.py``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"

#: 23 COCO val2017 images (CC BY 2.0 / CC BY-SA 2.0) and their person keypoints: ``images/``, ``person_keypoints.json``.
COCO = DATA / "coco"
COCO_IMAGES = COCO / "images"
COCO_GT = COCO / "person_keypoints.json"

#: One upright person, whole body in view (a skier; COCO 556158, CC BY 2.0), and its ground-truth box (x1, y1, x2, y2).
PERSON_IMAGE = COCO_IMAGES / "000000556158.jpg"
PERSON_BOX = np.array([[147.8, 140.8, 287.0, 463.67]])
#: Two basketball players (OpenCV sample, Apache-2.0; the README's example image).
BASKETBALL = REPO / "examples" / "basketball1.png"
#: scikit-image's astronaut (public domain, NASA): the RTMPose fixtures' image-space case.
ASTRONAUT = DATA / "samples" / "astronaut.png"

#: MMPose's 5-frame demo clip (960x540) and the first 30 frames of OpenCV's vtest.avi (768x576, pedestrians).
DEMO_VIDEO = DATA / "videos" / "mmpose-demo.mp4"
VTEST_VIDEO = DATA / "videos" / "vtest-30.mp4"

#: Official-network parity fixtures (``manifest.json``, ``fixture.json``, outputs; weights and inputs regenerated).
FIXTURES = DATA / "fixtures"


def coco_gt() -> dict[str, Any]:
    """The repository's COCO ground truth (a new dict each call)."""
    return json.loads(COCO_GT.read_text())


def coco_image_paths() -> list[Path]:
    """The COCO images, sorted by file name."""
    return sorted(COCO_IMAGES.glob("*.jpg"))


def image_folder(folder: Path, n: int) -> list[Path]:
    """``n`` photos with people in ``folder``, named like COCO files (sorted names; returns their paths).

    The repository's COCO images first, under their names; beyond those, their left-right mirrors saved as
    JPEG under 12-digit names from 900000000000 up (for jobs that need more images than the repository has).
    """
    import shutil

    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    sources = coco_image_paths()
    paths = []
    for i in range(n):
        src = sources[i % len(sources)]
        if i < len(sources):
            path = folder / src.name
            shutil.copyfile(src, path)
        else:
            path = folder / f"{900000000000 + i:012d}.jpg"
            assert cv2.imwrite(str(path), cv2.flip(cv2.imread(str(src)), 1))
        paths.append(path)
    return sorted(paths)


def mixed_files(folder: Path) -> list[Path]:
    """The first 14 COCO images with bad files interleaved (a corrupt JPEG in ``folder``, a text file named
    ``.png``, an empty file, a missing path): the engine-equality inputs."""
    good = coco_image_paths()[:14]
    corrupt = folder / "corrupt.jpg"
    corrupt.write_bytes(good[0].read_bytes()[:300])
    text = folder / "notes.png"
    text.write_text("not an image")
    empty = folder / "empty.jpg"
    empty.write_bytes(b"")
    bad = [corrupt, text, empty, folder / "missing.jpg"]
    files: list[Path] = []
    for i, path in enumerate(good):
        files.append(path)
        if i % 4 == 1:
            files.append(bad[(i // 4) % len(bad)])
    return files


def same_result(a: Any, b: Any) -> bool:
    """Two :class:`posekit.pipeline.FileResult` of one file are identical (error, or every array of the poses)."""
    if (a.poses is None) != (b.poses is None) or a.error != b.error or a.path != b.path:
        return False
    if a.poses is None:
        return True
    fields = ("boxes", "box_scores", "keypoints", "keypoint_scores", "scores", "track_ids")
    return all(np.array_equal(getattr(a.poses, f), getattr(b.poses, f)) for f in fields)


# ----------------------------------------------------------------------------- synthetic contract models

#: Boxes ``(x1, y1, x2, y2, score)`` planted in the synthetic YOLOX-nano output, in its 416x416 input frame.
YOLOX_BOXES = ((120.0, 60.0, 220.0, 380.0, 0.92), (250.0, 100.0, 330.0, 300.0, 0.6))
#: ``dets`` / ``labels`` planted in the synthetic RTMDet end2end output (320x320 input frame); label 1 is no person.
RTMDET_DETS = ((40.0, 30.0, 140.0, 290.0, 0.88), (150.0, 50.0, 230.0, 250.0, 0.55), (10.0, 10.0, 60.0, 60.0, 0.9))
RTMDET_LABELS = (0, 0, 1)

#: An upright person as MoveNet's normalised ``(y, x)``: COCO-17 order, head at the top, ankles at the bottom.
MOVENET_YX = (
    (0.12, 0.50), (0.10, 0.53), (0.10, 0.47), (0.11, 0.56), (0.11, 0.44),
    (0.25, 0.62), (0.25, 0.38), (0.40, 0.66), (0.40, 0.34), (0.53, 0.68), (0.53, 0.32),
    (0.55, 0.58), (0.55, 0.42), (0.72, 0.59), (0.72, 0.41), (0.90, 0.60), (0.90, 0.40),
)


def movenet_keypoints() -> np.ndarray:
    """``(17, 3)`` float32: :data:`MOVENET_YX` with scores falling from 0.9 to 0.58."""
    yx = np.asarray(MOVENET_YX, np.float32)
    return np.concatenate([yx, np.linspace(0.9, 0.58, 17, dtype=np.float32)[:, None]], axis=1)


def yolo_pose_person(cx: float, cy: float, w: float, h: float, score: float, visibility: float = 0.8) -> np.ndarray:
    """One YOLO-pose candidate ``(5 + 3 * 17,)``: box ``cx, cy, w, h``, person score, then an upright person
    (:data:`MOVENET_YX` scaled into the box) as ``x, y, visibility`` per keypoint."""
    yx = np.asarray(MOVENET_YX)
    keypoints = np.column_stack([cx - w / 2 + yx[:, 1] * w, cy - h / 2 + yx[:, 0] * h, np.full(len(yx), visibility)])
    return np.concatenate([[cx, cy, w, h, score], keypoints.ravel()])


#: Catalogue entry -> file name of its synthetic stand-in (the catalogue's own file names).
CONTRACT_FILES = MappingProxyType({
    "yolox_nano": "yolox_nano_416x416.onnx",
    "rtmdet_nano": "rtmdet-nano-person/end2end.onnx",
    "movenet_thunder": "movenet-thunder_with_heatmaps.onnx",
    "movenet_lightning": "movenet-lightning_with_heatmaps.onnx",
})
#: Synthetic HRNet-contract heatmap networks (no catalogue entry: loaded by path, as a user's own file).
HEATMAP_NET = "heatmap-net-256x192.onnx"  # fixed batch 1, like many exported files
HEATMAP_NET_DYNAMIC = "heatmap-net-256x192-dynamic.onnx"


def build_contract_models(folder: Path) -> Path:
    """Write every synthetic contract model into ``folder`` (catalogue file names); returns ``folder``."""
    import contract_models as cm

    cm.write(cm.yolox_nano(YOLOX_BOXES), folder / CONTRACT_FILES["yolox_nano"])
    cm.write(cm.rtmdet_end2end(RTMDET_DETS, RTMDET_LABELS), folder / CONTRACT_FILES["rtmdet_nano"])
    cm.write(cm.movenet(movenet_keypoints(), 256), folder / CONTRACT_FILES["movenet_thunder"])
    cm.write(cm.movenet(movenet_keypoints(), 192), folder / CONTRACT_FILES["movenet_lightning"])
    cm.write(cm.heatmap_net(fixed_batch=True), folder / HEATMAP_NET)
    cm.write(cm.heatmap_net(fixed_batch=False), folder / HEATMAP_NET_DYNAMIC)
    return folder


def copy_packaged(folder: Path) -> Path:
    """Copy posekit's packaged model files into ``folder`` under their catalogue names; returns ``folder``."""
    import shutil

    from posekit import catalog

    for entry in catalog.list_entries():
        if entry.file.packaged:
            target = folder / entry.file.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(catalog.package_weights_dir() / entry.file.package_name, target)
    return folder


def contract_catalog(folder: Path) -> Mapping[str, Any]:
    """A copy of ``posekit.catalog.CATALOG`` whose unshipped ONNX entries carry the sha256 of the synthetic files
    in ``folder`` (for ``monkeypatch.setattr(catalog, "CATALOG", ...)``)."""
    from posekit import catalog
    from posekit.io import sha256_file

    entries = dict(catalog.CATALOG)
    for name, file_name in CONTRACT_FILES.items():
        entry = entries[name]
        assert entry.file.name == file_name, (name, entry.file.name)
        file = dataclasses.replace(entry.file, sha256=sha256_file(folder / file_name))
        entries[name] = dataclasses.replace(entry, files=(file, *entry.files[1:]))
    return MappingProxyType(entries)
