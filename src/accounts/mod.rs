//! The accounts service: people (users of every role, passwords), API keys and the audit log
//! as an admin reads it. Shared by the pages, `/api/v1` and the CLI; all SQL is in the store.

pub mod audit;
pub mod keys;
pub mod users;

pub use audit::AuditQuery;
pub use keys::{KeyInput, NewKeyShown};
pub use users::{PasswordLink, UserInput};
