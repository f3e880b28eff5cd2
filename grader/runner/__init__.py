"""Isolated execution of student code.

The process that decides a score never imports student code. A fork server (`zygote`), a
fresh interpreter started inside the strongest sandbox available (`sandbox`), imports torch
once and forks one worker per submission; the worker confines itself (`confine`, `limits`),
runs the student's file (sent by the grader after `source` checked it) and answers calls.
Only plain numbers come back (`protocol`), never pickles. See SECURITY.md.
"""
