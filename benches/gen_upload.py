#!/usr/bin/env python3
"""Benchmark input for the firm upload: a survey firm's CSV, valid against a questionnaire.

    python3 benches/gen_upload.py --rows 1000000 --out /tmp/u1m.csv
    python3 benches/gen_upload.py --questionnaire surveys/resident.toml --rows 20000 --out /tmp/r.csv

Default questionnaire: benches/surveys/bench30.toml (bench-only; the shipped questionnaires have at
most 17 questions), which gives 30 columns: unit, respondent_type, interview_date, district, gender,
age_group, duration_seconds, weight + 20 likert items + `visited` (single) + `hall` (likert, shown
only when visited = 1). Any questionnaire with likert5 / single / multiple / text / number
questions works; a question named district, gender or age_group shares its column with the stratum.

Cells look like a real firm's export: ~10 % of likert answers are Chinese labels (很满意 …), ~5 %
are 不了解, ~20 % of single-choice answers are labels, ~2 % of rows repeat an earlier row (flagged
duplicate, not refused), a few are speeders. Units default to the demo evaluation's units (what
`pingyi serve --demo` creates); pass --units for others. Deterministic for a given --seed.
"""

import argparse
import random
import sys
import tomllib

LIKERT = ["很不满意", "不满意", "基本满意", "满意", "很满意"]  # codes 1..5
DEMO_UNITS = ["fgw", "jyj", "gaj", "mzj", "rsj", "zrzyj", "zjj", "scjgj", "zwfw", "ggzy"]
DISTRICTS = ["东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区"]
GENDERS = ["男", "女"]
AGES = ["18-29", "30-39", "40-49", "50-59", "60+"]
STRATA = ("district", "gender", "age_group")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questionnaire", default="benches/surveys/bench30.toml")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--units", default=",".join(DEMO_UNITS), help="comma-separated unit codes")
    ap.add_argument("--month", default="2024-03", help="interview dates fall in this month")
    ap.add_argument("--seed", type=int, default=20261129)
    args = ap.parse_args()

    with open(args.questionnaire, "rb") as f:
        q = tomllib.load(f)
    rng = random.Random(args.seed)
    units = args.units.split(",")
    dont_know = bool(q.get("likert", {}).get("dont_know", False))
    questions = q["questions"]
    shared = {qq["code"] for qq in questions if qq["code"] in STRATA}
    header = ["unit", "respondent_type", "interview_date"]
    header += [s for s in STRATA if s not in shared]
    header += ["duration_seconds", "weight"]
    header += [qq["code"] for qq in questions]

    def cell(qq, answered):
        kind = qq["kind"]
        if kind == "likert5":
            r = rng.random()
            if dont_know and r < 0.05:
                return "不了解"
            code = rng.randint(1, 5)
            return LIKERT[code - 1] if r < 0.15 else str(code)
        if kind == "single":
            c = rng.choice(qq["choices"])
            return c["zh"] if rng.random() < 0.2 else c["code"]
        if kind == "multiple":
            picked = rng.sample(qq["choices"], rng.randint(1, min(2, len(qq["choices"]))))
            return ";".join(c["code"] for c in picked)
        if kind == "number":
            lo, hi = qq.get("min", 0), qq.get("max", 100)
            return str(rng.randint(int(lo), int(hi)))
        return ""  # text: optional, left empty

    ncols = len(header)
    out = open(args.out, "w", encoding="utf-8", newline="")
    out.write(",".join(header) + "\r\n")
    rtype = q["respondent_type"]
    recent = []
    for _ in range(args.rows):
        if recent and rng.random() < 0.02:
            out.write(rng.choice(recent))
            continue
        row = [
            rng.choice(units),
            rtype,
            f"{args.month}-{rng.randint(1, 28):02d}",
        ]
        for s in STRATA:
            if s not in shared:
                row.append(rng.choice({"district": DISTRICTS, "gender": GENDERS, "age_group": AGES}[s]))
        row.append(str(rng.randint(60, 1800) if rng.random() > 0.01 else rng.randint(20, 89)))
        row.append(f"{rng.uniform(0.5, 2.0):.3f}")
        answers = {}
        for qq in questions:
            cond = qq.get("show_if")
            shown = cond is None or answers.get(cond["question"]) in cond["in"]
            if not shown:
                row.append("")
                continue
            v = cell(qq, answers)
            # show_if compares codes: remember the code behind a label
            code = v
            for c in qq.get("choices", []):
                if v == c.get("zh"):
                    code = c["code"]
            answers[qq["code"]] = code
            row.append(v)
        assert len(row) == ncols
        line = ",".join(row) + "\r\n"
        out.write(line)
        if len(recent) < 1000:
            recent.append(line)
        else:
            recent[rng.randrange(1000)] = line
    out.close()
    print(f"{args.out}: {args.rows} rows x {ncols} columns ({q['id']} v{q['version']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
