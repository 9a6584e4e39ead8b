"""The report: tables and figures of the report notebooks, and the papermill pipeline."""
