//! The raw shape of a questionnaire file: what TOML gives, with the spans problems point at.

use super::*;
// Raw file shape. Spans are kept on every value we may have to complain about. Tables that may be
// written with dotted keys (`text.zh = …`) carry no span in toml 0.8, so `Spanned` is only used
// on scalars, arrays and `[[array-of-tables]]` entries.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) id: Spanned<String>,
    pub(super) version: Spanned<i64>,
    pub(super) title: RawText,
    pub(super) respondent_type: Spanned<String>,
    pub(super) intro: RawText,
    #[serde(default)]
    pub(super) min_duration_seconds: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) likert: Option<RawLikert>,
    #[serde(default)]
    pub(super) dimensions: Vec<Spanned<RawDimension>>,
    #[serde(default)]
    pub(super) questions: Vec<Spanned<RawQuestion>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawText {
    #[serde(default)]
    pub(super) zh: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) en: Option<Spanned<String>>,
}

/// File-wide likert defaults, overridable per question.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLikert {
    #[serde(default)]
    pub(super) scores: Option<Spanned<BTreeMap<String, f64>>>,
    #[serde(default)]
    pub(super) satisfied: Option<Spanned<Vec<i64>>>,
    #[serde(default)]
    pub(super) dont_know: Option<Spanned<DontKnowSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDimension {
    pub(super) code: Spanned<String>,
    #[serde(default)]
    pub(super) zh: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) en: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChoice {
    pub(super) code: Spanned<String>,
    #[serde(default)]
    pub(super) zh: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) en: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawShowIf {
    pub(super) question: Spanned<String>,
    #[serde(rename = "in")]
    pub(super) values: Spanned<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQuestion {
    pub(super) code: Spanned<String>,
    pub(super) kind: Spanned<String>,
    #[serde(default)]
    pub(super) text: Option<RawText>,
    #[serde(default)]
    pub(super) dimension: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) required: Option<bool>,
    #[serde(default)]
    pub(super) show_if: Option<Spanned<RawShowIf>>,
    #[serde(default)]
    pub(super) hint: Option<RawText>,
    // likert5
    #[serde(default)]
    pub(super) scores: Option<Spanned<BTreeMap<String, f64>>>,
    #[serde(default)]
    pub(super) satisfied: Option<Spanned<Vec<i64>>>,
    #[serde(default)]
    pub(super) dont_know: Option<Spanned<DontKnowSpec>>,
    // single / multiple
    #[serde(default)]
    pub(super) choices: Option<Spanned<Vec<Spanned<RawChoice>>>>,
    #[serde(default)]
    pub(super) min: Option<Spanned<f64>>,
    #[serde(default)]
    pub(super) max: Option<Spanned<f64>>,
    // rating
    #[serde(default)]
    pub(super) low: Option<RawText>,
    #[serde(default)]
    pub(super) high: Option<RawText>,
    // number
    #[serde(default)]
    pub(super) integer: Option<Spanned<bool>>,
    #[serde(default)]
    pub(super) unit: Option<RawText>,
    // text
    #[serde(default)]
    pub(super) max_length: Option<Spanned<i64>>,
}

/// `dont_know = true` (code "0"), `dont_know = false` (none), or `dont_know = "dk"` (that code).
pub(super) enum DontKnowSpec {
    Off,
    Code(String),
}

impl<'de> Deserialize<'de> for DontKnowSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DontKnowSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("true, false or the code of the \"don't know\" option (e.g. \"dk\")")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<DontKnowSpec, E> {
                Ok(if v {
                    DontKnowSpec::Code(DEFAULT_DONT_KNOW_CODE.to_string())
                } else {
                    DontKnowSpec::Off
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DontKnowSpec, E> {
                Ok(DontKnowSpec::Code(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DontKnowSpec, E> {
                Ok(DontKnowSpec::Code(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}
