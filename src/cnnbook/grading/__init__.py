"""The instructor's side of the assignments: release, autograde, checks and probes.

Modules:
    assignments  the assignment names and where their sources, releases and submissions live
    release      ``python -m cnnbook.grading.release`` regenerates ``exercises/`` with nbgrader
    notebooks    restore trusted cells into a submission and score it with nbgrader's rules
    pipeline     grade a folder of submissions in parallel and write the CSV of scores
    sandbox      grade one submission: the student's code in a jail, the tests in the grader
    jail         the operating system's jail: bubblewrap, resource limits, a pids cgroup
    proxy        the grader's side of the channel to the jailed process (proxies, handles)
    gradebook    optionally record the scores into nbgrader's gradebook, serially
    checks       assertions with helpful messages, used by the test cells
    probes       small functions that turn student-built torch objects into plain data

``python -m cnnbook.grading grade ASSIGNMENT`` is the command line. Importing this package is
cheap and needs neither nbgrader nor Jupyter (students in Colab import ``checks`` and ``probes``).
"""
