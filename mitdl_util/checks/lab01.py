"""Lab 01 — images as numbers: the exercises, declared as data."""

from __future__ import annotations

import numpy as np

from .. import lecture
from .diagnostics import as_number, describe
from .engine import AnswerExercise, Case, FunctionExercise, Mistake, exercises_in
from .engine import progress as _progress
from .outcomes import Incorrect, NotAttempted

LAB = "lab01"
PHOTO = "chelsea"  # the lab's RGB photo: skimage.data.chelsea(), CC0 (Stefan van der Walt)
PHOTO_SHAPE = (300, 451, 3)  # tests assert this equals what the data layer loads
BT601 = np.array([0.299, 0.587, 0.114])


# ---------------------------------------------------------------- answers about numbers
def _judge_image_shape(height, width, channels) -> None:
    values = {"height": height, "width": width, "channels": channels}
    numbers = {name: as_number(v, name, integer=True) for name, v in values.items()}
    h, w, c = PHOTO_SHAPE
    if (numbers["height"], numbers["width"]) == (w, h):
        raise Incorrect("`height` and `width` are swapped: NumPy stores rows (the height) first, "
                        "then columns (the width) — `img.shape` is (height, width, channels).")
    if numbers["channels"] != c:
        raise Incorrect(f"`channels` is {numbers['channels']}: count the colour channels of an RGB photo "
                        "(the last entry of `img.shape`).")
    for name, expected in (("height", h), ("width", w)):
        if numbers[name] != expected:
            raise Incorrect(f"`{name}` is {numbers[name]}, which is not the photo's {name}: read it from `img.shape`.")


def _judge_invalid_pixel(row, col) -> None:
    r, c = as_number(row, "row", integer=True), as_number(col, "col", integer=True)
    rows, cols = lecture.SLIDE_PIXELS.shape
    if not (0 <= r < rows and 0 <= c < cols):
        raise Incorrect(f"({r}, {c}) is outside the grid, which has {rows} rows (0–{rows - 1}) and "
                        f"{cols} columns (0–{cols - 1}).")
    bad = np.argwhere((lecture.SLIDE_PIXELS < 0) | (lecture.SLIDE_PIXELS > 255))
    target = tuple(int(i) for i in bad[0])
    if (r, c) == target:
        return
    if (r - 1, c - 1) == target:
        raise Incorrect("that position counts from 1; Python indexes rows and columns from 0.")
    if (c, r) == target:
        raise Incorrect("row and column are swapped: the row is the first index, the column the second.")
    raise Incorrect(f"the value at row {r}, column {c} is {int(lecture.SLIDE_PIXELS[r, c])}, which an 8-bit "
                    "pixel can hold (0–255); look for one that cannot.")


def _judge_num_values(n) -> None:
    count = as_number(n, "n", integer=True)
    side = lecture.HD_SIDE
    wrong = {
        side * side: "that counts pixels; each pixel of an RGB image holds one number per colour channel.",
        side * 3: "that is only one row of pixels: the image has as many rows as columns.",
        side * side * 3 * 8: "that counts bits; count numbers (one 8-bit number per channel per pixel).",
        side * side * 4: "an RGB image has 3 channels, not 4 (no alpha channel here).",
    }
    if count in wrong:
        raise Incorrect(f"`n` = {count:,}: {wrong[count]}")
    if count != side * side * 3:
        raise Incorrect(f"`n` = {count:,} is not the number of values in a 1080×1080 RGB image: "
                        "multiply height × width × channels.")


TASKS = {
    "president": "which of four presidents is in a portrait",
    "steering_angle": "the angle to turn the steering wheel, from a dashcam frame",
    "age": "a person's age in years, from a photo",
    "digit": "which digit (0–9) is written in a small image",
    "tumour": "whether a scan shows a tumour or not",
}
_TASK_ANSWERS = {"president": "classification", "steering_angle": "regression", "age": "regression",
                 "digit": "classification", "tumour": "classification"}


