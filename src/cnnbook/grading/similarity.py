"""Similarity report: which submissions share code with each other or with the package's reference.

Each submission's answer code (the source's solution cells and any code cells the student added;
never the instructor's read-only or test cells) is fingerprinted with ``copydetect``, which
winnows k-grams of the tokenised code as MOSS does: names become placeholders and comments and
whitespace are dropped, so renamed variables, reordered functions and rewritten comments still
match. Every pair of submissions is compared, and every submission with each reference module of
the package (``cnnbook.numpy_ref``, ``models``, ``training``, ``transfer``, compared as one
document ``reference:cnnbook``) and with the solution notebook (``reference:solutions``). The
release's own code (stubs, signatures, test cells) is subtracted as boilerplate.

The output is a CSV of every pair, ranked by score, and an HTML page showing each flagged pair
side by side with the matching regions marked.
"""

from __future__ import annotations

import csv
import html
import io
import sys
from dataclasses import dataclass, replace
from itertools import combinations
from pathlib import Path

import nbformat
import numpy as np

from .assignments import course_root, release_notebook, source_notebook
from .pipeline import find_submissions

__all__ = [
    "DEFAULT_THRESHOLD",
    "NOISE",
    "GUARANTEE",
    "PairScore",
    "answer_code",
    "compare_assignment",
    "compare_texts",
    "modules_matched",
    "package_reference",
    "reference_sources",
    "write_report_csv",
    "write_report_html",
]

# Lengths, in characters of tokenised code (each name is one character), of the shortest match
# that counts (NOISE) and that is always found (GUARANTEE). See benchmarks/bench_similarity.py.
NOISE = 25
GUARANTEE = 30
# The default flagging threshold on the score (the share of a submission's answer code found in
# the other document). Measured on the generated class of tests/grading/test_similarity.py: the
# planted copies score 0.95-1.0 and the independent solutions 0.28 at most (14 pairs, 12 runs): 0.5
# sits in the middle of the gap (benchmarks/bench_similarity.py prints the figures). Scores move
# by a few hundredths between runs: copydetect hashes k-grams with Python's hash(), which is
# salted per process unless PYTHONHASHSEED is set (`make similarity` sets it, for reproducibility).
DEFAULT_THRESHOLD = 0.5

_REFERENCE_PREFIX = "reference:"


@dataclass(frozen=True)
class PairScore:
    """The comparison of one submission (``a``) with another submission or a reference (``b``).

    ``share_a`` and ``share_b`` are the fractions of each side's fingerprinted code found in the
    other; ``score`` is the larger of the two for two students, ``share_a`` for a reference (a
    reference module is much longer than any answer, so its own share says nothing).
    """

    a: str
    b: str
    share_a: float
    share_b: float
    matched_tokens: int
    score: float
    flagged: bool
    slices_a: np.ndarray
    slices_b: np.ndarray
    where: str = ""  # for the package reference: the modules the matches are in

    @property
    def is_reference(self) -> bool:
        """Whether ``b`` is a reference document rather than a student."""
        return self.b.startswith(_REFERENCE_PREFIX)


