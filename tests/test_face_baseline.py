"""Lab 05's classic face detector: OpenCV's Haar cascade where OpenCV has one, scikit-image's LBP cascade where it
does not (OpenCV 5, Colab's current runtime); both find the astronaut's face, and the detector says which ran."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import skimage.data

from mitdl_util import face_baseline

ASTRONAUT_FACE = (175, 66, 270, 161)
needs_haar = pytest.mark.skipif(face_baseline._haar_file() is None,
                                reason=f"OpenCV {face_baseline.opencv_version()} has no Haar cascade (the OpenCV 5 case is "
                                       "tested with a stand-in module below)")  # (x1, y1, x2, y2): where both cascades put Eileen Collins' face


def _iou(a, b) -> float:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture
def opencv_5(monkeypatch):
    """cv2 as OpenCV 5's wheels ship it: resize and colour conversions, no CascadeClassifier, an empty cv2.data."""
    fake = types.ModuleType("cv2")
    fake.__version__ = "5.0.0"
    fake.data = types.ModuleType("cv2.data")
    monkeypatch.setitem(sys.modules, "cv2", fake)
    monkeypatch.delenv(face_baseline.CHOICE_VARIABLE, raising=False)
    return fake


@pytest.mark.parametrize("choice", [pytest.param("haar", marks=needs_haar), "lbp"])
def test_each_baseline_finds_the_astronauts_face(choice):
    detector = face_baseline.classic_face_detector(choice)
    boxes = detector.detect(skimage.data.astronaut())
    assert boxes.dtype == np.int64 and boxes.shape[1] == 4
    assert _iou(boxes[0], ASTRONAUT_FACE) > 0.7, boxes
    assert detector.name == {"haar": face_baseline.HAAR, "lbp": face_baseline.LBP}[choice]


@needs_haar
def test_opencv_4_gets_the_haar_cascade(monkeypatch):
    monkeypatch.delenv(face_baseline.CHOICE_VARIABLE, raising=False)
    detector = face_baseline.classic_face_detector()
    assert detector.name == face_baseline.HAAR
    assert "ships it" in detector.reason


def test_opencv_5_falls_back_to_the_lbp_cascade_and_says_why(opencv_5):
    detector = face_baseline.classic_face_detector()
    assert detector.name == face_baseline.LBP
    assert "OpenCV 5.0.0 has no Haar cascade" in str(detector)
    assert _iou(detector.detect(skimage.data.astronaut())[0], ASTRONAUT_FACE) > 0.7


def test_opencv_5_with_a_contrib_classifier_but_no_cascade_files_falls_back(opencv_5):
    opencv_5.CascadeClassifier = object  # contrib's class, but cv2.data.haarcascades is missing or empty
    opencv_5.data.haarcascades = ""
    assert face_baseline.classic_face_detector().name == face_baseline.LBP


def test_asking_for_haar_on_opencv_5_says_what_to_do(opencv_5):
    with pytest.raises(RuntimeError, match="opencv-python-headless<5"):
        face_baseline.classic_face_detector("haar")


def test_the_environment_variable_chooses_and_a_bad_name_is_explained(monkeypatch):
    monkeypatch.setenv(face_baseline.CHOICE_VARIABLE, "lbp")
    assert face_baseline.classic_face_detector().name == face_baseline.LBP
    with pytest.raises(ValueError, match="'haar', 'lbp'"):
        face_baseline.classic_face_detector("dnn")


def test_boxes_come_largest_first_and_a_gray_image_is_refused():
    detector = face_baseline.FaceDetector("fake", "test", lambda rgb: [(0, 0, 10, 10), (0, 0, 50, 40), (5, 5, 20, 20)])
    assert detector.detect(np.zeros((64, 64, 3), np.uint8)).tolist() == [[0, 0, 50, 40], [5, 5, 20, 20], [0, 0, 10, 10]]
    with pytest.raises(ValueError, match="RGB image"):
        detector.detect(np.zeros((64, 64)))
    assert face_baseline.FaceDetector("fake", "test", lambda rgb: []).detect(np.zeros((8, 8, 3))).shape == (0, 4)


@pytest.mark.notebook
def test_lab05_solution_runs_with_the_lbp_baseline_and_says_so(repo_root):
    """The pinned suite runs lab 05 with Haar (OpenCV 4); this runs it as on OpenCV 5, with scikit-image's cascade."""
    from tests.notebook_runner import run_notebook

    runs = run_notebook(repo_root / "solutions" / "05_detection_segmentation.ipynb",
                        env={face_baseline.CHOICE_VARIABLE: "lbp", "MITDL_STRICT_CHECKS": "1", "MITDL_FAST": "1"})
    errors = [(run.index, run.errors) for run in runs if run.errors]
    assert not errors, errors
    printed = "".join(run.text for run in runs)
    assert f"baseline: {face_baseline.LBP} (chosen by name)" in printed
    assert "IoU of our best box with the scikit-image LBP cascade box" in printed
