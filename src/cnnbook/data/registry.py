"""The table of downloadable datasets: files, mirrors, sizes and checksums.

SHA-256 is used where a published one is known (MNIST and CIFAR-10: the values used by Keras and
TensorFlow Datasets); Fashion-MNIST is verified with the MD5 sums its authors publish in their
README, because no SHA-256 from the authors is known to us.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RemoteFile", "RemoteDataset", "REGISTRY", "CLASS_NAMES"]


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset.

    Attributes:
        filename: name on the mirrors and in the cache.
        algorithm: ``"sha256"`` (preferred) or ``"md5"``.
        digest: expected hex digest.
        size: expected size in bytes, or None when unknown.
    """

    filename: str
    algorithm: str
    digest: str
    size: int | None = None


@dataclass(frozen=True)
class RemoteDataset:
    """A downloadable dataset: its files, and mirrors (base URLs, tried in order)."""

    mirrors: tuple[str, ...]
    files: dict[str, RemoteFile]
    offline_alternative: str


_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

REGISTRY: dict[str, RemoteDataset] = {
    "mnist": RemoteDataset(
        mirrors=_MNIST_MIRRORS,
        files={
            "train_images": RemoteFile(
                "train-images-idx3-ubyte.gz",
                "sha256",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                9912422,
            ),
            "train_labels": RemoteFile(
                "train-labels-idx1-ubyte.gz",
                "sha256",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                28881,
            ),
            "test_images": RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                "sha256",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                1648877,
            ),
            "test_labels": RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                "sha256",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                4542,
            ),
        },
        offline_alternative="stroke-digits",
    ),
    "fashion-mnist": RemoteDataset(
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        files={
            "train_images": RemoteFile(
                "train-images-idx3-ubyte.gz", "md5", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
            ),
            "train_labels": RemoteFile(
                "train-labels-idx1-ubyte.gz", "md5", "25c81989df183df01b3e8a0aad5dffbe"
            ),
            "test_images": RemoteFile(
                "t10k-images-idx3-ubyte.gz", "md5", "bef4ecab320f06d8554ea6380940ec79"
            ),
            "test_labels": RemoteFile(
                "t10k-labels-idx1-ubyte.gz", "md5", "bb300cfdad3c16e7a12a480ee83cd310"
            ),
        },
        offline_alternative="glyph-letters",
    ),
    "cifar10": RemoteDataset(
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        files={
            "archive": RemoteFile(
                "cifar-10-python.tar.gz",
                "sha256",
                "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                170498071,
            ),
        },
        offline_alternative="glyph-digits",
    ),
}

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "cifar10": (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ),
}