def _nbgrader(cell: nbformat.NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def answer_code(submission: nbformat.NotebookNode, source: nbformat.NotebookNode) -> str:
    """The student's own code in ``submission``: its solution cells and the cells it added.

    A cell is the student's if its ``grade_id`` is a solution cell of ``source`` or is unknown
    to ``source`` (cells the student added have no nbgrader metadata at all). The instructor's
    read-only and test cells are left out even if the student edited them: they are restored
    before grading, so nothing written there counts.
    """
    solution_ids = set()
    instructor_ids = set()
    for cell in source.cells:
        meta = _nbgrader(cell)
        if meta.get("grade_id"):
            (solution_ids if meta.get("solution") else instructor_ids).add(meta["grade_id"])
    parts = []
    for cell in submission.cells:
        if cell.cell_type != "code":
            continue
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id in instructor_ids and grade_id not in solution_ids:
            continue
        parts.append(cell.source)
    return "\n\n".join(parts)


def _release_code(release: nbformat.NotebookNode) -> str:
    """Every code cell of the release: stubs, signatures, set-up and test cells."""
    return "\n\n".join(cell.source for cell in release.cells if cell.cell_type == "code")


def reference_sources() -> dict[str, str]:
    """The package's reference modules, by name (``numpy_ref/conv.py``, ``models.py``, ...)."""
    package = Path(__file__).resolve().parents[1]
    paths = sorted((package / "numpy_ref").glob("*.py"))
    paths += [package / name for name in ("models.py", "training.py", "transfer.py")]
    return {
        str(path.relative_to(package)): path.read_text(encoding="utf-8")
        for path in paths
        if path.is_file()
    }


def package_reference() -> tuple[str, list[tuple[int, int, str]]]:
    """All reference modules as one document, and where each module starts and ends in it.

    One document rather than one per module: a student who pastes ``pad2d`` from
    ``padding.py`` and ``conv2d_forward`` from ``conv.py`` has copied both, and only their sum
    says how much of the answer is the package's.
    """
    parts, spans, start = [], [], 0
    for name, code in reference_sources().items():
        text = f"# ===== {name} =====\n{code}\n"
        parts.append(text)
        spans.append((start, start + len(text), name))
        start += len(text)
    return "".join(parts), spans


def modules_matched(pair: PairScore, spans: list[tuple[int, int, str]]) -> list[str]:
    """The reference modules holding ``pair``'s matches, most matched characters first, as
    ``"name (chars)"``: a paste shows as one or two large modules, chance idioms as small ones."""
    starts, ends = pair.slices_b
    counts = []
    for begin, end, name in spans:
        chars = int(np.sum(np.clip(ends, begin, end) - np.clip(starts, begin, end)))
        if chars > 0:
            counts.append((chars, name))
    return [f"{name} ({chars})" for chars, name in sorted(counts, reverse=True)]


def _fingerprint(name: str, code: str, boilerplate: np.ndarray, window: int):
    from copydetect import CodeFingerprint  # the grader needs copydetect, students do not

    return CodeFingerprint(
        f"{name}.py",
        NOISE,
        window,
        boilerplate=boilerplate,
        language="python",
        fp=io.StringIO(code),
    )


def _boilerplate_hashes(code: str) -> np.ndarray:
    # Every k-gram of the boilerplate (window 1), as copydetect does for its boilerplate files.
    return np.unique(np.array(list(_fingerprint("boilerplate", code, np.array([]), 1).hashes)))


def compare_texts(
    documents: dict[str, str],
    references: dict[str, str] | None = None,
    boilerplate: str = "",
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[list[PairScore], dict[str, str]]:
    """Compare every pair of ``documents`` and each document with each reference.

    Args:
        documents: student id -> answer code.
        references: reference name -> code (names get the ``reference:`` prefix in the result).
        boilerplate: code every document was given (subtracted before comparing).
        threshold: a pair is flagged when its score is at least this (0 < threshold <= 1).

    Returns:
        The pairs ranked by score (highest first), and the code of every compared document by
        the name used in the pairs (for the HTML report).

    Raises:
        ValueError: if ``threshold`` is not in (0, 1].
    """
    from copydetect import compare_files

    if not 0 < threshold <= 1:
        raise ValueError(f"threshold: got {threshold!r}, expected a number in (0, 1]")
    window = GUARANTEE - NOISE + 1
    hashes = _boilerplate_hashes(boilerplate) if boilerplate.strip() else np.array([])
    prints = {name: _fingerprint(name, code, hashes, window) for name, code in documents.items()}
    ref_prints = {
        _REFERENCE_PREFIX + name: _fingerprint(name, code, hashes, window)
        for name, code in (references or {}).items()
    }
    pairs = []
    todo = [(a, b, False) for a, b in combinations(sorted(prints), 2)]
    todo += [(a, r, True) for a in sorted(prints) for r in ref_prints]
    for a, b, is_reference in todo:
        fa = prints[a]
        fb = ref_prints[b] if is_reference else prints[b]
        tokens, (share_a, share_b), (slices_a, slices_b) = compare_files(fa, fb)
        share_a, share_b = float(share_a), float(share_b)
        score = share_a if is_reference else max(share_a, share_b)
        pairs.append(
            PairScore(
                a,
                b,
                share_a,
                share_b,
                int(tokens),
                score,
                score >= threshold,
                np.asarray(slices_a, dtype=int).reshape(2, -1),
                np.asarray(slices_b, dtype=int).reshape(2, -1),
            )
        )
    pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    texts = dict(documents)
    texts.update({name: fp.raw_code for name, fp in ref_prints.items()})
    return pairs, texts


def compare_assignment(
    assignment: str,
    root: Path | None = None,
    submitted_dir: Path | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[list[PairScore], dict[str, str], list[str]]:
    """Compare every submission of ``assignment`` with the others and with the references.

    The references are the package's modules and the answer cells of the solution notebook
    (``reference:solutions``); the boilerplate is every code cell of the release notebook.

    Returns:
        The ranked pairs, the code of every document by name, and a message for each
        submission that could not be read (missing or invalid notebook).

    Raises:
        ValueError: unknown assignment, or a missing source, release or submitted folder.
    """
    root = course_root() if root is None else Path(root)
    source_path = source_notebook(assignment, root)
    release_path = release_notebook(assignment, root)
    for path, what in ((source_path, "source"), (release_path, "release")):
        if not path.is_file():
            raise ValueError(f"assignment: no {what} notebook {path} (run `make release`?)")
    submitted_dir = root / "submitted" if submitted_dir is None else Path(submitted_dir)
    source = nbformat.read(source_path, as_version=4)
    release = nbformat.read(release_path, as_version=4)

    documents: dict[str, str] = {}
    problems = []
    for student, path in find_submissions(submitted_dir, assignment).items():
        try:
            documents[student] = answer_code(nbformat.read(path, as_version=4), source)
        except (OSError, ValueError) as error:  # nbformat's read errors are ValueErrors
            problems.append(f"{student}: not compared: {type(error).__name__}: {error}")
    package, spans = package_reference()
    references = {"cnnbook": package, "solutions": answer_code(source, source)}
    pairs, texts = compare_texts(documents, references, _release_code(release), threshold)
    pairs = [
        replace(p, where=", ".join(modules_matched(p, spans))) if p.b == "reference:cnnbook" else p
        for p in pairs
    ]
    return pairs, texts, problems


def write_report_csv(pairs: list[PairScore], path: Path) -> None:
    """One row per pair, highest score first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "rank",
                "student_a",
                "student_b",
                "score",
                "share_a",
                "share_b",
                "matched",
                "flagged",
                "where",
            ]
        )
        for rank, p in enumerate(pairs, 1):
            writer.writerow(
                [
                    rank,
                    p.a,
                    p.b,
                    f"{p.score:.3f}",
                    f"{p.share_a:.3f}",
                    f"{p.share_b:.3f}",
                    p.matched_tokens,
                    "yes" if p.flagged else "no",
                    p.where,
                ]
            )


_STYLE = """
body { font-family: sans-serif; margin: 1.5em; }
table.pair { width: 100%; table-layout: fixed; border-collapse: collapse; margin-bottom: 2em; }
table.pair td { vertical-align: top; border: 1px solid #ccc; padding: 0.4em; }
pre { white-space: pre-wrap; font-size: 12px; margin: 0; }
mark { background: #ffd54f; }
"""


def _marked(code: str, slices: np.ndarray, context_lines: int) -> str:
    from copydetect.utils import highlight_overlap

    if slices.shape[1] == 0:
        return html.escape(code)
    marked, _ = highlight_overlap(
        code, slices, "<mark>", "</mark>", truncate=context_lines, escape_html=True
    )
    return marked


def write_report_html(
    pairs: list[PairScore], texts: dict[str, str], path: Path, title: str = "Similarity"
) -> None:
    """A self-contained page with each flagged pair side by side, matching code marked.

    A reference module is shown only around its matches (it is long); a student's answer whole.
    """
    flagged = [p for p in pairs if p.flagged]
    out = [
        "<!DOCTYPE html>",
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(flagged)} flagged pair(s) of {len(pairs)} compared. Marked: code found in "
        "both (after names, comments and layout are normalised; the release's code is "
        "ignored).</p>",
    ]
    for rank, p in enumerate(flagged, 1):
        left = _marked(texts[p.a], p.slices_a, -1)
        right = _marked(texts[p.b], p.slices_b, 6 if p.is_reference else -1)
        out += [
            f"<h2 id='pair-{rank}'>{rank}. {html.escape(p.a)} &harr; {html.escape(p.b)}: "
            f"score {p.score:.2f}</h2>",
            f"<p>{p.share_a:.0%} of {html.escape(p.a)} found in {html.escape(p.b)}; "
            f"{p.share_b:.0%} the other way; {p.matched_tokens} matching tokens"
            + (f"; in {html.escape(p.where)}" if p.where else "")
            + ".</p>",
            "<table class='pair'><tr>",
            f"<td><b>{html.escape(p.a)}</b><pre>{left}</pre></td>",
            f"<td><b>{html.escape(p.b)}</b><pre>{right}</pre></td>",
            "</tr></table>",
        ]
    out.append("</body></html>")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out), encoding="utf-8")


def run(
    assignment: str,
    root: Path | None = None,
    submitted_dir: Path | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    output_dir: Path | None = None,
) -> int:
    """The ``similarity`` verb: compare, write the CSV and the HTML page, print a summary."""
    try:
        root = course_root() if root is None else Path(root).resolve()
        pairs, texts, problems = compare_assignment(assignment, root, submitted_dir, threshold)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    output_dir = root if output_dir is None else Path(output_dir)
    csv_path = output_dir / f"similarity-{assignment}.csv"
    html_path = output_dir / f"similarity-{assignment}.html"
    write_report_csv(pairs, csv_path)
    write_report_html(pairs, texts, html_path, f"Similarity report: {assignment}")
    flagged = [p for p in pairs if p.flagged]
    print(
        f"compared {len(pairs)} pairs of {assignment}: {len(flagged)} flagged at score >= "
        f"{threshold}; {csv_path} and {html_path}"
    )
    for p in flagged:
        print(f"  {p.score:.2f}  {p.a}  {p.b}")
    for message in problems:
        print(f"  {message}", file=sys.stderr)
    return 0