def _judge_task_type(answers) -> None:
    if not isinstance(answers, dict):
        raise Incorrect(f"`answers` is {describe(answers)}; expected a dict from task name to "
                        "'regression' or 'classification'.")
    if answers and all(isinstance(v, str) and v == "?" for v in answers.values()):
        raise NotAttempted("`answers` still holds only \"?\": replace each with 'regression' or 'classification'.")
    missing = [k for k in TASKS if k not in answers or (isinstance(answers[k], str) and answers[k] == "?")]
    extra = [str(k) for k in answers if k not in TASKS]
    if extra:
        raise Incorrect(f"`answers` has unknown task names {extra}; use the names listed: {list(TASKS)}.")
    if missing:
        raise Incorrect(f"`answers` has no answer yet for {missing}.")
    unclear = [k for k in TASKS if not isinstance(answers[k], str)
               or answers[k].strip().lower() not in ("regression", "classification")]
    if unclear:
        raise Incorrect(f"answers must be the strings 'regression' or 'classification'; check {unclear}.")
    wrong = sum(answers[k].strip().lower() != _TASK_ANSWERS[k] for k in TASKS)
    if wrong:
        raise Incorrect(f"{wrong} of {len(TASKS)} answers are not right. Ask of each: is the output a number on a "
                        "continuous scale, or one of a set of labels?")


# ---------------------------------------------------------------- references
def _to_grayscale(img):
    return (np.asarray(img, dtype=np.float64)[..., :3] @ BT601).astype(np.float32)


def _normalize(img):
    return (np.asarray(img) / 255.0).astype(np.float32)


def _crop(img, top, left, height, width):
    return img[top:top + height, left:left + width]


def _flip_horizontal(img):
    return img[:, ::-1]


def _pixel_agreement(a, b):
    return float(np.mean(np.asarray(a) == np.asarray(b)))


# ---------------------------------------------------------------- cases (fixed + fresh random)
def _photo():
    from skimage import data

    return data.chelsea()


def _random_rgb(rng, dtype=np.uint8, low=None, high=None):
    h, w = rng.integers(3, 12, size=2)
    while h == w:
        w = rng.integers(3, 12)
    if np.issubdtype(dtype, np.floating):
        return rng.random((h, w, 3)).astype(dtype)
    return rng.integers(0 if low is None else low, 256 if high is None else high, size=(h, w, 3)).astype(dtype)


def _grayscale_cases(rng):
    return [
        Case((_random_rgb(rng),), label="a random uint8 RGB image"),
        Case((_random_rgb(rng, np.float64),), label="a random float RGB image in [0, 1]"),
        Case((_random_rgb(rng, np.int32, 0, 1000),), label="a random int32 RGB image"),
        Case((_photo()[:40, :60],), label="a 40×60 patch of the photo"),
    ]


def _normalize_cases(rng):
    full = np.arange(256, dtype=np.uint8).reshape(16, 16)
    return [
        Case((_random_rgb(rng, np.uint8, 10, 200),), label="a random uint8 RGB image with values in [10, 200)"),
        Case((full,), label="a 16×16 gray image holding every value 0–255"),
        Case((_photo()[:30, :50],), label="a 30×50 patch of the photo"),
    ]


def _crop_cases(rng):
    img = _random_rgb(rng)
    h, w = img.shape[:2]
    top, left = int(rng.integers(0, h - 2)), int(rng.integers(0, w - 2))
    gray = rng.integers(0, 256, size=(9, 13)).astype(np.uint8)
    # The fixed cases come first: top, left, height and width all differ there, so each known mistake gives a
    # different result and its message is the right one (a random case may have top = 1, where `img[top:height]`
    # and an off-by-one crop agree).
    return [
        Case((gray, 2, 5, 4, 6), label="a 9×13 gray image, top=2, left=5, height=4, width=6"),
        Case((_photo(), 50, 120, 100, 150), label="the photo, top=50, left=120, height=100, width=150"),
        Case((img, top, left, int(rng.integers(1, h - top + 1)), int(rng.integers(1, w - left + 1))),
             label=f"a random {h}×{w} RGB image"),
    ]


