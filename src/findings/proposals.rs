//! Proposals drawn from a closed evaluation (filled in below).
