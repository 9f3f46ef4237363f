"""End-to-end jobs (score, evaluate, search) that combine the library's layers.

The CLI is a thin wrapper over these functions; they are equally usable from Python.
"""
