//! Questionnaire files: a folder of them, the built-in set, and duplicates across files.

use super::*;
/// Parse several files and check that no `(id, version)` appears twice.
pub(super) fn parse_all<'a>(
    files: impl IntoIterator<Item = (String, &'a str)>,
) -> Result<Vec<Questionnaire>, LoadError> {
    let mut problems = Vec::new();
    let mut out: Vec<Questionnaire> = Vec::new();
    let mut origin: BTreeMap<(String, u32), String> = BTreeMap::new();
    for (name, text) in files {
        match parse_inner(&name, text) {
            Ok(p) => {
                let key = (p.questionnaire.id.clone(), p.questionnaire.version);
                if let Some(first) = origin.get(&key) {
                    problems.push(Problem {
                        file: name.clone(),
                        line: Some(p.version_line),
                        question: None,
                        field: "version".to_string(),
                        message: format!(
                            "questionnaire \"{}\" version {} is also defined in {first}; give one of them a new version",
                            key.0, key.1
                        ),
                    });
                } else {
                    origin.insert(key, name.clone());
                    out.push(p.questionnaire);
                }
            }
            Err(ps) => problems.extend(ps),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(LoadError { problems })
    }
}

/// Load every `*.toml` directly in `dir` (not sub-directories such as `frameworks/`), in file
/// name order. All problems of all files are reported together.
pub fn load_dir(dir: &Path) -> Result<Vec<Questionnaire>, LoadError> {
    let io_problem = |file: String, e: std::io::Error| LoadError {
        problems: vec![Problem {
            file,
            line: None,
            question: None,
            field: String::new(),
            message: format!("cannot read: {e}"),
        }],
    };
    let entries = std::fs::read_dir(dir).map_err(|e| io_problem(dir.display().to_string(), e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_problem(dir.display().to_string(), e))?;
        let path = entry.path();
        if path.is_file() && path.extension().is_some_and(|x| x == "toml") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut texts = Vec::new();
    for p in &paths {
        let name = p.display().to_string();
        let text = std::fs::read_to_string(p).map_err(|e| io_problem(name.clone(), e))?;
        texts.push((name, text));
    }
    parse_all(texts.iter().map(|(n, t)| (n.clone(), t.as_str())))
}

/// The shipped default questionnaires, embedded at compile time so the binary works from any
/// working directory.
pub const BUILTIN_FILES: [(&str, &str); 6] = [
    (
        "surveys/leader.toml",
        include_str!("../../../surveys/leader.toml"),
    ),
    (
        "surveys/staff.toml",
        include_str!("../../../surveys/staff.toml"),
    ),
    (
        "surveys/service_user.toml",
        include_str!("../../../surveys/service_user.toml"),
    ),
    (
        "surveys/peer_department.toml",
        include_str!("../../../surveys/peer_department.toml"),
    ),
    (
        "surveys/regulator.toml",
        include_str!("../../../surveys/regulator.toml"),
    ),
    (
        "surveys/resident.toml",
        include_str!("../../../surveys/resident.toml"),
    ),
];

/// Parse the embedded defaults. They are covered by tests, so an error here means a broken build.
pub fn builtin() -> Result<Vec<Questionnaire>, LoadError> {
    parse_all(BUILTIN_FILES.iter().map(|(n, t)| (n.to_string(), *t)))
}
