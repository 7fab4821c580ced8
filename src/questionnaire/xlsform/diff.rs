//! What changed between two versions of a questionnaire. Questions are matched by code (codes
//! stay the same across versions), so a reworded question is the same item with new words and
//! year-over-year comparisons can use the items both versions share.

use std::fmt;

use serde::Serialize;

use crate::questionnaire::{Question, QuestionKind, Questionnaire, Text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Title, introduction, respondent type or minimum duration.
    Setting,
    DimensionAdded,
    DimensionRemoved,
    DimensionRenamed,
    Added,
    Removed,
    Reworded,
    /// The kind of answer changed (e.g. single → multiple); not comparable.
    KindChanged,
    /// Options, bounds, length or scoring changed.
    AnswersChanged,
    DimensionChanged,
    RequiredChanged,
    ConditionChanged,
    HintChanged,
    Moved,
}

impl ChangeKind {
    pub fn label(self) -> Text {
        let (zh, en) = match self {
            ChangeKind::Setting => ("问卷设置", "setting"),
            ChangeKind::DimensionAdded => ("新增维度", "dimension added"),
            ChangeKind::DimensionRemoved => ("删除维度", "dimension removed"),
            ChangeKind::DimensionRenamed => ("维度改名", "dimension renamed"),
            ChangeKind::Added => ("新增题目", "question added"),
            ChangeKind::Removed => ("删除题目", "question removed"),
            ChangeKind::Reworded => ("措辞修改", "question reworded"),
            ChangeKind::KindChanged => ("题型改变", "answer type changed"),
            ChangeKind::AnswersChanged => ("选项或计分改变", "options or scoring changed"),
            ChangeKind::DimensionChanged => ("所属维度改变", "dimension changed"),
            ChangeKind::RequiredChanged => ("必答改变", "required changed"),
            ChangeKind::ConditionChanged => ("显示条件改变", "condition changed"),
            ChangeKind::HintChanged => ("提示改变", "hint changed"),
            ChangeKind::Moved => ("顺序改变", "moved"),
        };
        Text::new(zh, en)
    }
}

/// One difference: what kind, which item (question, dimension or setting), before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub kind: ChangeKind,
    pub item: String,
    pub before: String,
    pub after: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} \"{}\"", self.kind.label().en, self.item)?;
        match (self.before.is_empty(), self.after.is_empty()) {
            (true, true) => Ok(()),
            (false, true) => write!(f, ": was {}", self.before),
            (true, false) => write!(f, ": {}", self.after),
            (false, false) => write!(f, ": {} → {}", self.before, self.after),
        }
    }
}

fn both(t: &Text) -> String {
    format!("{} / {}", t.zh, t.en)
}

fn opt(t: &Option<Text>) -> String {
    t.as_ref().map(both).unwrap_or_default()
}

/// The answer side of a question (kind-specific fields) as comparable text.
fn answers(q: &Question) -> String {
    match &q.kind {
        QuestionKind::Likert5(l) => {
            let scale: Vec<String> = l
                .choices
                .iter()
                .map(|c| {
                    format!(
                        "{}={}{}",
                        c.code,
                        c.score,
                        if c.satisfied { "✓" } else { "" }
                    )
                })
                .collect();
            let dk = l
                .dont_know
                .as_ref()
                .map(|d| format!(", {}", d.code))
                .unwrap_or_default();
            format!("{}{dk}", scale.join(" "))
        }
        QuestionKind::Single { .. } => options(q),
        QuestionKind::Multiple { min, max, .. } => format!("{} ({min}–{max})", options(q)),
        QuestionKind::Rating { low, high } => format!("0–10 {} {}", opt(low), opt(high))
            .trim()
            .to_string(),
        QuestionKind::Number {
            min,
            max,
            integer,
            unit,
        } => format!(
            "{min}–{max}{}{}",
            if *integer { "" } else { " decimal" },
            unit.as_ref()
                .map(|u| format!(" {}", both(u)))
                .unwrap_or_default()
        ),
        QuestionKind::Text { max_length } => format!("≤ {max_length}"),
    }
}

fn options(q: &Question) -> String {
    q.options()
        .iter()
        .map(|(c, l)| format!("{c} {}", l.zh))
        .collect::<Vec<_>>()
        .join(", ")
}

fn condition(q: &Question) -> String {
    q.show_if
        .as_ref()
        .map(|s| format!("{} ∈ {{{}}}", s.question, s.values.join(", ")))
        .unwrap_or_default()
}

