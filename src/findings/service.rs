//! The findings service: settings, adding, editing, merging, the steps of the loop, and reads
//! with the visibility rule (a unit sees only its own findings, from assignment on).

use std::path::Path;

use chrono::NaiveDate;

use super::evidence;
use super::model::{self, FieldError, Plan, Severity, Source, State, Step};
use super::reminders::reminder_plan;
use super::view::FindingView;
use super::{Actor, ActorRole, FindingsError, Result};
use crate::calendar::{self, Calendar};
use crate::store::{
    EvaluationId, FileMeta, FindingId, FindingRow, FindingSettings, NewFile, NewFinding,
    NewFindingEvent, ReminderPlan, Store, UnitId,
};

/// Deadline of a finding unless the evaluator gives another (working days).
pub const DEFAULT_DEADLINE_DAYS: i64 = 30;

fn evaluator_only(actor: &Actor) -> Result<()> {
    match actor.role {
        ActorRole::Evaluator => Ok(()),
        ActorRole::Unit(_) => Err(FindingsError::Forbidden(
            "only evaluators may do this; units submit plans and completion reports".into(),
        )),
    }
}

fn event(actor: &Actor, action: &str, from: Option<State>, to: State) -> NewFindingEvent {
    NewFindingEvent {
        actor: actor.name.clone(),
        actor_role: actor.role_str().into(),
        action: action.into(),
        from_state: from.map(|s| s.as_str().to_owned()),
        to_state: to.as_str().to_owned(),
        comment: String::new(),
        detail: "{}".into(),
    }
}

fn state_of(row: &FindingRow) -> Result<State> {
    row.state.parse().map_err(|e: model::UnknownCode| {
        FindingsError::Store(crate::store::StoreError::Invalid(e.to_string()))
    })
}

/// The calendar an evaluation counts deadlines on; a clear error when none is chosen or the
/// chosen one no longer loads.
pub async fn evaluation_calendar(
    store: &Store,
    surveys: &Path,
    evaluation: EvaluationId,
) -> Result<Calendar> {
    let Some(s) = store.finding_settings(evaluation).await? else {
        return Err(FindingsError::Conflict(format!(
            "evaluation {evaluation} has no working-day calendar for deadlines yet: choose one \
             (e.g. cn, mainland China) on its findings page or with PUT \
             /api/v1/evaluations/{evaluation}/findings/settings"
        )));
    };
    Ok(calendar::load_for_surveys(surveys, &s.calendar)?)
}

/// Today in the evaluation's locality (UTC when no calendar is chosen yet).
pub async fn today_for(store: &Store, surveys: &Path, evaluation: EvaluationId) -> NaiveDate {
    match evaluation_calendar(store, surveys, evaluation).await {
        Ok(c) => c.today(),
        Err(_) => chrono::Utc::now().date_naive(),
    }
}

/// Chooses the evaluation's calendar; it must load (unknown or broken calendars are refused).
pub async fn set_calendar(
    store: &Store,
    surveys: &Path,
    actor: &Actor,
    evaluation: EvaluationId,
    name: &str,
) -> Result<FindingSettings> {
    evaluator_only(actor)?;
    store.get_evaluation(evaluation.get()).await?;
    calendar::load_for_surveys(surveys, name.trim())?;
    Ok(store
        .set_finding_calendar(evaluation, name.trim(), &actor.name)
        .await?)
}

/// Publishes (or withdraws) the rectification status on the public results page.
pub async fn set_public(
    store: &Store,
    actor: &Actor,
    evaluation: EvaluationId,
    public: bool,
) -> Result<FindingSettings> {
    evaluator_only(actor)?;
    Ok(store
        .set_findings_public(evaluation, public, &actor.name)
        .await?)
}

/// A finding added by hand (e.g. from a site inspection), as entered.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct NewFindingInput {
    pub unit: String,
    #[serde(default)]
    pub responsible_unit: Option<String>,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub evidence: String,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub deadline_days: Option<i64>,
}

