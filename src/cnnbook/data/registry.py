"""The table of downloadable datasets: files, mirrors, sizes and checksums.

Every file is verified by SHA-256 and its size: for MNIST and CIFAR-10 the values that Keras and
TensorFlow Datasets use, for Fashion-MNIST those of TensorFlow Datasets (the same files as the MD5
sums its authors publish in their README). The downloader also accepts MD5 entries, for mirrors
that publish nothing else.
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
                "train-images-idx3-ubyte.gz",
                "sha256",
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                26421880,
            ),
            "train_labels": RemoteFile(
                "train-labels-idx1-ubyte.gz",
                "sha256",
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                29515,
            ),
            "test_images": RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                "sha256",
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                4422102,
            ),
            "test_labels": RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                "sha256",
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                5148,
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
