"""The ``llama-eval`` command line: ``app`` parses and dispatches; one module per command adds its parser and handler.

Each command module parses nothing itself: ``add_parser(sub)`` declares its arguments, ``command(args)``
calls the library and formats the records it returns. Logging and key redaction live in ``log``, the
terminal tables in ``tables``.
"""

from .app import build_parser, main

__all__ = ["build_parser", "main"]