/// Resolves a unit code of the register, as a field error when unknown.
async fn unit_by_code(store: &Store, field: &'static str, code: &str) -> Result<UnitId> {
    match store.get_unit_by_code(code.trim()).await {
        Ok(u) => Ok(UnitId(u.id)),
        Err(crate::store::StoreError::NotFound(_)) => Err(FieldError::new(
            field,
            format!("no unit with code {:?} in the unit register", code.trim()),
        )
        .into()),
        Err(e) => Err(e.into()),
    }
}

/// Adds a finding by hand; it starts as a proposal like the computed ones.
pub async fn add(
    store: &Store,
    actor: &Actor,
    evaluation: EvaluationId,
    input: &NewFindingInput,
) -> Result<FindingRow> {
    evaluator_only(actor)?;
    store.get_evaluation(evaluation.get()).await?;
    let mut errs = Vec::new();
    let title = model::text("title", &input.title, 200, true).map_err(|e| errs.push(e));
    let description =
        model::text("description", &input.description, 8000, false).map_err(|e| errs.push(e));
    let evidence_text =
        model::text("evidence", &input.evidence, 8000, false).map_err(|e| errs.push(e));
    let severity = input
        .severity
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or("medium")
        .parse::<Severity>()
        .map_err(|m| errs.push(FieldError::new("severity", m.to_string())));
    let days = model::deadline_days(input.deadline_days.unwrap_or(DEFAULT_DEADLINE_DAYS))
        .map_err(|e| errs.push(e));
    let units = store.evaluation_units(evaluation.get()).await?;
    let unit = units.iter().find(|u| u.code == input.unit.trim());
    if unit.is_none() {
        errs.push(FieldError::new(
            "unit",
            format!(
                "unit {:?} is not evaluated in evaluation {evaluation}",
                input.unit.trim()
            ),
        ));
    }
    let responsible = match input.responsible_unit.as_deref().map(str::trim) {
        Some(code) if !code.is_empty() => match unit_by_code(store, "responsible_unit", code).await
        {
            Ok(u) => Some(u),
            Err(FindingsError::Invalid(mut e)) => {
                errs.append(&mut e);
                None
            }
            Err(e) => return Err(e),
        },
        _ => unit.map(|u| UnitId(u.id)),
    };
    let (
        Ok(title),
        Ok(description),
        Ok(evidence_text),
        Ok(severity),
        Ok(days),
        Some(unit),
        Some(resp),
    ) = (
        title,
        description,
        evidence_text,
        severity,
        days,
        unit,
        responsible,
    )
    else {
        return Err(FindingsError::Invalid(errs));
    };
    let new = NewFinding {
        evaluation_id: evaluation,
        unit_id: UnitId(unit.id),
        responsible_unit_id: resp,
        source: Source::Manual.as_str().into(),
        proposal_key: None,
        title,
        description,
        evidence: evidence_text,
        evidence_data: "[]".into(),
        severity: severity.as_str().into(),
        deadline_days: i64::from(days),
    };
    let ids = store
        .insert_findings(&[new], &event(actor, "created", None, State::Proposed))
        .await?;
    let id = ids
        .first()
        .copied()
        .ok_or_else(|| FindingsError::Conflict("the finding was not added".into()))?;
    Ok(store.get_finding(id).await?)
}

/// Fields an evaluator may change (None: unchanged).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct FindingEdit {
    pub title: Option<String>,
    pub description: Option<String>,
    pub evidence: Option<String>,
    pub severity: Option<String>,
    pub deadline_days: Option<i64>,
    pub responsible_unit: Option<String>,
    pub contact_email: Option<String>,
    #[serde(default)]
    pub comment: String,
}

