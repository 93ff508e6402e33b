"""``posekit presets``: the named configurations with their measured dev-set AP and speed."""

from __future__ import annotations

import argparse

__all__ = ["register", "run", "format_presets"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "presets", help="list the presets (fast, balanced, accurate, movenet) with measured AP and images/s",
        description=__doc__,
    )
    p.set_defaults(func=run)


def format_presets() -> str:
    """One line per preset: name, models, flip test, crop budget, measured AP and images/s."""
    from posekit.presets import DEFAULT_PRESET, PRESETS

    lines = [f"{'preset':10s} {'detector':14s} {'pose model':20s} {'flip':5s} {'crops':15s} {'dev AP':>7s} {'img/s':>6s}"]
    for p in PRESETS.values():
        budget = (f">={p.min_box_score:g}" + (f" >={p.min_box_size:g}px" if p.min_box_size else "")
                  + (f" <={p.max_crops}" if p.max_crops is not None else ""))
        ap = f"{p.dev_ap:.3f}" if p.dev_ap is not None else "-"
        speed = f"{p.images_per_s:.1f}" if p.images_per_s is not None else "-"
        default = "  (default)" if p.name == DEFAULT_PRESET else ""
        lines.append(f"{p.name:10s} {p.detector:14s} {p.pose_model:20s} {'yes' if p.flip_test else 'no':5s} "
                     f"{budget:15s} {ap:>7s} {speed:>6s}  {p.description}{default}")
    lines.append("dev AP and img/s: 300 COCO val images of coco-val-dev, whole pipeline on 2 CPU cores "
                 "(benchmarks/bench_presets.py).")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    print(format_presets())
    return 0
