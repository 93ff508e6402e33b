"""Person detectors and their post-processing.

* :mod:`posekit.detect.onnx_detectors` — :class:`OnnxDetector`, one class for every
  ONNX detector of the catalogue, driven by its :class:`~posekit.spec.DetectorSpec`
  (resize, normalisation, output decoder), and :class:`DetectorConfig` (thresholds).
* :mod:`posekit.detect.yolov3` — AlphaPose's YOLOv3-SPP (PyTorch network, run in
  ONNX Runtime after an export, or in torch).
* :mod:`posekit.detect.postprocess` — framework-free YOLO row decoding and greedy NMS.

Build detectors by name with :func:`posekit.factory.build_detector`.
"""
