"""COCO-format person keypoint data for training and validation.

One :class:`PersonRecord` per person: every non-crowd person annotation with at
least one labelled keypoint (HRNet's ``_load_coco_keypoint_annotation_kernal``),
or every person detection above a score threshold (validation with detected
boxes, HRNet ``USE_GT_BBOX: false``).

Boxes follow posekit's pixel convention (``x2 = x + w``) and are clipped to
the image; HRNet's sanitiser additionally shrinks the box by one pixel
(``x2 = x1 + w - 1``), a pixel-index habit posekit does not copy.

The datasets are plain map-style classes (no torch import) that return numpy
arrays; ``torch.utils.data.DataLoader`` collates them into tensors.

Images are read with :func:`posekit.io.read_image`, by default with
``ignore_orientation=True`` (``ignore_exif``, config ``data.ignore_exif``):
COCO keypoints are labelled in the stored-pixel frame, and HRNet reads with
``cv2.IMREAD_IGNORE_ORIENTATION``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posekit import geometry
from posekit.evaluation import load_coco_json
from posekit.io import ImageReadError, read_image
from posekit.pose.crop import crop_people
from posekit.spec import PoseModelSpec
from posekit.schema import KeypointSchema
from posekit.train.augment import AugmentedCrop, augment_person
from posekit.train.config import AugmentConfig
from posekit.train.targets import make_targets

__all__ = [
    "ImageReadError",
    "PersonRecord",
    "read_image",
    "person_category_ids",
    "load_coco_persons",
    "load_detection_persons",
    "check_images_exist",
    "subset_coco",
    "sample_rng",
    "TrainingSample",
    "KeypointDataset",
    "PersonCropDataset",
]

log = logging.getLogger(__name__)

# ``ImageReadError`` and ``read_image`` are posekit.io's, re-exported here for existing imports.


@dataclass(frozen=True)
class PersonRecord:
    """One person to crop.

    Attributes:
        image_id: COCO image id.
        image_path: path of the image file.
        box: ``(4,)`` xyxy person box in image pixels.
        keypoints: ``(K, 2)`` image pixels (zeros where unlabelled or unknown).
        visible: ``(K,)`` float32, 1 where labelled (COCO ``v > 0``).
        score: box score (1 for ground truth).
        annotation_id: COCO annotation id (-1 for detections).
    """

    image_id: int
    image_path: str
    box: np.ndarray
    keypoints: np.ndarray
    visible: np.ndarray
    score: float = 1.0
    annotation_id: int = -1


def person_category_ids(gt: Mapping[str, Any]) -> set[int]:
    """Category ids named ``"person"`` (or ``{1}`` when the file lists no categories)."""
    cats = gt.get("categories") or []
    ids = {int(c["id"]) for c in cats if c.get("name") == "person"}
    if cats and not ids:
        ids = {int(c["id"]) for c in cats if "keypoints" in c}
    return ids or {1}


def _image_table(gt: Mapping[str, Any], images_dir: str | os.PathLike[str]) -> dict[int, dict[str, Any]]:
    table = {}
    for img in gt.get("images", []):
        table[int(img["id"])] = {
            "path": str(Path(images_dir) / img["file_name"]),
            "width": img.get("width"),
            "height": img.get("height"),
        }
    return table


def _clip_box(box: np.ndarray, width: int | None, height: int | None) -> np.ndarray:
    if width is None or height is None:
        return box
    return geometry.clip_boxes(box[None], (int(height), int(width)))[0]


def _annotation_keypoints(ann: Mapping[str, Any], num_keypoints: int, schema: KeypointSchema | None) -> list:
    """The flat ``[x, y, v] * K`` list of an annotation: ``keypoints``, or the schema's part fields joined."""
    flat = ann.get("keypoints") or []
    if (
        schema is not None and schema.parts and schema.num_keypoints == num_keypoints
        and len(flat) != 3 * num_keypoints and any(f in ann for f in schema.coco_fields if f != "keypoints")
    ):
        return schema.join_coco(ann)
    return list(flat)


