"""Recall and false-positive rate of the similarity report on a generated class.

The class is the one of ``tests/grading/test_similarity.py`` (assignment 02): four students who
wrote ``pad2d``, ``conv2d_forward_naive`` and ``conv2d_forward`` independently, the solution
notebook as a fifth, and five planted copies (verbatim, renamed variables, reordered functions,
comments changed, the package's ``numpy_ref`` source pasted). Recall is the share of planted pairs
flagged; the false-positive rate the share of honest pairs flagged (honest student with honest
student, and independent student with the package reference). Prints both, with every score, at
each threshold given.

Usage:
    .venv/bin/python benchmarks/bench_similarity.py [--threshold 0.3 0.5 0.7]
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from cnnbook.grading.similarity import DEFAULT_THRESHOLD

TEST = Path(__file__).resolve().parents[1] / "tests" / "grading" / "test_similarity.py"


def _load_class_module():
    # the class lives with its tests, which assert on the same figures
    spec = importlib.util.spec_from_file_location("test_similarity", TEST)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, nargs="+", default=[DEFAULT_THRESHOLD])
    args = parser.parse_args()
    module = _load_class_module()
    for threshold in args.threshold:
        result = module.measure(threshold)
        planted, honest = result["planted"], result["honest"]
        print(f"threshold {threshold:.2f}")
        print(
            f"  recall on planted copies: {result['recall']:.2f} "
            f"({sum(p.flagged for p in planted)}/{len(planted)})"
        )
        print(
            f"  false-positive rate on honest pairs: {result['false_positive_rate']:.3f} "
            f"({len(result['false_positives'])}/{len(honest)})"
        )
        for label, pairs in (("planted", planted), ("honest", honest)):
            for p in sorted(pairs, key=lambda p: -p.score):
                mark = "flagged" if p.flagged else ""
                print(f"    {label:8s} {p.score:.2f}  {p.a} ~ {p.b} {mark}")


if __name__ == "__main__":
    main()
