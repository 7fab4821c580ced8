//! Loading a framework file: every table checked and turned into the model, each problem
//! with its line.

use super::raw::*;
use super::*;

pub(super) struct Ctx<'a> {
    pub(super) file: &'a str,
    pub(super) text: &'a str,
}

impl Ctx<'_> {
    pub(super) fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }
    pub(super) fn err(
        &self,
        offset: usize,
        indicator: Option<&str>,
        message: String,
    ) -> FrameworkError {
        FrameworkError {
            file: self.file.to_string(),
            line: self.line(offset),
            indicator: indicator.map(str::to_string),
            message,
        }
    }
}

pub(super) fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

pub(super) fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= SUM_TOLERANCE
}

pub(super) fn build(ctx: &Ctx<'_>, raw: RawFile) -> Result<Framework, FrameworkError> {
    let meta = raw.framework;
    if !is_identifier(meta.id.get_ref()) {
        return Err(ctx.err(
            meta.id.span().start,
            None,
            format!(
                "framework id `{}` must be letters, digits, `_`, `-` or `.`",
                meta.id.get_ref()
            ),
        ));
    }
    if !(meta.total.is_finite() && meta.total > 0.0) {
        return Err(ctx.err(
            meta.id.span().start,
            None,
            format!("[framework] total must be positive, got {}", meta.total),
        ));
    }
    if raw.indicator.is_empty() {
        return Err(ctx.err(
            text_end(ctx),
            None,
            "the framework has no [[indicator]] entries".to_string(),
        ));
    }

    // Ids: unique across indicators, deductions and deduction groups, because
    // all of them share the `indicator` column of the scores file.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let ids = raw
        .indicator
        .iter()
        .map(|i| &i.id)
        .chain(raw.deduction_group.iter().map(|g| &g.id))
        .chain(raw.deduction.iter().map(|d| &d.id));
    for id in ids {
        let at = id.span().start;
        let name = id.get_ref();
        if !is_identifier(name) {
            return Err(ctx.err(
                at,
                Some(name),
                "ids must be letters, digits, `_`, `-` or `.` (put the Chinese title in `name`)"
                    .to_string(),
            ));
        }
        if let Some(first) = seen.get(name) {
            return Err(ctx.err(
                at,
                Some(name),
                format!(
                    "duplicate id; it is already used on line {}",
                    ctx.line(*first)
                ),
            ));
        }
        seen.insert(name.clone(), at);
    }

    let index: BTreeMap<&str, usize> = raw
        .indicator
        .iter()
        .enumerate()
        .map(|(k, i)| (i.id.get_ref().as_str(), k))
        .collect();

    // Parents: must exist and come earlier in the file (pre-order; also rules out cycles).
    let mut parents: Vec<Option<usize>> = Vec::with_capacity(raw.indicator.len());
    for (k, ind) in raw.indicator.iter().enumerate() {
        let id = ind.id.get_ref().as_str();
        let parent = match &ind.parent {
            None => None,
            Some(p) => {
                let pid = p.get_ref().as_str();
                match index.get(pid) {
                    None => {
                        return Err(ctx.err(
                            p.span().start,
                            Some(id),
                            format!("parent `{pid}` is not an indicator in this file"),
                        ))
                    }
                    Some(&pk) if pk >= k => {
                        return Err(ctx.err(
                            p.span().start,
                            Some(id),
                            format!(
                                "parent `{pid}` must be written before its children \
                                 (it is on line {})",
                                ctx.line(raw.indicator[pk].id.span().start)
                            ),
                        ))
                    }
                    Some(&pk) => Some(pk),
                }
            }
        };
        parents.push(parent);
    }
    let n = raw.indicator.len();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (k, p) in parents.iter().enumerate() {
        if let Some(p) = p {
            children[*p].push(k);
        }
    }

    let composites = build_composites(ctx, &raw.composite)?;

    // Kinds and per-node checks.
    let mut kinds = Vec::with_capacity(n);
    for (k, ind) in raw.indicator.iter().enumerate() {
        let id = ind.id.get_ref().as_str();
        let at = ind.id.span().start;
        let kind = if !children[k].is_empty() {
            if ind.survey.is_some() || ind.input.is_some() {
                return Err(ctx.err(
                    at,
                    Some(id),
                    "an indicator with children is the sum of its children; remove `survey`/`input`"
                        .to_string(),
                ));
            }
            IndicatorKind::Composite
        } else if let Some(s) = &ind.survey {
            if ind.input.is_some() {
                return Err(ctx.err(
                    at,
                    Some(id),
                    "a survey indicator takes no `input` (its value is always 0–100)".to_string(),
                ));
            }
            let binding = SurveyBinding::parse(s.get_ref())
                .map_err(|m| ctx.err(s.span().start, Some(id), m))?;
            if let SurveyBinding::Composite { name } = &binding {
                if !composites.iter().any(|c| c.id == *name) {
                    let declared: Vec<&str> = composites.iter().map(|c| c.id.as_str()).collect();
                    return Err(ctx.err(
                        s.span().start,
                        Some(id),
                        format!(
                            "composite `{name}` is not declared; add a [[composite]] section with \
                             id = \"{name}\" and its weights per respondent type (declared: {})",
                            if declared.is_empty() {
                                "none".to_string()
                            } else {
                                declared.join(", ")
                            }
                        ),
                    ));
                }
            }
            IndicatorKind::Survey { binding }
        } else {
            IndicatorKind::Objective {
                input: ind.input.unwrap_or(meta.input),
            }
        };
        kinds.push(kind);
    }

    // Periods: declared once per subtree; survey indicators are yearly.
    let mut periods: Vec<Option<Periods>> = Vec::with_capacity(n);
    let mut scope: Vec<Option<usize>> = vec![None; n];
    for (k, ind) in raw.indicator.iter().enumerate() {
        let id = ind.id.get_ref().as_str();
        let at = ind.id.span().start;
        let inherited = parents[k].and_then(|p| scope[p]);
        let own = match (&ind.periods, &ind.period_weights) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(ctx.err(
                    at,
                    Some(id),
                    "`period_weights` given without `periods`".to_string(),
                ))
            }
            (Some(labels), weights) => {
                if let Some(outer) = inherited {
                    return Err(ctx.err(
                        at,
                        Some(id),
                        format!(
                            "periods are already declared on `{}`; nested periods are not supported",
                            raw.indicator[outer].id.get_ref()
                        ),
                    ));
                }
                Some(check_periods(ctx, at, id, labels, weights.as_deref())?)
            }
        };
        scope[k] = if own.is_some() { Some(k) } else { inherited };
        if scope[k].is_some() && matches!(kinds[k], IndicatorKind::Survey { .. }) {
            return Err(ctx.err(
                at,
                Some(id),
                "survey indicators are scored once a year; move them out of the periodic indicator"
                    .to_string(),
            ));
        }
        periods.push(own);
    }

    // Points/weights: siblings use one or the other, and add up to the parent.
    let mut max_points = vec![0.0_f64; n];
    let roots: Vec<usize> = (0..n).filter(|k| parents[*k].is_none()).collect();
    let mut queue: Vec<(Option<usize>, Vec<usize>)> = vec![(None, roots)];
    while let Some((parent, kids)) = queue.pop() {
        let parent_max = parent.map(|p| max_points[p]).unwrap_or(meta.total);
        let (pid, pat) = match parent {
            Some(p) => (
                Some(raw.indicator[p].id.get_ref().as_str()),
                raw.indicator[p].id.span().start,
            ),
            None => (None, raw.indicator[kids[0]].id.span().start),
        };
        let mut uses_weight = None;
        let mut sum = 0.0;
        for &c in &kids {
            let ind = &raw.indicator[c];
            let cid = ind.id.get_ref().as_str();
            let cat = ind.id.span().start;
            let (value, is_weight) = match (ind.weight, ind.points) {
                (Some(w), None) => (w, true),
                (None, Some(p)) => (p, false),
                (Some(_), Some(_)) => {
                    return Err(ctx.err(
                        cat,
                        Some(cid),
                        "give either `weight` or `points`, not both".to_string(),
                    ))
                }
                (None, None) => {
                    return Err(ctx.err(
                        cat,
                        Some(cid),
                        "missing `weight` (percent of the parent) or `points`".to_string(),
                    ))
                }
            };
            if !(value.is_finite() && value > 0.0) {
                return Err(ctx.err(
                    cat,
                    Some(cid),
                    format!("weight/points must be positive, got {value}"),
                ));
            }
            match uses_weight {
                None => uses_weight = Some(is_weight),
                Some(w) if w != is_weight => {
                    return Err(ctx.err(
                        cat,
                        Some(cid),
                        "siblings must all use `weight` or all use `points`".to_string(),
                    ))
                }
                Some(_) => {}
            }
            sum += value;
            max_points[c] = if is_weight {
                parent_max * value / 100.0
            } else {
                value
            };
        }
        let expected = if uses_weight == Some(true) {
            100.0
        } else {
            parent_max
        };
        if !close(sum, expected) {
            let what = if uses_weight == Some(true) {
                "weights"
            } else {
                "points"
            };
            let whose = match pid {
                Some(p) => format!("children of `{p}`"),
                None => "top-level indicators".to_string(),
            };
            return Err(ctx.err(
                pat,
                pid,
                format!(
                    "{what} of the {whose} add up to {}, expected {}",
                    fmt_num(sum),
                    fmt_num(expected)
                ),
            ));
        }
        for &c in kids.iter().rev() {
            if !children[c].is_empty() {
                queue.push((Some(c), children[c].clone()));
            }
        }
    }

    let mut depth = vec![0usize; n];
    for k in 0..n {
        if let Some(p) = parents[k] {
            depth[k] = depth[p] + 1;
        }
    }

    let indicators: Vec<Indicator> = raw
        .indicator
        .into_iter()
        .enumerate()
        .map(|(k, ind)| Indicator {
            id: ind.id.get_ref().clone(),
            line: ctx.line(ind.id.span().start),
            name: ind.name,
            name_en: ind.name_en,
            description: ind.description,
            parent: parents[k],
            children: children[k].clone(),
            depth: depth[k],
            max_points: max_points[k],
            kind: kinds[k].clone(),
            periods: periods[k].clone(),
            period_scope: scope[k],
        })
        .collect();

    // Deductions.
    let mut groups = Vec::new();
    for g in &raw.deduction_group {
        let id = g.id.get_ref();
        if !(g.cap.is_finite() && g.cap > 0.0) {
            return Err(ctx.err(
                g.id.span().start,
                Some(id),
                format!("deduction cap must be positive, got {}", g.cap),
            ));
        }
        groups.push(DeductionGroup {
            id: id.clone(),
            name: g.name.clone(),
            cap: g.cap,
            line: ctx.line(g.id.span().start),
        });
    }
    let mut deductions = Vec::new();
    for d in &raw.deduction {
        let id = d.id.get_ref();
        let group = match &d.group {
            None => None,
            Some(gname) => Some(
                groups
                    .iter()
                    .position(|g| g.id == *gname.get_ref())
                    .ok_or_else(|| {
                        ctx.err(
                            gname.span().start,
                            Some(id),
                            format!(
                                "deduction group `{}` is not declared in a [[deduction_group]]",
                                gname.get_ref()
                            ),
                        )
                    })?,
            ),
        };
        if let Some(m) = d.max {
            if !(m.is_finite() && m > 0.0) {
                return Err(ctx.err(
                    d.id.span().start,
                    Some(id),
                    format!("deduction `max` must be positive, got {m}"),
                ));
            }
        }
        deductions.push(Deduction {
            id: id.clone(),
            name: d.name.clone(),
            group,
            max: d.max,
            line: ctx.line(d.id.span().start),
        });
    }

    // Grades.
    let grades = if raw.grade.is_empty() {
        default_grades()
    } else {
        let mut out: Vec<GradeBand> = Vec::new();
        for g in &raw.grade {
            let at = g.name.span().start;
            if out.iter().any(|o| o.name == *g.name.get_ref()) {
                return Err(ctx.err(
                    at,
                    None,
                    format!("grade `{}` is declared twice", g.name.get_ref()),
                ));
            }
            if let Some(prev) = out.last() {
                if g.min >= prev.min {
                    return Err(ctx.err(
                        at,
                        None,
                        format!(
                            "grades go best first with strictly decreasing `min`; `{}` has min {} \
                             after `{}` with min {}",
                            g.name.get_ref(),
                            fmt_num(g.min),
                            prev.name,
                            fmt_num(prev.min)
                        ),
                    ));
                }
            }
            out.push(GradeBand {
                name: g.name.get_ref().clone(),
                name_en: g.name_en.clone(),
                min: g.min,
            });
        }
        if let (Some(last), Some(raw_last)) = (out.last(), raw.grade.last()) {
            if last.min != 0.0 {
                return Err(ctx.err(
                    raw_last.name.span().start,
                    None,
                    format!(
                        "the lowest grade `{}` must have min = 0 so every total gets a grade",
                        last.name
                    ),
                ));
            }
        }
        out
    };
    let grade_at = |name: &Spanned<String>, what: &str| -> Result<usize, FrameworkError> {
        grades
            .iter()
            .position(|g| g.name == *name.get_ref())
            .ok_or_else(|| {
                ctx.err(
                    name.span().start,
                    None,
                    format!(
                        "{what} names grade `{}`, which is not one of: {}",
                        name.get_ref(),
                        grades
                            .iter()
                            .map(|g| g.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    };

    // Rules.
    let mut rules = Vec::new();
    for r in &raw.rule {
        let at = r.action.span().start;
        if r.events.get_ref().is_empty() {
            return Err(ctx.err(
                r.events.span().start,
                None,
                "a rule needs at least one event kind".to_string(),
            ));
        }
        for e in r.events.get_ref() {
            if !is_identifier(e) {
                return Err(ctx.err(
                    r.events.span().start,
                    None,
                    format!("event kind `{e}` must be letters, digits, `_`, `-` or `.`"),
                ));
            }
        }
        let action = match (r.action.get_ref().as_str(), &r.grade) {
            ("down_one", None) => RuleAction::DownOne,
            ("lower_to", Some(g)) => RuleAction::LowerTo {
                grade: grade_at(g, "rule")?,
            },
            ("down_one", Some(_)) => {
                return Err(ctx.err(at, None, "`down_one` takes no `grade`".to_string()))
            }
            ("lower_to", None) => {
                return Err(ctx.err(at, None, "`lower_to` needs a `grade`".to_string()))
            }
            (other, _) => {
                return Err(ctx.err(
                    at,
                    None,
                    format!("unknown rule action `{other}`; use down_one or lower_to"),
                ))
            }
        };
        let name = r.name.clone().unwrap_or_else(|| {
            let what = match &action {
                RuleAction::DownOne => "down one grade".to_string(),
                RuleAction::LowerTo { grade } => format!("lower to {}", grades[*grade].name),
            };
            format!("{} → {what}", r.events.get_ref().join(" / "))
        });
        rules.push(Rule {
            name,
            events: r.events.get_ref().clone(),
            action,
        });
    }

    let rectification = match &raw.rectification {
        None => vec![grades.len() - 1],
        Some(rr) => {
            let mut out = Vec::new();
            for g in rr.grades.get_ref() {
                let s = Spanned::new(rr.grades.span(), g.clone());
                out.push(grade_at(&s, "[rectification]")?);
            }
            out
        }
    };

    let advanced = match &raw.advanced {
        None => AdvancedRule {
            share: 30.0,
            eligible: vec![0],
        },
        Some(a) => {
            let share = *a.share.get_ref();
            if !(share.is_finite() && (0.0..=100.0).contains(&share)) {
                return Err(ctx.err(
                    a.share.span().start,
                    None,
                    format!("[advanced] share is a percentage 0–100, got {share}"),
                ));
            }
            let eligible = match &a.eligible {
                None => vec![0],
                Some(list) => {
                    let mut out = Vec::new();
                    for g in list.get_ref() {
                        let s = Spanned::new(list.span(), g.clone());
                        out.push(grade_at(&s, "[advanced] eligible")?);
                    }
                    out
                }
            };
            AdvancedRule { share, eligible }
        }
    };

    Ok(Framework {
        file: ctx.file.to_string(),
        id: meta.id.into_inner(),
        name: meta.name,
        name_en: meta.name_en,
        subject: meta.subject,
        source: meta.source,
        total: meta.total,
        indicators,
        deduction_groups: groups,
        deductions,
        grades,
        rules,
        rectification,
        advanced,
        composites,
    })
}

/// Validates the `[[composite]]` sections: unique identifiers, known respondent
/// types, positive weights adding up to 100.
pub(super) fn build_composites(
    ctx: &Ctx<'_>,
    raw: &[RawComposite],
) -> Result<Vec<SurveyComposite>, FrameworkError> {
    let mut out: Vec<SurveyComposite> = Vec::new();
    for c in raw {
        let id = c.id.get_ref();
        let at = c.id.span().start;
        let err = |m: String| {
            Err(FrameworkError {
                file: ctx.file.to_string(),
                line: ctx.line(at),
                indicator: None,
                message: format!("composite `{id}`: {m}"),
            })
        };
        if !is_identifier(id) {
            return err("ids must be letters, digits, `_`, `-` or `.`".to_string());
        }
        if let Some(first) = out.iter().find(|o| o.id == *id) {
            return err(format!(
                "declared twice; it is already declared on line {}",
                first.line
            ));
        }
        let weights = c.weights.get_ref();
        if weights.len() < 2 {
            return err("give weights for at least two respondent types, e.g. \
                 weights = { leader = 40, staff = 60 }"
                .to_string());
        }
        for (t, w) in weights {
            if !RESPONDENT_TYPES.contains(&t.as_str()) {
                return err(format!(
                    "unknown respondent type `{t}`; known: {}",
                    RESPONDENT_TYPES.join(", ")
                ));
            }
            if !(w.is_finite() && *w > 0.0) {
                return err(format!("the weight of `{t}` must be positive, got {w}"));
            }
        }
        let sum: f64 = weights.values().sum();
        if !close(sum, 100.0) {
            return err(format!(
                "weights add up to {}, expected 100 (percent)",
                fmt_num(sum)
            ));
        }
        let ordered = RESPONDENT_TYPES
            .iter()
            .filter_map(|t| weights.get(*t).map(|w| ((*t).to_string(), *w)))
            .collect();
        out.push(SurveyComposite {
            id: id.clone(),
            name: c.name.clone(),
            name_en: c.name_en.clone(),
            measure: c.measure,
            weights: ordered,
            line: ctx.line(at),
        });
    }
    Ok(out)
}

pub(super) fn text_end(ctx: &Ctx<'_>) -> usize {
    ctx.text.len()
}

pub(super) fn check_periods(
    ctx: &Ctx<'_>,
    at: usize,
    id: &str,
    labels: &[String],
    weights: Option<&[f64]>,
) -> Result<Periods, FrameworkError> {
    if labels.is_empty() {
        return Err(ctx.err(at, Some(id), "`periods` is empty".to_string()));
    }
    let mut uniq = BTreeSet::new();
    for l in labels {
        if l.trim().is_empty() || l.contains(',') {
            return Err(ctx.err(
                at,
                Some(id),
                format!("period label `{l}` must be non-empty and contain no comma"),
            ));
        }
        if !uniq.insert(l.as_str()) {
            return Err(ctx.err(at, Some(id), format!("period `{l}` listed twice")));
        }
    }
    let weights = match weights {
        None => vec![100.0 / labels.len() as f64; labels.len()],
        Some(w) => {
            if w.len() != labels.len() {
                return Err(ctx.err(
                    at,
                    Some(id),
                    format!("{} periods but {} period_weights", labels.len(), w.len()),
                ));
            }
            if w.iter().any(|x| !(x.is_finite() && *x >= 0.0)) {
                return Err(ctx.err(
                    at,
                    Some(id),
                    "period_weights must be non-negative numbers".to_string(),
                ));
            }
            let sum: f64 = w.iter().sum();
            if !close(sum, 100.0) {
                return Err(ctx.err(
                    at,
                    Some(id),
                    format!("period_weights add up to {}, expected 100", fmt_num(sum)),
                ));
            }
            w.to_vec()
        }
    };
    Ok(Periods {
        labels: labels.to_vec(),
        weights,
    })
}
