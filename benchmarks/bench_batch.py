"""Batch jobs: images/s and the driver's peak memory of ``posekit predict`` per engine.

    python benchmarks/bench_batch.py [--images 2000] [--engines local,ray1,ray2] [--preset balanced] [--repeat 1]

The job's images are the 300 COCO dev images repeated under other names
(``r{k}_{name}``, hard links -- symlinks where links fail -- in a temporary
folder) up to ``--images``. Each configuration runs ``posekit predict FOLDER
--out OUT -q`` in a fresh subprocess, once on the first ``--small`` images
(default: min(500, N/4)) and once on all ``--images``:

* ``local`` -- ``--engine local`` (one estimator in the driver, all cores);
* ``ray1``  -- ``--engine ray --actors 1 --cpus-per-actor 2``;
* ``ray2``  -- ``--engine ray --actors 2 --cpus-per-actor 1``.

The driver runs through a small wrapper that notes when ``RecordLog.append``
commits its first and last record and how long ``ray.init`` took, and prints
its own peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss``: the driver alone, not
Ray's workers) at exit. Columns:

* ``wall s`` / ``img/s`` -- the whole command (Python start, model or Ray start-up, work, outputs);
* ``start s`` -- from the wrapper's start to the first committed record (imports,
  ``ray.init`` and actor start-up, model loading, the first image or batch);
* ``ray.init`` -- of which ``ray.init`` itself;
* ``steady`` -- images/s from the first to the last committed record (start-up excluded; the
  records of the first commit burst -- a Ray batch arrives whole -- not counted; nan if one burst);
* ``out s`` -- from the last record to the end (outputs assembled from the records, Ray shut down);
* ``RSS MB`` -- the driver's peak resident memory.

With ``--repeat R`` the configurations run interleaved (A B C A B C ...) and a
second table gives the median of each column. The 1-minute load average is
printed before and after: other work on the machine skews every figure.
Ray is started locally by each job (``RAY_ADDRESS=local``) unless ``--ray-address``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _table import format_table

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("POSEKIT_SHARED", HERE.parent.parent / "shared"))

ENGINES = {
    "local": ["--engine", "local"],
    "ray1": ["--engine", "ray", "--actors", "1", "--cpus-per-actor", "2"],
    "ray2": ["--engine", "ray", "--actors", "2", "--cpus-per-actor", "1"],
}

#: Runs ``posekit`` (argv[1:]) and prints one ``BENCH {json}`` line on stderr at exit: the time
#: of each commit (s from its start), the time in ray.init, the end, the driver's peak RSS (kB).
WRAPPER = r"""
import json, resource, sys, time
t_start = time.time()
from posekit.batch.records import RecordLog
from posekit.batch.engines import RayEngine
marks = {"t_start": t_start, "commits": [], "ray_init_s": 0.0}
_append, _init = RecordLog.append, RayEngine._init

def append(self, record):
    _append(self, record)
    marks["commits"].append(round(time.time() - t_start, 4))

def init(self):
    t = time.time()
    try:
        return _init(self)
    finally:
        marks["ray_init_s"] += time.time() - t

