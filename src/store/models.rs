//! Rows as the store returns them, and the domain enums stored as text.

use serde::Serialize;

use super::StoreError;
use crate::questionnaire::RespondentType;

/// sqlx `Type`, `Encode` and `Decode` of a domain enum stored as TEXT, on both backends:
/// written as its code (`as_str`), read with its `FromStr`. A stored value the enum does not
/// know fails the read with an error naming the column and the value
/// (`StoreError::Database`), never a panic.
macro_rules! text_column {
    ($t:ty) => {
        impl<DB: sqlx::Database> sqlx::Type<DB> for $t
        where
            str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as sqlx::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $t
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                Ok(text.parse::<$t>()?)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $t
        where
            &'q str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&'q str as sqlx::Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }
    };
}

text_column!(RespondentType);
text_column!(BatchStatus);
text_column!(CollectionMethod);

/// Whether an upload batch's rows count (a withdrawn batch keeps its rows, out of analysis).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    Active,
    Withdrawn,
}

impl BatchStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Active => "active",
            BatchStatus::Withdrawn => "withdrawn",
        }
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            BatchStatus::Active => "有效",
            BatchStatus::Withdrawn => "已撤回",
        }
    }
    pub fn label_en(self) -> &'static str {
        self.as_str()
    }
}

impl std::str::FromStr for BatchStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(BatchStatus::Active),
            "withdrawn" => Ok(BatchStatus::Withdrawn),
            _ => Err(StoreError::Invalid(format!(
                "unknown upload batch status {s:?}; expected active or withdrawn"
            ))),
        }
    }
}

/// How a firm's interviews were done (调查方式).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CollectionMethod {
    DoorToDoor,
    Phone,
    Online,
    Intercept,
    FocusGroup,
}

impl CollectionMethod {
    pub const ALL: [CollectionMethod; 5] = [
        CollectionMethod::DoorToDoor,
        CollectionMethod::Phone,
        CollectionMethod::Online,
        CollectionMethod::Intercept,
        CollectionMethod::FocusGroup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CollectionMethod::DoorToDoor => "door_to_door",
            CollectionMethod::Phone => "phone",
            CollectionMethod::Online => "online",
            CollectionMethod::Intercept => "intercept",
            CollectionMethod::FocusGroup => "focus_group",
        }
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            CollectionMethod::DoorToDoor => "入户",
            CollectionMethod::Phone => "电话",
            CollectionMethod::Online => "网络",
            CollectionMethod::Intercept => "拦截",
            CollectionMethod::FocusGroup => "座谈会",
        }
    }
    pub fn label_en(self) -> &'static str {
        match self {
            CollectionMethod::DoorToDoor => "door-to-door",
            CollectionMethod::Phone => "phone",
            CollectionMethod::Online => "online",
            CollectionMethod::Intercept => "intercept",
            CollectionMethod::FocusGroup => "focus group",
        }
    }
    /// The method given by its code, Chinese name or English name (as a firm may type it).
    pub fn parse_loose(s: &str) -> Option<CollectionMethod> {
        let t = s.trim();
        CollectionMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == t || m.label_zh() == t || m.label_en().eq_ignore_ascii_case(t))
    }
}

impl std::str::FromStr for CollectionMethod {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CollectionMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "unknown collection method {s:?}; expected one of door_to_door, phone, \
                     online, intercept, focus_group"
                ))
            })
    }
}

/// Kind of evaluated unit (单位类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnitKind {
    GovernmentDepartment,
    AffiliatedInstitution,
    SubUnit,
    InternalDivision,
}

impl UnitKind {
    pub const ALL: [UnitKind; 4] = [
        UnitKind::GovernmentDepartment,
        UnitKind::AffiliatedInstitution,
        UnitKind::SubUnit,
        UnitKind::InternalDivision,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::GovernmentDepartment => "government_department",
            UnitKind::AffiliatedInstitution => "affiliated_institution",
            UnitKind::SubUnit => "sub_unit",
            UnitKind::InternalDivision => "internal_division",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            UnitKind::GovernmentDepartment => "政府工作部门",
            UnitKind::AffiliatedInstitution => "直属事业单位",
            UnitKind::SubUnit => "下属单位",
            UnitKind::InternalDivision => "内设机构",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            UnitKind::GovernmentDepartment => "Government department",
            UnitKind::AffiliatedInstitution => "Affiliated institution",
            UnitKind::SubUnit => "Sub-unit",
            UnitKind::InternalDivision => "Internal division",
        }
    }
}

