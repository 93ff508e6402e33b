"""Train from scratch on 240 coco-val-dev images, validate on the other 60, within a time budget.

Not a test: it shows that training moves the right way on this CPU (loss
falls, validation AP rises from 0). Without ImageNet pretraining and with a
few hundred persons the AP stays low; that is expected.

    python benchmarks/train_experiment.py --minutes 28 --threads 1
    python benchmarks/train_experiment.py --minutes 5 --width 16     # quick look

Writes OUT/{train.json,val.json} (the split), the run files (log.csv,
last.pth, best.pth, config.yaml) and OUT/table.md (the per-epoch table).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

log = logging.getLogger("train_experiment")


def split_dev_set(gt_path: Path, out: Path, n_train: int, seed: int) -> tuple[Path, Path, int, int]:
    """Split the images (seeded shuffle) into train/val COCO files; returns paths and image counts."""
    from posekit.train.dataset import subset_coco

    gt = json.loads(gt_path.read_text())
    ids = sorted(int(img["id"]) for img in gt["images"])
    random.Random(seed).shuffle(ids)
    train_ids, val_ids = ids[:n_train], ids[n_train:]
    out.mkdir(parents=True, exist_ok=True)
    train_json, val_json = out / "train.json", out / "val.json"
    train_json.write_text(json.dumps(subset_coco(gt, train_ids)))
    val_json.write_text(json.dumps(subset_coco(gt, val_ids)))
    return train_json, val_json, len(train_ids), len(val_ids)


def table(rows: list[dict]) -> str:
    """Markdown table of the per-epoch log."""
    lines = [
        "| epoch | steps | train loss | lr | s/epoch | val AP | AP50 | AP75 | AR |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ap = lambda k: f"{r[k]:.4f}" if r.get(k) is not None else "-"  # noqa: E731
        lines.append(
            f"| {int(r['epoch'])} | {int(r['step'])} | {r['loss']:.3e} | {r['lr']:.0e} | {r['seconds']:.0f} | "
            f"{ap('AP')} | {ap('AP50')} | {ap('AP75')} | {ap('AR')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=28.0,
                   help="wall-clock budget for training + validation (default 28)")
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="the shared data folder")
    p.add_argument("--out", type=Path, default=REPO / "runs" / "train_experiment", help="output folder")
    p.add_argument("--width", type=int, default=32, help="HRNet width (default 32, one module/block per stage)")
    p.add_argument("--input", default="96x128", help="input WxH (multiples of 32; default 96x128)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="torch threads (1 is fastest on a busy machine)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-flip", action="store_true", help="validate without the flip test")
    p.add_argument("--n-train", type=int, default=240, help="training images (the rest validate)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    from posekit.train.config import config_from_dict
    from posekit.train.csvlog import read_csv_log
    from posekit.train.trainer import train

    dev = args.shared / "data" / "coco-val-dev"
    train_json, val_json, n_tr, n_val = split_dev_set(dev / "person_keypoints.json", args.out, args.n_train, args.seed)
    run_dir = args.out / "run"
    if run_dir.exists():
        for f in run_dir.iterdir():
            f.unlink()
    w, h = (int(v) for v in args.input.lower().split("x"))
    cfg = config_from_dict({
        "model": {"name": "hrnet_w32_256x192", "args": {"width": args.width, "num_modules": [1, 1, 1], "num_blocks": 1},
                  "input_size": [w, h]},
        "data": {"train_json": str(train_json), "train_images": str(dev / "images"),
                 "val_json": str(val_json), "val_images": str(dev / "images")},
        "optim": {"lr": args.lr, "lr_steps": [10_000]},  # constant LR: the budget ends the run
        "train": {"epochs": 10_000, "batch_size": args.batch_size, "workers": args.workers, "seed": args.seed,
                  "output_dir": str(run_dir), "max_minutes": args.minutes, "threads": args.threads,
                  "progress": False, "log_interval": 0},
        "val": {"interval": 1, "flip": not args.no_flip, "batch_size": 32},
    })
    log.info("training on %d images, validating on %d; budget %.1f min", n_tr, n_val, args.minutes)
    started = time.perf_counter()
    summary = train(cfg)
    minutes = (time.perf_counter() - started) / 60
    rows = read_csv_log(run_dir / "log.csv")
    text = table(rows)
    header = (
        f"HRNet width {args.width} (1 module/stage, 1 block), input {w}x{h}, batch {args.batch_size}, "
        f"Adam {args.lr:g}, "
        f"HRNet augmentation, from scratch; {n_tr} train / {n_val} val images of coco-val-dev; "
        f"{summary.epochs_done} epochs, {summary.step} steps in {minutes:.1f} min; best val AP {summary.best_ap:.4f}"
    )
    (args.out / "table.md").write_text(header + "\n\n" + text + "\n")
    sys.stdout.write(header + "\n\n" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
