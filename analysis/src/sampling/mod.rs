//! Reproducible sampling: sample size, allocation across strata and the draw.
//! (The algorithm specification is written out in `draw`.)

pub mod allocate;
pub mod draw;
pub mod error;
pub mod rng;
pub mod size;

pub use allocate::{allocate, Allocation, SizeSpec, StratumInput};
pub use draw::{draw, pps_probabilities, systematic_pps, Draw, DrawOptions, StratumSummary};
pub use error::{Result, SamplingError};
pub use size::{sample_size, SampleSize, SampleSizeSpec};
