"""Daily SLA compliance from the history frame: per UTC day and tier, how many runs and probe rounds there were,
the share of them that met every SLA check, and the probe rounds' mean uptime.

The history frame has one row per (run, tier) (the history page's input; columns in its store's schema). Pure
pandas; nothing here reads a file.
"""

from __future__ import annotations

import pandas as pd

COLUMNS = ("day", "tier", "runs", "probe_rounds", "met_share", "probe_uptime")


def daily(history: pd.DataFrame) -> pd.DataFrame:
    """One row per UTC day and tier, sorted by day then tier, with columns:

    - ``day``: the UTC date of ``started_at`` as ``YYYY-MM-DD`` (a string, so it sorts and serialises plainly);
    - ``tier``;
    - ``runs``: that day's rows of the tier with kind ``run`` (one per Locust run);
    - ``probe_rounds``: that day's rows of the tier with kind ``probe``;
    - ``met_share``: the share of all that day's rows of the tier (runs and probe rounds) whose ``met`` is True
      (a missing ``met`` counts as not met);
    - ``probe_uptime``: the mean uptime ratio over that day's probe rounds of the tier that report an uptime
      (not the share of rounds at 100%: a round down for a minute weighs as a minute); NaN when there is none.

    An empty history (or one without ``started_at``) gives an empty frame with these columns.
    """
    if history.empty or "started_at" not in history.columns:
        return pd.DataFrame({name: [] for name in COLUMNS}).astype(
            {"day": object, "tier": object, "runs": "int64", "probe_rounds": "int64"}
        )
    started = pd.to_datetime(history["started_at"], utc=True, format="ISO8601")
    kind = _column(history, "kind").fillna("").astype(str)
    probe = kind == "probe"
    uptime = pd.to_numeric(_column(history, "uptime"), errors="coerce").astype("float64")
    rows = pd.DataFrame(
        {
            "day": started.dt.strftime("%Y-%m-%d").astype(object),
            "tier": _column(history, "tier").fillna("").astype(str).astype(object),
            "runs": (kind == "run").astype("int64"),
            "probe_rounds": probe.astype("int64"),
            "met": _column(history, "met").astype(object).eq(True).astype("float64"),  # a null is not met
            "probe_uptime": uptime.where(probe),
        }
    )
    table = (
        rows.groupby(["day", "tier"], sort=True)
        .agg(
            runs=("runs", "sum"),
            probe_rounds=("probe_rounds", "sum"),
            met_share=("met", "mean"),
            probe_uptime=("probe_uptime", "mean"),
        )
        .reset_index()
    )
    return table.loc[:, list(COLUMNS)].reset_index(drop=True)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A column of the frame, or an all-missing one when an older history lacks it."""
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)
