//! `pingyi questionnaire …`: the questionnaire library from the shell (import an XLSForm
//! workbook or TOML file as a version, export a version, list, compare two versions).

use std::io::Write;
use std::path::PathBuf;

use crate::config::DatabaseArgs;
use crate::library::{self, Format, LibraryError, Outcome};
use crate::questionnaire::Registry;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct Library {
    /// Directory of the shipped questionnaire definitions; the built-in set when absent.
    #[arg(long, env = "PINGYI_SURVEYS", default_value = "surveys")]
    pub surveys: PathBuf,
    #[command(flatten)]
    pub db: DatabaseArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum QuestionnaireCommand {
    /// Import an XLSForm workbook (.xlsx) or a TOML file (.toml) as a questionnaire version.
    /// Every problem is reported as `sheet!cell: what is wrong`; nothing is stored unless
    /// there are none. Changed content under an existing version is refused with the list of
    /// differences: raise `version` in the settings sheet to make a new version.
    Import {
        file: PathBuf,
        /// Replace the stored content of the same version (only while it has no responses).
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        library: Library,
    },
    /// Write a version as an XLSForm workbook or TOML text (standard output without --output).
    Export {
        /// `id` (the newest version) or `id@version`, e.g. `resident@1`.
        questionnaire: String,
        #[arg(long, default_value = "xlsx", value_parser = ["xlsx", "toml"])]
        format: String,
        #[arg(long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        library: Library,
    },
    /// List every version as CSV: id,version,respondent_type,title_zh,title_en,questions,responses,content_hash.
    List {
        #[command(flatten)]
        library: Library,
    },
    /// What changed between two versions (added, removed, reworded questions …) and which
    /// items a year-over-year comparison between them uses.
    Diff {
        /// The newer version: `id@version`.
        questionnaire: String,
        /// The older version (a number or `id@version`); the previous version when absent.
        #[arg(long)]
        against: Option<String>,
        #[command(flatten)]
        library: Library,
    },
}

async fn open(library: &Library) -> anyhow::Result<(Store, Registry)> {
    let store = Store::open(&library.db.url(), &library.db.store_options()).await?;
    let list = library::register_questionnaires(&store, &library.surveys).await?;
    Ok((store, Registry::new(list)))
}

/// A library error as a person at a terminal can act on it: every problem and every
/// difference on its own line.
fn explain(e: LibraryError) -> anyhow::Error {
    let mut msg = e.to_string();
    if let LibraryError::Differs { changes, .. } | LibraryError::Answered { changes, .. } = &e {
        for c in changes {
            msg.push_str(&format!("\n  {c}"));
        }
    }
    anyhow::anyhow!(msg)
}

pub async fn run(cmd: QuestionnaireCommand) -> anyhow::Result<()> {
    match cmd {
        QuestionnaireCommand::Import {
            file,
            replace,
            library: lib,
        } => {
            let bytes =
                std::fs::read(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let (store, registry) = open(&lib).await?;
            let (q, outcome) = library::import(&store, &registry, &name, bytes, replace, "cli")
                .await
                .map_err(explain)?;
            let what = match outcome {
                Outcome::Created => "imported",
                Outcome::Unchanged => "already stored with the same content; nothing changed:",
                Outcome::Replaced => "replaced",
            };
            println!(
                "{what} {}@{} ({}, {} questions, content hash {})",
                q.id,
                q.version,
                q.respondent_type.label_en(),
                q.questions.len(),
                q.content_hash
            );
            Ok(())
        }
        QuestionnaireCommand::Export {
            questionnaire,
            format,
            output,
            library: lib,
        } => {
            let format = Format::parse(&format).map_err(explain)?;
            let (_store, registry) = open(&lib).await?;
            let q = library::resolve(&registry, &questionnaire).map_err(explain)?;
            let bytes = library::export(&q, format).map_err(explain)?;
            match output {
                Some(path) => std::fs::write(&path, &bytes)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
                None => std::io::stdout().lock().write_all(&bytes)?,
            }
            Ok(())
        }
        QuestionnaireCommand::List { library: lib } => {
            let (store, registry) = open(&lib).await?;
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            w.write_record([
                "id",
                "version",
                "respondent_type",
                "title_zh",
                "title_en",
                "questions",
                "responses",
                "content_hash",
            ])?;
            for v in library::list(&store, &registry).await.map_err(explain)? {
                let q = &v.questionnaire;
                w.write_record([
                    q.id.clone(),
                    q.version.to_string(),
                    q.respondent_type.as_str().to_owned(),
                    q.title.zh.clone(),
                    q.title.en.clone(),
                    q.questions.len().to_string(),
                    v.responses.to_string(),
                    q.content_hash.clone(),
                ])?;
            }
            w.flush()?;
            Ok(())
        }
        QuestionnaireCommand::Diff {
            questionnaire,
            against,
            library: lib,
        } => {
            let (_store, registry) = open(&lib).await?;
            let new = library::resolve(&registry, &questionnaire).map_err(explain)?;
            let Some(c) = library::compare(&registry, new, against.as_deref()).map_err(explain)?
            else {
                println!("{questionnaire} has no earlier version to compare with");
                return Ok(());
            };
            println!(
                "{}@{} → {}@{}: {} difference(s)",
                c.old.id,
                c.old.version,
                c.new.id,
                c.new.version,
                c.changes.len()
            );
            for ch in &c.changes {
                println!("  {ch}");
            }
            println!(
                "compared year over year: {} item(s): {}",
                c.comparable.len(),
                c.comparable.join(", ")
            );
            Ok(())
        }
    }
}
