//! Year-over-year comparisons on the items both years asked.
//!
//! Questionnaires change between years (an item added, one dropped). A satisfaction index is
//! the mean of a response's item scores, so an index over this year's items and one over last
//! year's measure different things. A comparison therefore uses, per respondent type, only
//! the likert items present in every compared year (items keep their codes across versions:
//! a reworded item is the same item; [`crate::library::Comparison::comparable`] counts the
//! same items between two versions). Where every year asked each type the same items the
//! comparison is of the tables as they are ([`ComparedItems::all_same`]); otherwise each
//! year's frame is re-scored on the common items ([`Loaded::on_items`]): each response's
//! index and satisfied flag, overall and per dimension, over its common items only (a type
//! asked in one year only has none, so its responses drop out of the comparison), and its
//! answers to other items left out of the item rows.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use polars::prelude::*;

use super::{AnalyticsError, Loaded};
use crate::questionnaire::score::index_and_satisfied;

/// The likert items a comparison uses, per respondent type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComparedItems {
    /// respondent type → item codes present in every compared year
    pub per_type: BTreeMap<String, BTreeSet<String>>,
    /// every compared year asked each respondent type the same items (nothing is left out)
    pub all_same: bool,
    /// respondent type → items some compared year asked and another did not
    pub left_out: BTreeMap<String, BTreeSet<String>>,
    /// respondent types with responses in some compared years only (their responses are
    /// left out of the comparison)
    pub types_left_out: BTreeSet<String>,
}

impl ComparedItems {
    /// Every compared item code once, in code order.
    pub fn codes(&self) -> BTreeSet<&str> {
        self.per_type
            .values()
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// Every left-out item code once, in code order.
    pub fn left_out_codes(&self) -> BTreeSet<&str> {
        self.left_out
            .values()
            .flatten()
            .map(String::as_str)
            .collect()
    }

    /// The compared and the left-out items with their wording (this year's first, then the
    /// other years' for items only they asked), by respondent type and code.
    pub fn named(&self, years: &[&Loaded]) -> NamedItems {
        let name = |t: &String, c: &String| {
            let key = (t.clone(), c.clone());
            let (zh, en) = years
                .iter()
                .find_map(|l| l.item_text.get(&key))
                .map(|x| (x.0.clone(), x.1.clone()))
                .unwrap_or_default();
            NamedItem {
                respondent_type: t.clone(),
                question: c.clone(),
                text_zh: zh,
                text_en: en,
            }
        };
        let list = |m: &BTreeMap<String, BTreeSet<String>>| {
            m.iter()
                .flat_map(|(t, items)| items.iter().map(move |c| name(t, c)))
                .collect()
        };
        (list(&self.per_type), list(&self.left_out))
    }

    fn key(&self) -> String {
        self.per_type
            .iter()
            .map(|(t, items)| {
                let items: Vec<&str> = items.iter().map(String::as_str).collect();
                format!("{t}={}", items.join(","))
            })
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// The compared items and the left-out ones, named.
pub type NamedItems = (Vec<NamedItem>, Vec<NamedItem>);

/// One item of a comparison, as pages and the API name it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NamedItem {
    pub respondent_type: String,
    pub question: String,
    pub text_zh: String,
    pub text_en: String,
}

/// The likert items of a frame per respondent type (what that type was asked).
pub fn items_by_type(l: &Loaded) -> BTreeMap<String, BTreeSet<String>> {
    let likert: BTreeSet<&str> = l.items.iter().map(String::as_str).collect();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rtype, code) in l.item_text.keys() {
        if likert.contains(code.as_str()) {
            out.entry(rtype.clone()).or_default().insert(code.clone());
        }
    }
    out
}

/// The items every frame of `years` asked, per respondent type (see the module docs).
pub fn compared_items(years: &[&Loaded]) -> ComparedItems {
    let sets: Vec<BTreeMap<String, BTreeSet<String>>> =
        years.iter().map(|l| items_by_type(l)).collect();
    let types: BTreeSet<&String> = sets.iter().flat_map(BTreeMap::keys).collect();
    let empty = BTreeSet::new();
    let mut per_type = BTreeMap::new();
    let mut left_out = BTreeMap::new();
    let mut types_left_out = BTreeSet::new();
    for t in types {
        if !sets.iter().all(|s| s.contains_key(t)) {
            types_left_out.insert(t.clone());
            continue;
        }
        let of = |s: &'_ BTreeMap<String, BTreeSet<String>>| s.get(t).unwrap_or(&empty).clone();
        let mut common = of(&sets[0]);
        let mut union = common.clone();
        for s in &sets[1..] {
            let x = of(s);
            common = common.intersection(&x).cloned().collect();
            union.extend(x);
        }
        let out: BTreeSet<String> = union.difference(&common).cloned().collect();
        if !out.is_empty() {
            left_out.insert(t.clone(), out);
        }
        if !common.is_empty() {
            per_type.insert(t.clone(), common);
        }
    }
    ComparedItems {
        all_same: left_out.is_empty() && types_left_out.is_empty(),
        per_type,
        left_out,
        types_left_out,
    }
}

/// Frames re-scored on compared items, cached in the frame they were derived from.
pub(super) type Rescored = Mutex<HashMap<String, Arc<Loaded>>>;

impl Loaded {
    /// This frame with every response scored on `items` only (see the module docs); the
    /// frame itself when nothing is left out. Cached with the frame.
    pub fn on_items(
        self: &Arc<Self>,
        items: &ComparedItems,
    ) -> Result<Arc<Loaded>, AnalyticsError> {
        if items.all_same {
            return Ok(self.clone());
        }
        let key = items.key();
        if let Some(l) = self.rescored.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(l);
        }
        let l = Arc::new(rescore(self, items)?);
        if let Ok(mut m) = self.rescored.lock() {
            m.insert(key, l.clone());
        }
        Ok(l)
    }
}

