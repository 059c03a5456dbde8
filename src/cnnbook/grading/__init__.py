"""The instructor's side of the assignments: release, autograde, checks and probes.

Modules:
    assignments  the assignment names and where their sources, releases and submissions live
    release      ``python -m cnnbook.grading.release`` regenerates ``exercises/`` with nbgrader
    notebooks    restore trusted cells into a submission and score it with nbgrader's rules
    execute      run a notebook's code cells headless (a forked warm worker, or a Jupyter kernel)
    pipeline     grade a folder of submissions in parallel and write the CSV of scores
    sandbox      the default engine: student code in a guarded process, tests in the grader
    proxy        the grader's side of that channel (proxies, handles, the zygote)
    gradebook    optionally record the scores into nbgrader's gradebook, serially
    checks       assertions with helpful messages, used by the test cells
    probes       small functions that turn student-built torch objects into plain data

``python -m cnnbook.grading grade ASSIGNMENT`` is the command line. Importing this package is
cheap and needs neither nbgrader nor Jupyter (students in Colab import ``checks`` and ``probes``).
"""
