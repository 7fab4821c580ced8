//! pingyi-analysis: pure estimation, weighting, comparison, sampling and scoring
//! over polars LazyFrames. No HTTP, no SQL, no global state.

pub mod estimate;
pub mod sampling;
pub mod scoring;