/// Edits a finding that is not yet completed; a new deadline moves the due date and the
/// reminders. Every changed field is in the history entry.
pub async fn edit(
    store: &Store,
    surveys: &Path,
    actor: &Actor,
    id: FindingId,
    version: Option<i64>,
    e: &FindingEdit,
) -> Result<FindingRow> {
    evaluator_only(actor)?;
    let old = store.get_finding(id).await?;
    let state = state_of(&old)?;
    if matches!(
        state,
        State::Verified | State::Dropped | State::CompletionSubmitted
    ) {
        return Err(FindingsError::Conflict(format!(
            "finding {id} is {}: it can no longer be edited",
            state.as_str().replace('_', " ")
        )));
    }
    let mut f = old.clone();
    let mut changed = serde_json::Map::new();
    let mut errs = Vec::new();
    let mut set = |name: &'static str, slot: &mut String, v: Result<String>| match v {
        Ok(v) if *slot != v => {
            changed.insert(name.into(), serde_json::json!([slot.clone(), v.clone()]));
            *slot = v;
        }
        Ok(_) => {}
        Err(FindingsError::Invalid(mut x)) => errs.append(&mut x),
        Err(_) => {}
    };
    if let Some(t) = &e.title {
        set(
            "title",
            &mut f.title,
            model::text("title", t, 200, true).map_err(Into::into),
        );
    }
    if let Some(t) = &e.description {
        set(
            "description",
            &mut f.description,
            model::text("description", t, 8000, false).map_err(Into::into),
        );
    }
    if let Some(t) = &e.evidence {
        set(
            "evidence",
            &mut f.evidence,
            model::text("evidence", t, 8000, false).map_err(Into::into),
        );
    }
    if let Some(t) = &e.severity {
        set(
            "severity",
            &mut f.severity,
            t.parse::<Severity>()
                .map(|s| s.as_str().to_owned())
                .map_err(|m| FieldError::new("severity", m.to_string()).into()),
        );
    }
    if let Some(t) = &e.contact_email {
        set(
            "contact_email",
            &mut f.contact_email,
            model::email("contact_email", t).map_err(Into::into),
        );
    }
    if let Some(code) = e
        .responsible_unit
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    {
        match unit_by_code(store, "responsible_unit", code).await {
            Ok(u) if u != f.responsible_unit_id => {
                changed.insert(
                    "responsible_unit".into(),
                    serde_json::json!([f.responsible_code, code.trim()]),
                );
                f.responsible_unit_id = u;
            }
            Ok(_) => {}
            Err(FindingsError::Invalid(mut x)) => errs.append(&mut x),
            Err(other) => return Err(other),
        }
    }
    let mut reminders = ReminderPlan::default();
    if let Some(d) = e.deadline_days {
        match model::deadline_days(d) {
            Ok(days) if i64::from(days) != f.deadline_days => {
                changed.insert(
                    "deadline_days".into(),
                    serde_json::json!([f.deadline_days, days]),
                );
                f.deadline_days = i64::from(days);
                if let (Some(from), Some(cal)) = (f.assigned_on.clone(), f.calendar.clone()) {
                    let cal = calendar::load_for_surveys(surveys, &cal)?;
                    let from = model::date("assigned_on", &from)?;
                    let due = cal.add_working_days(from, days)?;
                    changed.insert(
                        "due_on".into(),
                        serde_json::json!([f.due_on, due.to_string()]),
                    );
                    f.due_on = Some(due.to_string());
                    f.due_provisional = i64::from(cal.provisional_warning(from, due).is_some());
                    reminders = reminder_plan(&cal, from, due, cal.today());
                }
            }
            Ok(_) => {}
            Err(x) => errs.push(x),
        }
    }
    if !errs.is_empty() {
        return Err(FindingsError::Invalid(errs));
    }
    if changed.is_empty() {
        return Err(FindingsError::Invalid(vec![FieldError::new(
            "finding",
            "nothing to change: every value is as before",
        )]));
    }
    let mut ev = event(actor, "edited", Some(state), state);
    ev.comment = model::text("comment", &e.comment, 4000, false)?;
    ev.detail = serde_json::Value::Object(changed).to_string();
    Ok(store
        .write_finding_step(&f, version.unwrap_or(old.version), &ev, &[], &reminders)
        .await?)
}

