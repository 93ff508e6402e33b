"""Large jobs: streamed, durable results, exactly-once resume, output formats, local or Ray engines.

* :mod:`~posekit.batch.inputs` -- which images (folders, globs, lists, manifests), keyed by relative path.
* :mod:`~posekit.batch.records` -- the job log: one committed JSON line per finished image.
* :mod:`~posekit.batch.process` -- the work of one image (record + rendering), the same in every engine.
* :mod:`~posekit.batch.engines` -- ``local`` (this process) and ``ray`` (Ray Data actors).
* :mod:`~posekit.batch.outputs` -- COCO / AlphaPose / OpenPose / Parquet files and ``summary.json``
  assembled from the records (``posekit merge``).
* :mod:`~posekit.batch.job` -- ``run_job``: resume, commit, assemble.
"""

from posekit.batch.engines import ENGINES, LocalEngine, RayEngine
from posekit.batch.inputs import InputItem, collect_inputs
from posekit.batch.job import JobError, JobReport, prepare_output, run_job
from posekit.batch.outputs import FORMATS, write_outputs
from posekit.batch.process import RenderOptions
from posekit.batch.records import scan_records

__all__ = [
    "ENGINES", "FORMATS", "InputItem", "JobError", "JobReport", "LocalEngine", "RayEngine", "RenderOptions",
    "collect_inputs", "prepare_output", "run_job", "scan_records", "write_outputs",
]
