"""Named pipeline configurations: ``fast``, ``balanced`` (the default), ``accurate``, ``movenet``, and for
connected users ``rtmpose-m``, ``rtmpose-l``, ``wholebody`` and the one-stage ``crowd``.

A preset names a detector and a pose model from :mod:`posekit.catalog` and the
settings around them (flip test, decoder, detector thresholds, crop budget,
pose NMS). ``PoseEstimator(preset=...)``, ``posekit predict --preset`` and the
video commands read them; any option given explicitly overrides the preset's.

The offline presets' values were chosen on the 300 images of ``coco-val-dev``
(and only there); the measured figures (``dev_ap``, ``images_per_s``: the engine's,
two single-threaded workers) are from one interleaved run of
``benchmarks/bench_presets.py`` on 2 CPU cores and are shown by ``posekit presets``.
The RTMPose presets' weights download on first use and could not be had here, so
their settings are MMPose's and rtmlib's defaults, not measured ones. Whether a
preset runs offline, downloads, or needs files you provide is the catalogue's
business (``posekit presets`` asks it). Pure data: imports nothing from posekit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["Preset", "PRESETS", "DEFAULT_PRESET", "get_preset"]


@dataclass(frozen=True)
class Preset:
    """One named pipeline configuration.

    Attributes:
        name: the preset's name.
        description: what it is for, in one line.
        detector: catalogue detector name (``None`` for a one-stage pose model, which needs none).
        pose_model: catalogue pose model name (top-down or one-stage).
        flip_test: run mirrored crops too and average.
        decode: heatmap decoder (``None``: the pose model's spec).
        det_conf: detector confidence threshold.
        det_nms: detector NMS IoU threshold.
        min_box_score: crop budget: smallest box score that gets a pose crop.
        min_box_size: crop budget: smallest box short side (pixels) that gets a crop.
        max_crops: crop budget: most crops per image (``None``: no cap).
        pose_nms: ``"oks"``, ``"parametric"`` or ``"none"``.
        dev_ap: measured COCO keypoint AP on the dev set (documentation only).
        images_per_s: measured whole-pipeline images/s on the dev set, 2 cores (documentation only).
    """

    name: str
    description: str
    detector: str | None
    pose_model: str
    flip_test: bool
    decode: str | None = None
    det_conf: float = 0.05
    det_nms: float = 0.6
    min_box_score: float = 0.0
    min_box_size: float = 0.0
    max_crops: int | None = None
    pose_nms: str = "oks"
    dev_ap: float | None = None
    images_per_s: float | None = None

    def with_(self, **changes: Any) -> "Preset":
        """A copy with some fields changed."""
        return replace(self, **changes)


PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        p.name: p
        for p in (
            # Dev-set tuning (benchmarks/tune_presets.py): PicoDet-320 boxes beat PicoDet-192 even for
            # the 128x96 model (AP 0.547 vs 0.521 at box score >= 0.2); the flip test costs little at
            # 128x96 and gives +0.017 (0.564). Boxes with a side under 16 / 20 / 24 / 28 px: AP 0.5643 /
            # 0.5645 / 0.5614 / 0.5587 with 5.33 / 4.92 / 4.53 / 4.17 crops per image (none: 0.5640, 5.84).
            Preset(
                name="fast",
                description="PicoDet-S 320 + PP-TinyPose 128x96 with flip test, boxes scoring >= 0.2, >= 20 px",
                detector="picodet_s_320",
                pose_model="pp_tinypose_128x96",
                flip_test=True,
                min_box_score=0.2,
                min_box_size=20,
                dev_ap=0.565,
                images_per_s=31.6,
            ),
            # AP / crops per image over the box-score threshold (256x192, no flip, HRNet decoder):
            # 0.05: 0.669 / 43.4, 0.1: 0.668 / 18.2, 0.2: 0.659 / 5.8, 0.3: 0.644 / 3.1; caps of
            # 10 / 20 crops per image lose more than a threshold at the same cost. DARK at 0.15:
            # 0.673 with 9.6 crops per image. Boxes with a side under 16 / 20 / 24 / 28 px dropped:
            # AP 0.6739 / 0.6744 / 0.6738 / 0.6692, multi-person 0.6511 / 0.6514 / 0.6499 / 0.6439,
            # 8.43 / 7.67 / 6.94 / 6.31 crops (none: 0.6734, 0.6505, 9.61): 20 px, the most crops saved
            # with neither AP lower.
            Preset(
                name="balanced",
                description="PicoDet-S 320 + PP-TinyPose 256x192, no flip test, boxes scoring >= 0.15, >= 20 px: "
                            "the default",
                detector="picodet_s_320",
                pose_model="pp_tinypose_256x192",
                flip_test=False,
                min_box_score=0.15,
                min_box_size=20,
                dev_ap=0.674,
                images_per_s=13.5,
            ),
            # Flip test + DARK at box score >= 0.2: 0.676 (no flip 0.666); the lower threshold keeps
            # more people for twice the network time. Boxes under 16 / 20 / 24 / 28 px dropped: AP
            # 0.6867 / 0.6871 / 0.6870 / 0.6836 with 15.4 / 13.9 / 12.5 / 11.2 crops (none: 0.686, 18.2).
            Preset(
                name="accurate",
                description="PicoDet-S 320 + PP-TinyPose 256x192 with flip test, boxes scoring >= 0.1, >= 24 px",
                detector="picodet_s_320",
                pose_model="pp_tinypose_256x192",
                flip_test=True,
                min_box_score=0.1,
                min_box_size=24,
                dev_ap=0.687,
                images_per_s=4.8,
            ),
            Preset(
                name="movenet",
                description="YOLOX-nano + MoveNet Thunder with flip test: the previous default, kept as a reference "
                            "(needs the MoveNet file of our conversion, which has no download)",
                detector="yolox_nano",
                pose_model="movenet_thunder",
                flip_test=True,
                dev_ap=0.608,
                images_per_s=5.9,
            ),
            # Connected users (weights download on first use; not measured here): rtmlib's "balanced" pairing,
            # YOLOX-m (HumanArt) boxes scoring > 0.3 (rtmlib's and MMPose's demo threshold) and >= 20 px
            # (measured above for PP-TinyPose), RTMPose's official ONNX files, no flip test (rtmlib's choice; MMPose
            # evaluates with it).
            Preset(
                name="rtmpose-m",
                description="YOLOX-m + RTMPose-m 256x192 (official ONNX, Body7), boxes scoring >= 0.3: downloads",
                detector="yolox_m_humanart",
                pose_model="rtmpose_m_256x192_onnx",
                flip_test=False,
                min_box_score=0.3,
                min_box_size=20,
            ),
            Preset(
                name="rtmpose-l",
                description="YOLOX-m + RTMPose-l 256x192 (official ONNX, Body7) with flip test: downloads",
                detector="yolox_m_humanart",
                pose_model="rtmpose_l_256x192_onnx",
                flip_test=True,
                min_box_score=0.3,
                min_box_size=20,
            ),
            # One-stage: RTMO-s finds everybody in one network call, whatever the crowd (no detector, no crops).
            Preset(
                name="crowd",
                description="RTMO-s 640x640, one-stage (official ONNX, Body7): cost flat in the number of people: "
                            "downloads",
                detector=None,
                pose_model="rtmo_s_body7",
                flip_test=False,
                pose_nms="none",
            ),
            Preset(
                name="wholebody",
                description="YOLOX-m + RTMW-l 256x192: 133 keypoints (body, feet, face, hands): downloads",
                detector="yolox_m_humanart",
                pose_model="rtmw_l_256x192_onnx",
                flip_test=False,
                min_box_score=0.3,
                min_box_size=20,
            ),
        )
    }
)

#: The preset of ``PoseEstimator()``, ``posekit predict`` and the video commands.
DEFAULT_PRESET = "balanced"


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ``ValueError`` naming the choices otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choices: {sorted(PRESETS)}") from None
