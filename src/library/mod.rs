//! The questionnaire library: every questionnaire version the service knows, where it comes
//! from and how an office changes it. The shipped questionnaires (`surveys/*.toml`, built into
//! the binary, a `--surveys` folder overrides) are registered at start-up; an office imports
//! its own versions as XLSForm workbooks (or TOML files) through the admin pages, the API or
//! `pingyi questionnaire import`, and exports any version back. A version that has responses
//! is immutable; a changed workbook under an existing version is refused with the list of
//! differences, and a new version is made by raising `version` in the settings sheet.
//! Shared by the pages, `/api/v1` and the CLI; all SQL is in the store.

mod bank;

use std::path::Path;
use std::sync::Arc;

use crate::questionnaire::xlsform::{self, Change};
use crate::questionnaire::{self, Questionnaire, Registry};
use crate::store::{AuditRecord, Store, StoreError, StoreImport, StoredQuestionnaire};

pub use bank::{bank, Bank, BankCell, BankRow};

/// Registers the shipped questionnaires (from `dir` when it is a folder, else the built-in
/// set) and returns them with every other version stored in the database (imported ones).
/// A changed definition of a shipped version that already has responses stops the start.
pub async fn register_questionnaires(
    store: &Store,
    dir: &Path,
) -> anyhow::Result<Vec<Questionnaire>> {
    let mut list = if dir.is_dir() {
        questionnaire::load_dir(dir).map_err(|e| anyhow::anyhow!("{e}"))?
    } else {
        questionnaire::builtin().map_err(|e| anyhow::anyhow!("{e}"))?
    };
    for q in &list {
        store
            .upsert_questionnaire(&to_stored(q)?)
            .await
            .map_err(|e| anyhow::anyhow!("questionnaire {}: {e}", q.id))?;
    }
    for stored in store.list_questionnaires().await? {
        if list
            .iter()
            .any(|q| q.id == stored.id && i64::from(q.version) == stored.version)
        {
            continue;
        }
        match serde_json::from_str::<Questionnaire>(&stored.definition) {
            Ok(q) => list.push(q),
            Err(e) => tracing::warn!(
                id = %stored.id,
                version = stored.version,
                error = %e,
                "a stored questionnaire version cannot be read by this release; it is not offered"
            ),
        }
    }
    Ok(list)
}

/// The row the store keeps for a questionnaire version.
pub fn to_stored(q: &Questionnaire) -> anyhow::Result<StoredQuestionnaire> {
    Ok(StoredQuestionnaire {
        id: q.id.clone(),
        version: i64::from(q.version),
        respondent_type: q.respondent_type,
        title_zh: q.title.zh.clone(),
        title_en: q.title.en.clone(),
        content_hash: q.content_hash.clone(),
        definition: serde_json::to_string(q)?,
    })
}

/// The file formats a questionnaire is imported from and exported to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An XLSForm workbook (`survey`, `choices`, `settings` sheets).
    Xlsx,
    /// The `surveys/*.toml` text.
    Toml,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, LibraryError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "xlsx" | "xlsform" => Ok(Format::Xlsx),
            "toml" => Ok(Format::Toml),
            other => Err(LibraryError::UnknownFormat(other.to_owned())),
        }
    }

    /// The format of a file by its name (`.xlsx` or `.toml`).
    pub fn of_file(name: &str) -> Result<Format, LibraryError> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".xlsx") {
            Ok(Format::Xlsx)
        } else if lower.ends_with(".toml") {
            Ok(Format::Toml)
        } else {
            Err(LibraryError::UnknownFormat(name.to_owned()))
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::Toml => "toml",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Toml => "application/toml; charset=utf-8",
        }
    }
}

