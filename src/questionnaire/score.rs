//! How one response scores: the one definition the pages, the API and the exports share.
//!
//! * **Index** (`index_score`, 0–100): the mean of the choice scores of the response's
//!   answered likert items (默认 很满意 100, 满意 80, 基本满意 60, 不满意 40, 很不满意 20),
//!   the `overall` question included; "don't know" and unanswered items are left out. A
//!   response with no answered likert item has no index.
//! * **Satisfied** (`satisfied`, 1/0): the index reaches the questionnaire's satisfied
//!   threshold, the lowest score a satisfied choice carries (基本满意 = 60 by default): on
//!   average at least fairly satisfied. Undefined where the index is.
//! * Per dimension the same over the dimension's items (`index_score__<dimension>`).
//!
//! The satisfaction index of a group is the weighted mean of its responses' indices, the
//! satisfaction rate the weighted share of its responses that are satisfied (weights: the
//! analysis design's). For one question, the rate is the weighted share of its valid answers
//! in the satisfied choices.

use std::collections::HashMap;

use super::answers::{AnswerValue, Answers};
use super::model::{QuestionKind, Questionnaire};

/// The questionnaire's satisfied threshold: the lowest score of a choice marked satisfied
/// over its likert questions (None without likert questions or satisfied choices).
pub fn satisfied_threshold(q: &Questionnaire) -> Option<f64> {
    q.questions
        .iter()
        .filter_map(|question| match &question.kind {
            QuestionKind::Likert5(l) => l
                .choices
                .iter()
                .filter(|c| c.satisfied)
                .map(|c| c.score)
                .reduce(f64::min),
            _ => None,
        })
        .reduce(f64::min)
}

/// A response's index and whether it is satisfied, given its satisfied threshold.
pub fn index_and_satisfied(
    sum: f64,
    answered: usize,
    threshold: Option<f64>,
) -> Option<(f64, bool)> {
    if answered == 0 {
        return None;
    }
    let index = sum / answered as f64;
    // without a satisfied choice nobody can be satisfied
    Some((index, threshold.is_some_and(|t| index >= t)))
}

/// Sums of one response's answered likert scores, overall and per dimension slot.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    sum: f64,
    answered: usize,
    dims: Vec<(f64, usize)>,
}

impl Tally {
    /// An empty tally with `dims` dimension slots.
    pub fn new(dims: usize) -> Self {
        Self {
            sum: 0.0,
            answered: 0,
            dims: vec![(0.0, 0); dims],
        }
    }
    /// Clear for the next response, with `dims` dimension slots.
    pub fn reset(&mut self, dims: usize) {
        self.sum = 0.0;
        self.answered = 0;
        self.dims.clear();
        self.dims.resize(dims, (0.0, 0));
    }
    /// One answered likert item: its choice score and its dimension slot.
    pub fn add(&mut self, score: f64, dim: Option<usize>) {
        self.sum += score;
        self.answered += 1;
        if let Some(d) = dim.and_then(|d| self.dims.get_mut(d)) {
            d.0 += score;
            d.1 += 1;
        }
    }
    /// The response's (index, satisfied).
    pub fn overall(&self, threshold: Option<f64>) -> Option<(f64, bool)> {
        index_and_satisfied(self.sum, self.answered, threshold)
    }
    /// (index, satisfied) of dimension slot `d`.
    pub fn dimension(&self, d: usize, threshold: Option<f64>) -> Option<(f64, bool)> {
        self.dims
            .get(d)
            .and_then(|&(s, k)| index_and_satisfied(s, k, threshold))
    }
}

/// What one response scores: its index, whether it is satisfied, and both per dimension
/// (in the order the [`Scorer`] was given).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseScores {
    pub index: Option<f64>,
    pub satisfied: Option<bool>,
    pub dimensions: Vec<Option<(f64, bool)>>,
}

/// Scores responses to one questionnaire: per likert question the score of each code 0..=5
/// (first choice with the code, as [`super::Likert::choice`]) and its dimension slot.
#[derive(Debug, Clone)]
pub struct Scorer {
    questions: HashMap<String, ([Option<f64>; 6], Option<usize>)>,
    threshold: Option<f64>,
    dims: usize,
}

