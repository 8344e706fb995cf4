"""Checks for the chapters' exercises: `check_...(student_function)` prints what is right or wrong.

One module per chapter (protocol: 00, pod: 01, classifiers: 02, memory: 03, step: 04,
experiments: 05 and 06), all on one harness (`harness.run_check`): each check compares the
student's function with the library's on several inputs, prints one line when every case is
right (else the wrong cases and a verdict), never raises, and shows nothing else under the cell.
"""
