//! The invitation pipeline: after a frame is drawn and recorded ([`crate::draws`]), the drawn
//! people are invited by e-mail or on printed cards, and e-mail goes out through a
//! persistent queue ([`queue`]) over SMTP ([`config`], [`message`]).
//!
//! The crash-safety and privacy rules of the queue (how tokens are created at send time and
//! retired, why a message whose delivery is unknown is never re-sent automatically, why
//! evaluators see only totals) are written down in `crate::store::invitations`, where they
//! are enforced.

pub mod cards;
pub mod config;
pub mod message;
pub mod queue;

pub use config::{Security, SmtpConfig};
pub use queue::{spawn_from_env, Mailer, PassReport, QueueOptions, Sender};
