"""Prompt sets: JSONL files checked line by line, and importers of public formats."""
