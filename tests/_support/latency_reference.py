"""The report's latency statistics as it computed them before Parquet and DuckDB: pandas on the raw rows (the reference the aggregates must equal)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def pandas_latency(frame: pd.DataFrame) -> pd.DataFrame:
    """The latency statistics as the report computed them before Parquet: pandas quantiles per deployment on the raw rows."""
    out = []
    for name, g in frame.groupby("deployment"):
        ttft, e2e = g["ttft_s"].dropna() * 1000, g["e2e_s"].dropna()
        itl = (g["itl_p50_s"].dropna() * 1000).median()
        out.append({"deployment": name, "requests": len(g), "TTFT p50 ms": ttft.quantile(0.5), "TTFT p90 ms": ttft.quantile(0.9),
                    "TTFT p99 ms": ttft.quantile(0.99), "ITL p50 ms": itl if itl > 0 else np.nan, "e2e p50 s": e2e.quantile(0.5),
                    "e2e p90 s": e2e.quantile(0.9), "e2e p99 s": e2e.quantile(0.99), "output tok/s p50": g["output_tps"].dropna().median()})  # fmt: skip
    return pd.DataFrame(out).set_index("deployment")
