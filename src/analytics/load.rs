//! Loading an evaluation's responses into the analysis frame: one streaming query, answers
//! parsed on a blocking thread while the next rows arrive, columns filled by typed builders.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use polars::prelude::*;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use super::design::{DesignTable, OTHER};
use super::AnalyticsError;
use crate::questionnaire::score::{satisfied_threshold, Tally};
use crate::questionnaire::{Answers, Question, QuestionKind, Questionnaire};
use crate::store::{Evaluation, Store, StoreError};

/// One nullable f64 column under construction.
type OptCol = Vec<Option<f64>>;

/// Marks a missing value in a [`Codes`] column.
const NO_CODE: u8 = u8::MAX;

/// A column of small whole numbers (scores 0–100, satisfied flags) under construction: one
/// byte per row instead of a nullable f64 (16 bytes as `Option<f64>`). The engine reads it as the same codes it would
/// make of the f64 values, so the estimates do not change.
type Codes = Vec<u8>;

/// An item's column under construction: codes while every score is a whole number the
/// engine codes (0–254), f64 from the first score that is not.
enum ItemCol {
    Codes(Codes),
    Values(OptCol),
}

impl ItemCol {
    fn push_none(&mut self) {
        match self {
            ItemCol::Codes(c) => c.push(NO_CODE),
            ItemCol::Values(v) => v.push(None),
        }
    }

    fn set(&mut self, row: usize, score: f64) {
        if let ItemCol::Codes(c) = self {
            if score.fract() == 0.0 && (0.0..f64::from(NO_CODE)).contains(&score) {
                c[row] = score as u8;
                return;
            }
            let v = c
                .iter()
                .map(|&x| (x != NO_CODE).then_some(f64::from(x)))
                .collect();
            *self = ItemCol::Values(v);
        }
        if let ItemCol::Values(v) = self {
            v[row] = Some(score);
        }
    }

    fn column(self, name: &str) -> Column {
        match self {
            ItemCol::Codes(c) => codes_column(name, &c),
            ItemCol::Values(v) => Column::new(name.into(), v),
        }
    }
}

/// A nullable integer column of codes ([`NO_CODE`] = missing): UInt32, the narrowest
/// integer type of the polars build (UInt8 would need its `dtype-u8` feature), half a
/// nullable f64.
fn codes_column(name: &str, codes: &[u8]) -> Column {
    let ca: UInt32Chunked = codes
        .iter()
        .map(|&x| (x != NO_CODE).then_some(u32::from(x)))
        .collect();
    ca.with_name(name.into()).into_column()
}

/// Rows sent from the reader to the parser at a time.
const CHUNK: usize = 20_000;

/// One active response as analysis reads it (the store's column list and mappers).
pub(super) type Row = crate::store::FrameRow;

/// Streams the evaluation's active responses (withdrawn batches excluded, flagged rows
/// too when asked) in chunks. Stops early, without error, when the receiver is dropped.
pub(super) async fn stream_rows(
    store: &Store,
    evaluation_id: i64,
    exclude_flagged: bool,
    tx: tokio::sync::mpsc::Sender<Vec<Row>>,
) -> Result<(), StoreError> {
    store
        .stream_frame_rows(evaluation_id, exclude_flagged, CHUNK, tx)
        .await
}