/// What a step carries besides the step itself.
#[derive(Debug, Clone, Default)]
pub struct StepInput {
    /// the evaluator's comment (required to return or drop) or the unit's note
    pub comment: String,
    /// SubmitPlan
    pub plan: Option<Plan>,
    /// SubmitCompletion: the completion report (整改报告)
    pub report: String,
    /// SubmitPlan / SubmitCompletion: evidence files (name, bytes)
    pub files: Vec<(String, Vec<u8>)>,
    /// Assign: the date the deadline counts from (default today)
    pub from: Option<NaiveDate>,
    /// Assign: where reminders go until the plan names a person's address
    pub contact_email: String,
}

/// Takes one step of the loop. Refused steps (wrong state, wrong party, missing comment,
/// bad plan, bad files, a deadline outside the calendar) store nothing.
pub async fn step(
    store: &Store,
    surveys: &Path,
    actor: &Actor,
    id: FindingId,
    version: Option<i64>,
    step: Step,
    input: StepInput,
) -> Result<FindingRow> {
    let old = visible(store, actor, id).await?;
    let from_state = state_of(&old)?;
    match (step.party(), actor.role) {
        (model::Party::Evaluator, ActorRole::Evaluator) => {}
        (model::Party::Unit, ActorRole::Unit(u)) if u == old.responsible_unit_id => {}
        (model::Party::Unit, ActorRole::Unit(_)) => {
            return Err(FindingsError::Forbidden(format!(
                "only the responsible unit ({}) submits for finding {id}",
                old.responsible_name_zh
            )))
        }
        (model::Party::Unit, ActorRole::Evaluator) => {
            return Err(FindingsError::Forbidden(
                "the responsible unit submits its plan and completion report; evaluators \
                 accept or return them"
                    .into(),
            ))
        }
        (model::Party::Evaluator, ActorRole::Unit(_)) => {
            return Err(FindingsError::Forbidden(
                "only evaluators accept, return, assign, drop or verify findings".into(),
            ))
        }
    }
    let to = step.apply(from_state).map_err(FindingsError::Conflict)?;
    let comment = model::text("comment", &input.comment, 4000, step.needs_comment())?;
    // files are checked before anything is written
    let files = if input.files.is_empty() {
        Vec::new()
    } else if matches!(step, Step::SubmitPlan | Step::SubmitCompletion) {
        evidence::check_all(input.files).map_err(FindingsError::Files)?
    } else {
        return Err(
            FieldError::new("files", "files come with a plan or a completion report").into(),
        );
    };
    let mut f = old.clone();
    f.state = to.as_str().to_owned();
    let mut detail = serde_json::Map::new();
    let mut reminders = ReminderPlan::default();
    match step {
        Step::Assign => {
            let cal = evaluation_calendar(store, surveys, old.evaluation_id).await?;
            let today = cal.today();
            let from = input.from.unwrap_or(today);
            if from > today {
                return Err(FieldError::new(
                    "from",
                    format!("{from} is in the future: a deadline counts from today or an earlier notice date"),
                )
                .into());
            }
            let days = model::deadline_days(f.deadline_days)?;
            let due = cal.add_working_days(from, days)?;
            f.calendar = Some(cal.id.clone());
            f.assigned_on = Some(from.to_string());
            f.due_on = Some(due.to_string());
            f.due_provisional = i64::from(cal.provisional_warning(from, due).is_some());
            let email = model::email("contact_email", &input.contact_email)?;
            if !email.is_empty() {
                f.contact_email = email;
            }
            reminders = reminder_plan(&cal, from, due, today);
            detail.insert("calendar".into(), cal.id.clone().into());
            detail.insert("from".into(), from.to_string().into());
            detail.insert("deadline_days".into(), days.into());
            detail.insert("due_on".into(), due.to_string().into());
        }
        Step::Drop | Step::Verify => {
            reminders = ReminderPlan(Some(Vec::new()));
            if step == Step::Verify {
                let today = today_for(store, surveys, old.evaluation_id).await;
                f.verified_on = Some(today.to_string());
            }
        }
        Step::SubmitPlan => {
            let plan = input.plan.ok_or_else(|| {
                FindingsError::from(FieldError::new(
                    "plan",
                    "a rectification plan needs measures, a person responsible and dates",
                ))
            })?;
            f.plan_measures = plan.measures.clone();
            f.plan_person = plan.person.clone();
            f.plan_email = plan.email.clone();
            f.plan_start = Some(plan.start.to_string());
            f.plan_end = Some(plan.end.to_string());
            detail.insert(
                "plan".into(),
                serde_json::to_value(&plan).unwrap_or_default(),
            );
        }
        Step::SubmitCompletion => {
            let report = model::text("report", &input.report, 8000, true)?;
            let today = today_for(store, surveys, old.evaluation_id).await;
            f.completion_report = report.clone();
            f.completion_on = Some(today.to_string());
            detail.insert("report".into(), report.into());
            reminders = ReminderPlan(Some(Vec::new()));
        }
        Step::ReturnCompletion => {
            if let (Some(cal), Some(from), Some(due)) = (&f.calendar, &f.assigned_on, &f.due_on) {
                let cal = calendar::load_for_surveys(surveys, cal)?;
                let (from, due) = (
                    model::date("assigned_on", from)?,
                    model::date("due_on", due)?,
                );
                reminders = reminder_plan(&cal, from, due, cal.today());
            }
        }
        Step::AcceptPlan | Step::ReturnPlan => {}
    }
    if !files.is_empty() {
        detail.insert(
            "files".into(),
            files
                .iter()
                .map(|x| serde_json::json!({ "name": x.file_name, "sha256": x.sha256, "bytes": x.bytes.len() }))
                .collect(),
        );
    }
    let mut ev = event(actor, step.as_str(), Some(from_state), to);
    ev.comment = comment;
    ev.detail = serde_json::Value::Object(detail).to_string();
    let new_files: Vec<NewFile<'_>> = files
        .iter()
        .map(|x| NewFile {
            file_name: &x.file_name,
            media_type: x.media_type,
            sha256: &x.sha256,
            bytes: &x.bytes,
        })
        .collect();
    Ok(store
        .write_finding_step(
            &f,
            version.unwrap_or(old.version),
            &ev,
            &new_files,
            &reminders,
        )
        .await?)
}

