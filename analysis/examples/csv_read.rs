//! polars' own read of a CSV file, for the `pingyi analyze` benchmark (BENCHMARKS.md): every
//! column, types inferred from the first 100 rows (polars' default), into a DataFrame.
//!
//!     cargo run --release -p pingyi-analysis --example csv_read -- FILE.csv

use polars::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: csv_read FILE.csv")?;
    let df = LazyCsvReader::new(PlRefPath::new(path.as_str()))
        .with_has_header(true)
        .finish()?
        .collect()?;
    println!("{} rows, {} columns", df.height(), df.width());
    Ok(())
}
