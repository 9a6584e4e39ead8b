"""Values several tests share: the fake key leak tests grep for, the catalog's model ids, the repository root."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKE_KEY = "LLAMAEVAL-FAKE-KEY-0123456789abcdef"  # recognisable, so leak tests can grep for it

# every model id data/models.yaml must hold
CATALOG_IDS = [
    "Llama-2-7b-chat", "Llama-2-13b-chat", "Llama-2-70b-chat",
    "Meta-Llama-3-8B-Instruct", "Meta-Llama-3-70B-Instruct",
    "Meta-Llama-3.1-8B-Instruct", "Meta-Llama-3.1-70B-Instruct", "Meta-Llama-3.1-405B-Instruct",
    "Llama-3.2-1B-Instruct", "Llama-3.2-3B-Instruct",
    "Llama-3.2-11B-Vision-Instruct", "Llama-3.2-90B-Vision-Instruct",
    "Llama-Guard-3-1B", "Llama-Guard-3-11B-Vision",
    "Llama-3.3-70B-Instruct", "Llama-4-Scout-17B-16E-Instruct", "Llama-4-Maverick-17B-128E-Instruct-FP8",
]  # fmt: skip
