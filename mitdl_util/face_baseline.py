"""A classic (pre-deep-learning) face detector to compare lab 05's sliding-window CNN with.

OpenCV's Haar cascade (Viola–Jones) where this OpenCV has one; OpenCV 5's wheels (Colab's current runtime) have no
`cv2.CascadeClassifier` and an empty `cv2.data`, so there scikit-image's trained LBP frontal-face cascade is used
instead. Both ship with their package: nothing is downloaded. The detector says which one ran and why.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

HAAR = "OpenCV Haar cascade"
LBP = "scikit-image LBP cascade"
CHOICE_VARIABLE = "MITDL_FACE_BASELINE"  # "haar" or "lbp" to force one (tests, instructors); unset = best available
HAAR_FILE = "haarcascade_frontalface_default.xml"


@dataclass(frozen=True)
class FaceDetector:
    """`detect(rgb)` returns an int array (N, 4) of (x1, y1, x2, y2) boxes, largest first."""

    name: str
    reason: str
    _detect: Callable[[np.ndarray], np.ndarray]

    def detect(self, rgb) -> np.ndarray:
        image = np.asarray(rgb)
        if image.ndim != 3 or image.shape[-1] < 3:
            raise ValueError(f"detect() takes an RGB image (H, W, 3); got shape {image.shape}.")
        boxes = np.asarray(self._detect(image), dtype=np.int64).reshape(-1, 4)
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        return boxes[np.argsort(-areas, kind="stable")]

    def __str__(self) -> str:
        return f"{self.name} ({self.reason})"


def _haar_file() -> str | None:
    """The path of OpenCV's frontal-face Haar cascade, or None when this OpenCV cannot use one."""
    try:
        import cv2
    except ImportError:
        return None
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not hasattr(cv2, "CascadeClassifier") or not folder:
        return None
    path = os.path.join(folder, HAAR_FILE)
    return path if os.path.isfile(path) else None


def _haar(path: str, reason: str) -> FaceDetector:
    import cv2

    cascade = cv2.CascadeClassifier(path)

    def detect(rgb):
        gray = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3], dtype=np.uint8), cv2.COLOR_RGB2GRAY)
        found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5)
        return [(x, y, x + w, y + h) for x, y, w, h in found]  # (x, y, w, h) -> (x1, y1, x2, y2)

    return FaceDetector(HAAR, reason, detect)


def _lbp(reason: str) -> FaceDetector:
    import skimage.data
    from skimage.feature import Cascade

    cascade = Cascade(skimage.data.lbp_frontal_face_cascade_filename())

    def detect(rgb):
        side = min(rgb.shape[:2])
        found = cascade.detect_multi_scale(img=np.ascontiguousarray(rgb[..., :3]), scale_factor=1.2, step_ratio=1,
                                           min_size=(24, 24), max_size=(side, side))
        return [(d["c"], d["r"], d["c"] + d["width"], d["r"] + d["height"]) for d in found]

    return FaceDetector(LBP, reason, detect)


def opencv_version() -> str:
    try:
        import cv2
    except ImportError:
        return "not installed"
    return cv2.__version__


def classic_face_detector(choice: str | None = None) -> FaceDetector:
    """The best classic face detector this machine has: Haar where OpenCV ships one, else scikit-image's LBP.

    `choice` ("haar", "lbp"; default: the `MITDL_FACE_BASELINE` variable, else automatic) forces one.
    """
    choice = (choice or os.environ.get(CHOICE_VARIABLE) or "auto").lower()
    if choice not in ("auto", "haar", "lbp"):
        raise ValueError(f"Unknown face baseline {choice!r}: use 'haar', 'lbp' or leave {CHOICE_VARIABLE} unset.")
    if choice == "lbp":
        return _lbp("chosen by name")
    path = _haar_file()
    if path is not None:
        return _haar(path, f"OpenCV {opencv_version()} ships it")
    if choice == "haar":
        raise RuntimeError(f"OpenCV {opencv_version()} has no Haar cascade (OpenCV 5 dropped it): install "
                           "'opencv-python-headless<5' or use the LBP baseline (leave MITDL_FACE_BASELINE unset).")
    return _lbp(f"OpenCV {opencv_version()} has no Haar cascade (OpenCV 5 dropped CascadeClassifier); "
                "scikit-image ships a trained LBP face cascade")