impl std::str::FromStr for UnitKind {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UnitKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "unknown unit kind {s:?}; expected one of government_department, \
                     affiliated_institution, sub_unit, internal_division"
                ))
            })
    }
}

/// Life cycle of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationStatus {
    Draft,
    Open,
    Closed,
    Published,
}

impl EvaluationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EvaluationStatus::Draft => "draft",
            EvaluationStatus::Open => "open",
            EvaluationStatus::Closed => "closed",
            EvaluationStatus::Published => "published",
        }
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            EvaluationStatus::Draft => "筹备中",
            EvaluationStatus::Open => "进行中",
            EvaluationStatus::Closed => "已结束",
            EvaluationStatus::Published => "已公示",
        }
    }
    pub fn label_en(self) -> &'static str {
        match self {
            EvaluationStatus::Draft => "Draft",
            EvaluationStatus::Open => "Open",
            EvaluationStatus::Closed => "Closed",
            EvaluationStatus::Published => "Published",
        }
    }
}

impl std::str::FromStr for EvaluationStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "draft" => Ok(Self::Draft),
            "open" => Ok(Self::Open),
            "closed" => Ok(Self::Closed),
            "published" => Ok(Self::Published),
            _ => Err(StoreError::Invalid(format!(
                "unknown evaluation status {s:?}; expected draft, open, closed or published"
            ))),
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Evaluation {
    pub id: i64,
    pub series: String,
    pub year: i64,
    pub wave: String,
    pub title_zh: String,
    pub title_en: String,
    pub status: EvaluationStatus,
    pub data_version: i64,
    pub created_on: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct EvaluationRow {
    pub id: i64,
    pub series: String,
    pub year: i64,
    pub wave: String,
    pub title_zh: String,
    pub title_en: String,
    pub status: String,
    pub data_version: i64,
    pub created_on: String,
}

impl TryFrom<EvaluationRow> for Evaluation {
    type Error = StoreError;
    fn try_from(r: EvaluationRow) -> Result<Self, StoreError> {
        Ok(Evaluation {
            id: r.id,
            series: r.series,
            year: r.year,
            wave: r.wave,
            title_zh: r.title_zh,
            title_en: r.title_en,
            status: r.status.parse()?,
            data_version: r.data_version,
            created_on: r.created_on,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewEvaluation {
    pub series: String,
    pub year: i64,
    pub wave: String,
    pub title_zh: String,
    pub title_en: String,
    pub status: EvaluationStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct Unit {
    pub id: i64,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub kind: UnitKind,
    pub parent_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct UnitRow {
    pub id: i64,
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub kind: String,
    pub parent_id: Option<i64>,
}

impl TryFrom<UnitRow> for Unit {
    type Error = StoreError;
    fn try_from(r: UnitRow) -> Result<Self, StoreError> {
        Ok(Unit {
            id: r.id,
            code: r.code,
            name_zh: r.name_zh,
            name_en: r.name_en,
            kind: r.kind.parse()?,
            parent_id: r.parent_id,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewUnit {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    pub kind: UnitKind,
    /// Code of the parent unit, which must already exist.
    pub parent_code: Option<String>,
}

/// A questionnaire definition as stored: the JSON of the parsed definition and its hash.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct StoredQuestionnaire {
    pub id: String,
    pub version: i64,
    pub respondent_type: RespondentType,
    pub title_zh: String,
    pub title_en: String,
    pub content_hash: String,
    pub definition: String,
}

/// Where a response came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseSource {
    Link,
    Token,
    Upload,
}

impl ResponseSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseSource::Link => "link",
            ResponseSource::Token => "token",
            ResponseSource::Upload => "upload",
        }
    }
}

/// An anonymous response to store. Holds a date, never a time.
#[derive(Debug, Clone)]
pub struct NewResponse {
    pub evaluation_id: i64,
    pub unit_id: i64,
    pub respondent_type: RespondentType,
    pub questionnaire_id: String,
    pub questionnaire_version: i64,
    pub source: ResponseSource,
    pub submitted_on: chrono::NaiveDate,
    /// Compact JSON object keyed by question code.
    pub answers: String,
}

/// A stored response as analysis and exports read it.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct ResponseRow {
    pub id: i64,
    pub evaluation_id: i64,
    pub unit_id: i64,
    pub respondent_type: RespondentType,
    pub questionnaire_id: String,
    pub questionnaire_version: i64,
    pub source: String,
    pub submitted_on: String,
    pub answers: String,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// Response counts per unit and respondent type.
#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct ResponseCount {
    pub unit_id: i64,
    pub respondent_type: RespondentType,
    pub n: i64,
}
