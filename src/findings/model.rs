//! The words of the rectification loop: a finding's state, severity and source, the steps
//! that move it, and the inputs of those steps parsed at the edge.

use chrono::NaiveDate;
use serde::Serialize;

use crate::i18n::Lang;

/// Where a finding is in the loop. Proposed → assigned → plan submitted → plan accepted →
/// completion submitted → verified; the evaluator may return a plan or a completion report
/// (the unit submits again); a proposal may be dropped (or merged into another).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Proposed,
    Assigned,
    PlanSubmitted,
    PlanReturned,
    PlanAccepted,
    CompletionSubmitted,
    CompletionReturned,
    Verified,
    Dropped,
}

impl State {
    pub const ALL: [State; 9] = [
        State::Proposed,
        State::Assigned,
        State::PlanSubmitted,
        State::PlanReturned,
        State::PlanAccepted,
        State::CompletionSubmitted,
        State::CompletionReturned,
        State::Verified,
        State::Dropped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Proposed => "proposed",
            State::Assigned => "assigned",
            State::PlanSubmitted => "plan_submitted",
            State::PlanReturned => "plan_returned",
            State::PlanAccepted => "plan_accepted",
            State::CompletionSubmitted => "completion_submitted",
            State::CompletionReturned => "completion_returned",
            State::Verified => "verified",
            State::Dropped => "dropped",
        }
    }

    pub fn label(self, lang: Lang) -> &'static str {
        let (zh, en) = match self {
            State::Proposed => ("待确认", "Proposed"),
            State::Assigned => ("已交办", "Assigned"),
            State::PlanSubmitted => ("整改方案待审核", "Plan submitted"),
            State::PlanReturned => ("整改方案已退回", "Plan returned"),
            State::PlanAccepted => ("整改中", "Plan accepted"),
            State::CompletionSubmitted => ("整改报告待核实", "Completion submitted"),
            State::CompletionReturned => ("整改报告已退回", "Completion returned"),
            State::Verified => ("已销号", "Verified"),
            State::Dropped => ("已撤销", "Dropped"),
        };
        lang.pick(zh, en)
    }

    /// A unit sees its findings from assignment on (proposals are the evaluators' drafts).
    pub fn visible_to_unit(self) -> bool {
        !matches!(self, State::Proposed | State::Dropped)
    }

    /// Still to be rectified: the deadline applies.
    pub fn open(self) -> bool {
        matches!(
            self,
            State::Assigned
                | State::PlanSubmitted
                | State::PlanReturned
                | State::PlanAccepted
                | State::CompletionReturned
        )
    }

    /// Counts for the register: assigned and after, not dropped.
    pub fn in_register(self) -> bool {
        self.visible_to_unit()
    }
}

/// A code that names none of the values of a finding's state, severity or source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownCode {
    #[error("unknown finding state {0:?}")]
    State(String),
    #[error("severity {0:?} is unknown: use high, medium or low")]
    Severity(String),
    #[error("unknown finding source {0:?}")]
    Source(String),
}

impl std::str::FromStr for State {
    type Err = UnknownCode;
    fn from_str(s: &str) -> Result<Self, UnknownCode> {
        State::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| UnknownCode::State(s.to_owned()))
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    High,
    Medium,
    Low,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::High, Severity::Medium, Severity::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Severity::High => lang.pick("严重", "High"),
            Severity::Medium => lang.pick("一般", "Medium"),
            Severity::Low => lang.pick("轻微", "Low"),
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = UnknownCode;
    fn from_str(s: &str) -> Result<Self, UnknownCode> {
        Severity::ALL
            .into_iter()
            .find(|x| x.as_str() == s.trim())
            .ok_or_else(|| UnknownCode::Severity(s.to_owned()))
    }
}

/// What brought a finding up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// the unit's grade is listed for rectification by the framework (e.g. 诫勉)
    Grade,
    /// an item or dimension below the evaluator's threshold
    Threshold,
    /// an item or dimension significantly lower than last year
    Decline,
    /// a recurring theme in the suggestions
    Theme,
    /// added by hand (e.g. from a site inspection)
    Manual,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Grade => "grade",
            Source::Threshold => "threshold",
            Source::Decline => "decline",
            Source::Theme => "theme",
            Source::Manual => "manual",
        }
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Source::Grade => lang.pick("评估等次", "Grade"),
            Source::Threshold => lang.pick("满意度低于阈值", "Below threshold"),
            Source::Decline => lang.pick("满意度显著下降", "Significant decline"),
            Source::Theme => lang.pick("意见建议集中", "Recurring suggestions"),
            Source::Manual => lang.pick("人工添加", "Added by hand"),
        }
    }
}