RecordLog.append, RayEngine._init = append, init
from posekit.cli import main
code = main(sys.argv[1:])
marks["t_end"] = time.time() - t_start
marks["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("BENCH " + json.dumps(marks), file=sys.stderr, flush=True)
sys.exit(code)
"""

COLUMNS = [
    ("config", "config", 8, ""), ("images", "images", 8, "d"), ("wall_s", "wall s", 9, ".1f"),
    ("ips_wall", "img/s", 8, ".2f"), ("start_s", "start s", 9, ".1f"), ("ray_init_s", "ray.init", 9, ".1f"),
    ("ips_steady", "steady", 8, ".2f"), ("out_s", "out s", 7, ".2f"), ("rss_mb", "RSS MB", 8, ".0f"),
    ("exit", "exit", 5, "d"),
]


def build_folder(source: Path, n: int, folder: Path) -> list[str]:
    """``n`` images in ``folder``: the images of ``source`` repeated as ``r{k}_{name}``, natural order."""
    originals = sorted(p for p in source.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not originals:
        raise SystemExit(f"no images in {source}")
    folder.mkdir(parents=True)
    names = []
    for i in range(n):
        k, src = divmod(i, len(originals))
        name = f"r{k}_{originals[src].name}"
        try:
            os.link(originals[src], folder / name)
        except OSError:  # another file system, or links not allowed
            os.symlink(originals[src].resolve(), folder / name)
        names.append(name)
    return names


def subset_list(folder: Path, names: list[str], path: Path) -> Path:
    """A ``@list`` file naming the first images (the same keys as in the whole folder)."""
    path.write_text("".join(f"{folder / name}\n" for name in names))
    return path


def run_once(config: str, inputs: str, images: int, args: argparse.Namespace, out: Path) -> dict:
    cmd = [sys.executable, "-c", WRAPPER, "predict", inputs, "--out", str(out), "-q", "--preset", args.preset,
           "--models-dir", args.models_dir, *ENGINES[config]]
    if config.startswith("ray"):
        cmd += ["--ray-batch-size", str(args.ray_batch_size)]
        if args.ray_address:
            cmd += ["--ray-address", args.ray_address]
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    if not args.ray_address:
        env["RAY_ADDRESS"] = "local"
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    wall = time.perf_counter() - start
    marks = None
    for line in proc.stderr.splitlines():
        if line.startswith("BENCH "):
            marks = json.loads(line[len("BENCH "):])
    if marks is None or not marks["commits"]:
        raise SystemExit(f"{config}: the job failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    commits = marks["commits"]
    summary = json.loads((out / "summary.json").read_text())
    if summary["images"] != images or len(commits) != images:
        raise SystemExit(f"{config}: {summary['images']} images in summary.json, {len(commits)} records "
                         f"committed, expected {images}")
    return {
        "config": config, "images": images, "wall_s": wall, "ips_wall": images / wall,
        "start_s": commits[0], "ray_init_s": marks["ray_init_s"], "ips_steady": steady_rate(commits),
        "out_s": marks["t_end"] - commits[-1], "rss_mb": marks["maxrss_kb"] / 1024.0,
        "exit": proc.returncode, "failed": summary["failed"],
    }


def steady_rate(commits: list[float], burst: float = 0.02) -> float:
    """Images/s after the first commit: the records committed after the first burst (a Ray batch
    arrives at once: every commit within ``burst`` s of the first) over the time to the last one.
    NaN when everything came in one burst (a job of one or two batches)."""
    first = sum(1 for t in commits if t - commits[0] <= burst)
    span = commits[-1] - commits[0]
    return (len(commits) - first) / span if first < len(commits) and span > 0 else float("nan")


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=2000, help="images in the big job (default 2000)")
    p.add_argument("--small", type=int, default=None,
                   help="images in the small job, for the driver's RSS at two sizes (default min(500, N/4); "
                        "0: no small job)")
    p.add_argument("--engines", default="local,ray1,ray2", help=f"comma-separated, of {','.join(ENGINES)}")
    p.add_argument("--preset", default="balanced")
    p.add_argument("--repeat", type=int, default=1, help="runs of each configuration, interleaved")
    p.add_argument("--source", default=str(SHARED / "data" / "coco-val-dev" / "images"), help="images to repeat")
    p.add_argument("--models-dir", default=os.environ.get("POSEKIT_MODELS", str(SHARED / "models")))
    p.add_argument("--ray-batch-size", type=int, default=8, help="--ray-batch-size of the ray jobs (default 8)")
    p.add_argument("--ray-address", default=None, help="an existing Ray cluster (default: each job starts one)")
    p.add_argument("--workdir", default=None, help="where the temporary images and outputs go (default: $TMPDIR)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per job")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = p.parse_args()

    configs = [c.strip() for c in args.engines.split(",") if c.strip()]
    unknown = [c for c in configs if c not in ENGINES]
    if unknown or not configs:
        p.error(f"unknown engines {unknown}; choose from {','.join(ENGINES)}")
    small = min(500, args.images // 4) if args.small is None else args.small
    sizes = sorted({s for s in (small, args.images) if 0 < s <= args.images})

    work = Path(tempfile.mkdtemp(prefix="bench_batch_", dir=args.workdir))
    try:
        folder = work / "images"
        names = build_folder(Path(args.source), args.images, folder)
        inputs = {args.images: str(folder)}
        for s in sizes:
            if s < args.images:
                inputs[s] = "@" + str(subset_list(folder, names[:s], work / f"first{s}.txt"))
        print(f"bench_batch: {args.images} images ({len(set(n.split('_', 1)[1] for n in names))} distinct) in "
              f"{folder}, preset {args.preset}, {os.cpu_count()} cores, sizes {sizes}, engines {configs}, "
              f"repeat {args.repeat}")
        print("before:", load(), flush=True)
        rows = []
        for r in range(args.repeat):
            for size in sizes:
                for config in configs:  # interleaved: A B C A B C
                    out = work / f"out-{config}-{size}-{r}"
                    row = run_once(config, inputs[size], size, args, out)
                    row["run"] = r
                    rows.append(row)
                    print(f"  run {r} {config:6s} {size:6d} images: {row['wall_s']:.1f} s, "
                          f"{row['ips_steady']:.2f} img/s steady, RSS {row['rss_mb']:.0f} MB", flush=True)
                    shutil.rmtree(out, ignore_errors=True)
        print("after: ", load())
        print()
        print(format_table(rows, COLUMNS if args.repeat == 1 else [("run", "run", 4, "d"), *COLUMNS]))
        if args.repeat > 1:
            medians = []
            for size in sizes:
                for config in configs:
                    runs = [row for row in rows if row["config"] == config and row["images"] == size]
                    medians.append({key: (statistics.median(row[key] for row in runs)
                                          if isinstance(runs[0][key], float) else runs[0][key])
                                    for key, *_ in COLUMNS})
            print(f"\nmedian of {args.repeat} runs")
            print(format_table(medians, COLUMNS))
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