def _flip_cases(rng):
    return [
        Case((_random_rgb(rng),), label="a random RGB image"),
        Case((rng.integers(0, 256, size=(5, 8)).astype(np.uint8),), label="a random 5×8 gray image"),
    ]


def _agreement_cases(rng):
    a = rng.integers(0, 3, size=(int(rng.integers(4, 10)), int(rng.integers(4, 10))))
    b = a.copy()
    b[rng.random(a.shape) < 0.3] += 1
    return [
        Case((lecture.X_IMAGE, lecture.X_IMAGE), label="the X against itself"),
        Case((a, b), label="two random integer images of the same shape"),
        Case((lecture.X_IMAGE, -lecture.X_IMAGE), label="the X against its negative"),
    ]


def _wrapped_channel_mean(img):
    """(R + G + B) / 3 with the sum taken in the input's integer dtype (uint8 wraps around)."""
    img = np.asarray(img)
    total = img[..., 0] + img[..., 1] + img[..., 2]
    return (total / 3).astype(np.float32)


def _check_grayscale_dims(got, case: Case) -> None:
    if np.ndim(got) != 2:
        raise Incorrect(f"`to_grayscale` should return a 2-D (H, W) array for {case.label}; got {describe(got)}.")


# ---------------------------------------------------------------- the exercises
image_shape = AnswerExercise(
    f"{LAB}.image_shape", params=("height", "width", "channels"), judge=_judge_image_shape,
    hints=["Every NumPy array has a `.shape` attribute.",
           "A colour image's shape is (height, width, channels): rows first, then columns, then colours."],
)

invalid_pixel = AnswerExercise(
    f"{LAB}.invalid_pixel", params=("row", "col"), judge=_judge_invalid_pixel,
    hints=["An 8-bit pixel holds one of 2**8 = 256 values: 0 to 255.",
           "Let NumPy search: `np.argwhere(grid > 255)` gives (row, col) pairs, counted from 0."],
)

num_values = AnswerExercise(
    f"{LAB}.num_values", params=("n",), judge=_judge_num_values,
    hints=["Each pixel of an RGB image is three numbers: red, green and blue.",
           "Multiply the three entries of the shape (height, width, channels)."],
)

to_grayscale = FunctionExercise(
    f"{LAB}.to_grayscale", reference=_to_grayscale, cases=_grayscale_cases, dtype="float32", rtol=1e-4, atol=1e-3,
    validate=_check_grayscale_dims,
    mistakes=[
        Mistake(lambda img: np.asarray(img, dtype=np.float64)[..., :3].mean(axis=-1).astype(np.float32),
                "`to_grayscale` averages the three channels equally; BT.601 weights them 0.299, 0.587 and 0.114 "
                "because the eye is most sensitive to green"),
        Mistake(lambda img: (np.asarray(img, dtype=np.float64)[..., :3] @ BT601[::-1]).astype(np.float32),
                "`to_grayscale` applies the weights in reverse channel order (as if the image were BGR); "
                "red is channel 0"),
        Mistake(lambda img: (_to_grayscale(img) / 255).astype(np.float32),
                "`to_grayscale` rescales the values; keep the input's scale (a uint8 image gives values in 0–255)"),
        Mistake(lambda img: _to_grayscale(np.asarray(img).astype(np.uint8)),
                "`to_grayscale` converts the image to uint8 first, which wraps values above 255 around (1000 "
                "becomes 232); convert to float instead (`img.astype(np.float32)`), so any numeric dtype works"),
        Mistake(_wrapped_channel_mean,
                "`to_grayscale` adds the channels in the image's own dtype: uint8 sums wrap around above 255 "
                "(200 + 100 gives 44). Convert to float first — and weight the channels 0.299, 0.587, 0.114 "
                "instead of averaging them"),
    ],
    hints=["Gray = 0.299·R + 0.587·G + 0.114·B for every pixel; the channels are the last axis.",
           "Convert to float first (`img.astype(np.float32)`), weight the channels `img[..., 0]`, `img[..., 1]`, "
           "`img[..., 2]`, add, and return a float32 (H, W) array."],
)

