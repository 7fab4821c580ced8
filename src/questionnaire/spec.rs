//! How people and scripts name a questionnaire: `id` (its newest registered version) or
//! `id@version` — the spelling `pingyi links` and the plan print, accepted by every route and
//! command that takes a questionnaire.

use std::fmt;

/// A questionnaire named by id, with or without a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionnaireRef {
    pub id: String,
    /// None: the newest registered version
    pub version: Option<i64>,
}

/// Why a questionnaire name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("the questionnaire is empty; give its id or id@version")]
    Empty,
    #[error("{0:?} is not a version number; write id@version, e.g. staff@1")]
    BadVersion(String),
    #[error("questionnaire {spec:?} and version={version} disagree; give the version once")]
    Conflict { spec: String, version: i64 },
}

impl QuestionnaireRef {
    /// `id` or `id@version` (spaces around either part are ignored).
    pub fn parse(spec: &str) -> Result<Self, RefError> {
        let spec = spec.trim();
        let (id, version) = match spec.rsplit_once('@') {
            Some((id, v)) => match v.trim().parse::<i64>() {
                Ok(v) if v > 0 => (id.trim(), Some(v)),
                _ => return Err(RefError::BadVersion(v.trim().to_owned())),
            },
            None => (spec, None),
        };
        if id.is_empty() {
            return Err(RefError::Empty);
        }
        Ok(QuestionnaireRef {
            id: id.to_owned(),
            version,
        })
    }

    /// `spec` with a version given separately (e.g. the `version=` query parameter): both
    /// may be given only when they agree.
    pub fn parse_with(spec: &str, version: Option<i64>) -> Result<Self, RefError> {
        let mut r = Self::parse(spec)?;
        match (r.version, version) {
            (Some(a), Some(b)) if a != b => {
                return Err(RefError::Conflict {
                    spec: spec.trim().to_owned(),
                    version: b,
                })
            }
            (None, v) => r.version = v,
            _ => {}
        }
        Ok(r)
    }

    /// The version meant among the registered `versions` of this id (the newest when none
    /// was given); None when there is no such version.
    pub fn pick(&self, versions: impl IntoIterator<Item = i64>) -> Option<i64> {
        let mut vs = versions.into_iter();
        match self.version {
            Some(v) => vs.any(|x| x == v).then_some(v),
            None => vs.max(),
        }
    }
}

impl fmt::Display for QuestionnaireRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}@{v}", self.id),
            None => f.write_str(&self.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_or_id_at_version() {
        let r = QuestionnaireRef::parse("resident@1").unwrap();
        assert_eq!((r.id.as_str(), r.version), ("resident", Some(1)));
        assert_eq!(r.to_string(), "resident@1");
        let r = QuestionnaireRef::parse(" staff ").unwrap();
        assert_eq!((r.id.as_str(), r.version), ("staff", None));
        assert_eq!(r.pick([1, 3, 2]), Some(3));
        assert_eq!(QuestionnaireRef::parse("staff@2").unwrap().pick([1]), None);
        assert!(matches!(
            QuestionnaireRef::parse("staff@x"),
            Err(RefError::BadVersion(_))
        ));
        assert_eq!(QuestionnaireRef::parse("@1"), Err(RefError::Empty));
        assert_eq!(
            QuestionnaireRef::parse_with("staff@1", Some(1))
                .unwrap()
                .version,
            Some(1)
        );
        assert_eq!(
            QuestionnaireRef::parse_with("staff", Some(2))
                .unwrap()
                .version,
            Some(2)
        );
        assert!(QuestionnaireRef::parse_with("staff@1", Some(2)).is_err());
    }
}