def load_coco_persons(
    annotations: Mapping[str, Any] | str | os.PathLike[str],
    images_dir: str | os.PathLike[str],
    num_keypoints: int = 17,
    min_keypoints: int = 1,
    *,
    schema: KeypointSchema | None = None,
) -> list[PersonRecord]:
    """One record per non-crowd person annotation with ``>= min_keypoints`` labelled keypoints.

    Args:
        annotations: COCO person-keypoint dict or JSON path.
        images_dir: folder holding the ``file_name`` of each image.
        num_keypoints: ``K`` of the annotations.
        min_keypoints: minimum labelled keypoints (1, as HRNet).
        schema: the keypoint layout; when it has COCO
            :attr:`~posekit.schema.KeypointSchema.parts` (COCO-WholeBody), an
            annotation that carries the parts in their own fields (``keypoints``
            the 17 body points, ``foot_kpts``, ``face_kpts``, ...) is read as their
            concatenation (:meth:`~posekit.schema.KeypointSchema.join_coco`);
            all ``K`` in ``keypoints`` is read as it is.

    Returns:
        records in annotation order (boxes clipped to the image; empty boxes skipped).
    """
    gt = load_coco_json(annotations)
    images = _image_table(gt, images_dir)
    person_ids = person_category_ids(gt)
    records = []
    for ann in gt.get("annotations", []):
        if int(ann.get("category_id", 1)) not in person_ids or ann.get("iscrowd", 0):
            continue
        raw = np.asarray(_annotation_keypoints(ann, num_keypoints, schema), dtype=np.float64)
        if raw.size != 3 * num_keypoints:
            if raw.size:
                raise ValueError(
                    f"annotation {ann.get('id')}: {raw.size // 3} keypoints, expected {num_keypoints}"
                )
            continue
        raw = raw.reshape(num_keypoints, 3)
        visible = (raw[:, 2] > 0).astype(np.float32)
        if visible.sum() < min_keypoints:
            continue
        image_id = int(ann["image_id"])
        if image_id not in images:
            raise ValueError(f"annotation {ann.get('id')} refers to image id {image_id}, which is not in 'images'")
        img = images[image_id]
        box = geometry.xywh_to_xyxy(np.asarray(ann["bbox"], dtype=np.float64))
        box = _clip_box(box, img["width"], img["height"])
        if box[2] <= box[0] or box[3] <= box[1] or float(ann.get("area", 1.0)) <= 0:
            continue
        records.append(
            PersonRecord(
                image_id=image_id,
                image_path=img["path"],
                box=box,
                keypoints=raw[:, :2] * visible[:, None],
                visible=visible,
                score=1.0,
                annotation_id=int(ann.get("id", -1)),
            )
        )
    log.info("loaded %d persons from %d images", len(records), len({r.image_id for r in records}))
    return records


def load_detection_persons(
    detections: Sequence[Mapping[str, Any]] | str | os.PathLike[str],
    annotations: Mapping[str, Any] | str | os.PathLike[str],
    images_dir: str | os.PathLike[str],
    score_threshold: float = 0.0,
    num_keypoints: int = 17,
) -> list[PersonRecord]:
    """One record per person detection (COCO results format) with ``score >= score_threshold``.

    Args:
        detections: list of ``{"image_id", "bbox" (xywh), "score", "category_id"?}`` or a JSON path.
        annotations: the COCO dict / path that maps image ids to files.
        images_dir: image folder.
        score_threshold: HRNet ``IMAGE_THRE``.
        num_keypoints: ``K`` (records carry empty keypoints).
    """
    if isinstance(detections, (str, os.PathLike)):
        with open(detections, encoding="utf-8") as f:
            detections = json.load(f)
    if not isinstance(detections, (list, tuple)):
        raise ValueError("detections must be a list of COCO results (image_id, bbox, score)")
    gt = load_coco_json(annotations)
    images = _image_table(gt, images_dir)
    person_ids = person_category_ids(gt)
    records = []
    for i, det in enumerate(detections):
        if "category_id" in det and int(det["category_id"]) not in person_ids:
            continue
        score = float(det.get("score", 1.0))
        if score < score_threshold:
            continue
        image_id = int(det["image_id"])
        if image_id not in images:
            raise ValueError(f"detection {i} refers to image id {image_id}, which is not in the annotations")
        box = geometry.xywh_to_xyxy(np.asarray(det["bbox"], dtype=np.float64))
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        records.append(
            PersonRecord(
                image_id=image_id,
                image_path=images[image_id]["path"],
                box=box,
                keypoints=np.zeros((num_keypoints, 2)),
                visible=np.zeros(num_keypoints, dtype=np.float32),
                score=score,
            )
        )
    log.info("loaded %d person detections (score >= %g)", len(records), score_threshold)
    return records


