"""Held-out vs outside: train a face detector on one source of photos and test it on photos from elsewhere.

A held-out test set comes from the same source as the training set: the same photographers, crops, lighting and
backgrounds. It measures how well a model does *on more of the same*. An **outside** test set comes from a source
the model never saw — here the Face Research Lab London Set (studio portraits, one per person, a different crop)
against FairFace training photos (photos of people "in the wild"). :func:`load_outside_split` returns both, with a
group per face: a skin-tone proxy × gender.

The skin-tone proxy comes from the ethnicity labels the two sources carry, not from measuring skin: "darker" for
faces labelled Black, "lighter" for faces labelled White, "other" for the remaining labels and "unlabelled" where
the source has none (FairFace subset a). It is coarse; the card ``datasets/outside-faces.md`` says so.

Non-faces: training and held-out non-faces follow :func:`~mitdl_util.data.load_faces`' recipe (scikit-image's LFW
non-face patches, split between train and test without overlap, and random crops of its colour photos); with
``hard_nonfaces`` the training set also gets crops of photos of people that contain no face (the astronaut's suit,
the cameraman's coat and tripod). Outside non-faces are crops of scikit-image photos that no training image comes
from. Needs the faces-ccby folder, or else (``source="lfw-olivetti"``, as on Colab, where both download by
themselves) LFW's news photos to train on and the Olivetti faces as the outside test, without groups;
:func:`outside_split_available` says whether either is here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import lfw_people, olivetti
from .cache import DataUnavailableError, notice
from .loaders import _lfw_subset, _photo_crops, _read_faces_ccby, _resize, load_photo

TRAIN_SOURCES = ("fairface_a", "fairface_b")
"""faces-ccby subsets the detector trains on (and whose held-out part is the in-distribution test)."""
OUTSIDE_SOURCES = ("london",)
"""faces-ccby subsets used only as the outside test: no photo of them is ever trained on."""
TONES = {"black": "darker", "white": "lighter"}
"""Ethnicity label (lower case) -> skin-tone proxy; other labels are "other", missing ones "unlabelled"."""
GROUPS = ("darker female", "darker male", "lighter female", "lighter male")
"""The four groups reported (skin-tone proxy × gender); faces outside them are still counted in "all faces"."""
SOURCES = ("faces-ccby", "lfw-olivetti")
"""What :func:`load_outside_split` can train and test on: FairFace against the London Set (both in faces-ccby,
with groups), or, where faces-ccby is absent (Colab), LFW's news photos (lfw-people) against the Olivetti faces
(olivetti-faces), which carry no group labels."""
LFW_FACES = 1112
"""With "lfw-olivetti", how many LFW people are split into training and held-out faces: as many as FairFace has,
so that both sources train on 834 faces for the same time."""
OUTSIDE_NONFACE_PHOTOS = ("brick", "grass", "gravel", "moon", "coins", "clock", "page", "text", "retina")
"""scikit-image photos the outside non-faces are cut from; no training non-face comes from them."""
PEOPLE_PHOTOS = {"astronaut": (150, 30, 300, 195), "camera": (140, 45, 285, 225)}
"""Photos of people and their face box (x1, y1, x2, y2, with a margin): hard non-faces are crops that miss it.
The astronaut's box is OpenCV's Haar detection (177, 66, 272, 161) widened; the cameraman's was drawn by hand."""
CROP_SIDES = (0.45, 0.75)
"""With ``varied_crops``, each FairFace photo is cropped to a square of a random side in this range (as a fraction
of the 224-pixel frame; the kit's standard crop is 0.5), so faces come tight and loose, with and without background,
as photos from other sources do."""
GREY_SHARE = 0.3
"""Share of non-faces (and of FairFace faces) shown in grey; scikit-image's 100 LFW patches alone would be 9 %."""
GREY = np.asarray([0.299, 0.587, 0.114], np.float32)


