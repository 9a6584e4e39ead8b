"""Logging for the command line: quiet by default, and every key-bearing value redacted, at every level."""

from __future__ import annotations

import logging
import os
import re
import sys

LOG_ENV = "LLAMA_EVAL_LOG"


LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


SECRET_IN_LOG = re.compile(r"""(?i)((?:authorization|api[-_]?key|ocp-apim-subscription-key|x-api-key)["']?\s*[:=]\s*["']?(?:bearer\s+)?)[^\s"',}\]]+""")


class RedactSecrets(logging.Filter):
    """Replace the value of any key-bearing header or field in a log line with REDACTED (also at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = SECRET_IN_LOG.sub(r"\1REDACTED", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def setup_logging(verbose: int) -> None:
    """Quiet by default: llama-eval's own INFO lines only; ``-v`` (or LLAMA_EVAL_LOG=debug) adds the HTTP libraries'.

    azure-core logs ~17 lines of headers per request at INFO and httpx one line; a user asked for neither.
    """
    env = os.environ.get(LOG_ENV, "").strip().lower()
    if env and env not in LOG_LEVELS:
        raise SystemExit(f"llama-eval: {LOG_ENV}={env!r}: use one of {', '.join(LOG_LEVELS)}")
    level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else LOG_LEVELS.get(env, logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s" if level > logging.DEBUG else "%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("llama_eval").setLevel(min(level, logging.INFO))  # progress and warnings of our own stay visible
