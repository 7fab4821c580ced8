//! The draw form: its fields checked as `pingyi sample` checks its flags, and the sampler's
//! errors placed beside the field they belong to.

use crate::views::invitations::{DrawFormValues, FieldError};
use pingyi_analysis::sampling::{Allocation, DrawOptions, SamplingError, SizeSpec};

pub(super) fn field_error(
    field: &'static str,
    zh: impl Into<String>,
    en: impl Into<String>,
) -> FieldError {
    FieldError {
        field,
        zh: zh.into(),
        en: en.into(),
    }
}

/// What a valid draw form asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct DrawFormRequest {
    pub options: DrawOptions,
    pub seed: String,
    /// (questionnaire id, version, deadline) when invitations are to be made
    pub invite: Option<(String, i64, chrono::NaiveDate)>,
}

/// Checks the draw form as `pingyi sample` checks its flags; every problem is returned
/// with the field it belongs to.
pub fn check_draw_form(
    v: &DrawFormValues,
    has_file: bool,
) -> Result<DrawFormRequest, Vec<FieldError>> {
    let mut errs = Vec::new();
    if !has_file {
        errs.push(field_error(
            "file",
            "请选择抽样框文件。",
            "Choose the frame file.",
        ));
    }
    let id = v.id.trim();
    if id.is_empty() {
        errs.push(field_error(
            "id",
            "请填写编号列的列名。",
            "Give the name of the id column.",
        ));
    }
    let opt = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let allocation = match v.allocation.as_str() {
        "proportional" | "" => Allocation::Proportional,
        "neyman" => Allocation::Neyman,
        "equal" => Allocation::Equal,
        "thirty-percent" => Allocation::ThirtyPercent,
        other => {
            errs.push(field_error(
                "allocation",
                "请选择分配方法。",
                format!("Unknown allocation {other:?}; choose one of the listed methods."),
            ));
            Allocation::Proportional
        }
    };
    let mut size = None;
    match (opt(&v.size), opt(&v.fraction)) {
        (Some(_), Some(_)) => {
            for f in ["size", "fraction"] {
                errs.push(field_error(
                    f,
                    "样本量和抽样比例只能填一项。",
                    "Give either the sample size or the fraction, not both.",
                ));
            }
        }
        (Some(n), None) => match n.parse::<u64>() {
            Ok(n) if n >= 1 => size = Some(SizeSpec::Total(n)),
            _ => errs.push(field_error(
                "size",
                "样本量应为正整数。",
                format!("The sample size must be a whole number of at least 1, got {n:?}."),
            )),
        },
        (None, Some(f)) => {
            let parsed = match f.strip_suffix('%') {
                Some(pct) => pct.trim().parse::<f64>().map(|x| x / 100.0),
                None => f.parse::<f64>(),
            };
            match parsed {
                Ok(x) if x > 0.0 && x <= 1.0 => size = Some(SizeSpec::Fraction(x)),
                _ => errs.push(field_error(
                    "fraction",
                    "抽样比例应为大于 0、不超过 1 的数（如 0.3 或 30%）。",
                    format!(
                        "The fraction must be above 0 and at most 1 (e.g. 0.3 or 30%), got {f:?}."
                    ),
                )),
            }
        }
        (None, None) => {}
    }
    let sized = opt(&v.size).is_some() || opt(&v.fraction).is_some();
    if allocation == Allocation::ThirtyPercent && sized {
        errs.push(field_error(
            "size",
            "“每层不低于 30%”自行确定样本量，请清空样本量和抽样比例。",
            "“At least 30% of each stratum” sets the sample size itself: leave the size and the fraction empty.",
        ));
    }
    if allocation != Allocation::ThirtyPercent && !sized {
        errs.push(field_error(
            "size",
            "请填写样本量或抽样比例（或选择“每层不低于 30%”）。",
            "Give a sample size or a fraction (or choose “at least 30% of each stratum”).",
        ));
    }
    let strata = opt(&v.strata);
    let sd = opt(&v.sd);
    match (allocation, &sd) {
        (Allocation::Neyman, None) => errs.push(field_error(
            "sd",
            "奈曼分配需要标准差列：每层各行填写该层的标准差。",
            "Neyman allocation needs the standard deviation column (each stratum's SD on its rows).",
        )),
        (Allocation::Neyman, Some(_)) | (_, None) => {}
        (_, Some(_)) => errs.push(field_error(
            "sd",
            "标准差列只用于奈曼分配；请清空或选择奈曼分配。",
            "The standard deviation column is used only by Neyman allocation: clear it or choose Neyman.",
        )),
    }
    if allocation == Allocation::Neyman && strata.is_none() {
        errs.push(field_error(
            "strata",
            "奈曼分配需要分层列。",
            "Neyman allocation needs a strata column.",
        ));
    }
    let min_per_stratum = match opt(&v.min_per_stratum) {
        None => 0,
        Some(k) => k.parse::<u64>().unwrap_or_else(|_| {
            errs.push(field_error(
                "min_per_stratum",
                "每层最少抽取数应为非负整数。",
                format!("The minimum per stratum must be a whole number (0 or more), got {k:?}."),
            ));
            0
        }),
    };
    let seed = v.seed.trim().to_owned();
    if seed.is_empty() {
        errs.push(field_error(
            "seed",
            "请填写种子（公开发布，用于复核）。",
            "Give the seed (it is published so anyone can re-run the draw).",
        ));
    }
    let invite = match opt(&v.questionnaire) {
        None => None,
        Some(q) => {
            let parsed = q
                .rsplit_once('@')
                .and_then(|(qid, ver)| Some((qid.to_owned(), ver.parse::<i64>().ok()?)));
            if parsed.is_none() {
                errs.push(field_error(
                    "questionnaire",
                    "问卷选择无效。",
                    "Unknown questionnaire.",
                ));
            }
            let deadline = match opt(&v.deadline) {
                None => {
                    errs.push(field_error(
                        "deadline",
                        "发出邀请需要截止日期。",
                        "Invitations need a deadline.",
                    ));
                    None
                }
                Some(d) => chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                    .map_err(|_| {
                        errs.push(field_error(
                            "deadline",
                            "截止日期格式应为 年-月-日。",
                            format!("The deadline must be a date as YYYY-MM-DD, got {d:?}."),
                        ))
                    })
                    .ok(),
            };
            parsed.zip(deadline).map(|((qid, ver), d)| (qid, ver, d))
        }
    };
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(DrawFormRequest {
        options: DrawOptions {
            id_column: id.to_owned(),
            strata_column: strata,
            size,
            allocation,
            sd_column: sd,
            min_per_stratum,
            pps_size_column: opt(&v.pps_size),
        },
        seed,
        invite,
    })
}

