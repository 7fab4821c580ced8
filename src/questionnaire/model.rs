//! The questionnaire data model: what `surveys/*.toml` files become after loading and validation.
//! Everything here is `Serialize` so the API can return it unchanged as JSON.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// A text in both languages of the product: Chinese first, English second.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Text {
    pub zh: String,
    pub en: String,
}

impl Text {
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Text {
            zh: zh.into(),
            en: en.into(),
        }
    }
}

/// Who answers a questionnaire. The evaluation rules' "five-in-one" (五位一体) plus residents reached by
/// third-party household surveys.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RespondentType {
    Leader,
    Staff,
    ServiceUser,
    PeerDepartment,
    Regulator,
    Resident,
}

impl RespondentType {
    pub const ALL: [RespondentType; 6] = [
        RespondentType::Leader,
        RespondentType::Staff,
        RespondentType::ServiceUser,
        RespondentType::PeerDepartment,
        RespondentType::Regulator,
        RespondentType::Resident,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RespondentType::Leader => "leader",
            RespondentType::Staff => "staff",
            RespondentType::ServiceUser => "service_user",
            RespondentType::PeerDepartment => "peer_department",
            RespondentType::Regulator => "regulator",
            RespondentType::Resident => "resident",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            RespondentType::Leader => "分管领导",
            RespondentType::Staff => "干部职工",
            RespondentType::ServiceUser => "管理服务对象",
            RespondentType::PeerDepartment => "相关职能部门",
            RespondentType::Regulator => "监管部门",
            RespondentType::Resident => "普通居民",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            RespondentType::Leader => "Leader in charge",
            RespondentType::Staff => "Staff",
            RespondentType::ServiceUser => "Service user",
            RespondentType::PeerDepartment => "Peer functional department",
            RespondentType::Regulator => "Regulator",
            RespondentType::Resident => "Resident",
        }
    }

    pub fn label(self) -> Text {
        Text::new(self.label_zh(), self.label_en())
    }
}

impl fmt::Display for RespondentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value given is not one of the six respondent types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown respondent type \"{0}\"; known: leader, staff, service_user, peer_department, regulator, resident")]
pub struct UnknownRespondentType(pub String);

impl FromStr for RespondentType {
    type Err = UnknownRespondentType;

    /// Accepts the code (`service_user`), the Chinese label (`管理服务对象`) or the English label
    /// (case-insensitive), because upload files carry whichever the firm typed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        RespondentType::ALL
            .into_iter()
            .find(|r| r.as_str() == t || r.label_zh() == t || r.label_en().eq_ignore_ascii_case(t))
            .ok_or_else(|| UnknownRespondentType(s.to_string()))
    }
}

/// A group of questions scored together, e.g. 服务态度 (attitude).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dimension {
    pub code: String,
    #[serde(flatten)]
    pub name: Text,
}

/// One answer option of a `single` or `multiple` question, or the "don't know" option.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub code: String,
    #[serde(flatten)]
    pub label: Text,
}

/// One of the five likert options with its score and whether it counts as satisfied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LikertChoice {
    pub code: u8,
    #[serde(flatten)]
    pub label: Text,
    pub score: f64,
    pub satisfied: bool,
}

/// The fixed five-point scale: codes 5..1 in display order.
pub const LIKERT_LABELS: [(u8, &str, &str); 5] = [
    (5, "很满意", "Very satisfied"),
    (4, "满意", "Satisfied"),
    (3, "基本满意", "Fairly satisfied"),
    (2, "不满意", "Dissatisfied"),
    (1, "很不满意", "Very dissatisfied"),
];
/// Default score map (satisfaction index on 0–100).
pub const DEFAULT_LIKERT_SCORES: [(u8, f64); 5] =
    [(5, 100.0), (4, 80.0), (3, 60.0), (2, 40.0), (1, 20.0)];
/// Default satisfied set: 很满意 + 满意 + 基本满意.
pub const DEFAULT_SATISFIED: [u8; 3] = [5, 4, 3];
pub const DONT_KNOW_ZH: &str = "不了解";
pub const DONT_KNOW_EN: &str = "Don't know";
/// Default code of the "don't know" option when a file says `dont_know = true`.
pub const DEFAULT_DONT_KNOW_CODE: &str = "0";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Likert {
    /// Always five entries, codes 5, 4, 3, 2, 1 in that order.
    pub choices: Vec<LikertChoice>,
    /// "不了解 / Don't know": excluded from every denominator.
    pub dont_know: Option<Choice>,
}

impl Likert {
    pub fn choice(&self, code: u8) -> Option<&LikertChoice> {
        self.choices.iter().find(|c| c.code == code)
    }
}

