"""How often does a correct face classifier pass lab 04's `face_accuracy` check? Trains the lab's reference
classifier exactly as the notebook's training cell does, once per set-up seed, and runs the check on each.

    MITDL_FAST=1 python benchmarks/face_accuracy_seeds.py                 # FAST mode, seeds 0-11 (about 4 min)
    python benchmarks/face_accuracy_seeds.py --seeds 0 1 2 3 4            # full mode
    MITDL_FAST=1 python benchmarks/face_accuracy_seeds.py --epochs 6 --no-augment   # the notebook before issue 14
    MITDL_FAST=1 python benchmarks/face_accuracy_seeds.py --momentum 0.99           # Keras' default momentum

Prints one line per seed (balanced accuracy, verdict) and the pass rate.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import mitdl_util as mdl  # noqa: E402
from mitdl_util.checks import lab04  # noqa: E402


def train_as_the_notebook(faces, seed: int, *, epochs: int | None = None, augment: bool = True,
                          momentum: float | None = None):
    """The cell "Train it with tf.data" of solutions/04_facial_detection.ipynb, with the reference builder."""
    import keras

    mdl.setup(seed=seed, quiet=True)
    model = lab04._build_face_classifier()
    if momentum is not None:
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = momentum
    if epochs is None:  # the notebook's EPOCHS and FACE_EPOCHS
        epochs = max(mdl.fast_or_full(6, 10), 7000 // len(faces.x_train))
    model.compile(optimizer=keras.optimizers.Adam(5e-4), loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)])
    train_ds = mdl.data.make_dataset(faces.x_train, faces.y_train, batch_size=32, seed=42)
    if augment:
        flips_and_shifts = keras.Sequential([keras.layers.RandomFlip("horizontal"),
                                             keras.layers.RandomTranslation(0.06, 0.06, fill_mode="nearest")])
        train_ds = train_ds.map(lambda images, labels: (flips_and_shifts(images, training=True), labels))
    model.fit(train_ds, epochs=epochs, shuffle=False, verbose=0)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(12)))
    parser.add_argument("--epochs", type=int, default=None, help="override the notebook's number of epochs")
    parser.add_argument("--no-augment", action="store_true", help="train without the flips and shifts")
    parser.add_argument("--momentum", type=float, default=None, help="override BatchNormalization's momentum")
    args = parser.parse_args()
    faces = mdl.data.load_faces(seed=0)
    print(f"threshold {lab04.face_accuracy_threshold(faces):.2f} on {len(faces.x_test)} held-out images")
    passed = 0
    for seed in args.seeds:
        start = time.perf_counter()
        model = train_as_the_notebook(faces, seed, epochs=args.epochs, augment=not args.no_augment,
                                      momentum=args.momentum)
        result = lab04.face_accuracy.evaluate(model, faces.x_test, faces.y_test)
        passed += bool(result)
        balanced = lab04.balanced_accuracy(model, faces.x_test, faces.y_test)[0]
        print(f"seed {seed}: {result.status} · balanced accuracy {balanced:.3f} · "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    print(f"passed {passed} of {len(args.seeds)} seeds ({'FAST' if mdl.FAST else 'full'} mode; epochs "
          f"{args.epochs or 'as in the notebook'}; augmentation {'off' if args.no_augment else 'on'}; momentum "
          f"{args.momentum or 'as built'})")


if __name__ == "__main__":
    main()
