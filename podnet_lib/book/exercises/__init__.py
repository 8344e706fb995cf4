"""Checks for the chapters' exercises: `check_...(student_function)` prints what is right or wrong.

One module per chapter; each check compares the student's function with the library's on
several inputs and says which case differs and by how much.
"""
