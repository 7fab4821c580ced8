//! Indicator framework files (`<surveys>/frameworks/*.toml`): the list offered to evaluators
//! and the validated file attached to an evaluation.
//!
//! The shipped frameworks are built into the binary ([`BUILTIN_FRAMEWORKS`]), as the shipped
//! questionnaires are: when the frameworks folder does not exist (an installed binary run
//! outside the repository) the built-in set is used; a folder that exists (the default
//! `surveys/frameworks`, or `DIR/frameworks` of `--surveys DIR`) replaces it.

use std::path::{Path, PathBuf};

use pingyi_analysis::scoring::Framework;

/// Where framework files live when the questionnaires are the default `surveys/` folder.
pub const DEFAULT_FRAMEWORKS_DIR: &str = "surveys/frameworks";

/// The shipped frameworks: (id = file stem, text).
pub const BUILTIN_FRAMEWORKS: [(&str, &str); 4] = [
    (
        "beijing_sanxiao_yichuang",
        include_str!("../../surveys/frameworks/beijing_sanxiao_yichuang.toml"),
    ),
    (
        "bureau_division",
        include_str!("../../surveys/frameworks/bureau_division.toml"),
    ),
    (
        "bureau_individual",
        include_str!("../../surveys/frameworks/bureau_individual.toml"),
    ),
    (
        "feicheng_institutional",
        include_str!("../../surveys/frameworks/feicheng_institutional.toml"),
    ),
];

/// Where frameworks come from for `dir`: the folder when it exists, else the built-in set.
fn source_name(dir: &Path) -> String {
    if dir.is_dir() {
        dir.display().to_string()
    } else {
        format!("the built-in frameworks ({} does not exist)", dir.display())
    }
}

/// The framework folder of a questionnaire folder (`--surveys DIR` → `DIR/frameworks`).
pub fn frameworks_dir(surveys: &Path) -> PathBuf {
    surveys.join("frameworks")
}

/// A framework file that loaded: its file name, its text (stored with the evaluation, so
/// results stay reproducible when the file changes) and the validated framework.
#[derive(Debug, Clone)]
pub struct FrameworkFile {
    pub file: String,
    pub text: String,
    pub framework: Framework,
}

/// Why a framework id does not give a framework.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrameworkFileError {
    #[error("framework id {id:?} must be a file stem of {dir} (letters, digits, `_`, `-`); known: {known}")]
    BadId {
        id: String,
        dir: String,
        known: String,
    },
    #[error("no framework `{id}` in {dir}; known: {known}")]
    Unknown {
        id: String,
        dir: String,
        known: String,
    },
    #[error("{0}")]
    Invalid(String),
}

/// The frameworks of `dir` (the built-in set when the folder does not exist): (id = file
/// stem, display name).
pub fn list_frameworks(dir: &Path) -> Vec<(String, String)> {
    if !dir.is_dir() {
        let mut out: Vec<(String, String)> = BUILTIN_FRAMEWORKS
            .iter()
            .map(|(id, text)| {
                let name = Framework::parse(text, &format!("{id}.toml"))
                    .map(|f| f.name)
                    .unwrap_or_else(|e| format!("(invalid: {e})"));
                ((*id).to_owned(), name)
            })
            .collect();
        out.sort();
        return out;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .filter_map(|p| {
            let stem = p.file_stem()?.to_str()?.to_owned();
            let name = Framework::load_path(&p)
                .map(|f| f.name)
                .unwrap_or_else(|e| format!("(invalid: {e})"));
            Some((stem, name))
        })
        .collect();
    out.sort();
    out
}

/// Reads and validates framework `id` (a file stem in `dir`, or of the built-in set when the
/// folder does not exist).
pub fn load_framework_file(dir: &Path, id: &str) -> Result<FrameworkFile, FrameworkFileError> {
    let valid = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let known = || {
        list_frameworks(dir)
            .into_iter()
            .map(|(s, _)| s)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !valid {
        return Err(FrameworkFileError::BadId {
            id: id.to_owned(),
            dir: source_name(dir),
            known: known(),
        });
    }
    let unknown = || FrameworkFileError::Unknown {
        id: id.to_owned(),
        dir: source_name(dir),
        known: known(),
    };
    let text = if dir.is_dir() {
        std::fs::read_to_string(dir.join(format!("{id}.toml"))).map_err(|_| unknown())?
    } else {
        BUILTIN_FRAMEWORKS
            .iter()
            .find(|(x, _)| *x == id)
            .map(|(_, t)| (*t).to_owned())
            .ok_or_else(unknown)?
    };
    let file = format!("{id}.toml");
    let framework =
        Framework::parse(&text, &file).map_err(|e| FrameworkFileError::Invalid(e.to_string()))?;
    Ok(FrameworkFile {
        file,
        text,
        framework,
    })
}

/// Indicator frameworks read from a folder, as an evaluation's set-up checks them.
pub struct FrameworksDir(pub PathBuf);

impl crate::evaluations::FrameworkSource for FrameworksDir {
    fn load(&self, id: &str) -> Result<crate::store::FrameworkFile, String> {
        let f = load_framework_file(&self.0, id).map_err(|e| e.to_string())?;
        Ok(crate::store::FrameworkFile {
            framework_id: f.framework.id,
            file: f.file,
            content: f.text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framework_ids_cannot_escape_the_directory() {
        let dir = Path::new(DEFAULT_FRAMEWORKS_DIR);
        assert!(matches!(
            load_framework_file(dir, "../Cargo"),
            Err(FrameworkFileError::BadId { .. })
        ));
        let err = load_framework_file(dir, "nope").expect_err("unknown");
        assert!(err.to_string().contains("bureau_division"), "{err}");
    }

    #[test]
    fn the_built_in_set_is_the_shipped_folder() {
        let on_disk = list_frameworks(Path::new(DEFAULT_FRAMEWORKS_DIR));
        let missing = Path::new("no/such/folder/frameworks");
        assert_eq!(list_frameworks(missing), on_disk);
        for (id, _) in &on_disk {
            let a = load_framework_file(missing, id).expect("built in");
            let b = load_framework_file(Path::new(DEFAULT_FRAMEWORKS_DIR), id).expect("file");
            assert_eq!(a.text, b.text, "{id}");
        }
        let err = load_framework_file(missing, "nope").expect_err("unknown");
        assert!(err.to_string().contains("built-in"), "{err}");
    }
}
