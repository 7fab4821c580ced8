//! `pingyi workdays`: working-day arithmetic on a calendar of `surveys/calendars/`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::calendar::{self, parse_date, parse_month};

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["add", "list"])))]
pub struct WorkdaysArgs {
    /// Calendar name: a file NAME.toml in surveys/calendars/ (e.g. cn, mainland China).
    #[arg(long, value_name = "NAME")]
    pub calendar: String,
    /// Start date (YYYY-MM-DD); it does not count itself. Used with --add.
    #[arg(long, value_name = "YYYY-MM-DD", requires = "add")]
    pub from: Option<String>,
    /// Print the date N working days after --from.
    #[arg(long, value_name = "N", requires = "from")]
    pub add: Option<u32>,
    /// Print the working days of a month, one per line.
    #[arg(long, value_name = "YYYY-MM", conflicts_with = "from")]
    pub list: Option<String>,
    /// Folder of definitions; its calendars/ sub-folder replaces the built-in calendars.
    #[arg(long, env = "PINGYI_SURVEYS", default_value = "surveys")]
    pub surveys: PathBuf,
}

/// What `run` prints: the lines for standard output and any warning for standard error.
pub fn render(args: &WorkdaysArgs) -> anyhow::Result<(String, Option<String>)> {
    let cal = calendar::load_for_surveys(&args.surveys, &args.calendar)?;
    match (&args.from, args.add, &args.list) {
        (Some(from), Some(n), None) => {
            let from = parse_date("--from", from)?;
            let due = cal.add_working_days(from, n)?;
            Ok((format!("{due}\n"), cal.provisional_warning(from, due)))
        }
        (None, None, Some(month)) => {
            let (y, m) = parse_month(month)?;
            let days = cal.working_days_in_month(y, m)?;
            let mut out = String::new();
            for d in &days {
                out.push_str(&d.to_string());
                out.push('\n');
            }
            let warn = match (days.first(), days.last()) {
                (Some(a), Some(b)) => cal.provisional_warning(*a, *b),
                _ => None,
            };
            Ok((out, warn))
        }
        _ => anyhow::bail!("give either --from DATE --add N or --list YYYY-MM"),
    }
}

pub fn run(args: WorkdaysArgs) -> anyhow::Result<()> {
    let (out, warning) = render(&args)?;
    if let Some(w) = warning {
        eprintln!("pingyi: warning: {w}");
    }
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .context("writing to standard output")
}
