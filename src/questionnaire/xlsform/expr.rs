//! The subset of XLSForm (XPath) expressions a questionnaire can hold, read and written:
//!
//! - `relevant`: one question's answer is one of some codes:
//!   `${q3} = '1'`, `${q3} = '1' or ${q3} = '2'`, `selected(${channel}, 'hall')`, `${score} = 7`;
//! - `constraint` on `integer`/`decimal`: `. >= 0 and . <= 100`;
//!   on `text`: `string-length(.) <= 500`;
//!   on `select_multiple`: `count-selected(.) >= 1 and count-selected(.) <= 3`.
//!
//! Anything else is an error that says what is supported; nothing is dropped silently.

use std::fmt::Write;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ref(String),
    Dot,
    Str(String),
    Num(String),
    Ident(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

fn tokens(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '$' if chars.get(i + 1) == Some(&'{') => {
                let end = chars[i + 2..]
                    .iter()
                    .position(|&c| c == '}')
                    .ok_or("a ${…} reference is not closed with }")?;
                out.push(Tok::Ref(
                    chars[i + 2..i + 2 + end]
                        .iter()
                        .collect::<String>()
                        .trim()
                        .to_string(),
                ));
                i += end + 3;
            }
            '\'' | '"' | '‘' | '“' => {
                let close = match c {
                    '‘' => '’',
                    '“' => '”',
                    other => other,
                };
                let end = chars[i + 1..]
                    .iter()
                    .position(|&x| x == close)
                    .ok_or("a quoted value is not closed")?;
                out.push(Tok::Str(chars[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            '.' if !chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                out.push(Tok::Dot);
                i += 1;
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '=' => {
                out.push(Tok::Op("="));
                i += 1;
            }
            '!' | '<' | '>' => {
                let eq = chars.get(i + 1) == Some(&'=');
                out.push(Tok::Op(match (c, eq) {
                    ('!', true) => "!=",
                    ('<', true) => "<=",
                    ('>', true) => ">=",
                    ('<', false) => "<",
                    ('>', false) => ">",
                    _ => return Err(format!("unexpected \"{c}\"")),
                }));
                i += if eq { 2 } else { 1 };
            }
            c if c.is_ascii_digit() || c == '-' || c == '.' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                out.push(Tok::Num(chars[start..i].iter().collect()));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '-')
                {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected \"{other}\"")),
        }
    }
    Ok(out)
}

/// Splits a token list on a keyword (`or` / `and`) outside parentheses.
fn split_on(toks: &[Tok], word: &str) -> Vec<Vec<Tok>> {
    let mut parts = vec![Vec::new()];
    let mut depth = 0i32;
    for t in toks {
        match t {
            Tok::LParen => depth += 1,
            Tok::RParen => depth -= 1,
            Tok::Ident(w) if depth == 0 && w.eq_ignore_ascii_case(word) => {
                parts.push(Vec::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = parts.last_mut() {
            last.push(t.clone());
        }
    }
    parts
}

/// A show-if condition: the answer to `question` is one of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relevant {
    pub question: String,
    pub values: Vec<String>,
    /// Written with `selected(…)` (the form a `select_multiple` question needs).
    pub selected: bool,
}

const RELEVANT_HELP: &str = "pingyi reads ${question} = 'code' or selected(${question}, 'code'), several joined by \"or\", all about one earlier question";

fn literal(t: &Tok) -> Option<String> {
    match t {
        Tok::Str(s) => Some(s.trim().to_string()),
        Tok::Num(n) => Some(n.clone()),
        _ => None,
    }
}

/// Reads a `relevant` cell.
pub fn parse_relevant(src: &str) -> Result<Relevant, String> {
    let toks = tokens(src).map_err(|e| format!("{e}; {RELEVANT_HELP}"))?;
    let mut question: Option<String> = None;
    let mut values = Vec::new();
    let mut selected = None;
    for part in split_on(&toks, "or") {
        let (q, v, sel) = match part.as_slice() {
            [Tok::Ref(q), Tok::Op("="), lit] => (q, literal(lit), false),
            [Tok::Ident(f), Tok::LParen, Tok::Ref(q), Tok::Comma, lit, Tok::RParen]
                if f == "selected" =>
            {
                (q, literal(lit), true)
            }
            [] => return Err(format!("\"or\" without a condition; {RELEVANT_HELP}")),
            _ => return Err(format!("cannot read \"{}\"; {RELEVANT_HELP}", src.trim())),
        };
        let Some(v) = v else {
            return Err(format!(
                "compare with a quoted code such as '1'; {RELEVANT_HELP}"
            ));
        };
        match &question {
            None => question = Some(q.clone()),
            Some(first) if first != q => {
                return Err(format!(
                    "every condition must be about the same question (\"{first}\" and \"{q}\"); {RELEVANT_HELP}"
                ))
            }
            Some(_) => {}
        }
        if selected.is_some_and(|s| s != sel) {
            return Err(format!(
                "use either = or selected(…) for all conditions; {RELEVANT_HELP}"
            ));
        }
        selected = Some(sel);
        values.push(v);
    }
    let question = question.ok_or_else(|| format!("the expression is empty; {RELEVANT_HELP}"))?;
    Ok(Relevant {
        question,
        values,
        selected: selected.unwrap_or(false),
    })
}

/// Writes a show-if condition back; `quote` is false for a 0–10 rating.
pub fn write_relevant(question: &str, values: &[String], selected: bool, quote: bool) -> String {
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        let lit = if quote {
            format!("'{v}'")
        } else {
            v.to_string()
        };
        if selected {
            let _ = write!(out, "selected(${{{question}}}, {lit})");
        } else {
            let _ = write!(out, "${{{question}}} = {lit}");
        }
    }
    out
}

/// Lower and upper bounds of a constraint, each optional.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bounds {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// What a constraint measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// `.` — the number answered.
    Value,
    /// `string-length(.)`.
    Length,
    /// `count-selected(.)`.
    Count,
}

impl Subject {
    fn write(self) -> &'static str {
        match self {
            Subject::Value => ".",
            Subject::Length => "string-length(.)",
            Subject::Count => "count-selected(.)",
        }
    }
}

