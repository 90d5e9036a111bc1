"""Runs the pandas side of test/dataframe/pandas-oracle.test.ts.

Reads a JSON file {"setup": code, "cases": {name: code}}: the setup reads
the test's CSV files into pandas frames, and each case's code computes
`out`, a pandas DataFrame. Writes {name: {"columns": [...], "rows": [[...]]}}
(or {"error": text}) as JSON to stdout, with values normalized so the test
can compare them with Tessera's: missing values (NaN, None, NaT) as null,
datetimes and timedeltas as integer microseconds, numpy scalars as plain
numbers, infinities as the strings "inf" and "-inf". Floats are written by Python's json (repr), so no digit is lost.
"""
import json
import math
import sys
import traceback

import numpy as np
import pandas as pd


def value(v):
    if v is None:
        return None
    if isinstance(v, pd.Timestamp):
        return None if pd.isna(v) else v.value // 1000
    if isinstance(v, pd.Timedelta):
        return None if pd.isna(v) else v.value // 1000
    if v is pd.NaT:
        return None
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"  # JSON has no infinities
        return None if math.isnan(f) else f
    return v


def frame(out):
    out = out.reset_index(drop=True)
    rows = [[value(v) for v in row] for row in out.astype(object).itertuples(index=False, name=None)]
    return {"columns": [str(c) for c in out.columns], "rows": rows}


def main():
    spec = json.load(open(sys.argv[1]))
    env = {"pd": pd, "np": np}
    exec(spec["setup"], env)
    results = {}
    for name, code in spec["cases"].items():
        scope = dict(env)
        try:
            exec(code, scope)
            results[name] = frame(scope["out"])
        except Exception:
            results[name] = {"error": traceback.format_exc()}
    json.dump(results, sys.stdout, allow_nan=False)


main()