/// Why a questionnaire could not be imported, exported or found. Nothing is stored when an
/// import fails.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// The workbook was read and has problems, each `sheet!cell: what is wrong`.
    #[error("the workbook was not imported:\n{0}")]
    Workbook(xlsform::ImportError),
    /// The TOML file has problems, each with its line.
    #[error("the file was not imported:\n{0}")]
    Toml(questionnaire::LoadError),
    #[error(
        "unknown questionnaire format {0:?}: use an XLSForm workbook (.xlsx) or a TOML file (.toml)"
    )]
    UnknownFormat(String),
    /// The same id and version is stored with other content and has no responses yet.
    #[error(
        "questionnaire {id}@{version} is already stored with other content ({} differences); \
         raise `version` in the settings sheet to make a new version, or replace the stored one \
         (allowed while it has no responses)",
        changes.len()
    )]
    Differs {
        id: String,
        version: i64,
        changes: Vec<Change>,
    },
    /// The same id and version is stored with other content and has responses: immutable.
    #[error(
        "questionnaire {id}@{version} already has {responses} responses and cannot change \
         ({} differences); raise `version` in the settings sheet to make a new version",
        changes.len()
    )]
    Answered {
        id: String,
        version: i64,
        responses: i64,
        changes: Vec<Change>,
    },
    #[error("no questionnaire {0}: give an id (newest version) or id@version that is listed")]
    NotFound(String),
    #[error("{0}")]
    Export(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Unchanged,
    Replaced,
}

/// A questionnaire file read into the model (not stored). CPU-bound for workbooks: async
/// callers run it on a blocking thread ([`import`] does).
pub fn read_file(file_name: &str, bytes: &[u8]) -> Result<Questionnaire, LibraryError> {
    match Format::of_file(file_name)? {
        Format::Xlsx => xlsform::import(bytes).map_err(LibraryError::Workbook),
        Format::Toml => {
            let text = std::str::from_utf8(bytes).map_err(|_| {
                LibraryError::Toml(questionnaire::LoadError {
                    problems: vec![questionnaire::Problem {
                        file: file_name.to_owned(),
                        line: None,
                        question: None,
                        field: String::new(),
                        message: "the file is not UTF-8 text".into(),
                    }],
                })
            })?;
            questionnaire::parse(file_name, text).map_err(LibraryError::Toml)
        }
    }
}

/// Reads a questionnaire file and stores it as a version, then registers it with the running
/// service. Refuses changed content under an existing version (with the differences) unless
/// `replace` is asked and the version has no responses.
pub async fn import(
    store: &Store,
    registry: &Registry,
    file_name: &str,
    bytes: Vec<u8>,
    replace: bool,
    actor: &str,
) -> Result<(Arc<Questionnaire>, Outcome), LibraryError> {
    let name = file_name.to_owned();
    let q = tokio::task::spawn_blocking(move || read_file(&name, &bytes))
        .await
        .map_err(|e| LibraryError::Export(format!("the import task failed: {e}")))??;
    let stored = to_stored(&q).map_err(|e| LibraryError::Export(e.to_string()))?;
    let audit = AuditRecord::new(
        actor,
        "questionnaire.import",
        format!("questionnaire:{}@{}", q.id, q.version),
    )
    .detail(serde_json::json!({
        "file": file_name,
        "questions": q.questions.len(),
        "content_hash": q.content_hash,
        "replace": replace,
    }));
    let differences = |definition: &str| -> Vec<Change> {
        match serde_json::from_str::<Questionnaire>(definition) {
            Ok(old) => xlsform::diff(&old, &q),
            Err(_) => Vec::new(),
        }
    };
    let outcome = match store.import_questionnaire(&stored, replace, &audit).await? {
        StoreImport::Created => Outcome::Created,
        StoreImport::Unchanged => Outcome::Unchanged,
        StoreImport::Replaced => Outcome::Replaced,
        StoreImport::Differs { stored_definition } => {
            return Err(LibraryError::Differs {
                id: q.id.clone(),
                version: i64::from(q.version),
                changes: differences(&stored_definition),
            })
        }
        StoreImport::Answered {
            stored_definition,
            responses,
        } => {
            return Err(LibraryError::Answered {
                id: q.id.clone(),
                version: i64::from(q.version),
                responses,
                changes: differences(&stored_definition),
            })
        }
    };
    let q = Arc::new(q);
    if outcome != Outcome::Unchanged {
        registry.add(q.clone());
    }
    Ok((q, outcome))
}