/// Merges proposals of one unit into `keep`: the evidence of all is kept together, the most
/// serious severity and the shortest deadline win, the others are dropped pointing at it.
pub async fn merge(
    store: &Store,
    actor: &Actor,
    keep: FindingId,
    others: &[FindingId],
    title: Option<&str>,
) -> Result<FindingRow> {
    evaluator_only(actor)?;
    if others.is_empty() || others.contains(&keep) {
        return Err(FieldError::new(
            "others",
            "name at least one other proposal to merge, not the one kept",
        )
        .into());
    }
    let mut k = store.get_finding(keep).await?;
    let keep_version = k.version;
    let mut rest = Vec::new();
    for id in others {
        rest.push(store.get_finding(*id).await?);
    }
    for r in std::iter::once(&k).chain(rest.iter()) {
        if r.state != State::Proposed.as_str() {
            return Err(FindingsError::Conflict(format!(
                "finding {} is {}: only proposals are merged",
                r.id,
                r.state.replace('_', " ")
            )));
        }
        if r.evaluation_id != k.evaluation_id || r.unit_id != k.unit_id {
            return Err(FindingsError::Conflict(format!(
                "finding {} is about another unit or evaluation: only one unit's proposals are merged",
                r.id
            )));
        }
    }
    let mut data: Vec<serde_json::Value> =
        serde_json::from_str(&k.evidence_data).unwrap_or_default();
    for r in &rest {
        if !r.evidence.is_empty() {
            k.evidence = format!("{}\n{}", k.evidence, r.evidence).trim().to_owned();
        }
        let more: Vec<serde_json::Value> =
            serde_json::from_str(&r.evidence_data).unwrap_or_default();
        data.extend(more);
        let (a, b) = (
            k.severity.parse::<Severity>().unwrap_or(Severity::Medium),
            r.severity.parse::<Severity>().unwrap_or(Severity::Medium),
        );
        k.severity = a.min(b).as_str().to_owned();
        k.deadline_days = k.deadline_days.min(r.deadline_days);
    }
    k.evidence_data = serde_json::Value::Array(data).to_string();
    if let Some(t) = title {
        k.title = model::text("title", t, 200, true)?;
    }
    let mut ke = event(actor, "merged", Some(State::Proposed), State::Proposed);
    ke.detail = serde_json::json!({ "merged": others }).to_string();
    let mut oe = event(actor, "merged_into", Some(State::Proposed), State::Dropped);
    oe.detail = serde_json::json!({ "into": keep }).to_string();
    let versions: Vec<(FindingId, i64)> = rest.iter().map(|r| (r.id, r.version)).collect();
    Ok(store
        .merge_findings(&k, keep_version, &ke, &versions, &oe)
        .await?)
}