impl std::str::FromStr for Source {
    type Err = UnknownCode;
    fn from_str(s: &str) -> Result<Self, UnknownCode> {
        [
            Source::Grade,
            Source::Threshold,
            Source::Decline,
            Source::Theme,
            Source::Manual,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
        .ok_or_else(|| UnknownCode::Source(s.to_owned()))
    }
}

/// Who may take a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Evaluator,
    Unit,
}

/// A step of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Assign,
    Drop,
    SubmitPlan,
    AcceptPlan,
    ReturnPlan,
    SubmitCompletion,
    Verify,
    ReturnCompletion,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Assign => "assign",
            Step::Drop => "drop",
            Step::SubmitPlan => "submit_plan",
            Step::AcceptPlan => "accept_plan",
            Step::ReturnPlan => "return_plan",
            Step::SubmitCompletion => "submit_completion",
            Step::Verify => "verify",
            Step::ReturnCompletion => "return_completion",
        }
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Step::Assign => lang.pick("交办", "Assign"),
            Step::Drop => lang.pick("撤销", "Drop"),
            Step::SubmitPlan => lang.pick("提交整改方案", "Submit plan"),
            Step::AcceptPlan => lang.pick("通过整改方案", "Accept plan"),
            Step::ReturnPlan => lang.pick("退回整改方案", "Return plan"),
            Step::SubmitCompletion => lang.pick("提交整改报告", "Submit completion report"),
            Step::Verify => lang.pick("核实销号", "Verify"),
            Step::ReturnCompletion => lang.pick("退回整改报告", "Return completion report"),
        }
    }

    pub fn party(self) -> Party {
        match self {
            Step::SubmitPlan | Step::SubmitCompletion => Party::Unit,
            _ => Party::Evaluator,
        }
    }

    /// A comment is required when the evaluator returns or drops.
    pub fn needs_comment(self) -> bool {
        matches!(self, Step::ReturnPlan | Step::ReturnCompletion | Step::Drop)
    }

    /// The states the step starts from.
    pub fn from_states(self) -> &'static [State] {
        match self {
            Step::Assign | Step::Drop => &[State::Proposed],
            Step::SubmitPlan => &[State::Assigned, State::PlanReturned],
            Step::AcceptPlan | Step::ReturnPlan => &[State::PlanSubmitted],
            Step::SubmitCompletion => &[State::PlanAccepted, State::CompletionReturned],
            Step::Verify | Step::ReturnCompletion => &[State::CompletionSubmitted],
        }
    }

    pub fn to_state(self) -> State {
        match self {
            Step::Assign => State::Assigned,
            Step::Drop => State::Dropped,
            Step::SubmitPlan => State::PlanSubmitted,
            Step::AcceptPlan => State::PlanAccepted,
            Step::ReturnPlan => State::PlanReturned,
            Step::SubmitCompletion => State::CompletionSubmitted,
            Step::Verify => State::Verified,
            Step::ReturnCompletion => State::CompletionReturned,
        }
    }

    /// The state after the step from `from`, or why it cannot be taken.
    pub fn apply(self, from: State) -> Result<State, String> {
        if self.from_states().contains(&from) {
            Ok(self.to_state())
        } else {
            let allowed: Vec<&str> = self.from_states().iter().map(|s| s.as_str()).collect();
            Err(format!(
                "cannot {} a finding that is {}: only when it is {}",
                self.as_str().replace('_', " "),
                from.as_str().replace('_', " "),
                allowed.join(" or ").replace('_', " ")
            ))
        }
    }
}

impl std::str::FromStr for Step {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            Step::Assign,
            Step::Drop,
            Step::SubmitPlan,
            Step::AcceptPlan,
            Step::ReturnPlan,
            Step::SubmitCompletion,
            Step::Verify,
            Step::ReturnCompletion,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
        .ok_or_else(|| {
            format!(
                "unknown step {s:?}: use assign, drop, submit_plan, accept_plan, return_plan, \
                 submit_completion, verify or return_completion"
            )
        })
    }
}

