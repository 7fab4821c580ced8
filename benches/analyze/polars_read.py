# Reads a CSV with polars and prints the seconds pl.read_csv took (interpreter start excluded).
import sys, time, polars as pl
f = sys.argv[1]
t = time.perf_counter(); df = pl.read_csv(f); dt = time.perf_counter() - t
print(f"{dt:.3f}")
