"""Datasets for the labs: one registry, a verified download cache, offline fallbacks, tf.data pipelines.

```python
(x_train, y_train), (x_test, y_test) = mdl.data.load_mnist()
faces = mdl.data.load_faces()          # faces.x_train, faces.y_train, faces.attributes_test["race"], ...
photo = mdl.data.load_photo("astronaut")
train_ds = mdl.data.make_dataset(x_train, y_train, batch_size=64)
```
TensorFlow is imported only by ``make_dataset``; nothing here touches the network at import time.
"""

from __future__ import annotations

from .cache import (
    CacheWriteError,
    ChecksumError,
    DataUnavailableError,
    UnpinnedHashError,
    UnsafeFileError,
    data_dir,
    is_offline,
    local_data_dirs,
    sha256_file,
)
from .download import cached_path, extract_archive, fetch, is_cached, load_npz, verify_cache
from .loaders import PHOTOS, Faces, load_faces, load_mnist, load_photo
from .pipeline import make_dataset
from .registry import REGISTRY, Dataset, get_dataset

__all__ = [
    "REGISTRY", "PHOTOS", "CacheWriteError", "ChecksumError", "DataUnavailableError", "Dataset", "Faces", "UnpinnedHashError",
    "UnsafeFileError", "cached_path", "data_dir", "extract_archive", "fetch", "get_dataset", "is_cached",
    "is_offline", "load_faces", "load_mnist", "load_npz", "load_photo", "local_data_dirs", "make_dataset",
    "sha256_file", "verify_cache",
]