/// Every difference from `old` to `new`, settings first, then dimensions, then questions in the
/// new version's order (removed ones last).
pub fn diff(old: &Questionnaire, new: &Questionnaire) -> Vec<Change> {
    let mut out = Vec::new();
    let mut push = |kind, item: &str, before: String, after: String| {
        out.push(Change {
            kind,
            item: item.to_string(),
            before,
            after,
        })
    };
    let settings = [
        ("title", both(&old.title), both(&new.title)),
        ("intro", both(&old.intro), both(&new.intro)),
        (
            "respondent_type",
            old.respondent_type.to_string(),
            new.respondent_type.to_string(),
        ),
        (
            "min_duration_seconds",
            old.min_duration_seconds
                .map(|m| m.to_string())
                .unwrap_or_default(),
            new.min_duration_seconds
                .map(|m| m.to_string())
                .unwrap_or_default(),
        ),
    ];
    for (name, a, b) in settings {
        if a != b {
            push(ChangeKind::Setting, name, a, b);
        }
    }
    for d in &new.dimensions {
        match old.dimension(&d.code) {
            None => push(
                ChangeKind::DimensionAdded,
                &d.code,
                String::new(),
                both(&d.name),
            ),
            Some(o) if o.name != d.name => push(
                ChangeKind::DimensionRenamed,
                &d.code,
                both(&o.name),
                both(&d.name),
            ),
            Some(_) => {}
        }
    }
    for d in &old.dimensions {
        if new.dimension(&d.code).is_none() {
            push(
                ChangeKind::DimensionRemoved,
                &d.code,
                both(&d.name),
                String::new(),
            );
        }
    }
    let moved = moved_codes(old, new);
    for q in &new.questions {
        let Some(o) = old.question(&q.code) else {
            push(ChangeKind::Added, &q.code, String::new(), both(&q.text));
            continue;
        };
        if o.text != q.text {
            push(ChangeKind::Reworded, &q.code, both(&o.text), both(&q.text));
        }
        if o.kind.name() != q.kind.name() {
            push(
                ChangeKind::KindChanged,
                &q.code,
                o.kind.name().into(),
                q.kind.name().into(),
            );
        } else if o.kind != q.kind {
            push(ChangeKind::AnswersChanged, &q.code, answers(o), answers(q));
        }
        if o.dimension != q.dimension {
            push(
                ChangeKind::DimensionChanged,
                &q.code,
                o.dimension.clone().unwrap_or_default(),
                q.dimension.clone().unwrap_or_default(),
            );
        }
        if o.required != q.required {
            push(
                ChangeKind::RequiredChanged,
                &q.code,
                o.required.to_string(),
                q.required.to_string(),
            );
        }
        if o.show_if != q.show_if {
            push(
                ChangeKind::ConditionChanged,
                &q.code,
                condition(o),
                condition(q),
            );
        }
        if o.hint != q.hint {
            push(ChangeKind::HintChanged, &q.code, opt(&o.hint), opt(&q.hint));
        }
        if moved.contains(&q.code.as_str()) {
            let pos = |x: &Questionnaire| {
                x.question_index(&q.code)
                    .map(|i| (i + 1).to_string())
                    .unwrap_or_default()
            };
            push(ChangeKind::Moved, &q.code, pos(old), pos(new));
        }
    }
    for o in &old.questions {
        if new.question(&o.code).is_none() {
            push(ChangeKind::Removed, &o.code, both(&o.text), String::new());
        }
    }
    out
}

/// Codes of the questions both versions share whose relative order changed: those outside the
/// longest common subsequence of the shared codes.
fn moved_codes<'a>(old: &Questionnaire, new: &'a Questionnaire) -> Vec<&'a str> {
    let a: Vec<&str> = old
        .questions
        .iter()
        .map(|q| q.code.as_str())
        .filter(|c| new.question(c).is_some())
        .collect();
    let b: Vec<&'a str> = new
        .questions
        .iter()
        .map(|q| q.code.as_str())
        .filter(|c| old.question(c).is_some())
        .collect();
    let (n, m) = (a.len(), b.len());
    let mut len = vec![vec![0u16; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            len[i][j] = if a[i] == b[j] {
                len[i + 1][j + 1] + 1
            } else {
                len[i + 1][j].max(len[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut kept = Vec::new();
    while i < n && j < m {
        if a[i] == b[j] {
            kept.push(b[j]);
            i += 1;
            j += 1;
        } else if len[i + 1][j] >= len[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    b.into_iter().filter(|c| !kept.contains(c)).collect()
}

/// The satisfaction items two versions can be compared on: likert questions with the same code
/// in both (in the newer version's order). Reworded items stay comparable by design of the
/// codes; items whose kind changed or that exist in one version only are left out.
pub fn comparable_items(old: &Questionnaire, new: &Questionnaire) -> Vec<String> {
    new.likert_questions()
        .filter(|q| old.question(&q.code).is_some_and(Question::is_likert))
        .map(|q| q.code.clone())
        .collect()
}