normalize = FunctionExercise(
    f"{LAB}.normalize", reference=_normalize, cases=_normalize_cases, dtype="float32", value_range=(0.0, 1.0),
    rtol=1e-5, atol=1e-6,
    mistakes=[
        Mistake(lambda img: ((img - img.min()) / max(int(img.max()) - int(img.min()), 1)).astype(np.float32),
                "`normalize` stretches each image by its own min and max; divide by the largest value an 8-bit "
                "pixel can hold instead, so every image uses the same scale"),
        Mistake(lambda img: (np.asarray(img) / 256.0).astype(np.float32),
                "`normalize` divides by 256; the largest 8-bit value is 255, which should map to exactly 1.0"),
    ],
    hints=["uint8 pixels are 0…255; a network prefers inputs in [0, 1].",
           "Divide by the largest possible pixel value and convert with `.astype(np.float32)`."],
)

crop = FunctionExercise(
    f"{LAB}.crop", reference=_crop, cases=_crop_cases, output="array", rtol=0, atol=0,
    mistakes=[
        Mistake(lambda img, top, left, height, width: img[left:left + width, top:top + height],
                "`crop` slices the axes the wrong way round: the first index is the row (top, height), the "
                "second the column (left, width)"),
        Mistake(lambda img, top, left, height, width: img[top:height, left:width],
                "`crop` uses `height` and `width` as end positions; they are sizes, so the slice ends at "
                "top + height and left + width"),
        Mistake(lambda img, top, left, height, width: img[top:top + width, left:left + height],
                "`crop` swaps `height` and `width`: the height counts rows (the first index), the width columns"),
        Mistake(lambda img, top, left, height, width: img[top:top + height + 1, left:left + width + 1],
                "`crop` returns one row and one column too many; Python slices exclude their end"),
        Mistake(lambda img, top, left, height, width: img[top:top + height - 1, left:left + width - 1],
                "`crop` returns one row and one column too few: a slice `a:b` already excludes b, so end at "
                "top + height and left + width (no − 1)"),
    ],
    hints=["Slicing `img[a:b, c:d]` keeps rows a…b-1 and columns c…d-1 (and all channels).",
           "The crop starts at row `top`, column `left` and is `height` rows by `width` columns."],
)

flip_horizontal = FunctionExercise(
    f"{LAB}.flip_horizontal", reference=_flip_horizontal, cases=_flip_cases, rtol=0, atol=0,
    mistakes=[
        Mistake(lambda img: img[::-1], "`flip_horizontal` turns the image upside down (a vertical flip); mirror "
                                       "left and right instead, which reverses the columns"),
        Mistake(lambda img: img[..., ::-1], "`flip_horizontal` reverses the last axis, which for a colour image "
                                            "swaps red and blue; reverse the columns (axis 1)"),
    ],
    hints=["A horizontal flip is a mirror: the left-most column becomes the right-most.",
           "Columns are axis 1; a step of -1 in a slice reverses it: `img[:, ::-1]`."],
)

pixel_agreement = FunctionExercise(
    f"{LAB}.pixel_agreement", reference=_pixel_agreement, cases=_agreement_cases, output="number", atol=1e-9,
    mistakes=[
        Mistake(lambda a, b: float(np.sum(np.asarray(a) == np.asarray(b))),
                "`pixel_agreement` returns a count; return the fraction (between 0 and 1) of equal pixels"),
        Mistake(lambda a, b: float(np.mean(np.asarray(a) != np.asarray(b))),
                "`pixel_agreement` returns the fraction of pixels that differ; return the fraction that are equal"),
    ],
    hints=["`a == b` compares two arrays pixel by pixel and gives an array of True/False.",
           "The mean of a boolean array is the fraction of True values: `np.mean(a == b)`."],
)

task_type = AnswerExercise(
    f"{LAB}.task_type", params=("answers",), judge=_judge_task_type,
    hints=["Regression predicts a continuous value; classification predicts one label out of a set.",
           "For each task, ask: could the answer be 17.3? Then it is regression."],
)

EXERCISES = exercises_in(globals())


def progress():
    """Print this lab's exercises and their last outcome."""
    return _progress(LAB, EXERCISES)