impl Scorer {
    /// A scorer for `q` whose dimension indices come out in the order of `dims`.
    pub fn new(q: &Questionnaire, dims: &[String]) -> Self {
        let mut questions = HashMap::new();
        for question in &q.questions {
            let QuestionKind::Likert5(l) = &question.kind else {
                continue;
            };
            let mut scores = [None; 6];
            for (c, slot) in scores.iter_mut().enumerate() {
                *slot = u8::try_from(c)
                    .ok()
                    .and_then(|c| l.choice(c))
                    .map(|ch| ch.score);
            }
            let dim = question
                .dimension
                .as_ref()
                .and_then(|d| dims.iter().position(|x| x == d));
            questions.insert(question.code.clone(), (scores, dim));
        }
        Scorer {
            questions,
            threshold: satisfied_threshold(q),
            dims: dims.len(),
        }
    }

    /// The scores of one response (its answers decoded with the same questionnaire).
    pub fn score(&self, answers: &Answers) -> ResponseScores {
        let mut tally = Tally::new(self.dims);
        for (code, v) in answers.iter() {
            let AnswerValue::Likert(c) = v else { continue };
            let Some((scores, dim)) = self.questions.get(code) else {
                continue;
            };
            if let Some(s) = scores.get(usize::from(*c)).copied().flatten() {
                tally.add(s, *dim);
            }
        }
        let all = tally.overall(self.threshold);
        ResponseScores {
            index: all.map(|x| x.0),
            satisfied: all.map(|x| x.1),
            dimensions: (0..self.dims)
                .map(|d| tally.dimension(d, self.threshold))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_threshold_is_fairly_satisfied() {
        let qs = crate::questionnaire::builtin().unwrap();
        for q in &qs {
            assert_eq!(satisfied_threshold(q), Some(60.0), "{}", q.id);
        }
    }

    #[test]
    fn index_is_the_mean_and_satisfied_reaches_the_threshold() {
        let mut t = Tally::new(2);
        assert_eq!(t.overall(Some(60.0)), None);
        t.add(100.0, Some(0));
        t.add(40.0, Some(1));
        t.add(40.0, Some(1));
        let (i, s) = t.overall(Some(60.0)).unwrap();
        assert_eq!(i, 60.0);
        assert!(s);
        assert_eq!(t.dimension(0, Some(60.0)), Some((100.0, true)));
        assert_eq!(t.dimension(1, Some(60.0)), Some((40.0, false)));
        assert_eq!(t.overall(None).map(|x| x.1), Some(false));
        t.reset(1);
        assert_eq!(t.overall(Some(60.0)), None);
        assert_eq!(t.dimension(0, Some(60.0)), None);
    }

    #[test]
    fn a_scorer_leaves_out_dont_know_and_splits_dimensions() {
        let qs = crate::questionnaire::builtin().unwrap();
        let q = qs.iter().find(|q| q.id == "staff").unwrap();
        let likert: Vec<_> = q.likert_questions().collect();
        let d0 = likert[0].dimension.clone().unwrap();
        let dims = vec!["nosuch".to_owned(), d0.clone()];
        let mut m = serde_json::Map::new();
        m.insert(likert[0].code.clone(), 5.into());
        m.insert(likert[1].code.clone(), 2.into());
        m.insert(likert[2].code.clone(), serde_json::Value::Null);
        let a = Answers::from_json(q, &serde_json::Value::Object(m).to_string()).unwrap();
        let s = Scorer::new(q, &dims).score(&a);
        assert_eq!(s.index, Some(70.0));
        assert_eq!(s.satisfied, Some(true));
        assert_eq!(s.dimensions[0], None);
        let same: Vec<f64> = likert[..2]
            .iter()
            .filter(|x| x.dimension.as_deref() == Some(d0.as_str()))
            .map(|x| {
                if x.code == likert[0].code {
                    100.0
                } else {
                    40.0
                }
            })
            .collect();
        let mean = same.iter().sum::<f64>() / same.len() as f64;
        assert_eq!(s.dimensions[1], Some((mean, mean >= 60.0)));
    }
}
