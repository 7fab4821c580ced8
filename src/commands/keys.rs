//! `pingyi key …`: users' API keys from the shell (the key is printed once, stored hashed).

use crate::accounts::{self, KeyInput};
use crate::commands::units::explain;
use crate::config::DatabaseArgs;
use crate::store::{Store, UserId};

#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Create an API key for an evaluator or admin; prints the key alone on its last line.
    Create {
        #[arg(long)]
        user: String,
        /// Days until it expires.
        #[arg(long, default_value_t = accounts::keys::DEFAULT_EXPIRY_DAYS)]
        expires_days: i64,
        /// What the key is for.
        #[arg(long, default_value = "")]
        label: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Revoke the key whose prefix (as listed) starts with P.
    Revoke {
        #[arg(long)]
        prefix: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// List keys: prefix, user, label, expiry, last use, revoked.
    List {
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

pub async fn run(cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::Create {
            user,
            expires_days,
            label,
            db,
        } => {
            let store = Store::open(&db.url(), &db.store_options()).await?;
            let u = store.user_by_name(&user).await?.ok_or_else(|| {
                anyhow::anyhow!("no user named {user:?}; create it with `pingyi user create`")
            })?;
            let input = KeyInput {
                label,
                expires_days: expires_days.to_string(),
            };
            let k = accounts::keys::create_key(&store, UserId(u.id), &input, "cli")
                .await
                .map_err(explain)?;
            eprintln!(
                "API key of {} (prefix {}, expires {}); shown once, store it safely:",
                u.name,
                k.row.prefix,
                k.row.expires_at.as_deref().unwrap_or("never")
            );
            println!("{}", k.key);
            Ok(())
        }
        KeyCommand::Revoke { prefix, reason, db } => {
            let store = Store::open(&db.url(), &db.store_options()).await?;
            let k = accounts::keys::revoke_by_prefix(&store, &prefix, &reason, None, "cli")
                .await
                .map_err(explain)?;
            println!("revoked key {} of {}", k.prefix, k.user_name);
            Ok(())
        }
        KeyCommand::List { db } => {
            let store = Store::open(&db.url(), &db.store_options()).await?;
            println!("prefix\tuser\tlabel\texpires_at\tlast_used_at\trevoked");
            for k in store.list_keys(None).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    k.prefix,
                    k.user_name,
                    k.label,
                    k.expires_at.as_deref().unwrap_or(""),
                    k.last_used_at.as_deref().unwrap_or(""),
                    if k.revoked != 0 { "yes" } else { "no" }
                );
            }
            Ok(())
        }
    }
}