def check_images_exist(records: Iterable[PersonRecord]) -> None:
    """Raise :class:`ImageReadError` naming the first missing image files."""
    missing = sorted({r.image_path for r in records if not os.path.isfile(r.image_path)})
    if missing:
        shown = ", ".join(missing[:5]) + (f" ... ({len(missing)} in all)" if len(missing) > 5 else "")
        raise ImageReadError(missing[0], f"file not found; missing image files: {shown}")


def subset_coco(gt: Mapping[str, Any] | str | os.PathLike[str], image_ids: Iterable[int]) -> dict[str, Any]:
    """A copy of a COCO dict keeping only ``image_ids`` (images and their annotations)."""
    data = load_coco_json(gt)
    keep = {int(i) for i in image_ids}
    out = {k: v for k, v in data.items() if k not in ("images", "annotations")}
    out["images"] = [img for img in data.get("images", []) if int(img["id"]) in keep]
    out["annotations"] = [a for a in data.get("annotations", []) if int(a["image_id"]) in keep]
    return out


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The random source of sample ``index`` in ``epoch``: independent of workers, ranks and resumes."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])


@dataclass(frozen=True)
class TrainingSample:
    """An augmented crop with its targets (see :meth:`KeypointDataset.sample`).

    Attributes:
        crop: ``(H_in, W_in, 3)`` BGR uint8.
        target: ``(K, H_in/stride, W_in/stride)`` float32 heatmaps, or ``(K, W r + H r)`` packed SimCC
            vectors for a SimCC model (:func:`posekit.train.targets.make_targets`).
        target_weight: ``(K,)`` float32.
        augmented: keypoints, visibility, matrix and drawn parameters.
        record: the source person.
    """

    crop: np.ndarray
    target: np.ndarray
    target_weight: np.ndarray
    augmented: AugmentedCrop
    record: PersonRecord