/// `id` (its newest version) or `id@version` among the registered questionnaires.
pub fn resolve(registry: &Registry, spec: &str) -> Result<Arc<Questionnaire>, LibraryError> {
    let spec = spec.trim();
    let not_found = || LibraryError::NotFound(spec.to_owned());
    let r = crate::questionnaire::QuestionnaireRef::parse(spec).map_err(|_| not_found())?;
    let all = registry.all();
    let v = r
        .pick(all.keys().filter(|(id, _)| *id == r.id).map(|(_, v)| *v))
        .ok_or_else(not_found)?;
    all.get(&(r.id, v)).cloned().ok_or_else(not_found)
}

/// A version as a file of `format`: the workbook an office edits, or the TOML text. Both
/// import back to the same content hash.
pub fn export(q: &Questionnaire, format: Format) -> Result<Vec<u8>, LibraryError> {
    match format {
        Format::Xlsx => xlsform::export_xlsx(q).map_err(|e| LibraryError::Export(e.to_string())),
        Format::Toml => Ok(xlsform::export_toml(q).into_bytes()),
    }
}

/// The file name a download of `q` gets.
pub fn file_name(q: &Questionnaire, format: Format) -> String {
    format!("{}-v{}.{}", q.id, q.version, format.extension())
}

/// The (id, version) of every questionnaire built into the binary, read once.
fn shipped_versions() -> &'static [(String, u32)] {
    static SHIPPED: std::sync::OnceLock<Vec<(String, u32)>> = std::sync::OnceLock::new();
    SHIPPED.get_or_init(|| {
        questionnaire::builtin()
            .map(|l| l.into_iter().map(|q| (q.id, q.version)).collect())
            .unwrap_or_default()
    })
}

/// One version as the library page lists it.
#[derive(Debug, Clone)]
pub struct VersionInfo {
    pub questionnaire: Arc<Questionnaire>,
    pub responses: i64,
    /// Shipped with the product (as opposed to imported by the office).
    pub shipped: bool,
}

/// Every registered version, by id then version, with its response count.
pub async fn list(store: &Store, registry: &Registry) -> Result<Vec<VersionInfo>, LibraryError> {
    let counts = store.questionnaire_response_counts().await?;
    let shipped = shipped_versions();
    Ok(registry
        .all()
        .values()
        .map(|q| VersionInfo {
            responses: counts
                .iter()
                .find(|(id, v, _)| *id == q.id && *v == i64::from(q.version))
                .map_or(0, |c| c.2),
            shipped: shipped.iter().any(|(id, v)| *id == q.id && *v == q.version),
            questionnaire: q.clone(),
        })
        .collect())
}

/// Two versions compared: what changed, and the likert items a year-over-year comparison
/// between them uses (present in both with the same answer scale).
#[derive(Debug, Clone)]
pub struct Comparison {
    pub old: Arc<Questionnaire>,
    pub new: Arc<Questionnaire>,
    pub changes: Vec<Change>,
    pub comparable: Vec<String>,
}

/// Compares `new` with `against` (a version number or `id@version`), or with the version of
/// the same id just before it when `against` is None. None when there is nothing earlier.
pub fn compare(
    registry: &Registry,
    new: Arc<Questionnaire>,
    against: Option<&str>,
) -> Result<Option<Comparison>, LibraryError> {
    let old = match against.map(str::trim).filter(|s| !s.is_empty()) {
        Some(spec) if spec.contains('@') => resolve(registry, spec)?,
        Some(v) => resolve(registry, &format!("{}@{v}", new.id))?,
        None => {
            let all = registry.all();
            let earlier = all
                .iter()
                .filter(|((id, v), _)| *id == new.id && *v < i64::from(new.version))
                .max_by_key(|((_, v), _)| *v)
                .map(|(_, q)| q.clone());
            match earlier {
                Some(q) => q,
                None => return Ok(None),
            }
        }
    };
    Ok(Some(Comparison {
        changes: xlsform::diff(&old, &new),
        comparable: xlsform::comparable_items(&old, &new),
        old,
        new,
    }))
}
