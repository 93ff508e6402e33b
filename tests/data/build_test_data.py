"""Rebuild ``tests/data`` from the team's ``../shared`` folder (run once by hand; the tests never run it).

What it copies and why is in ``README.md`` beside this file. Usage::

    python tests/data/build_test_data.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import cv2

HERE = Path(__file__).resolve().parent

#: COCO val2017 images licensed CC BY 2.0 (4) or CC BY-SA 2.0 (5), by people in the ground truth
#: (non-crowd annotations): 1 | 2-4 | 5-9 | 10+.
COCO_IMAGES = {
    "1": [42102, 556158, 520910, 261061, 205105, 172877, 490515, 404484],
    "2-4": [21167, 343218, 117425, 23899, 532690, 491366],
    "5-9": [885, 541055, 147729, 352684, 345466],
    "10+": [447314, 7511, 231508, 474028],
}
FREE_LICENCES = (4, 5)

#: Parity fixtures: everything but the arrays the tests regenerate (``input.npy`` = synth_input,
#: ``image_inputs.npy`` from ``image_crops.npy``). RTMO's raw head tensors are left out (no test uses them).
FIXTURE_SKIP = {"input.npy", "image_inputs.npy"}
FIXTURE_FOLDERS_SKIP = {"rtmo_s_640x640"}

VTEST_FRAMES = 30


def copy_coco(shared: Path) -> None:
    src = shared / "data" / "coco-val-dev"
    gt = json.loads((src / "person_keypoints.json").read_text())
    ids = [i for bucket in COCO_IMAGES.values() for i in bucket]
    images = [im for im in gt["images"] if im["id"] in ids]
    assert len(images) == len(ids), "an image id is not in the dev set"
    assert all(im["license"] in FREE_LICENCES for im in images), "only CC BY / CC BY-SA images"
    out = HERE / "coco"
    (out / "images").mkdir(parents=True, exist_ok=True)
    for im in images:
        shutil.copyfile(src / "images" / im["file_name"], out / "images" / im["file_name"])
    subset = {
        "info": {**gt.get("info", {}), "description": "23 COCO val2017 images (CC BY / CC BY-SA) with their "
                 "person keypoint annotations; a subset of the COCO 2017 validation set"},
        "licenses": [lic for lic in gt["licenses"] if lic["id"] in FREE_LICENCES],
        "images": sorted(images, key=lambda im: im["id"]),
        "annotations": [a for a in gt["annotations"] if a["image_id"] in ids],
        "categories": gt["categories"],
    }
    (out / "person_keypoints.json").write_text(json.dumps(subset, separators=(",", ":")))


def copy_fixtures(shared: Path) -> None:
    out = HERE / "fixtures"
    for folder in sorted((shared / "fixtures").iterdir()):
        if not folder.is_dir() or folder.name in FIXTURE_FOLDERS_SKIP:
            continue
        (out / folder.name).mkdir(parents=True, exist_ok=True)
        for f in folder.iterdir():
            if f.name not in FIXTURE_SKIP:
                shutil.copyfile(f, out / folder.name / f.name)
    shutil.copyfile(shared / "fixtures" / "README.md", out / "README-shared.md")


def copy_media(shared: Path) -> None:
    (HERE / "samples").mkdir(exist_ok=True)
    shutil.copyfile(shared / "data" / "samples" / "astronaut.png", HERE / "samples" / "astronaut.png")
    (HERE / "videos").mkdir(exist_ok=True)
    shutil.copyfile(shared / "data" / "videos" / "mmpose-demo.mp4", HERE / "videos" / "mmpose-demo.mp4")
    # the first seconds of OpenCV's vtest.avi (pedestrians), re-encoded
    cap = cv2.VideoCapture(str(shared / "data" / "videos" / "vtest.avi"))
    fps = cap.get(cv2.CAP_PROP_FPS)
    writer = None
    for _ in range(VTEST_FRAMES):
        ok, frame = cap.read()
        assert ok
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(str(HERE / "videos" / "vtest-30.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        writer.write(frame)
    writer.release()
    cap.release()


def copy_keypoint_sets(shared: Path) -> None:
    """MMPose's COCO-WholeBody test annotations (whole-body evaluation) with MMPose's licence file."""
    src = shared / "data" / "keypoint-sets"
    out = HERE / "keypoint-sets"
    (out / "coco").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "coco" / "test_coco_wholebody.json", out / "coco" / "test_coco_wholebody.json")
    shutil.copyfile(src / "LICENSE-mmpose-testdata", out / "LICENSE-mmpose-testdata")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=HERE.parents[2] / "shared")
    args = parser.parse_args()
    copy_coco(args.shared)
    copy_fixtures(args.shared)
    copy_media(args.shared)
    copy_keypoint_sets(args.shared)


if __name__ == "__main__":
    main()
