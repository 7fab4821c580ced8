//! An evaluation's life: draft → open → closed → published, and re-opening with a reason.
//! Also the rules respondents and firms meet: answers and uploads only while open.

use chrono::NaiveDate;
use serde::Serialize;

use super::error::{FieldError, SetupError, SetupResult};
use crate::store::{AuditRecord, EvaluationDetail, EvaluationId, EvaluationStatus, Store};

/// A status change an office asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Open,
    Close,
    Publish,
    Reopen,
}

impl Transition {
    pub const ALL: [Transition; 4] = [
        Transition::Open,
        Transition::Close,
        Transition::Publish,
        Transition::Reopen,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Open => "open",
            Transition::Close => "close",
            Transition::Publish => "publish",
            Transition::Reopen => "reopen",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Transition::Open => "开始收集",
            Transition::Close => "结束收集",
            Transition::Publish => "公示结果",
            Transition::Reopen => "重新开放",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Transition::Open => "Open collection",
            Transition::Close => "Close collection",
            Transition::Publish => "Publish results",
            Transition::Reopen => "Re-open",
        }
    }

    /// Statuses it may start from, and where it leads.
    fn rule(self) -> (&'static [EvaluationStatus], EvaluationStatus) {
        use EvaluationStatus::*;
        match self {
            Transition::Open => (&[Draft], Open),
            Transition::Close => (&[Open], Closed),
            Transition::Publish => (&[Closed], Published),
            Transition::Reopen => (&[Closed, Published], Open),
        }
    }

    /// Whether it is possible from `status`.
    pub fn allowed_from(self, status: EvaluationStatus) -> bool {
        self.rule().0.contains(&status)
    }

    /// Re-opening must say why.
    pub fn needs_reason(self) -> bool {
        self == Transition::Reopen
    }
}

impl std::str::FromStr for Transition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Transition::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!("unknown status change {s:?}: use open, close, publish or reopen")
            })
    }
}

fn refusal(t: Transition, status: EvaluationStatus) -> SetupError {
    let (en, zh) = match (t, status) {
        (Transition::Publish, EvaluationStatus::Open) => (
            "the evaluation is still open: close collection before publishing its results"
                .to_owned(),
            "评估仍在收集中：请先结束收集，再公示结果".to_owned(),
        ),
        (Transition::Publish, EvaluationStatus::Draft) => (
            "the evaluation has not been opened yet; only a closed evaluation can be published"
                .to_owned(),
            "评估尚未开始收集；只有已结束的评估才能公示".to_owned(),
        ),
        _ => (
            format!(
                "cannot {} an evaluation that is {}",
                t.as_str(),
                status.as_str()
            ),
            format!("评估当前为“{}”，不能{}", status.label_zh(), t.label_zh()),
        ),
    };
    SetupError::conflict(en, zh)
}

/// Changes the status. Opening needs units and a plan; re-opening needs a reason.
pub async fn transition(
    store: &Store,
    id: EvaluationId,
    t: Transition,
    reason: &str,
    actor: &str,
) -> SetupResult<EvaluationDetail> {
    let d = store.evaluation_detail(id).await?;
    let from = d.evaluation.status;
    if !t.allowed_from(from) {
        return Err(refusal(t, from));
    }
    let reason = reason.trim();
    if t.needs_reason() && reason.is_empty() {
        return Err(SetupError::invalid(FieldError::new(
            "reason",
            "",
            "say why the evaluation is re-opened (it is recorded in the audit log)",
            "请说明重新开放的原因（将记入审计日志）",
        )));
    }
    if reason.chars().count() > 1000 {
        return Err(SetupError::invalid(FieldError::new(
            "reason",
            reason,
            "a reason has at most 1000 characters",
            "原因最多 1000 个字符",
        )));
    }
    if t == Transition::Open && store.plan_rows(id).await?.is_empty() {
        return Err(SetupError::conflict(
            "the evaluation has no plan yet: say which units are surveyed, with which questionnaire and target, before opening it",
            "该评估尚无调查计划：请先设定各单位的调查对象、问卷和目标样本量，再开始收集",
        ));
    }
    let to = t.rule().1;
    let audit = AuditRecord::new(
        actor,
        &format!("evaluation.{}", t.as_str()),
        format!("evaluation:{id}"),
    )
    .detail(serde_json::json!({ "from": from.as_str(), "to": to.as_str() }))
    .reason(reason);
    store
        .change_evaluation_status(id, from, to, reason, &audit)
        .await?;
    Ok(store.evaluation_detail(id).await?)
}

