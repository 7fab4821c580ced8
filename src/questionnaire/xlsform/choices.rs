//! The `choices` sheet: named lists of answer options, and the five-point satisfaction list
//! (codes 5..1 with the product's fixed labels, an optional "不了解 / don't know", optional
//! `score` and `satisfied` columns).

use std::collections::{BTreeMap, BTreeSet};

use super::header::{Cell, Field, Lang, Table};
use super::settings::text_pair;
use super::sheets::{Grid, Role};
use super::Cx;
use crate::questionnaire::load::valid_code;
use crate::questionnaire::{
    Choice, Likert, LikertChoice, Text, DEFAULT_LIKERT_SCORES, DEFAULT_SATISFIED, DONT_KNOW_EN,
    DONT_KNOW_ZH, LIKERT_LABELS,
};

pub struct Item<'a> {
    pub code: Cell<'a>,
    pub label: Option<Text>,
    label_cell: Option<Cell<'a>>,
    score: Option<Cell<'a>>,
    satisfied: Option<Cell<'a>>,
}

pub struct List<'a> {
    pub name: String,
    pub items: Vec<Item<'a>>,
}

impl List<'_> {
    pub fn choices(&self) -> Vec<Choice> {
        self.items
            .iter()
            .map(|i| Choice {
                code: i.code.text.to_string(),
                label: i.label.clone().unwrap_or_else(|| Text::new("", "")),
            })
            .collect()
    }

    fn codes(&self) -> String {
        self.items
            .iter()
            .map(|i| i.code.text)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub struct Lists<'a> {
    pub sheet: String,
    pub lists: BTreeMap<String, List<'a>>,
    /// Lists read as five-point scales (their `score`/`satisfied` columns are meaningful).
    likert_cache: BTreeMap<String, Option<Likert>>,
}

pub fn read<'a>(cx: &mut Cx, grid: Option<&'a Grid>) -> Lists<'a> {
    let mut out = Lists {
        sheet: grid
            .map(|g| g.name.clone())
            .unwrap_or_else(|| "choices".into()),
        lists: BTreeMap::new(),
        likert_cache: BTreeMap::new(),
    };
    let Some(grid) = grid else { return out };
    let Some(t) = Table::new(grid, Role::Choices, &mut cx.problems) else {
        return out;
    };
    for f in [Field::ListName, Field::Name] {
        if !t.has(f) {
            cx.push(
                t.sheet,
                t.header_at(f),
                format!("the choices sheet has no {} column", f.header()),
            );
        }
    }
    for row in t.rows {
        let list = t.get(row, Field::ListName);
        let code = t.get(row, Field::Name);
        let (Some(list), Some(code)) = (list, code) else {
            let missing = if list.is_none() {
                Field::ListName
            } else {
                Field::Name
            };
            cx.push(
                t.sheet,
                t.missing_at(row, missing),
                format!(
                    "the choice has no {}; every row needs list_name and name",
                    missing.header()
                ),
            );
            continue;
        };
        let entry = out
            .lists
            .entry(list.text.to_string())
            .or_insert_with(|| List {
                name: list.text.to_string(),
                items: Vec::new(),
            });
        if !valid_code(code.text) {
            cx.push(
                t.sheet,
                code.at(),
                format!(
                    "\"{}\" is not a valid choice code (letters, digits, _ or -)",
                    code.text
                ),
            );
        } else if let Some(first) = entry.items.iter().find(|i| i.code.text == code.text) {
            cx.push(
                t.sheet,
                code.at(),
                format!(
                    "duplicate choice \"{}\" in list \"{}\" (first at {})",
                    code.text,
                    list.text,
                    first.code.at()
                ),
            );
            continue;
        }
        let label = text_pair(
            cx,
            &t,
            row,
            (Field::Label(Lang::Zh), Field::Label(Lang::En)),
            &format!("choice \"{}\" of list \"{}\"", code.text, list.text),
            true,
        );
        entry.items.push(Item {
            code,
            label,
            label_cell: t.get(row, Field::Label(Lang::Zh)),
            score: t.get(row, Field::Score),
            satisfied: t.get(row, Field::Satisfied),
        });
    }
    out
}

fn yes_no(s: &str) -> Option<bool> {
    match s.trim().to_lowercase().as_str() {
        "yes" | "true" | "1" | "y" | "是" | "true()" => Some(true),
        "no" | "false" | "0" | "n" | "否" | "false()" => Some(false),
        _ => None,
    }
}

pub fn parse_yes_no(s: &str) -> Option<bool> {
    yes_no(s)
}

impl<'a> Lists<'a> {
    /// The list as a five-point scale for question `q` (whose type cell is `type_at`). Problems
    /// of a list are reported once, however many questions use it.
    pub fn likert(
        &mut self,
        cx: &mut Cx,
        name: &str,
        survey: &str,
        type_at: &str,
        q: &str,
    ) -> Option<Likert> {
        if let Some(done) = self.likert_cache.get(name) {
            return done.clone();
        }
        let built = self
            .lists
            .get(name)
            .and_then(|list| build_likert(cx, &self.sheet, list, survey, type_at, q));
        self.likert_cache.insert(name.to_string(), built.clone());
        built
    }

    /// `score`/`satisfied` only mean something on a five-point list; elsewhere they would be
    /// dropped, so they are refused.
    pub fn check_scores_used(&self, cx: &mut Cx) {
        for list in self.lists.values() {
            if self.likert_cache.contains_key(&list.name) {
                continue;
            }
            if let Some(c) = list.items.iter().find_map(|i| i.score.or(i.satisfied)) {
                cx.push(
                    &self.sheet,
                    c.at(),
                    format!(
                        "list \"{}\" is not used as a five-point satisfaction scale (select_one with a dimension), so score and satisfied have no meaning here; clear them",
                        list.name
                    ),
                );
            }
        }
    }
}

