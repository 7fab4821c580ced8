//! Sampling benchmark (not a test): draws from a 10,000,000-row frame.
//!
//! `cargo bench -p pingyi-analysis --bench sampling -- [srs|pps|flat] [ROWS]`
//! * srs  (default): 200 strata, proportional allocation, n = 100,000, SRS.
//! * pps : the same strata and n, systematic PPS on a size column.
//! * flat: no strata, n = 1,000,000.
//!
//! The frame (`id,stratum,size,name`, about 33 bytes a row) is generated in
//! memory; the time of generation and of the draw are printed separately.
//! Peak memory: run the built binary under `/usr/bin/time -v`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use pingyi_analysis::sampling::{draw, Allocation, DrawOptions, SizeSpec};

fn frame(rows: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows * 34 + 32);
    out.extend_from_slice(b"id,stratum,size,name\n");
    // A fixed LCG keeps generation cheap and the frame identical between runs.
    let mut x: u64 = 20261128;
    for i in 0..rows {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let stratum = (x >> 33) % 200;
        let size = 1 + (x >> 45) % 500;
        out.extend_from_slice(format!("P{i:09},S{stratum:03},{size},住户{i}\n").as_bytes());
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mode = args.first().map(String::as_str).unwrap_or("srs").to_owned();
    let rows: usize = args
        .get(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(10_000_000);

    let t = Instant::now();
    let f = frame(rows);
    let gen = t.elapsed();

    let (strata, n, pps) = match mode.as_str() {
        "pps" => (true, 100_000, true),
        "flat" => (false, 1_000_000.min(rows as u64), false),
        _ => (true, 100_000.min(rows as u64), false),
    };
    let options = DrawOptions {
        id_column: "id".into(),
        strata_column: strata.then(|| "stratum".into()),
        size: Some(SizeSpec::Total(n)),
        allocation: Allocation::Proportional,
        sd_column: None,
        min_per_stratum: 0,
        pps_size_column: pps.then(|| "size".into()),
    };
    let t = Instant::now();
    let d = match draw(&f, &options, "bench-2026") {
        Ok(d) => d,
        Err(e) => {
            eprintln!("draw failed: {e}");
            std::process::exit(1);
        }
    };
    let took = t.elapsed();
    println!(
        "sampling/{mode}: frame {rows} rows ({:.0} MB) generated in {:.2} s; drew {} in {} strata in {:.2} s; output {:.1} MB; result {}",
        f.len() as f64 / 1e6,
        gen.as_secs_f64(),
        d.sample_size,
        d.strata.len(),
        took.as_secs_f64(),
        d.output.len() as f64 / 1e6,
        &d.result_sha256[..16],
    );
}