/// The form field a sampler error belongs to (columns are matched to the field naming them).
pub fn sampling_error_field(e: &SamplingError, o: &DrawOptions) -> &'static str {
    let of_column = |c: &str| -> &'static str {
        if c == o.id_column {
            "id"
        } else if o.strata_column.as_deref() == Some(c) {
            "strata"
        } else if o.sd_column.as_deref() == Some(c) {
            "sd"
        } else if o.pps_size_column.as_deref() == Some(c) {
            "pps_size"
        } else {
            "file"
        }
    };
    match e {
        SamplingError::MissingColumn { column, .. }
        | SamplingError::AmbiguousColumn { column }
        | SamplingError::DuplicateId { column, .. }
        | SamplingError::BadValue { column, .. } => of_column(column),
        SamplingError::ReservedColumn { .. } | SamplingError::Frame(_) => "file",
        SamplingError::Option { option, .. } => {
            if option.contains("fraction") && !option.contains("size") {
                "fraction"
            } else if option.contains("size") {
                "size"
            } else if option.contains("sd") {
                "sd"
            } else {
                "allocation"
            }
        }
        SamplingError::Allocation(_) => {
            if o.min_per_stratum > 0 {
                "min_per_stratum"
            } else {
                "size"
            }
        }
    }
}

/// A sampler error in the reader's language (the sampler's messages are English; the
/// Chinese line says which field to fix and quotes them).
pub(super) fn sampling_field_error(e: &SamplingError, o: &DrawOptions) -> FieldError {
    let field = sampling_error_field(e, o);
    let zh = match e {
        SamplingError::MissingColumn { column, .. } => {
            format!("抽样框中没有名为“{column}”的列。")
        }
        SamplingError::AmbiguousColumn { column } => {
            format!("抽样框中“{column}”列出现了不止一次。")
        }
        SamplingError::DuplicateId { id, .. } => format!("编号“{id}”重复；编号必须唯一。"),
        SamplingError::BadValue { column, row, .. } => format!("第 {row} 行“{column}”列的值无效。"),
        SamplingError::ReservedColumn { column } => {
            format!("抽样框已有“{column}”列（抽样结果会添加该列），请改名。")
        }
        SamplingError::Frame(_) => "无法读取抽样框。".to_owned(),
        SamplingError::Option { .. } | SamplingError::Allocation(_) => {
            "抽样选项与抽样框不符。".to_owned()
        }
    };
    field_error(field, format!("{zh}（{e}）"), e.to_string())
}

#[cfg(test)]
#[path = "draw_form_tests.rs"]
mod tests;