/// Kind-specific part of a question; serialised with a `kind` tag next to the common fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QuestionKind {
    Likert5(Likert),
    Single {
        choices: Vec<Choice>,
    },
    Multiple {
        choices: Vec<Choice>,
        /// Minimum number of ticked options when answered.
        min: usize,
        /// Maximum number of ticked options.
        max: usize,
    },
    /// Integer 0–10; optional anchor labels for the ends of the scale.
    Rating {
        low: Option<Text>,
        high: Option<Text>,
    },
    Number {
        min: f64,
        max: f64,
        integer: bool,
        unit: Option<Text>,
    },
    Text {
        max_length: usize,
    },
}

impl QuestionKind {
    pub fn name(&self) -> &'static str {
        match self {
            QuestionKind::Likert5(_) => "likert5",
            QuestionKind::Single { .. } => "single",
            QuestionKind::Multiple { .. } => "multiple",
            QuestionKind::Rating { .. } => "rating",
            QuestionKind::Number { .. } => "number",
            QuestionKind::Text { .. } => "text",
        }
    }
}

/// Show a question only when an earlier question's answer is one of `values` (codes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShowIf {
    pub question: String,
    #[serde(rename = "in")]
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub code: String,
    pub text: Text,
    pub dimension: Option<String>,
    pub required: bool,
    pub show_if: Option<ShowIf>,
    /// Help shown under the question text. Left out of the canonical JSON when absent, so
    /// questionnaires written before hints existed keep their content hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<Text>,
    #[serde(flatten)]
    pub kind: QuestionKind,
}

impl Question {
    pub fn is_likert(&self) -> bool {
        matches!(self.kind, QuestionKind::Likert5(_))
    }

    pub fn likert(&self) -> Option<&Likert> {
        match &self.kind {
            QuestionKind::Likert5(l) => Some(l),
            _ => None,
        }
    }

    /// The codes a respondent may pick with their labels, in display order (likert 5..1 then
    /// "don't know"; the choices of single/multiple). Empty for rating, number and text.
    /// Upload templates list these as the code sheet.
    pub fn options(&self) -> Vec<(String, Text)> {
        match &self.kind {
            QuestionKind::Likert5(l) => l
                .choices
                .iter()
                .map(|c| (c.code.to_string(), c.label.clone()))
                .chain(
                    l.dont_know
                        .iter()
                        .map(|d| (d.code.clone(), d.label.clone())),
                )
                .collect(),
            QuestionKind::Single { choices } | QuestionKind::Multiple { choices, .. } => choices
                .iter()
                .map(|c| (c.code.clone(), c.label.clone()))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A validated questionnaire. `(id, version)` identifies it; a version with responses is
/// immutable, which the store enforces by comparing `content_hash`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Questionnaire {
    pub id: String,
    pub version: u32,
    pub title: Text,
    pub respondent_type: RespondentType,
    pub intro: Text,
    /// Upload quality flag: interviews shorter than this are "speeders".
    pub min_duration_seconds: Option<u32>,
    pub dimensions: Vec<Dimension>,
    pub questions: Vec<Question>,
    /// sha256 (hex) of the canonical JSON of every field above; stable across whitespace,
    /// comment and key-order edits of the TOML file, changed by any semantic edit.
    pub content_hash: String,
}

impl Questionnaire {
    pub fn question(&self, code: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.code == code)
    }

    pub fn question_index(&self, code: &str) -> Option<usize> {
        self.questions.iter().position(|q| q.code == code)
    }

    pub fn dimension(&self, code: &str) -> Option<&Dimension> {
        self.dimensions.iter().find(|d| d.code == code)
    }

    pub fn likert_questions(&self) -> impl Iterator<Item = &Question> {
        self.questions.iter().filter(|q| q.is_likert())
    }

    /// The canonical serialisation hashed by `content_hash`: compact JSON of the validated model
    /// (defaults filled in, fixed field order) with the hash field blanked.
    pub fn canonical_json(&self) -> String {
        let mut copy = self.clone();
        copy.content_hash = String::new();
        // Serialising plain structs, strings and numbers cannot fail.
        serde_json::to_string(&copy).unwrap_or_default()
    }

    pub fn compute_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_json().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn respondent_type_round_trips_and_accepts_labels() {
        for r in RespondentType::ALL {
            assert_eq!(r.as_str().parse::<RespondentType>(), Ok(r));
            assert_eq!(r.label_zh().parse::<RespondentType>(), Ok(r));
            assert_eq!(r.label_en().to_uppercase().parse::<RespondentType>(), Ok(r));
            let json = serde_json::to_string(&r).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
        }
        let err = "citizen".parse::<RespondentType>().unwrap_err();
        assert!(err.to_string().contains("peer_department"));
    }
}
