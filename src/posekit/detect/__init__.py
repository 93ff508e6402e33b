"""Person detectors and their post-processing (box decoding, NMS).

Detectors live in their own modules (``yolov3``, ``yolox``, ``rtmdet``); the
shared, framework-free post-processing is in :mod:`posekit.detect.postprocess`.
"""
