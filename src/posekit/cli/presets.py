"""``posekit presets``: the named configurations, whether each runs offline, downloads its models on first use
or needs files you provide, and the measured dev-set AP and speed of the offline ones."""

from __future__ import annotations

import argparse

__all__ = ["register", "run", "format_presets"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "presets", help="list the presets, whether they run offline or download, with measured AP and images/s",
        description=__doc__,
    )
    p.add_argument("--models-dir", default=None, help="folder with model files (as for predict)")
    p.set_defaults(func=run)


#: How a preset's models can be had, best first: ``"offline"`` (in the package), then the states of
#: :data:`posekit.catalog.AVAILABILITY`; a preset is as available as the worse of its detector and pose model.
_RANK = ("offline", "present", "downloads", "blocked", "unavailable")

_AVAILABILITY_TEXT = {
    "offline": "offline",
    "present": "present",
    "downloads": "downloads on first use",
    "blocked": "cannot download now",
    "unavailable": "needs files you provide",
}


def preset_availability(preset, models_dir=None) -> str:
    """``"offline"`` (in the package), ``"present"`` (found in the models dir / cache), ``"downloads"``,
    ``"blocked"`` (would download, but ``POSEKIT_OFFLINE`` is set) or ``"unavailable"`` for a
    :class:`posekit.presets.Preset`, without downloading anything (:func:`posekit.catalog.resolve`)."""
    from posekit import catalog

    states = []
    for name in (n for n in (preset.detector, preset.pose_model) if n is not None):
        found = catalog.resolve(catalog.get(name).files, models_dir)
        states.append("offline" if found.origin == "package" else found.state)
    return max(states, key=_RANK.index)


def format_presets(models_dir=None) -> str:
    """One line per preset: name, availability, models, flip test, crop budget, measured AP and images/s."""
    from posekit.presets import DEFAULT_PRESET, PRESETS

    lines = [f"{'preset':10s} {'models':23s} {'detector':17s} {'pose model':23s} {'flip':5s} {'crops':15s} "
             f"{'dev AP':>7s} {'img/s':>6s}"]
    blocked = False
    for p in PRESETS.values():
        budget = "-" if p.detector is None else (
            f">={p.min_box_score:g}" + (f" >={p.min_box_size:g}px" if p.min_box_size else "")
            + (f" <={p.max_crops}" if p.max_crops is not None else ""))
        ap = f"{p.dev_ap:.3f}" if p.dev_ap is not None else "-"
        speed = f"{p.images_per_s:.1f}" if p.images_per_s is not None else "-"
        default = "  (default)" if p.name == DEFAULT_PRESET else ""
        availability = preset_availability(p, models_dir)
        blocked = blocked or availability == "blocked"
        state = _AVAILABILITY_TEXT[availability]
        detector = p.detector or "- (one-stage)"
        lines.append(f"{p.name:10s} {state:23s} {detector:17s} {p.pose_model:23s} {'yes' if p.flip_test else 'no':5s} "
                     f"{budget:15s} {ap:>7s} {speed:>6s}  {p.description}{default}")
    lines.append("dev AP and img/s: 300 COCO val images of coco-val-dev, whole pipeline on 2 CPU cores "
                 "(benchmarks/bench_presets.py); '-': not measured here (weights that download).")
    if blocked:
        lines.append("cannot download now: POSEKIT_OFFLINE is set; without it these models download on first use.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    print(format_presets(args.models_dir))
    return 0