class KeypointDataset:
    """Training crops with HRNet augmentation and Gaussian targets.

    Items are indexed by ``index`` or ``(epoch, index)``; the augmentation of
    an item is drawn from :func:`sample_rng` ``(seed, epoch, index)``, so a run
    is reproducible with any number of workers or processes and resumes
    exactly mid-epoch.

    Args:
        records: persons (from :func:`load_coco_persons`).
        spec: the network contract (input size, normalisation, crop padding, stride).
        schema: keypoint layout (flip pairs, upper body).
        augment: augmentation settings.
        sigma: target Gaussian sigma (heatmap pixels).
        joint_weights: ``(K,)`` per-joint loss weights or ``None``.
        seed: run seed.
        check_files: verify all image files exist now (raises :class:`ImageReadError`).
        ignore_exif: read images in their stored pixel frame, ignoring the EXIF
            orientation (True for COCO-style data, config ``data.ignore_exif``).

    Each item is a dict of numpy arrays: ``image`` ``(3, H_in, W_in)`` float32
    network input, ``target`` ``(K, H_in/4, W_in/4)`` (SimCC: ``(K, W r + H r)``), ``target_weight``
    ``(K,)``, ``keypoints`` ``(K, 2)`` crop pixels, ``visible`` ``(K,)``,
    ``index`` (int64).
    """

    def __init__(
        self,
        records: Sequence[PersonRecord],
        spec: PoseModelSpec,
        schema: KeypointSchema,
        augment: AugmentConfig,
        sigma: float = 2.0,
        joint_weights: Sequence[float] | None = None,
        seed: int = 0,
        check_files: bool = True,
        ignore_exif: bool = True,
    ) -> None:
        if spec.output not in ("heatmaps", "simcc"):
            raise ValueError(f"training needs a heatmap or SimCC model, spec.output is {spec.output!r}")
        if spec.crop.mode != "affine":
            log.warning(
                "training crops use the affine crop (padding %.2f), not the %r crop", spec.crop.padding, spec.crop.mode
            )
        self.records = list(records)
        self.spec = spec.with_(layout="NCHW", dtype="float32")
        self.schema = schema
        self.augment = augment
        self.sigma = float(sigma)
        self.joint_weights = None if joint_weights is None else np.asarray(joint_weights, np.float32)
        self.seed = int(seed)
        self.ignore_exif = bool(ignore_exif)
        if check_files:
            check_images_exist(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def image(self, index: int) -> np.ndarray:
        """The whole image of person ``index``, ``(H, W, 3)`` uint8 BGR, as training reads it."""
        return read_image(self.records[index].image_path, ignore_orientation=self.ignore_exif)

    def sample(self, index: int, epoch: int = 0) -> TrainingSample:
        """The augmented crop and targets of person ``index`` in ``epoch``."""
        record = self.records[index]
        image = self.image(index)
        centers, scales = geometry.box_to_center_scale(record.box[None], self.spec.aspect_ratio, self.spec.crop.padding)
        aug = augment_person(
            image,
            record.keypoints,
            record.visible,
            centers[0],
            scales[0],
            sample_rng(self.seed, epoch, index),
            self.augment,
            self.schema,
            self.spec.input_size,
            self.spec.crop.border_value,
        )
        target, weight = make_targets(aug.keypoints, aug.visible, self.spec, self.sigma, self.joint_weights)
        return TrainingSample(crop=aug.crop, target=target, target_weight=weight, augmented=aug, record=record)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, np.ndarray]:
        epoch, index = (0, key) if np.isscalar(key) else (int(key[0]), int(key[1]))  # type: ignore[index]
        s = self.sample(int(index), epoch)
        return {
            "image": self.spec.preprocess(s.crop[None])[0],
            "target": s.target,
            "target_weight": s.target_weight,
            "keypoints": s.augmented.keypoints.astype(np.float32),
            "visible": s.augmented.visible,
            "index": np.int64(index),
        }


class PersonCropDataset:
    """Un-augmented validation crops under the model's crop convention.

    Args:
        records: persons (ground-truth boxes or detections).
        spec: the network contract (crop mode, padding, input size, normalisation).
        check_files: verify all image files exist now.
        ignore_exif: read images in their stored pixel frame (True for COCO-style
            data, config ``data.ignore_exif``), see :class:`KeypointDataset`.

    Each item: ``image`` ``(3, H_in, W_in)`` float32, ``matrix`` ``(2, 3)``
    float64 image -> crop map, ``index`` (int64).
    """

    def __init__(
        self,
        records: Sequence[PersonRecord],
        spec: PoseModelSpec,
        check_files: bool = True,
        ignore_exif: bool = True,
    ) -> None:
        self.records = list(records)
        self.spec = spec.with_(layout="NCHW", dtype="float32")
        self.ignore_exif = bool(ignore_exif)
        if check_files:
            check_images_exist(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def image(self, index: int) -> np.ndarray:
        """The whole image of person ``index``, ``(H, W, 3)`` uint8 BGR, as validation reads it."""
        return read_image(self.records[int(index)].image_path, ignore_orientation=self.ignore_exif)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        record = self.records[int(index)]
        image = self.image(int(index))
        crops, mats = crop_people(image, record.box[None], self.spec)
        return {"image": self.spec.preprocess(crops)[0], "matrix": mats[0], "index": np.int64(index)}
