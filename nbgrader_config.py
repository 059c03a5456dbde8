"""nbgrader configuration of the CNN book.

The instructor's sources live in ``solutions/<assignment>/`` and the student release that
``nbgrader generate_assignment`` (or ``make release``) writes goes to ``exercises/<assignment>/``;
submissions are collected into ``submitted/<student>/<assignment>/`` as nbgrader expects.
"""

import os

c = get_config()  # noqa: F821 (injected by traitlets when nbgrader loads this file)

# The course root is the folder holding this file, so nbgrader works from the repository root.
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "cnn-book"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# solutions/<assignment>/variants/ holds the variants' solutions and hidden tests: never released.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "variants"]

# The variant of the assignments this offering hands out (assignments.md, "Variants"): 0 is the
# notebook in solutions/ as it is; k applies solutions/<assignment>/variants/<k>.yaml to every
# assignment that has variants. `variants` chooses per assignment and wins, e.g. {"04-pooling": 2}.
# `make release` and `make grade` follow it; VARIANT=k (--variant k) overrides it for one run.
c.CnnBook.variant = 0
c.CnnBook.variants = {}

# What a student sees in place of a solution region.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# `nbgrader autograde` executes each notebook in a kernel; the CNN book's cells are short.
c.ExecutePreprocessor.timeout = 120