/// A finding the actor may see; any other is "not found" (its existence is not revealed).
pub async fn visible(store: &Store, actor: &Actor, id: FindingId) -> Result<FindingRow> {
    let row = match store.get_finding(id).await {
        Ok(r) => r,
        Err(crate::store::StoreError::NotFound(_)) => {
            return Err(FindingsError::NotFound(format!("finding {id}")))
        }
        Err(e) => return Err(e.into()),
    };
    match actor.role {
        ActorRole::Evaluator => Ok(row),
        ActorRole::Unit(u) => {
            let mine = row.unit_id == u || row.responsible_unit_id == u;
            if mine && state_of(&row)?.visible_to_unit() {
                Ok(row)
            } else {
                Err(FindingsError::NotFound(format!("finding {id}")))
            }
        }
    }
}

/// The evaluation's findings the actor may see, as of `today`.
pub async fn list(
    store: &Store,
    actor: &Actor,
    evaluation: EvaluationId,
    today: NaiveDate,
) -> Result<Vec<FindingView>> {
    store.get_evaluation(evaluation.get()).await?;
    let rows = store.list_findings(evaluation, actor.unit()).await?;
    Ok(rows
        .into_iter()
        .map(|r| FindingView::new(r, today))
        .collect())
}

/// Like [`list`], with every finding's history and files (the register, the API).
pub async fn list_with_history(
    store: &Store,
    actor: &Actor,
    evaluation: EvaluationId,
    today: NaiveDate,
) -> Result<Vec<FindingView>> {
    let mut views = list(store, actor, evaluation, today).await?;
    let mut events = store.evaluation_finding_events(evaluation).await?;
    for v in &mut views {
        v.files = store.finding_files(v.row.id).await?;
    }
    events.retain(|e| views.iter().any(|v| v.row.id == e.finding_id));
    for e in events {
        if let Some(v) = views.iter_mut().find(|v| v.row.id == e.finding_id) {
            v.history.push(e);
        }
    }
    Ok(views)
}

/// One finding with its history and files.
pub async fn detail(
    store: &Store,
    actor: &Actor,
    id: FindingId,
    today: NaiveDate,
) -> Result<FindingView> {
    let row = visible(store, actor, id).await?;
    let mut v = FindingView::new(row, today);
    v.history = store.finding_events(id).await?;
    v.files = store.finding_files(id).await?;
    Ok(v)
}

/// One evidence file of a finding the actor may see.
pub async fn file(
    store: &Store,
    actor: &Actor,
    id: FindingId,
    file_id: i64,
) -> Result<(FileMeta, Vec<u8>)> {
    visible(store, actor, id).await?;
    Ok(store.finding_file(id, file_id).await?)
}

