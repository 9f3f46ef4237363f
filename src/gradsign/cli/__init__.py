"""The ``gradsign`` command line: thin wrappers over :mod:`gradsign.workflows`."""