@dataclass(repr=False)
class OutsideSplit:
    """Images float32 (N, S, S, 3) in [0, 1], uint8 labels (1 = face), and per image: ``groups_*`` (the face's
    group, "" for non-faces), ``files_*`` (the photo's file name, or where a non-face was cut from) and
    ``sources_*`` (faces-ccby subset, or the non-face's origin). ``*_train``: training set; ``*_test``: held out
    from the training sources (in-distribution); ``*_outside``: the outside test set."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_outside: np.ndarray
    y_outside: np.ndarray
    groups_train: np.ndarray
    groups_test: np.ndarray
    groups_outside: np.ndarray
    files_train: np.ndarray
    files_test: np.ndarray
    files_outside: np.ndarray
    sources_train: np.ndarray
    sources_test: np.ndarray
    sources_outside: np.ndarray
    recipe: dict = field(default_factory=dict)
    x_test_standard: np.ndarray | None = None
    """With ``varied``: the held-out images again, faces at the kit's standard crop (same order and labels)."""
    reported: tuple[str, ...] = GROUPS
    """The groups whose recall is reported (none where the sources carry no group labels)."""

    def __repr__(self) -> str:
        def part(y):
            return f"{int(np.sum(y == 1))} faces + {int(np.sum(y == 0))} non-faces"

        train = "/".join(self.recipe.get("train_sources", TRAIN_SOURCES))
        out = "/".join(self.recipe.get("outside_sources", OUTSIDE_SOURCES))
        return (f"OutsideSplit(train {part(self.y_train)} from {train}, held-out test {part(self.y_test)}, "
                f"outside test {part(self.y_outside)} from {out})")


def face_group(race: str, gender: str) -> str:
    """The reported group of a face: skin-tone proxy × gender, e.g. "darker female" (see the module docstring)."""
    race, gender = race.strip().lower(), gender.strip().lower()
    tone = TONES.get(race, "other" if race else "unlabelled")
    return f"{tone} {gender}" if gender else tone


def _ccby_here() -> bool:
    from .bias import _ccby_folder

    return _ccby_folder() is not None


def lfw_olivetti_available() -> tuple[bool, str]:
    """(True, "") where LFW (lfw-people) and the Olivetti faces are in the cache, or were downloaded now (on Colab
    they download by themselves); else (False, what to do)."""
    for name, available in (("lfw-people", lfw_people.available), ("olivetti-faces", olivetti.available)):
        usable, why_not = available()
        if not usable:
            return False, f"{name} is not here: {why_not}"
    return True, ""


def outside_split_available() -> bool:
    """True where :func:`load_outside_split` has data: faces-ccby, or else LFW and the Olivetti faces."""
    return _ccby_here() or lfw_olivetti_available()[0]


def _source(source: str) -> str:
    """The source :func:`load_outside_split` uses for ``source`` ("auto": faces-ccby, else "lfw-olivetti")."""
    if source not in ("auto", *SOURCES):
        raise ValueError(f"source must be 'auto', 'faces-ccby' or 'lfw-olivetti', not {source!r}")
    if source == "faces-ccby" or (source == "auto" and _ccby_here()):
        if not _ccby_here():
            raise DataUnavailableError("load_outside_split needs faces-ccby (its FairFace and London photos): set "
                                       "MITDL_LOCAL_DATA to the folder holding faces-ccby/labels.csv.")
        return "faces-ccby"
    usable, why_not = lfw_olivetti_available()
    if not usable:
        raise DataUnavailableError(
            "load_outside_split needs faces-ccby (set MITDL_LOCAL_DATA to the folder holding faces-ccby/labels.csv) "
            f"or LFW and the Olivetti faces ({why_not}; on Colab both download by themselves, elsewhere run "
            "`mitdl data fetch lfw-people` and `mitdl data fetch olivetti-faces` once).")
    return "lfw-olivetti"


def _crops_avoiding(photo: np.ndarray, box: tuple[int, int, int, int], n: int, size: int,
                    rng: np.random.Generator) -> np.ndarray:
    """``n`` random square crops of ``photo`` that do not overlap ``box`` (x1, y1, x2, y2), resized to ``size``."""
    h, w = photo.shape[:2]
    x1, y1, x2, y2 = box
    out = np.empty((n, size, size, 3), np.float32)
    i = 0
    while i < n:
        side = int(rng.uniform(0.08, 0.45) * min(h, w))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        if left < x2 and left + side > x1 and top < y2 and top + side > y1:
            continue  # touches the face: draw again
        out[i] = _resize(photo[top:top + side, left:left + side], size)
        i += 1
    return out