/// What a respondent opening a link or token of the evaluation is told instead of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub status: u16,
    pub zh: String,
    pub en: String,
}

fn dates(d: &EvaluationDetail) -> Option<(NaiveDate, NaiveDate)> {
    d.fieldwork_start.zip(d.fieldwork_end)
}

/// None while the evaluation collects answers; otherwise the page a respondent sees: "not
/// yet open" with the dates (409), or "closed" (410).
pub fn respondent_notice(d: &EvaluationDetail) -> Option<Notice> {
    match d.evaluation.status {
        EvaluationStatus::Open => None,
        EvaluationStatus::Draft => {
            let (zh, en) = match dates(d) {
                Some((a, b)) => (
                    format!("本次评议尚未开始，将于 {a} 至 {b} 开放填写，届时欢迎参与。"),
                    format!("This evaluation is not open yet. It takes answers from {a} to {b}; please come back then."),
                ),
                None => (
                    "本次评议尚未开始，开放后即可填写，欢迎届时参与。".to_owned(),
                    "This evaluation is not open yet; please come back once it opens.".to_owned(),
                ),
            };
            Some(Notice {
                status: 409,
                zh,
                en,
            })
        }
        EvaluationStatus::Closed | EvaluationStatus::Published => {
            let (zh, en) = match dates(d) {
                Some((a, b)) => (
                    format!("本次评议已结束，感谢您的关注。（填写期：{a} 至 {b}）"),
                    format!("This evaluation has closed. Thank you for your interest. (Fieldwork period: {a} to {b}.)"),
                ),
                None => (
                    "本次评议已结束，感谢您的关注。".to_owned(),
                    "This evaluation has closed. Thank you for your interest.".to_owned(),
                ),
            };
            Some(Notice {
                status: 410,
                zh,
                en,
            })
        }
    }
}

/// The notice for the evaluation with this id (see [`respondent_notice`]).
pub async fn respondent_notice_of(
    store: &Store,
    id: EvaluationId,
) -> Result<Option<Notice>, crate::store::StoreError> {
    Ok(respondent_notice(&store.evaluation_detail(id).await?))
}

/// Firms upload only while the evaluation is open.
pub fn ensure_accepts_uploads(ev: &crate::store::Evaluation) -> SetupResult<()> {
    if ev.status == EvaluationStatus::Open {
        return Ok(());
    }
    let (en, zh) = match ev.status {
        EvaluationStatus::Draft => (
            format!("evaluation {} is not open yet: uploads are accepted only while it collects answers", ev.id),
            format!("评估 {} 尚未开始收集：仅在收集期间接受上传", ev.id),
        ),
        _ => (
            format!(
                "evaluation {} is {}: uploads are accepted only while it collects answers; ask the evaluation office to re-open it",
                ev.id,
                ev.status.as_str()
            ),
            format!(
                "评估 {} {}：仅在收集期间接受上传；如需补传请联系评估办公室重新开放",
                ev.id,
                ev.status.label_zh()
            ),
        ),
    };
    Err(SetupError::conflict(en, zh))
}

#[cfg(test)]
mod tests {
    use super::*;
    use EvaluationStatus::*;

    #[test]
    fn transitions_follow_the_life_cycle() {
        assert!(Transition::Open.allowed_from(Draft));
        assert!(!Transition::Open.allowed_from(Closed));
        assert!(Transition::Publish.allowed_from(Closed));
        assert!(!Transition::Publish.allowed_from(Open));
        assert!(Transition::Reopen.allowed_from(Published));
        assert!(!Transition::Reopen.allowed_from(Draft));
        assert!(refusal(Transition::Publish, Open)
            .to_string()
            .contains("close collection"));
        assert_eq!("reopen".parse::<Transition>(), Ok(Transition::Reopen));
        assert!("delete".parse::<Transition>().is_err());
    }
}