/// A JSON answer value as the frame needs it (strings borrowed when unescaped).
enum Lite<'a> {
    Int(i64),
    Null,
    Str(Cow<'a, str>),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Lite<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Lite<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an answer value")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).map_or(Lite::Other, Lite::Int))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Lite::Int(v))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Lite::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lite::Other)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Lite::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Lite::Null)
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Lite::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Lite::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Lite::Str(Cow::Owned(v)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lite::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Lite::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// An answers key, borrowed when unescaped (serde's own `Cow` always copies).
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a question code")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// The answers object as (code, value) pairs, keys borrowed when unescaped.
struct Entries<'a>(Vec<(Cow<'a, str>, Lite<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Entries<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object of answers")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::with_capacity(map.size_hint().unwrap_or(24));
                while let Some((k, x)) = map.next_entry::<Key<'a>, Lite<'a>>()? {
                    v.push((k.0, x));
                }
                Ok(Entries(v))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// What one question of a questionnaire feeds in the frame.
enum Slot {
    Likert {
        /// frame item index
        item: usize,
        /// index into the per-row dimension accumulator
        dim: Option<usize>,
        /// score and satisfied flag per code 0..=5 (None: no such choice)
        choice: [Option<(f64, bool)>; 6],
        dont_know: bool,
    },
    Text {
        dimension: Option<String>,
    },
    Other,
}

/// A questionnaire prepared for parsing: question code → position, and what each feeds.
struct Plan {
    q: Arc<Questionnaire>,
    index: HashMap<String, usize>,
    slots: Vec<Slot>,
    /// frame dimension index per local dimension accumulator slot
    dims: Vec<usize>,
    /// score from which a response counts as satisfied
    threshold: Option<f64>,
}

/// The frame and what the pages need to label it.
pub(super) struct Built {
    pub rows: usize,
    pub frame: DataFrame,
    pub items: Vec<String>,
    pub dimensions: Vec<String>,
    pub item_text: HashMap<(String, String), (String, String, String)>,
    pub dimension_names: HashMap<String, (String, String)>,
    pub satisfied_scores: Vec<f64>,
    pub score_values: Vec<f64>,
    pub suggestions: Vec<super::Suggestion>,
    /// the row of each suggestion
    pub suggestion_rows: Vec<usize>,
    /// whether any response came through a draw (the design is stratified)
    pub stratified: bool,
    /// per row: response id and upload batch (0: none)
    pub ids: Vec<i64>,
    pub batches: Vec<i64>,
    /// per respondent type, the score from which a response counts as satisfied (the
    /// lowest over the type's questionnaire versions in the frame)
    pub thresholds: HashMap<String, f64>,
}

/// Interned text values of a column (units, types, …): one index per row.
#[derive(Default)]
struct Interned {
    values: Vec<String>,
    index: HashMap<String, u32>,
    rows: Vec<u32>,
}

impl Interned {
    fn push(&mut self, s: &str) {
        let i = match self.index.get(s) {
            Some(&i) => i,
            None => {
                let i = self.values.len() as u32;
                self.values.push(s.to_owned());
                self.index.insert(s.to_owned(), i);
                i
            }
        };
        self.rows.push(i);
    }
    /// Empty text counts as missing.
    fn push_opt(&mut self, s: Option<&str>) {
        self.push(s.unwrap_or(""));
    }
    fn column(&self, name: &str, empty_is_null: bool) -> Column {
        if empty_is_null {
            let v: Vec<Option<&str>> = self
                .rows
                .iter()
                .map(|&i| Some(self.values[i as usize].as_str()).filter(|s| !s.is_empty()))
                .collect();
            Column::new(name.into(), v)
        } else {
            let v: Vec<&str> = self
                .rows
                .iter()
                .map(|&i| self.values[i as usize].as_str())
                .collect();
            Column::new(name.into(), v)
        }
    }
}

/// Builds the frame from the streamed rows.
pub(super) fn build(
    mut rx: tokio::sync::mpsc::Receiver<Vec<Row>>,
    questionnaires: &BTreeMap<(String, i64), Arc<Questionnaire>>,
    ev: &Evaluation,
    design: &DesignTable,
) -> Result<Built, AnalyticsError> {
    let mut plans: HashMap<(String, i64), usize> = HashMap::new();
    let mut plan_list: Vec<Plan> = Vec::new();
    let mut items: Vec<String> = Vec::new();
    let mut dims: Vec<String> = Vec::new();
    let mut item_text = HashMap::new();
    let mut dimension_names = HashMap::new();
    let mut satisfied_scores: Vec<f64> = Vec::new();
    let mut score_values: Vec<f64> = Vec::new();
    let mut suggestions = Vec::new();
    let mut suggestion_rows = Vec::new();
    let mut ids: Vec<i64> = Vec::new();
    let mut batches: Vec<i64> = Vec::new();
    let mut thresholds: HashMap<String, f64> = HashMap::new();

    let mut unit = Interned::default();
    let mut rtype = Interned::default();
    let mut district = Interned::default();
    let mut gender = Interned::default();
    let mut age = Interned::default();
    let mut stratum = Interned::default();
    let mut weight: Vec<f64> = Vec::new();
    // population size; infinite = sampled with replacement (the engine's no-fpc stratum)
    let mut fpc: Vec<f64> = Vec::new();
    let mut item_cols: Vec<ItemCol> = Vec::new();
    // per dimension: (the response's index, satisfied 1/0) columns
    let mut dim_cols: Vec<(OptCol, Codes)> = Vec::new();
    let mut all_index: Vec<Option<f64>> = Vec::new();
    let mut all_rate: Vec<Option<f64>> = Vec::new();
    let mut stratified = false;
    // per row scratch: JSON entry per question position, dimension sums
    let mut at: Vec<u32> = Vec::new();
    let mut tally = Tally::default();

    while let Some(page) = rx.blocking_recv() {
        for r in &page {
            let key = (r.questionnaire_id.clone(), r.questionnaire_version);
            let pi = match plans.get(&key) {
                Some(&i) => i,
                None => {
                    let q = questionnaires
                        .get(&key)
                        .ok_or_else(|| AnalyticsError::BadResponse {
                            id: r.id,
                            message: format!(
                                "questionnaire {:?} version {} is not registered; start the service with its definition",
                                r.questionnaire_id, r.questionnaire_version
                            ),
                        })?;
                    let plan = plan(
                        q,
                        &mut items,
                        &mut dims,
                        &mut item_text,
                        &mut dimension_names,
                        &mut satisfied_scores,
                        &mut score_values,
                    );
                    if let Some(t) = plan.threshold {
                        thresholds
                            .entry(q.respondent_type.as_str().to_owned())
                            .and_modify(|x: &mut f64| *x = x.min(t))
                            .or_insert(t);
                    }
                    plan_list.push(plan);
                    plans.insert(key, plan_list.len() - 1);
                    plan_list.len() - 1
                }
            };
            let plan = &plan_list[pi];
            let row = weight.len();
            while item_cols.len() < items.len() {
                item_cols.push(ItemCol::Codes(vec![NO_CODE; row]));
            }
            while dim_cols.len() < dims.len() {
                dim_cols.push((vec![None; row], vec![NO_CODE; row]));
            }
            let entries: Entries =
                serde_json::from_str(&r.answers).map_err(|e| AnalyticsError::BadResponse {
                    id: r.id,
                    message: format!("answers are not a JSON object: {e}"),
                })?;
            at.clear();
            at.resize(plan.slots.len(), u32::MAX);
            for (k, (code, _)) in entries.0.iter().enumerate() {
                match plan.index.get(code.as_ref()) {
                    Some(&p) => at[p] = k as u32,
                    None => return Err(decode_error(plan, r)),
                }
            }
            // row columns
            ids.push(r.id);
            batches.push(r.batch_id.unwrap_or(0));
            unit.push(&r.unit_code);
            rtype.push(&r.respondent_type);
            district.push_opt(r.district.as_deref());
            gender.push_opt(r.gender.as_deref());
            age.push_opt(r.age_group.as_deref());
            let d = design.row(r.design_draw_id, r.design_stratum.as_deref(), r.weight);
            if d.unknown_draw {
                tracing::warn!(
                    response = r.id,
                    draw = r.design_draw_id,
                    "response names a draw stratum that is not recorded; analysed without the draw's design"
                );
            } else if d.stratum != OTHER {
                stratified = true;
            }
            stratum.push(d.stratum);
            weight.push(d.weight);
            fpc.push(d.fpc);
            // answers in questionnaire order
            for v in item_cols.iter_mut() {
                v.push_none();
            }
            tally.reset(plan.dims.len());
            for (p, slot) in plan.slots.iter().enumerate() {
                let k = at[p];
                if k == u32::MAX {
                    continue;
                }
                let value = &entries.0[k as usize].1;
                match slot {
                    Slot::Likert {
                        item,
                        dim,
                        choice,
                        dont_know,
                    } => {
                        let c = match value {
                            Lite::Int(c @ 1..=5) => *c as usize,
                            Lite::Null if *dont_know => continue,
                            _ => return Err(decode_error(plan, r)),
                        };
                        let Some((score, _)) = choice[c] else {
                            continue;
                        };
                        item_cols[*item].set(row, score);
                        tally.add(score, *dim);
                    }
                    Slot::Text { dimension } => {
                        let Lite::Str(t) = value else {
                            return Err(decode_error(plan, r));
                        };
                        if !t.trim().is_empty() {
                            let question = &plan.q.questions[p];
                            suggestion_rows.push(row);
                            suggestions.push(super::Suggestion {
                                unit: r.unit_code.clone(),
                                respondent_type: r.respondent_type.clone(),
                                question: question.code.clone(),
                                dimension: dimension
                                    .clone()
                                    .unwrap_or_else(|| super::classify(t).to_owned()),
                                text: t.to_string(),
                            });
                        }
                    }
                    Slot::Other => {}
                }
            }
            // the response's index and satisfied flag (questionnaire::score)
            let yes = |x: (f64, bool)| f64::from(u8::from(x.1));
            let all = tally.overall(plan.threshold);
            all_index.push(all.map(|x| x.0));
            all_rate.push(all.map(yes));
            for v in dim_cols.iter_mut() {
                v.0.push(None);
                v.1.push(NO_CODE);
            }
            for (local, &global) in plan.dims.iter().enumerate() {
                if let Some(x) = tally.dimension(local, plan.threshold) {
                    let d = &mut dim_cols[global];
                    d.0[row] = Some(x.0);
                    d.1[row] = u8::from(x.1);
                }
            }
        }
    }
    let n = weight.len();
    // the population sizes as the draws recorded them: `super::delta::set_fpc` checks them
    // against the responses of each stratum once the rows are complete
    let year = ev.year.to_string();
    let mut columns: Vec<Column> = vec![
        unit.column("unit", false),
        rtype.column("respondent_type", false),
        Column::new("year".into(), vec![year.as_str(); n]),
        Column::new("wave".into(), vec![ev.wave.as_str(); n]),
        district.column("district", true),
        gender.column("gender", true),
        age.column("age_group", true),
        Column::new("weight".into(), weight),
        stratum.column(super::STRATUM, false),
        Column::new(super::FPC.into(), fpc),
        Column::new("all:index".into(), all_index),
        Column::new("all:rate".into(), all_rate),
    ];
    for (code, v) in items.iter().zip(item_cols) {
        columns.push(v.column(&format!("item:{code}")));
    }
    for (code, (m, s)) in dims.iter().zip(dim_cols) {
        columns.push(Column::new(format!("dim:{code}").as_str().into(), m));
        columns.push(codes_column(&format!("dimsat:{code}"), &s));
    }
    let frame = DataFrame::new_infer_height(columns)
        .map_err(pingyi_analysis::estimate::AnalysisError::from)?;
    Ok(Built {
        rows: n,
        frame,
        items,
        dimensions: dims,
        item_text,
        dimension_names,
        satisfied_scores,
        score_values,
        suggestions,
        suggestion_rows,
        stratified,
        ids,
        batches,
        thresholds,
    })
}

/// The precise message for a response the fast path cannot read (the full decoder says
/// what is wrong and where).
fn decode_error(plan: &Plan, r: &Row) -> AnalyticsError {
    let message = match Answers::from_json(&plan.q, &r.answers) {
        Err(e) => e.to_string(),
        Ok(_) => "answers do not fit the questionnaire".to_owned(),
    };
    AnalyticsError::BadResponse { id: r.id, message }
}

fn plan(
    q: &Arc<Questionnaire>,
    items: &mut Vec<String>,
    dims: &mut Vec<String>,
    item_text: &mut HashMap<(String, String), (String, String, String)>,
    dim_names: &mut HashMap<String, (String, String)>,
    satisfied: &mut Vec<f64>,
    scores: &mut Vec<f64>,
) -> Plan {
    for d in &q.dimensions {
        dim_names
            .entry(d.code.clone())
            .or_insert_with(|| (d.name.zh.clone(), d.name.en.clone()));
    }
    let mut local_dims: Vec<usize> = Vec::new();
    let mut slots = Vec::with_capacity(q.questions.len());
    let mut index = HashMap::new();
    for (p, question) in q.questions.iter().enumerate() {
        index.insert(question.code.clone(), p);
        item_text.insert(
            (q.respondent_type.as_str().to_owned(), question.code.clone()),
            (
                question.text.zh.clone(),
                question.text.en.clone(),
                question.dimension.clone().unwrap_or_default(),
            ),
        );
        slots.push(slot(
            question,
            items,
            dims,
            &mut local_dims,
            satisfied,
            scores,
        ));
    }
    Plan {
        q: q.clone(),
        index,
        slots,
        dims: local_dims,
        threshold: satisfied_threshold(q),
    }
}

fn slot(
    question: &Question,
    items: &mut Vec<String>,
    dims: &mut Vec<String>,
    local_dims: &mut Vec<usize>,
    satisfied: &mut Vec<f64>,
    scores: &mut Vec<f64>,
) -> Slot {
    match &question.kind {
        QuestionKind::Likert5(l) => {
            let item = match items.iter().position(|c| *c == question.code) {
                Some(i) => i,
                None => {
                    items.push(question.code.clone());
                    items.len() - 1
                }
            };
            let dim = question.dimension.as_ref().map(|d| {
                let global = match dims.iter().position(|x| x == d) {
                    Some(i) => i,
                    None => {
                        dims.push(d.clone());
                        dims.len() - 1
                    }
                };
                match local_dims.iter().position(|&g| g == global) {
                    Some(i) => i,
                    None => {
                        local_dims.push(global);
                        local_dims.len() - 1
                    }
                }
            });
            let mut choice = [None; 6];
            for c in &l.choices {
                if !scores.contains(&c.score) {
                    scores.push(c.score);
                }
                if c.satisfied && !satisfied.contains(&c.score) {
                    satisfied.push(c.score);
                }
                if let Some(slot) = choice.get_mut(usize::from(c.code)) {
                    // first choice with a code wins, as `Likert::choice` finds it
                    if slot.is_none() {
                        *slot = Some((c.score, c.satisfied));
                    }
                }
            }
            Slot::Likert {
                item,
                dim,
                choice,
                dont_know: l.dont_know.is_some(),
            }
        }
        QuestionKind::Text { .. } => Slot::Text {
            dimension: question.dimension.clone(),
        },
        _ => Slot::Other,
    }
}
