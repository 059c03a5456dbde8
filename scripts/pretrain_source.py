"""Train the source network of chapter 7 and ship it in src/cnnbook/pretrained/.

The network is the batch-norm variant of the reference CNN (cnnbook.models.build_reference_cnn_bn),
trained on the offline "glyph-digits" dataset (generated, no download). The script writes

    src/cnnbook/pretrained/reference_cnn_bn_glyph_digits.pt    the state_dict (float32)
    src/cnnbook/pretrained/reference_cnn_bn_glyph_digits.json  SHA-256, source task, test accuracy

and cnnbook.transfer.load_pretrained() refuses a weights file whose SHA-256 differs from the JSON.
Everything is seeded; on another machine (other CPU, thread count or torch version) the weights
can differ in the last bits, so the checksum is that of the shipped file, not a promise of
bit-identical retraining; the test accuracy should agree within a few tenths of a point.

Usage:
    .venv/bin/python scripts/pretrain_source.py [--epochs 4] [--seed 0] [--threads 1] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import platform
import time
from pathlib import Path

import torch

from cnnbook import data
from cnnbook.data.api import GENERATOR_VERSION
from cnnbook.data.fingerprint import fingerprint
from cnnbook.models import build_reference_cnn_bn, count_parameters
from cnnbook.training import evaluate, fit, set_seed
from cnnbook.transfer import PRETRAINED_DIR, PRETRAINED_NAME

SOURCE = "glyph-digits"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--out", type=Path, default=PRETRAINED_DIR)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1: reproducible summation order)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    X, y = data.load(SOURCE, "train", seed=0)  # the dataset's default split sizes
    X_test, y_test = data.load(SOURCE, "test", seed=0)
    train = data.make_loader(X, y, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    test = data.make_loader(X_test, y_test, batch_size=1000, shuffle=False)

    set_seed(args.seed)
    model = build_reference_cnn_bn(num_classes=10)
    start = time.perf_counter()
    history = fit(
        model, train, epochs=args.epochs, lr=args.lr, scheduler="cosine", device="cpu",
        seed=args.seed,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    model.eval()
    accuracy = evaluate(model, test, "cpu")
    print(f"source test accuracy {accuracy:.4f} after {args.epochs} epochs ({seconds:.0f} s)")

    buffer = io.BytesIO()
    torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, buffer)
    blob = buffer.getvalue()
    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / f"{PRETRAINED_NAME}.pt"
    weights.write_bytes(blob)
    record = {
        "file": weights.name,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "bytes": len(blob),
        "architecture": "cnnbook.models.build_reference_cnn_bn",
        "num_classes": 10,
        "num_parameters": count_parameters(model),
        "source_task": {
            "dataset": SOURCE,
            "train": {"split": "train", "n": len(y), "seed": 0},
            "test": {"split": "test", "n": len(y_test), "seed": 0},
            "generator_version": GENERATOR_VERSION,
            # tells whether a later generator still makes these images (portable: no float hash)
            "test_fingerprint": fingerprint(X_test, y_test),
        },
        "source_test_accuracy": round(accuracy, 4),
        "training": {
            "script": "scripts/pretrain_source.py",
            "epochs": args.epochs,
            "optimizer": "Adam",
            "lr": args.lr,
            "scheduler": "cosine",
            "batch_size": args.batch_size,
            "seed": args.seed,
            "final_train_loss": round(history.train_loss[-1], 4),
            "seconds": round(seconds),
        },
        "made_with": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": torch.get_num_threads(),
        },
    }
    (args.out / f"{PRETRAINED_NAME}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {weights} ({len(blob) / 1e6:.2f} MB) and its JSON record")


if __name__ == "__main__":
    main()
