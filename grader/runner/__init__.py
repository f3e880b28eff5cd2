"""Isolated execution of student code.

The process that decides a score never imports student code. A zygote process, forked
right after `import torch`, forks one worker per submission; the worker imports the
student's file and answers calls. Only plain numbers come back (`protocol`), never pickles.
"""