fn build_likert(
    cx: &mut Cx,
    sheet: &str,
    list: &List,
    survey: &str,
    type_at: &str,
    q: &str,
) -> Option<Likert> {
    let is_scale = |c: &str| c.parse::<u8>().is_ok_and(|v| (1..=5).contains(&v));
    let five: Vec<&Item> = list
        .items
        .iter()
        .filter(|i| is_scale(i.code.text))
        .collect();
    let extra: Vec<&Item> = list
        .items
        .iter()
        .filter(|i| !is_scale(i.code.text))
        .collect();
    let distinct: BTreeSet<&str> = five.iter().map(|i| i.code.text).collect();
    if distinct.len() != 5 || five.len() != 5 || extra.len() > 1 {
        cx.push(
            survey,
            type_at,
            format!(
                "question \"{q}\" has a dimension, so its list \"{}\" must be the five-point satisfaction scale: 5 很满意, 4 满意, 3 基本满意, 2 不满意, 1 很不满意, and at most one more choice for 不了解 (don't know); the list has {} choices ({})",
                list.name,
                list.items.len(),
                list.codes()
            ),
        );
        return None;
    }
    let start = cx.count();
    for item in &five {
        let Some((_, zh, en)) = LIKERT_LABELS
            .iter()
            .find(|(c, ..)| c.to_string() == item.code.text)
        else {
            continue;
        };
        if let Some(l) = &item.label {
            if l.zh != *zh || !l.en.eq_ignore_ascii_case(en) {
                cx.push(
                    sheet,
                    item.label_cell.map(|c| c.at()).unwrap_or_else(|| item.code.at()),
                    format!(
                        "the five-point scale has fixed labels: choice {} is \"{zh}\" / \"{en}\", not \"{}\" / \"{}\"",
                        item.code.text, l.zh, l.en
                    ),
                );
            }
        }
    }
    let dont_know = extra.first().map(|d| {
        if let Some(l) = &d.label {
            if l.zh != DONT_KNOW_ZH || !l.en.eq_ignore_ascii_case(DONT_KNOW_EN) {
                cx.push(
                    sheet,
                    d.label_cell.map(|c| c.at()).unwrap_or_else(|| d.code.at()),
                    format!(
                        "the extra choice of a five-point list is the \"don't know\" answer and is labelled \"{DONT_KNOW_ZH}\" / \"{DONT_KNOW_EN}\", not \"{}\" / \"{}\"",
                        l.zh, l.en
                    ),
                );
            }
        }
        if let Some(c) = d.score.or(d.satisfied) {
            cx.push(
                sheet,
                c.at(),
                "\"don't know\" has no score and is never satisfied (it is left out of every denominator); clear the cell",
            );
        }
        Choice {
            code: d.code.text.to_string(),
            label: Text::new(DONT_KNOW_ZH, DONT_KNOW_EN),
        }
    });
    let mut scores: BTreeMap<u8, f64> = DEFAULT_LIKERT_SCORES.into_iter().collect();
    if five.iter().any(|i| i.score.is_some()) {
        for item in &five {
            let code: u8 = item.code.text.parse().unwrap_or(0);
            match item.score.map(|c| (c, c.text.parse::<f64>())) {
                Some((_, Ok(v))) if v.is_finite() => {
                    scores.insert(code, v);
                }
                Some((c, _)) => cx.push(sheet, c.at(), format!("score \"{}\" is not a number", c.text)),
                None => cx.push(
                    sheet,
                    item.code.at(),
                    format!(
                        "choice {code} has no score; give a score for each of 5, 4, 3, 2, 1 or for none (default 100, 80, 60, 40, 20)"
                    ),
                ),
            }
        }
    }
    let mut satisfied: BTreeSet<u8> = DEFAULT_SATISFIED.into_iter().collect();
    if five.iter().any(|i| i.satisfied.is_some()) {
        satisfied.clear();
        for item in &five {
            let code: u8 = item.code.text.parse().unwrap_or(0);
            match item.satisfied.map(|c| (c, yes_no(c.text))) {
                Some((_, Some(true))) => {
                    satisfied.insert(code);
                }
                Some((_, Some(false))) => {}
                Some((c, None)) => cx.push(
                    sheet,
                    c.at(),
                    format!("satisfied is yes or no, got \"{}\"", c.text),
                ),
                None => cx.push(
                    sheet,
                    item.code.at(),
                    format!("choice {code} has no satisfied value; give yes or no for each of 5, 4, 3, 2, 1 or for none (default: 5, 4, 3 are satisfied)"),
                ),
            }
        }
        if satisfied.is_empty() && cx.count() == start {
            cx.push(
                sheet,
                five[0].code.at(),
                format!(
                    "no choice of list \"{}\" counts as satisfied; mark at least one yes",
                    list.name
                ),
            );
        }
    }
    if cx.count() > start {
        return None;
    }
    Some(Likert {
        choices: LIKERT_LABELS
            .iter()
            .map(|(code, zh, en)| LikertChoice {
                code: *code,
                label: Text::new(*zh, *en),
                score: scores.get(code).copied().unwrap_or(f64::NAN),
                satisfied: satisfied.contains(code),
            })
            .collect(),
        dont_know,
    })
}
