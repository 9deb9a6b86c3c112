"""Lab 01 checks: the solution passes; known-wrong answers are rejected with a message that says what is wrong."""

from __future__ import annotations

import numpy as np

from mitdl_util import lecture
from mitdl_util.checks import lab01 as q
from tests.exercise_tables import exercise_table_tests

W = np.array([0.299, 0.587, 0.114])
RIGHT_TASKS = {"president": "classification", "steering_angle": "regression", "age": "regression",
               "digit": "classification", "tumour": "classification"}

# The lab's solutions, written as a student would.
SOLUTIONS = {
    "image_shape": (300, 451, 3),
    "invalid_pixel": (4, 4),
    "num_values": (1080 * 1080 * 3,),
    "to_grayscale": (lambda img: (np.asarray(img, np.float32) @ W.astype(np.float32)).astype(np.float32),),
    "normalize": (lambda img: (img / 255).astype(np.float32),),
    "crop": (lambda img, t, x, h, w: img[t:t + h, x:x + w],),
    "flip_horizontal": (np.fliplr,),
    "pixel_agreement": (lambda a, b: (a == b).mean(),),
    "task_type": (RIGHT_TASKS,),
}

WRONG = [
    ("image_shape", (451, 300, 3), "swapped"),
    ("image_shape", (300, 451, 1), "`channels` is 1"),
    ("image_shape", (300, 450, 3), "`width` is 450"),
    ("image_shape", (300.5, 451, 3), "whole number"),
    ("invalid_pixel", (5, 5), "counts from 1"),
    ("invalid_pixel", (2, 3), "can hold (0–255)"),
    ("invalid_pixel", (16, 0), "outside the grid"),
    ("num_values", (1080 * 1080,), "counts pixels"),
    ("num_values", (1080 * 1080 * 3 * 8,), "counts bits"),
    ("num_values", (1080 * 3,), "one row"),
    ("num_values", (1000,), "multiply height × width × channels"),
    ("to_grayscale", (lambda img: np.asarray(img, np.float32).mean(-1),), "averages the three channels"),
    ("to_grayscale", (lambda img: (np.asarray(img, np.float32) @ W[::-1].astype(np.float32)),), "reverse channel order"),
    ("to_grayscale", (lambda img: np.asarray(img, np.float32) @ W.astype(np.float32) / 255,), "rescales"),
    ("to_grayscale", (lambda img: (np.asarray(img, float) @ W).astype(np.uint8),), "dtype uint8"),
    ("to_grayscale", (lambda img: (np.asarray(img, np.float32) @ W.astype(np.float32))[..., None],), "3 dimensions"),
    ("to_grayscale", (lambda img: (img[..., 0] + img[..., 1] + img[..., 2]) / np.float32(3),), "wrap around"),
    ("to_grayscale", (lambda img: (img.astype(np.uint8) @ W).astype(np.float32),), "converts the image to uint8"),
    ("normalize", (lambda img: ((img - img.min()) / (img.max() - img.min())).astype(np.float32),), "min and max"),
    ("normalize", (lambda img: (img / 256).astype(np.float32),), "divides by 256"),
    ("normalize", (lambda img: img / 255,), "dtype float64"),
    ("normalize", (lambda img: img.astype(np.float32),), "within [0, 1]"),
    ("crop", (lambda img, t, x, h, w: img[x:x + w, t:t + h],), "wrong way round"),
    ("crop", (lambda img, t, x, h, w: img[t:h, x:w],), "end positions"),
    ("crop", (lambda img, t, x, h, w: img[t:t + h + 1, x:x + w + 1],), "one row and one column too many"),
    ("crop", (lambda img, t, x, h, w: img[t:t + h - 1, x:x + w - 1],), "one row and one column too few"),
    ("crop", (lambda img, t, x, h, w: img[t:t + w, x:x + h],), "swaps `height` and `width`"),
    ("flip_horizontal", (np.flipud,), "upside down"),
    ("flip_horizontal", (lambda img: img[..., ::-1],), "swaps red and blue"),
    ("flip_horizontal", (lambda img: img,), "values are wrong"),
    ("pixel_agreement", (lambda a, b: (a == b).sum(),), "returns a count"),
    ("pixel_agreement", (lambda a, b: (a != b).mean(),), "fraction of pixels that differ"),
    ("pixel_agreement", (lambda a, b: a == b,), "expected a single number"),
    ("task_type", (["regression"],), "expected a dict"),
    ("task_type", ({"president": "classification"},), "no answer yet"),
    ("task_type", ({**RIGHT_TASKS, "age": "classification"},), "1 of 5 answers are not right"),
    ("task_type", ({**RIGHT_TASKS, "age": "a number"},), "'regression' or 'classification'"),
    ("task_type", ({**RIGHT_TASKS, "cats": "regression"},), "unknown task names"),
]


test_solution_passes, test_known_wrong_answer_is_rejected, test_enough_known_wrong_answers, \
    test_untouched_stub_is_not_attempted = exercise_table_tests(q, SOLUTIONS, WRONG)


def test_unanswered_quiz_is_not_attempted():
    assert q.task_type.evaluate({name: "?" for name in q.TASKS}).status == "not_attempted"


def test_messages_never_reveal_the_answer():
    for name, answer, _ in WRONG:
        message = getattr(q, name).evaluate(*answer).message
        assert "3,499,200" not in message and "3499200" not in message
        assert "(4, 4)" not in message


def test_photo_shape_matches_the_data_layer():
    from mitdl_util import data

    assert data.load_photo(q.PHOTO).shape == q.PHOTO_SHAPE


def test_slide_grid_has_exactly_one_impossible_value():
    bad = np.argwhere((lecture.SLIDE_PIXELS < 0) | (lecture.SLIDE_PIXELS > 255))
    assert bad.tolist() == [[4, 4]]
    assert lecture.SLIDE_PIXELS.shape == (16, 12)


def test_a_crash_in_the_students_function_is_reported_with_its_line():
    def to_grayscale(img):
        weights = [0.299, 0.587]
        return img @ np.array(weights)

    result = q.to_grayscale.evaluate(to_grayscale)
    assert result.status == "error"
    assert "ValueError" in result.message and "return img @ np.array(weights)" in result.message