def hard_nonfaces(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` crops of photos of people (:data:`PEOPLE_PHOTOS`) that contain no face, float32 (n, size, size, 3)."""
    names = list(PEOPLE_PHOTOS)
    per = np.bincount(rng.integers(len(names), size=n), minlength=len(names))
    parts = [_crops_avoiding(load_photo(name), PEOPLE_PHOTOS[name], int(k), size, rng)
             for name, k in zip(names, per, strict=True)]
    x = np.concatenate(parts)
    return x[rng.permutation(n)]


def _outside_crops(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    photos = [load_photo(name) for name in OUTSIDE_NONFACE_PHOTOS]
    out = np.empty((n, size, size, 3), np.float32)
    for i in range(n):
        photo = photos[rng.integers(len(photos))]
        h, w = photo.shape[:2]
        side = max(int(rng.uniform(0.1, 0.6) * min(h, w)), min(size // 2, h, w))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        out[i] = _resize(photo[top:top + side, left:left + side], size)
    return out


def varied_crops(folder, files: np.ndarray, size: int, rng: np.random.Generator,
                 sides: tuple[float, float] = CROP_SIDES) -> np.ndarray:
    """Each photo of ``files`` (names in faces-ccby/images) cropped to a random centred square whose side is drawn
    from ``sides`` (fraction of the frame), its centre moved by up to 5 % of the frame, resized to ``size``."""
    return _varied_crops([Path(folder) / "images" / name for name in files], size, rng, sides)


def _varied_crops(paths: list[Path], size: int, rng: np.random.Generator,
                  sides: tuple[float, float]) -> np.ndarray:
    from PIL import Image

    out = np.empty((len(paths), size, size, 3), np.float32)
    for i, path in enumerate(paths):
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            side = rng.uniform(*sides) * min(w, h)
            cy, cx = h / 2 + rng.uniform(-0.05, 0.05) * h, w / 2 + rng.uniform(-0.05, 0.05) * w
            top, left = min(max(cy - side / 2, 0), h - side), min(max(cx - side / 2, 0), w - side)
            crop = im.crop((round(left), round(top), round(left + side), round(top + side)))
            out[i] = np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR), np.float32) / 255.0
    return out


def _grey_choice(n_grey_already: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Which of ``n`` non-faces to turn grey: the first ``n_grey_already`` (LFW's grey patches) are grey anyway;
    more are drawn from the rest until GREY_SHARE of them are grey."""
    which = np.zeros(n, bool)
    which[:n_grey_already] = True
    extra = max(0, int(round(GREY_SHARE * n)) - n_grey_already)
    which[n_grey_already + rng.choice(n - n_grey_already, extra, replace=False)] = True
    return which


def _grey(x: np.ndarray, which: np.ndarray) -> np.ndarray:
    x = x.copy()
    x[which] = (x[which] @ GREY)[..., None] * np.ones(3, np.float32)
    return x


def split_faces(sources: np.ndarray, groups: np.ndarray, test_fraction: float, rng: np.random.Generator):
    """(train, test, outside) face indices: faces of :data:`OUTSIDE_SOURCES` all go to ``outside``; the others are
    split ``test_fraction`` held out, stratified by source and group so that every group is in both parts."""
    outside = np.flatnonzero(np.isin(sources, OUTSIDE_SOURCES))
    inside = np.flatnonzero(np.isin(sources, TRAIN_SOURCES))
    strata = np.char.add(np.char.add(sources[inside].astype(str), "|"), groups[inside].astype(str))
    train, test = [], []
    for value in np.unique(strata):
        idx = rng.permutation(inside[strata == value])
        k = int(round(len(idx) * test_fraction))
        test.append(idx[:k])
        train.append(idx[k:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test)), rng.permutation(outside)


def load_outside_split(seed: int = 0, *, source: str = "auto", train_faces: int | None = None,
                       hard_nonfaces_share: float = 0.0, varied: bool | tuple[float, float] = False,
                       test_fraction: float = 0.25, image_size: int = 64, verbose: bool = True) -> OutsideSplit:
    """Train on one source of photos, test on its held-out photos (in-distribution) and on photos from elsewhere
    (outside); see the module docstring. ``source`` (:data:`SOURCES`): "faces-ccby" trains on FairFace and tests
    outside on the London Set, with groups; "lfw-olivetti" trains on LFW's news photos (:data:`LFW_FACES` people)
    and tests outside on the 400 Olivetti faces, without groups; "auto" takes faces-ccby where it is here.
    ``train_faces``: keep only this many training faces, chosen at random (``None``: all 834).
    ``hard_nonfaces_share``: share of the training non-faces that are crops of photos of people without a face.
    ``varied``: training and held-out faces alike are cropped at random sides (:data:`CROP_SIDES`, or the
    (smallest, largest) side given) instead of the kit's standard crop, so the held-out test stays the training
    distribution.
    As many faces as grey non-faces are turned grey, in training and in the held-out test, so colour alone does
    not give the class away; the outside faces are left as they are."""
    if not 0.0 <= hard_nonfaces_share < 1.0:
        raise ValueError(f"hard_nonfaces_share must be in [0, 1); got {hard_nonfaces_share}")
    source = _source(source)
    rng = np.random.default_rng(seed)
    if source == "faces-ccby":
        from .bias import _ccby_folder

        folder = _ccby_folder()
        images, attrs = _read_faces_ccby(str(folder), image_size, (folder / "labels.csv").stat().st_mtime)
        groups = np.asarray([face_group(r, g) for r, g in zip(attrs["race"], attrs["gender"], strict=True)])
        files, sources = attrs["file"], attrs["source"]
        train, test, outside = split_faces(sources, groups, test_fraction, rng)
        paths = [folder / "images" / name for name in files]
        reported, train_sources, outside_sources = GROUPS, TRAIN_SOURCES, OUTSIDE_SOURCES
    else:
        lfw, lfw_names = lfw_people.read_faces(image_size)
        pick = np.sort(rng.choice(len(lfw), min(LFW_FACES, len(lfw)), replace=False))
        faces_out, people = olivetti.read_faces(image_size)
        images = np.concatenate([lfw[pick], faces_out])
        photos = lfw_people._photos(lfw_people._folder())
        paths = [photos[i] for i in pick] + [None] * len(faces_out)
        files = np.concatenate([lfw_names[pick], [f"olivetti_{p:02d}_{k}" for k, p in enumerate(people)]])
        sources = np.asarray(["lfw"] * len(pick) + ["olivetti"] * len(faces_out))
        groups = np.full(len(images), "unlabelled")
        order = rng.permutation(len(pick))
        n_test = int(round(len(pick) * test_fraction))
        test, train, outside = order[:n_test], order[n_test:], len(pick) + np.arange(len(faces_out))
        reported, train_sources, outside_sources = (), ("lfw",), ("olivetti",)
    if train_faces is not None and train_faces < len(train):
        train = train[np.sort(rng.choice(len(train), train_faces, replace=False))]
    n_tr, n_te, n_out = len(train), len(test), len(outside)
    nf = _nonfaces(n_tr, n_te, n_out, hard_nonfaces_share, image_size, rng)
    if varied:
        sides = CROP_SIDES if varied is True else tuple(varied)
        x_tr_f, x_te_f = (_varied_crops([paths[i] for i in idx], image_size, rng, sides) for idx in (train, test))
    else:
        x_tr_f, x_te_f = images[train], images[test]
    x_tr_f = _grey(x_tr_f, rng.random(n_tr) < max(GREY_SHARE, nf["lfw_train"] / max(n_tr, 1)))
    grey_te = rng.random(n_te) < max(GREY_SHARE, nf["lfw_test"] / max(n_te, 1))
    x_te_f, x_te_standard = _grey(x_te_f, grey_te), _grey(images[test], grey_te)

    def assemble(xf, xnf, idx, nf_sources, nf_files):
        x = np.concatenate([xf, xnf]).astype(np.float32)
        y = np.r_[np.ones(len(xf), np.uint8), np.zeros(len(xnf), np.uint8)]
        g = np.concatenate([groups[idx], np.full(len(xnf), "", dtype=groups.dtype)])
        f = np.concatenate([files[idx], nf_files]).astype(str)
        s = np.concatenate([sources[idx], nf_sources]).astype(str)
        order = rng.permutation(len(x))
        orders.append(order)
        return x[order], y[order], g[order], f[order], s[order]

    orders: list[np.ndarray] = []

    xtr, ytr, gtr, ftr, str_ = assemble(x_tr_f, nf["x_train"], train, nf["sources_train"], nf["files_train"])
    xte, yte, gte, fte, ste = assemble(x_te_f, nf["x_test"], test, nf["sources_test"], nf["files_test"])
    xo, yo, go, fo, so = assemble(images[outside], nf["x_outside"], outside, np.asarray(["outside_photo"] * n_out),
                                  np.asarray(["outside_photo"] * n_out))
    standard = np.concatenate([x_te_standard, nf["x_test"]]).astype(np.float32)[orders[1]] if varied else None
    data = OutsideSplit(xtr, ytr, xte, yte, xo, yo, gtr, gte, go, ftr, fte, fo, str_, ste, so,
                        recipe={"seed": seed, "source": source, "train_sources": list(train_sources),
                                "outside_sources": list(outside_sources), "train_faces": n_tr,
                                "hard_nonfaces_share": hard_nonfaces_share,
                                "varied_crops": list(CROP_SIDES if varied is True else varied or ()),
                                "test_fraction": test_fraction},
                        x_test_standard=standard, reported=reported)
    if verbose:
        if source == "faces-ccby":
            notice(f"outside split from faces-ccby · train {n_tr} FairFace faces · held-out {n_te} FairFace faces · "
                   f"outside {n_out} London Set faces · each with as many non-faces · seed {seed}")
        else:
            notice(f"outside split without faces-ccby · train {n_tr} LFW faces · held-out {n_te} LFW faces · "
                   f"outside {n_out} Olivetti faces (no group labels) · each with as many non-faces · seed {seed}")
    return data


def _nonfaces(n_tr: int, n_te: int, n_out: int, hard_share: float, size: int, rng: np.random.Generator) -> dict:
    """Non-faces, as many as faces in each part: LFW's grey non-face patches split between train and test (never
    both), crops of scikit-image's colour photos, hard non-faces in training, and outside crops of photos that no
    training image comes from. GREY_SHARE of the training and test non-faces are grey."""
    _, lfw = _lfw_subset()
    n_lfw_tr, n_lfw_te = min(n_tr // 4, 75), min(n_te // 4, 25)
    lfw_order = rng.permutation(len(lfw))
    lfw_tr = [_resize(p, size) for p in lfw[lfw_order[:n_lfw_tr]]]
    lfw_te = [_resize(p, size) for p in lfw[lfw_order[n_lfw_tr:n_lfw_tr + n_lfw_te]]]
    n_hard = int(round(hard_share * n_tr))
    crops_tr, names_tr = _photo_crops(n_tr - n_lfw_tr - n_hard, size, rng)
    hard = hard_nonfaces(n_hard, size, rng) if n_hard else np.zeros((0, size, size, 3), np.float32)
    crops_te, names_te = _photo_crops(n_te - n_lfw_te, size, rng)
    nf_tr = np.concatenate([np.asarray(lfw_tr, np.float32).reshape(-1, size, size, 3), crops_tr, hard])
    nf_te = np.concatenate([np.asarray(lfw_te, np.float32).reshape(-1, size, size, 3), crops_te])
    nf_out = _outside_crops(n_out, size, rng)
    # A share GREY_SHARE of the non-faces is grey (the LFW patches, then photo crops turned grey); the caller turns
    # as many faces grey, in training and held-out test alike: neither colour nor its absence tells the class.
    return {
        "x_train": _grey(nf_tr, _grey_choice(n_lfw_tr, len(nf_tr), rng)),
        "x_test": _grey(nf_te, _grey_choice(n_lfw_te, len(nf_te), rng)),
        "x_outside": nf_out, "lfw_train": n_lfw_tr, "lfw_test": n_lfw_te,
        "sources_train": np.asarray(["lfw_nonface"] * n_lfw_tr + names_tr + ["people_no_face"] * n_hard),
        "sources_test": np.asarray(["lfw_nonface"] * n_lfw_te + names_te),
        "files_train": np.asarray([f"lfw_nonface_{i}" for i in lfw_order[:n_lfw_tr]] + names_tr + ["people"] * n_hard),
        "files_test": np.asarray([f"lfw_nonface_{i}" for i in lfw_order[n_lfw_tr:n_lfw_tr + n_lfw_te]] + names_te),
    }


def recall_by_group(predicted: np.ndarray, y: np.ndarray, groups: np.ndarray,
                    reported: tuple[str, ...] = GROUPS) -> dict[str, dict]:
    """{group: {"recall", "found", "n"}} over the faces of each reported group, plus "all faces" and
    "non-faces" (its "recall" is the share of non-faces rejected)."""
    predicted, y, groups = np.asarray(predicted).reshape(-1), np.asarray(y).reshape(-1), np.asarray(groups)
    faces = y == 1
    out = {}
    for name, mask in [*[(g, faces & (groups == g)) for g in reported], ("all faces", faces)]:
        found = int(np.sum(predicted[mask] == 1))
        out[name] = {"recall": found / max(int(mask.sum()), 1), "found": found, "n": int(mask.sum())}
    rejected = int(np.sum(predicted[~faces] == 0))
    out["non-faces"] = {"recall": rejected / max(int((~faces).sum()), 1), "found": rejected,
                        "n": int((~faces).sum())}
    return out


def compare_table(held_out: dict, outside_: dict) -> str:
    """The two :func:`recall_by_group` results side by side, one line per group: "found/n = recall"."""
    def cell(r):
        return f"{r['found']:>3}/{r['n']:<3} = {r['recall']:.2f}" if r["n"] else f"{'—':>14}"

    lines = [f"{'':22}{'held-out':>16}{'outside':>16}"]
    for name in held_out:
        label = "non-faces rejected" if name == "non-faces" else f"{name} found"
        lines.append(f"{label:22}{cell(held_out[name]):>16}{cell(outside_[name]):>16}")
    return "\n".join(lines)


def held_out_and_outside(model, split: OutsideSplit) -> dict[str, dict]:
    """{"held-out": ..., "outside": ...}: :func:`recall_by_group` of a face classifier (a logit > 0 is "face") on
    the split's held-out and outside test sets, and "held-out, standard crop" where the split has it."""
    from ..facelab import predict_faces

    def scores(x, y, groups):
        return recall_by_group(predict_faces(model, x), y, groups, split.reported)

    out = {"held-out": scores(split.x_test, split.y_test, split.groups_test),
           "outside": scores(split.x_outside, split.y_outside, split.groups_outside)}
    if split.x_test_standard is not None:
        out["held-out, standard crop"] = scores(split.x_test_standard, split.y_test, split.groups_test)
    return out


def mistakes(model, x: np.ndarray, y: np.ndarray, groups: np.ndarray, n: int = 8) -> dict[str, tuple]:
    """What a face classifier got wrong on ``x``, most confident mistakes first: {"missed faces": (images,
    titles), "non-faces called faces": (images, titles)}, up to ``n`` of each. A title gives the model's face
    probability, and the face's group where the source has one."""
    from ..facelab import face_logits

    logits = face_logits(model, x).astype(np.float64)
    prob = 1.0 / (1.0 + np.exp(-logits))
    y, groups = np.asarray(y).reshape(-1), np.asarray(groups)
    missed = np.flatnonzero((y == 1) & (logits <= 0))
    missed = missed[np.argsort(logits[missed], kind="stable")][:n]
    called = np.flatnonzero((y == 0) & (logits > 0))
    called = called[np.argsort(-logits[called], kind="stable")][:n]

    def title(i):
        group = "" if groups[i] in ("", "unlabelled") else f"{groups[i]}\n"
        return f"{group}p(face) {prob[i]:.2f}"

    return {"missed faces": (x[missed], [title(i) for i in missed]),
            "non-faces called faces": (x[called], [title(i) for i in called])}