/// A bad value of one field: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Trimmed text of 1..=`max` characters (or 0.. when optional).
pub fn text(
    field: &'static str,
    v: &str,
    max: usize,
    required: bool,
) -> Result<String, FieldError> {
    let t = v.trim();
    if required && t.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    let n = t.chars().count();
    if n > max {
        return Err(FieldError::new(
            field,
            format!("is {n} characters long; at most {max}"),
        ));
    }
    if t.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(FieldError::new(field, "contains control characters"));
    }
    Ok(t.to_owned())
}

/// A deadline in working days: 1 to 365.
pub fn deadline_days(v: i64) -> Result<u32, FieldError> {
    if (1..=365).contains(&v) {
        Ok(v as u32)
    } else {
        Err(FieldError::new(
            "deadline_days",
            format!("{v} is not a deadline: give 1 to 365 working days"),
        ))
    }
}

/// An optional e-mail address (for reminders): empty, or one plausible address.
pub fn email(field: &'static str, v: &str) -> Result<String, FieldError> {
    let t = v.trim();
    if t.is_empty() {
        return Ok(String::new());
    }
    let ok = t.len() <= 254
        && !t.contains(char::is_whitespace)
        && t.split_once('@').is_some_and(|(a, d)| {
            !a.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
        && t.matches('@').count() == 1;
    if ok {
        Ok(t.to_owned())
    } else {
        Err(FieldError::new(
            field,
            format!("{t:?} is not an e-mail address"),
        ))
    }
}

/// A date `YYYY-MM-DD`.
pub fn date(field: &'static str, v: &str) -> Result<NaiveDate, FieldError> {
    NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
        .map_err(|_| FieldError::new(field, format!("{v:?} is not a date: write YYYY-MM-DD")))
}

/// A rectification plan (整改方案) as the unit submits it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub measures: String,
    pub person: String,
    pub email: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Plan {
    pub fn parse(
        measures: &str,
        person: &str,
        email_: &str,
        start: &str,
        end: &str,
    ) -> Result<Plan, Vec<FieldError>> {
        let mut errs = Vec::new();
        let m = text("measures", measures, 8000, true).map_err(|e| errs.push(e));
        let p = text("person", person, 100, true).map_err(|e| errs.push(e));
        let e = email("email", email_).map_err(|e| errs.push(e));
        let s = date("start", start).map_err(|e| errs.push(e));
        let en = date("end", end).map_err(|e| errs.push(e));
        match (m, p, e, s, en) {
            (Ok(measures), Ok(person), Ok(email), Ok(start), Ok(end)) if errs.is_empty() => {
                if end < start {
                    return Err(vec![FieldError::new(
                        "end",
                        format!("{end} is before the start {start}"),
                    )]);
                }
                Ok(Plan {
                    measures,
                    person,
                    email,
                    start,
                    end,
                })
            }
            _ => Err(errs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_steps_follow_the_loop() {
        for s in State::ALL {
            assert_eq!(s.as_str().parse::<State>().unwrap(), s);
        }
        assert_eq!(
            Step::Assign.apply(State::Proposed).unwrap(),
            State::Assigned
        );
        assert_eq!(
            Step::SubmitPlan.apply(State::PlanReturned).unwrap(),
            State::PlanSubmitted
        );
        assert_eq!(
            Step::SubmitCompletion
                .apply(State::CompletionReturned)
                .unwrap(),
            State::CompletionSubmitted
        );
        let e = Step::SubmitPlan.apply(State::Verified).unwrap_err();
        assert!(e.contains("verified") && e.contains("assigned"), "{e}");
        assert!(Step::Verify.apply(State::PlanAccepted).is_err());
        assert_eq!(Step::SubmitPlan.party(), Party::Unit);
        assert_eq!(Step::ReturnPlan.party(), Party::Evaluator);
    }

    #[test]
    fn inputs_are_checked_with_the_field_named() {
        let p = Plan::parse("更新办事指南", "张三", "", "2026-10-08", "2026-10-30").unwrap();
        assert_eq!(p.person, "张三");
        let errs = Plan::parse("", "张三", "x@", "2026-10-08", "tomorrow").unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["measures", "email", "end"]);
        let errs = Plan::parse("m", "p", "", "2026-10-30", "2026-10-08").unwrap_err();
        assert_eq!(errs[0].field, "end");
        assert!(deadline_days(0).is_err() && deadline_days(366).is_err());
        assert_eq!(deadline_days(15).unwrap(), 15);
        assert!(text("title", &"长".repeat(201), 200, true).is_err());
        assert_eq!(email("e", " a@b.cn ").unwrap(), "a@b.cn");
    }
}