/// Reads a constraint of the form `S >= a and S <= b` (either half may be absent).
pub fn parse_bounds(src: &str, subject: Subject) -> Result<Bounds, String> {
    let s = subject.write();
    let help = format!("pingyi reads {s} >= MIN and {s} <= MAX here (either half may be left out)");
    let toks = tokens(src).map_err(|e| format!("{e}; {help}"))?;
    let mut b = Bounds::default();
    for part in split_on(&toks, "and") {
        let subject_ok = |lhs: &[Tok]| match subject {
            Subject::Value => matches!(lhs, [Tok::Dot]),
            Subject::Length | Subject::Count => matches!(
                lhs,
                [Tok::Ident(f), Tok::LParen, Tok::Dot, Tok::RParen]
                    if f == if subject == Subject::Length { "string-length" } else { "count-selected" }
            ),
        };
        let n = part.len();
        if n < 3 || !subject_ok(&part[..n - 2]) {
            return Err(format!("cannot read \"{}\"; {help}", src.trim()));
        }
        let Tok::Num(num) = &part[n - 1] else {
            return Err(format!("the bound must be a number; {help}"));
        };
        let v: f64 = num
            .parse()
            .map_err(|_| format!("\"{num}\" is not a number; {help}"))?;
        let slot = match &part[n - 2] {
            Tok::Op(">=") => &mut b.min,
            Tok::Op("<=") => &mut b.max,
            Tok::Op(op) => {
                return Err(format!(
                    "\"{op}\" is not supported; bounds are inclusive: {help}"
                ))
            }
            _ => return Err(format!("cannot read \"{}\"; {help}", src.trim())),
        };
        if slot.is_some() {
            return Err(format!("a bound is given twice; {help}"));
        }
        *slot = Some(v);
    }
    Ok(b)
}

/// Writes bounds back in the form [`parse_bounds`] reads.
pub fn write_bounds(b: Bounds, subject: Subject) -> String {
    let s = subject.write();
    let mut parts = Vec::new();
    if let Some(lo) = b.min {
        parts.push(format!("{s} >= {}", number(lo)));
    }
    if let Some(hi) = b.max {
        parts.push(format!("{s} <= {}", number(hi)));
    }
    parts.join(" and ")
}

/// A number as a person writes it: `5`, not `5.0`; the shortest text that reads back the same.
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Reads `start=0 end=10 step=1` of a `range` question (any order; spaces or `;` between).
pub fn parse_parameters(src: &str) -> Result<Vec<(String, String)>, String> {
    src.split(|c: char| c.is_whitespace() || c == ';' || c == ',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
                .ok_or_else(|| format!("\"{p}\" is not name=value; write start=0 end=10 step=1"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relevant_forms() {
        let r = parse_relevant("${overall} = '2' or ${overall}='1'").unwrap();
        assert_eq!(r.question, "overall");
        assert_eq!(r.values, ["2", "1"]);
        assert!(!r.selected);
        let r = parse_relevant("selected(${channel}, 'hall')").unwrap();
        assert!(r.selected);
        assert_eq!(r.values, ["hall"]);
        let r = parse_relevant("${score} = 7").unwrap();
        assert_eq!(r.values, ["7"]);
        assert_eq!(
            write_relevant("q", &["5".into(), "4".into()], false, true),
            "${q} = '5' or ${q} = '4'"
        );
        for bad in [
            "${a} = '1' and ${b} = '2'",
            "${a} = '1' or ${b} = '2'",
            "${a} > 3",
            "not(${a} = '1')",
            "${a} = ${b}",
            "",
        ] {
            assert!(parse_relevant(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bounds_round_trip() {
        let b = parse_bounds(". >= 0 and . <= 99.5", Subject::Value).unwrap();
        assert_eq!(
            b,
            Bounds {
                min: Some(0.0),
                max: Some(99.5)
            }
        );
        assert_eq!(write_bounds(b, Subject::Value), ". >= 0 and . <= 99.5");
        let b = parse_bounds("string-length(.) <= 500", Subject::Length).unwrap();
        assert_eq!(b.max, Some(500.0));
        let b = parse_bounds("count-selected(.) >= -1", Subject::Count).unwrap();
        assert_eq!(b.min, Some(-1.0));
        assert!(parse_bounds(". > 0", Subject::Value).is_err());
        assert!(parse_bounds("regex(., '[0-9]+')", Subject::Value).is_err());
        assert!(parse_bounds(". <= 3", Subject::Length).is_err());
    }
}
