"""The emulator and deployments files: serve the paths a file names, and write one for the port it got.

``llama-eval emulator --deployments FILE`` serves each deployment at the path of its endpoint URL
(``http://127.0.0.1:8000/llama33`` -> ``/llama33``; ``.../v1`` -> the vLLM surface by
``deployment_name``). The host and port of the file are ignored: the emulator listens where it is
told, and ``--write-deployments OUT`` writes the same file with the URL it really got, so
``--port 0`` and a copy-pasted walkthrough work together.

The file is read here as plain YAML (name, model, kind, endpoint, api, deployment_name), not through
``config.load_deployments``: the emulator needs only those fields and must not require the keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from llama_eval.errors import ConfigError

from .app import Emulator
from .config import EmulatedDeployment, specs_from_deployments

KEY_ENV = "LLAMA_EVAL_EMULATOR_KEY"


def _raw_deployments(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"deployments file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("deployments"), list):
        raise ConfigError(f"{path}: expected a mapping with a 'deployments' list")
    items = raw["deployments"]
    for i, d in enumerate(items):
        if not isinstance(d, Mapping) or not d.get("name") or not d.get("model"):
            raise ConfigError(f"{path}: deployments[{i}] needs 'name' and 'model' (a catalog id) for the emulator")
    return dict(raw), [dict(d) for d in items]


def read_deployments_file(path: str | Path) -> list[EmulatedDeployment]:
    """Emulated deployments for every entry of a deployments file, at the paths its endpoints name."""
    _, items = _raw_deployments(path)
    try:
        return specs_from_deployments(items)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _with_base(endpoint: str, base: str) -> str:
    """``endpoint`` with its scheme and host:port replaced by ``base``'s (the path kept)."""
    parts, target = urlsplit(endpoint), urlsplit(base)
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))


def write_deployments_file(emulator: Emulator, url: str, out: str | Path, *, source: str | Path | None = None) -> Path:
    """Write a deployments YAML whose endpoints point at ``url`` (the address the emulator bound)."""
    out = Path(out)
    if source:
        raw, items = _raw_deployments(source)
        for item in items:
            dep = emulator.deployments[item["name"]]
            if item.get("endpoint"):
                item["endpoint"] = _with_base(str(item["endpoint"]), url)
            else:  # endpoint_env in the source: the emulator's URL is known now, so write it
                item.pop("endpoint_env", None)
                item["endpoint"] = f"{url}/v1" if dep.kind == "self-hosted" else (url if dep.openai_v1 else f"{url}/{dep.path}")
            item.setdefault("key_env", KEY_ENV)
            item.pop("emulator", None)  # the emulator's own knobs: not a field of the deployments file the runner reads
        raw["deployments"] = items
    else:
        items = []
        for name, dep in emulator.deployments.items():
            entry: dict[str, Any] = {"name": name, "model": dep.model.id, "kind": dep.kind}
            if dep.kind == "self-hosted":
                entry.update(endpoint=f"{url}/v1", api="openai-v1", deployment_name=dep.served_name)
            else:
                entry["endpoint"] = f"{url}/{dep.path}"
            entry["key_env"] = KEY_ENV
            items.append(entry)
        raw = {"deployments": items}
    header = (
        f"# Written by `llama-eval emulator --write-deployments` for the emulator at {url}.\n"
        f"# The key is the emulator's throwaway key: export {KEY_ENV}=<the 'key' line it printed>\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out
