#!/usr/bin/env python3
"""Response files for the `pingyi analyze` benchmark (BENCHMARKS.md, "pingyi analyze end to
end"): N rows, 14 columns, shaped like an export: 60 units x 6 respondent types, 16 strata
of 40 PSUs each, unequal weights, likert items 1-5 with 9 = don't know and empty answers.

    python3 benches/analyze/make_responses.py 200000 /tmp/analyze/r200k.csv
    python3 benches/analyze/make_responses.py 1000000 /tmp/analyze/r1m.csv

The same seed gives the same file."""
import csv
import random
import sys

TYPES = ["leader", "staff", "service_user", "peer_department", "regulator", "resident"]
DISTRICTS = ["dongcheng", "xicheng", "chaoyang", "haidian", "fengtai", "tongzhou"]


def main():
    n = int(sys.argv[1])
    out = sys.argv[2]
    rng = random.Random(20261204)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["response_id", "unit", "respondent_type", "district", "gender",
                    "age_group", "stratum", "psu", "weight", "q1", "q2", "q3", "q4",
                    "overall"])
        for i in range(n):
            u = rng.randrange(60)
            s = rng.randrange(16)
            base = 3.4 + (u % 7) * 0.1
            row = [i + 1, f"u{u:02d}", TYPES[rng.randrange(6)], DISTRICTS[rng.randrange(6)],
                   "f" if rng.random() < 0.5 else "m", f"a{rng.randrange(5)}", f"s{s:02d}",
                   f"s{s:02d}-{rng.randrange(40):02d}", f"{rng.uniform(0.5, 4.0):.4f}"]
            for _ in range(5):
                r = rng.random()
                if r < 0.03:
                    row.append("")
                elif r < 0.08:
                    row.append(9)
                else:
                    row.append(min(5, max(1, round(base + rng.uniform(-2.0, 2.0)))))
            w.writerow(row)


if __name__ == "__main__":
    main()
