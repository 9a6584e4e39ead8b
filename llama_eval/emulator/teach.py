"""Teaching a running emulator the references of a prompt set, so its answers to them can be scored.

The emulator knows the prompt sets it was started with (``--prompts``). A notebook that brings its
own prompts to an emulator already running calls ``teach_emulator(endpoint, prompt_set)``: it posts
the items to ``POST /emulator/prompts``. Against a real Azure endpoint (no such route) it warns once
and does nothing: real models need no teaching.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterable
from urllib.parse import urlsplit

from llama_eval.endpoint.wire import env_proxy
from llama_eval.errors import AuthenticationError, EndpointConnectionError
from llama_eval.prompts.prompt_set import PromptItem

_warned: set[str] = set()


def _base(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"endpoint must be an http(s) URL, got {endpoint!r}")
    return f"{parts.scheme}://{parts.netloc}"


def teach_emulator(
    endpoint: str, prompt_set: Iterable[PromptItem], *, key: str | None = None, key_env: str | None = "LLAMA_EVAL_EMULATOR_KEY", timeout_s: float = 30.0
) -> int:
    """Post the items' messages, references and scorers to the emulator at ``endpoint`` (any of its URLs).

    Returns how many prompts it learned (0, with one warning, when ``endpoint`` is not an emulator).
    The key is ``key``, else the value of ``key_env``.
    """
    base = _base(endpoint)
    key = key or (os.environ.get(key_env) if key_env else None)
    items = [
        {"id": item.id, "messages": list(item.messages), "reference": item.reference, "scorer": item.scorer, "scorer_options": dict(item.scorer_options)}
        for item in prompt_set
        if item.reference is not None or item.scorer is not None
    ]
    request = urllib.request.Request(  # noqa: S310 - scheme checked in _base
        f"{base}/emulator/prompts",
        data=json.dumps({"items": items}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **({"api-key": key} if key else {})},
    )
    proxy = env_proxy(base)  # the run's own rule: the environment's proxy, never for this machine's loopback
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({urlsplit(base).scheme: proxy} if proxy else {}))
    try:
        with opener.open(request, timeout=timeout_s) as response:
            return int(json.loads(response.read())["learned"])
    except urllib.error.HTTPError as err:
        if err.code == 401:
            raise AuthenticationError(f"the emulator at {base} refused the key: pass key=... (printed as 'key ...' when it started)", status_code=401) from None
        if base not in _warned:
            _warned.add(base)
            warnings.warn(f"{base} is not a llama-eval emulator (POST /emulator/prompts answered {err.code}); nothing to teach", stacklevel=2)
        return 0
    except (urllib.error.URLError, OSError) as err:
        raise EndpointConnectionError(f"cannot reach the emulator at {base}: {getattr(err, 'reason', err)}") from None
