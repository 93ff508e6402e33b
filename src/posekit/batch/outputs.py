"""Result files assembled from a job's committed records (:mod:`posekit.batch.records`).

Everything here is rebuilt from ``OUT/records`` alone (``posekit merge OUT``), in
key order (:func:`posekit.io.natural_path_key`), one record at a time, so memory
does not grow with the job and an interrupted, resumed job writes the same files
as an uninterrupted one.

Formats (:data:`FORMATS`):

* ``coco`` -- ``results.json``: COCO keypoint results (always written); COCO-WholeBody
  results (``keypoints`` for the body plus ``foot_kpts``, ``face_kpts``,
  ``lefthand_kpts``, ``righthand_kpts``) for 133-keypoint poses
  (:meth:`posekit.structures.Poses.to_coco`).
* ``alphapose`` -- ``alphapose-results.json`` and ``alphapose/KEY.json`` per image
  (all ``K`` keypoints in one flat list).
* ``openpose`` -- ``openpose/KEY_keypoints.json`` per image, OpenPose's layout in
  COCO-18 order with the neck, plus face and hands for whole-body poses
  (:meth:`posekit.structures.Poses.to_openpose`).
* ``parquet`` -- ``results.parquet``: one row per person (``path``, ``image_id``,
  ``person``, ``box``, ``box_score``, ``score``, ``keypoints`` ``(K, 3)``,
  ``track_id``), via pyarrow.

``summary.json`` counts images, people and failures, lists every failed image
once with its reason, and maps each image (its key) to its COCO image id.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from posekit.batch.inputs import display_name
from posekit.batch.records import RecordIndex
from posekit.io import atomic_open, atomic_write_json, image_ids_for, natural_path_key
from posekit.structures import Poses

__all__ = ["FORMATS", "OUTPUT_NAMES", "write_outputs"]

log = logging.getLogger(__name__)

FORMATS = ("coco", "alphapose", "openpose", "parquet")

#: Files and folders a job writes in OUT (``--overwrite`` removes exactly these).
OUTPUT_NAMES = ("records", "job.json", "results.json", "summary.json", "vis", "alphapose-results.json",
                "alphapose", "openpose", "results.parquet")

#: Images per Parquet row group.
_ROW_GROUP_IMAGES = 1000


def _stem(key: str) -> str:
    return os.path.splitext(key)[0]


class _JsonArrayWriter:
    """Writes a JSON array item by item to an open text file."""

    def __init__(self, f: IO[str]) -> None:
        self.f = f
        self.first = True
        f.write("[")

    def extend(self, items: Iterable[Any]) -> None:
        for item in items:
            self.f.write("\n" if self.first else ",\n")
            self.f.write(json.dumps(item, separators=(",", ":")))
            self.first = False

    def close(self) -> None:
        self.f.write("\n]\n" if not self.first else "]\n")


class _ParquetWriter:
    """Rows of people to ``results.parquet``, a row group per :data:`_ROW_GROUP_IMAGES` images."""

    def __init__(self, f: IO[bytes]) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise ImportError("--format parquet needs pyarrow: pip install pyarrow (or 'posekit[ray]')") from exc
        self.pa = pa
        self.schema = pa.schema([
            ("path", pa.string()), ("image_id", pa.int64()), ("person", pa.int32()),
            ("box", pa.list_(pa.float32(), 4)), ("box_score", pa.float32()), ("score", pa.float32()),
            ("keypoints", pa.list_(pa.list_(pa.float32(), 3))), ("track_id", pa.int64()),
        ])
        self.writer = pq.ParquetWriter(f, self.schema)
        self.columns: dict[str, list] = {name: [] for name in self.schema.names}
        self.images = 0

    def add(self, path: str, image_id: int, poses: Poses) -> None:
        rows = poses.to_rows()
        n = len(rows["person"])
        self.columns["path"].extend([path] * n)
        self.columns["image_id"].extend([image_id] * n)
        for name, values in rows.items():
            self.columns[name].extend(values)
        self.images += 1
        if self.images % _ROW_GROUP_IMAGES == 0:
            self.flush()

    def flush(self) -> None:
        if self.columns["path"]:
            self.writer.write_table(self.pa.table(self.columns, schema=self.schema))
            self.columns = {name: [] for name in self.schema.names}

    def close(self) -> None:
        self.flush()
        self.writer.close()


def _ordered_keys(index: RecordIndex) -> list[str]:
    return sorted(index.keys(), key=natural_path_key)


def write_outputs(
    out: str | os.PathLike[str], index: RecordIndex, formats: Iterable[str] = ("coco",),
    extra_summary: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``results.json``, the other ``formats`` and ``summary.json`` from the records.

    Args:
        out: the job's output folder.
        index: its records (:func:`posekit.batch.records.scan_records`).
        formats: any of :data:`FORMATS` (``coco`` is always written).
        extra_summary: more fields for ``summary.json`` (options, timing).

    Returns:
        the summary written.
    """
    out = Path(out)
    formats = set(formats) | {"coco"}
    unknown = formats - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown output formats {sorted(unknown)}; choices: {FORMATS}")
    keys = _ordered_keys(index)
    # Image ids from the whole key set (COCO numbers in the names, else 1..N in key order):
    # the same however many runs committed the records.
    paths = [Path(k) for k in keys]
    by_path = image_ids_for(paths)
    ids = {k: by_path[p] for k, p in zip(keys, paths)}
    errors: list[dict[str, str]] = []
    image_ids: dict[str, int] = {}
    processed = poses_total = 0
    with contextlib.ExitStack() as stack:
        coco = _JsonArrayWriter(stack.enter_context(atomic_open(out / "results.json", "w")))
        alphapose = parquet = None
        if "alphapose" in formats:
            alphapose = _JsonArrayWriter(stack.enter_context(atomic_open(out / "alphapose-results.json", "w")))
        if "parquet" in formats:
            parquet = _ParquetWriter(stack.enter_context(atomic_open(out / "results.parquet", "wb")))
        for record in index.iter_records(keys):
            key = record["key"]
            image_id = ids[key]
            image_ids[display_name(key)] = image_id
            if record["status"] == "error":
                errors.append({"file": display_name(key), "reason": record["error"]})
                continue
            processed += 1
            poses = Poses.from_record(record["poses"])
            poses_total += len(poses)
            coco.extend(poses.to_coco(image_id))
            if alphapose is not None:
                items = poses.to_alphapose(display_name(key))
                alphapose.extend(items)
                _write_json(out / "alphapose" / f"{_stem(key)}.json", items)
            if "openpose" in formats:
                _write_json(out / "openpose" / f"{_stem(key)}_keypoints.json", poses.to_openpose())
            if parquet is not None:
                parquet.add(display_name(key), image_id, poses)
        coco.close()
        if alphapose is not None:
            alphapose.close()
        if parquet is not None:
            parquet.close()
    summary = {
        "images": len(keys),
        "processed": processed,
        "failed": len(errors),
        "poses": poses_total,
        "formats": sorted(formats),
        "errors": errors,
        "ignored_torn_records": index.torn,
        "image_ids": image_ids,
        **(extra_summary or {}),
    }
    atomic_write_json(out / "summary.json", summary)
    return summary


def _write_json(path: Path, obj: Any) -> None:
    """A per-image JSON file (its folder made as needed; no fsync: rebuilt by ``posekit merge``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, obj, fsync=False)


def iter_errors(index: RecordIndex) -> Iterator[tuple[str, str]]:
    """``(key, reason)`` of every failed image, in key order."""
    for key in _ordered_keys(index):
        if index.refs[key].status == "error":
            yield key, index.load(key)["error"]