/// Counts per unit of an evaluation's findings (the evaluators' overview).
pub async fn evaluation_counts(
    store: &Store,
    surveys: &Path,
    evaluation: i64,
) -> Result<Vec<super::UnitCounts>> {
    let ev = EvaluationId(evaluation);
    let today = today_for(store, surveys, ev).await;
    let rows = store.list_findings(ev, None).await?;
    let views: Vec<FindingView> = rows
        .into_iter()
        .map(|r| FindingView::new(r, today))
        .collect();
    Ok(super::counts(&views))
}

/// A unit's findings in its feedback report: assigned and after, about it or assigned to it.
pub async fn unit_report_findings(
    store: &Store,
    surveys: &Path,
    evaluation: i64,
    unit: i64,
) -> Result<Vec<FindingView>> {
    let ev = EvaluationId(evaluation);
    let today = today_for(store, surveys, ev).await;
    let rows = store.list_findings(ev, Some(UnitId(unit))).await?;
    Ok(rows
        .into_iter()
        .map(|r| FindingView::new(r, today))
        .collect())
}

/// The public page's counts once the rectification status is published: (since, counts).
pub async fn public_counts(
    store: &Store,
    surveys: &Path,
    evaluation: i64,
) -> Result<Option<(String, Vec<super::UnitCounts>)>> {
    let ev = EvaluationId(evaluation);
    let Some(since) = store
        .finding_settings(ev)
        .await?
        .and_then(|s| s.public_since)
    else {
        return Ok(None);
    };
    let counts = evaluation_counts(store, surveys, evaluation).await?;
    Ok(Some((since.get(..10).unwrap_or(&since).to_owned(), counts)))
}

/// A unit user's home: the unit, the evaluations it takes part in that are closed or
/// published (their feedback reports), and its findings in all evaluations.
pub struct UnitHome {
    pub unit: crate::store::Unit,
    pub reports: Vec<crate::store::Evaluation>,
    pub findings: Vec<FindingView>,
}

pub async fn unit_home(store: &Store, surveys: &Path, unit: UnitId) -> Result<UnitHome> {
    let u = store.get_unit(unit.get()).await?;
    let mut reports = Vec::new();
    for e in store.list_evaluations().await? {
        let done = matches!(
            e.status,
            crate::store::EvaluationStatus::Closed | crate::store::EvaluationStatus::Published
        );
        if done
            && store
                .evaluation_units(e.id)
                .await?
                .iter()
                .any(|x| x.id == u.id)
        {
            reports.push(e);
        }
    }
    reports.sort_by(|a, b| b.year.cmp(&a.year).then(b.id.cmp(&a.id)));
    let mut findings = Vec::new();
    for r in store.unit_findings(unit).await? {
        let today = today_for(store, surveys, r.evaluation_id).await;
        findings.push(FindingView::new(r, today));
    }
    Ok(UnitHome {
        unit: u,
        reports,
        findings,
    })
}

/// The calendars an evaluation may choose, as (file name, name, English name); a calendar that
/// does not load is offered under its file name with the reason, so the choice fails clearly.
pub fn calendar_choices(surveys: &Path) -> Result<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    for id in calendar::names_for_surveys(surveys)? {
        match calendar::load_for_surveys(surveys, &id) {
            Ok(c) => out.push((
                id,
                format!("{}（{}）", c.name, c.years_text()),
                format!("{} ({})", c.name_en, c.years_text()),
            )),
            Err(e) => out.push((id.clone(), format!("{id}：{e}"), format!("{id}: {e}"))),
        }
    }
    Ok(out)
}

/// A calendar's name in both languages (its file name when it does not load).
pub fn calendar_name(surveys: &Path, id: &str) -> (String, String) {
    match calendar::load_for_surveys(surveys, id) {
        Ok(c) => (c.name, c.name_en),
        Err(_) => (id.to_owned(), id.to_owned()),
    }
}
