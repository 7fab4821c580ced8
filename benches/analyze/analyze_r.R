# R's side of the `pingyi analyze` benchmark (BENCHMARKS.md): what an evaluator runs in R
# for the same table: read.csv, svydesign, svyby(svymean) of the share satisfied (q1 in
# 4, 5; 9 = don't know) by unit x respondent type.
#   Rscript benches/analyze/analyze_r.R FILE.csv [PINGYI_OUTPUT.csv]
# With pingyi's output it also prints the largest differences of estimate and SE.
suppressMessages(library(survey))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
d$q1[d$q1 == 9] <- NA
d$sat <- as.numeric(d$q1 >= 4)
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~weight, data = d, nest = TRUE)
b <- svyby(~sat, ~unit + respondent_type, des, svymean, na.rm = TRUE)
if (length(args) > 1) {
  ours <- read.csv(args[2])
  m <- merge(data.frame(unit = b$unit, respondent_type = b$respondent_type, r_est = b$sat,
                        r_se = SE(b)), ours)
  cat(sprintf("domains=%d max_abs_diff_estimate=%.3g max_abs_diff_se=%.3g\n", nrow(m),
              max(abs(m$estimate - m$r_est)), max(abs(m$se - m$r_se))))
}
