# Side by side with R's survey on the benchmark data written by
#   cargo bench -p pingyi-analysis --bench estimate -- side-by-side 1000000 DIR
# Usage: Rscript estimate_side_by_side.R DIR
# Times svyby(~sat, ~unit+rtype, design, svymean) on the stratified, clustered, weighted
# design and compares every estimate and SE with DIR/ours.csv.
suppressMessages(library(survey))
dir <- commandArgs(TRUE)[1]
t0 <- proc.time()[["elapsed"]]
d <- read.csv(file.path(dir, "bench.csv"))
t1 <- proc.time()[["elapsed"]]
d$q1[d$q1 == 9] <- NA
d$sat <- as.numeric(d$q1 >= 4)
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~weight, data = d)
b <- svyby(~sat, ~unit + rtype, des, svymean, na.rm = TRUE)
t2 <- proc.time()[["elapsed"]]
ours <- read.csv(file.path(dir, "ours.csv"))
m <- merge(data.frame(unit = b$unit, rtype = b$rtype, r_est = b$sat, r_se = SE(b)), ours)
cat(sprintf(paste("rows=%d domains=%d R_read_s=%.1f R_svyby_s=%.1f",
                  "max_abs_diff_estimate=%.3g max_abs_diff_se=%.3g",
                  "max_rel_diff_estimate=%.3g max_rel_diff_se=%.3g\n"),
            nrow(d), nrow(m), t1 - t0, t2 - t1,
            max(abs(m$estimate - m$r_est)), max(abs(m$se - m$r_se)),
            max(abs(m$estimate / m$r_est - 1)), max(abs(m$se / m$r_se - 1))))