/// What one respondent type's response reads: (position among the kept items, dimension).
type Members = Vec<(usize, Option<usize>)>;

fn rescore(l: &Loaded, items: &ComparedItems) -> Result<Loaded, AnalyticsError> {
    let codes = items.codes();
    // the kept items, in the frame's order, and their old positions (variables 2k, 2k + 1)
    let kept: Vec<(usize, &String)> = l
        .items
        .iter()
        .enumerate()
        .filter(|(_, c)| codes.contains(c.as_str()))
        .collect();
    let dim_of = |rtype: &str, code: &str| {
        l.item_text
            .get(&(rtype.to_owned(), code.to_owned()))
            .and_then(|t| l.dimensions.iter().position(|d| *d == t.2))
    };
    let types: Vec<&String> = items.per_type.keys().collect();
    let members: Vec<Members> = items
        .per_type
        .iter()
        .map(|(t, set)| {
            kept.iter()
                .enumerate()
                .filter(|(_, (_, c))| set.contains(*c))
                .map(|(j, (_, c))| (j, dim_of(t, c)))
                .collect()
        })
        .collect();
    let thresholds: Vec<Option<f64>> = types
        .iter()
        .map(|t| l.thresholds.get(*t).copied())
        .collect();

    let err = |e: PolarsError| AnalyticsError::Analysis(e.into());
    let rtype = l
        .frame
        .column("respondent_type")
        .and_then(|c| c.cast(&DataType::String))
        .map_err(err)?;
    let rtype = rtype.str().map_err(err)?;
    let item_cols: Vec<Column> = kept
        .iter()
        .map(|(_, c)| {
            l.frame
                .column(&format!("item:{c}"))
                .and_then(|c| c.cast(&DataType::Float64))
        })
        .collect::<Result<_, _>>()
        .map_err(err)?;
    let mut iters = item_cols
        .iter()
        .map(|c| c.f64().map(|ca| ca.iter()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;

    let n = l.rows;
    let nd = l.dimensions.len();
    let mut all_index: Vec<Option<f64>> = Vec::with_capacity(n);
    let mut all_rate: Vec<Option<f64>> = Vec::with_capacity(n);
    let mut dim_index: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(n); nd];
    let mut dim_rate: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(n); nd];
    let mut out_items: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(n); kept.len()];
    let mut row: Vec<Option<f64>> = vec![None; kept.len()];
    let mut dims: Vec<(f64, usize)> = vec![(0.0, 0); nd];
    // per row: which kept items its respondent type is compared on
    let mut asked: Vec<bool> = vec![false; kept.len()];
    let mut type_index: HashMap<&str, usize> = HashMap::new();
    for (i, t) in types.iter().enumerate() {
        type_index.insert(t.as_str(), i);
    }
    let yes = |x: (f64, bool)| f64::from(u8::from(x.1));
    for t in rtype.iter() {
        for (v, it) in row.iter_mut().zip(iters.iter_mut()) {
            *v = it.next().flatten();
        }
        let ti = t.and_then(|t| type_index.get(t).copied());
        let (mut sum, mut answered) = (0.0, 0usize);
        dims.iter_mut().for_each(|d| *d = (0.0, 0));
        asked.iter_mut().for_each(|a| *a = false);
        if let Some(ti) = ti {
            for &(j, d) in &members[ti] {
                asked[j] = true;
                if let Some(s) = row[j] {
                    sum += s;
                    answered += 1;
                    if let Some(d) = d {
                        dims[d].0 += s;
                        dims[d].1 += 1;
                    }
                }
            }
        }
        let threshold = ti.and_then(|ti| thresholds[ti]);
        let all = index_and_satisfied(sum, answered, threshold);
        all_index.push(all.map(|x| x.0));
        all_rate.push(all.map(yes));
        for (d, &(s, k)) in dims.iter().enumerate() {
            let x = index_and_satisfied(s, k, threshold);
            dim_index[d].push(x.map(|x| x.0));
            dim_rate[d].push(x.map(yes));
        }
        for (j, v) in row.iter().enumerate() {
            out_items[j].push(if asked[j] { *v } else { None });
        }
    }

    let mut frame = l.frame.clone();
    let mut replace = |name: String, v: Vec<Option<f64>>| {
        frame
            .with_column(Column::new(name.as_str().into(), v))
            .map(|_| ())
            .map_err(err)
    };
    replace("all:index".into(), all_index)?;
    replace("all:rate".into(), all_rate)?;
    for (d, (m, s)) in l.dimensions.iter().zip(dim_index.into_iter().zip(dim_rate)) {
        replace(format!("dim:{d}"), m)?;
        replace(format!("dimsat:{d}"), s)?;
    }
    for ((_, c), v) in kept.iter().zip(out_items) {
        replace(format!("item:{c}"), v)?;
    }
    // variables: the kept items' pairs, then every dimension's and the overall ones
    let ni = l.items.len();
    let mut vars = Vec::with_capacity(2 * kept.len() + l.vars.len() - 2 * ni);
    for (k, _) in &kept {
        vars.push(l.vars[2 * k].clone());
        vars.push(l.vars[2 * k + 1].clone());
    }
    vars.extend(l.vars[2 * ni..].iter().cloned());
    Ok(Loaded {
        evaluation_id: l.evaluation_id,
        version: l.version,
        as_of: l.as_of,
        rows: l.rows,
        frame,
        items: kept.iter().map(|(_, c)| (*c).clone()).collect(),
        dimensions: l.dimensions.clone(),
        item_text: l.item_text.clone(),
        dimension_names: l.dimension_names.clone(),
        suggestions: Vec::new(),
        design: l.design.clone(),
        thresholds: l.thresholds.clone(),
        vars,
        ids: l.ids.clone(),
        ids_sorted: l.ids_sorted.clone(),
        batches: l.batches.clone(),
        batch_set: l.batch_set.clone(),
        suggestion_batches: Vec::new(),
        suggestion_ids: Vec::new(),
        satisfied_scores: l.satisfied_scores.clone(),
        score_values: l.score_values.clone(),
        stratified: l.stratified,
        design_table: l.design_table.clone(),
        period: l.period.clone(),
        estimates: Mutex::new(HashMap::new()),
        running: Mutex::new(HashMap::new()),
        sums_built: Default::default(),
        summing: Mutex::new(()),
        tables: Mutex::new(HashMap::new()),
        rescored: Mutex::new(HashMap::new()),
    })
}
