//! The unit register (被评单位): import and update from CSV or XLSX (`code,name_zh,name_en,
//! kind,parent`), edit one, retire one. A file is checked whole against itself and the stored
//! register (duplicate codes, unknown kinds and parents, parent cycles) before anything is
//! written; then it is written in one transaction, parents first.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::error::{FieldError, SetupError, SetupResult};
use super::table::read_table;
use crate::store::{AuditRecord, RegisterUnit, Store, UnitKind, UnitUpsert};

pub const REQUIRED_COLUMNS: [&str; 3] = ["code", "name_zh", "kind"];
pub const OPTIONAL_COLUMNS: [&str; 2] = ["name_en", "parent"];
/// Largest register file.
pub const MAX_UNITS: usize = 20_000;
const MAX_CODE: usize = 64;
const MAX_NAME: usize = 200;

/// One row as typed (a file row, a form, a JSON body), before checking.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct UnitInput {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub name_zh: String,
    #[serde(default)]
    pub name_en: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub parent: String,
}

/// What an import changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    pub rows: usize,
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// A kind as a file may write it: the code or its Chinese name.
pub fn parse_kind(s: &str) -> Option<UnitKind> {
    let s = s.trim();
    UnitKind::ALL.into_iter().find(|k| {
        k.as_str() == s.to_lowercase()
            || k.label_zh() == s
            || k.label_en().eq_ignore_ascii_case(s)
            || (*k == UnitKind::InternalDivision && (s == "处室" || s == "内设机构/处室"))
    })
}

fn kinds_list() -> String {
    UnitKind::ALL
        .iter()
        .map(|k| format!("{} ({})", k.as_str(), k.label_zh()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A valid unit code: letters, digits, `-`, `_`, `.` (it appears in page addresses).
pub fn valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= MAX_CODE
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Checks one row on its own; `row` is the file row (None for a form).
fn check_row(input: &UnitInput, row: Option<u64>) -> Result<UnitUpsert, Vec<FieldError>> {
    let mut errors = Vec::new();
    let at = |e: FieldError| match row {
        Some(r) => e.at(r),
        None => e,
    };
    let code = input.code.trim();
    if code.is_empty() {
        errors.push(at(FieldError::new(
            "code",
            code,
            "the unit code is empty",
            "单位代码为空",
        )));
    } else if !valid_code(code) {
        errors.push(at(FieldError::new(
            "code",
            code,
            format!("a unit code is 1–{MAX_CODE} letters, digits, '-', '_' or '.'"),
            format!("单位代码应为 1–{MAX_CODE} 位字母、数字或 - _ ."),
        )));
    }
    let name_zh = input.name_zh.trim();
    if name_zh.is_empty() {
        errors.push(at(FieldError::new(
            "name_zh",
            name_zh,
            "the Chinese name is empty",
            "中文名称为空",
        )));
    }
    for (field, v) in [("name_zh", name_zh), ("name_en", input.name_en.trim())] {
        if v.chars().count() > MAX_NAME {
            errors.push(at(FieldError::new(
                field,
                v,
                format!("a name has at most {MAX_NAME} characters"),
                format!("名称最多 {MAX_NAME} 个字符"),
            )));
        }
    }
    let kind = parse_kind(&input.kind);
    if kind.is_none() {
        errors.push(at(FieldError::new(
            "kind",
            input.kind.trim(),
            format!("unknown kind; use one of {}", kinds_list()),
            format!("单位类型无效；可用：{}", kinds_list()),
        )));
    }
    let parent = input.parent.trim();
    if parent == code && !code.is_empty() {
        errors.push(at(FieldError::new(
            "parent",
            parent,
            "a unit cannot be its own parent",
            "单位不能以自身为上级",
        )));
    }
    match kind {
        Some(kind) if errors.is_empty() => Ok(UnitUpsert {
            code: code.to_owned(),
            name_zh: name_zh.to_owned(),
            name_en: match input.name_en.trim() {
                "" => name_zh.to_owned(),
                en => en.to_owned(),
            },
            kind,
            parent_code: (!parent.is_empty()).then(|| parent.to_owned()),
        }),
        _ => Err(errors),
    }
}

/// Checks rows against each other and the stored register; returns them parents first.
fn check_rows(
    inputs: &[(Option<u64>, UnitInput)],
    existing: &[RegisterUnit],
) -> SetupResult<Vec<UnitUpsert>> {
    let mut errors = Vec::new();
    let mut checked: Vec<(Option<u64>, UnitUpsert)> = Vec::new();
    let mut seen: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for (row, input) in inputs {
        match check_row(input, *row) {
            Ok(u) => {
                if let Some(first) = seen.get(&u.code) {
                    let e = FieldError::new(
                        "code",
                        &u.code,
                        format!(
                            "duplicate code: already on row {}",
                            first.map_or("?".into(), |r| r.to_string())
                        ),
                        format!(
                            "单位代码重复：第 {} 行已有",
                            first.map_or("?".into(), |r| r.to_string())
                        ),
                    );
                    errors.push(match row {
                        Some(r) => e.at(*r),
                        None => e,
                    });
                } else {
                    seen.insert(u.code.clone(), *row);
                    checked.push((*row, u));
                }
            }
            Err(mut es) => errors.append(&mut es),
        }
    }
    // parents: the register as it will be, file rows over stored ones
    let mut parent_of: BTreeMap<&str, Option<&str>> = existing
        .iter()
        .map(|u| (u.code.as_str(), u.parent_code.as_deref()))
        .collect();
    for (_, u) in &checked {
        parent_of.insert(u.code.as_str(), u.parent_code.as_deref());
    }
    for (row, u) in &checked {
        let Some(parent) = u.parent_code.as_deref() else {
            continue;
        };
        let at = |e: FieldError| match row {
            Some(r) => e.at(*r),
            None => e,
        };
        if !parent_of.contains_key(parent) {
            errors.push(at(FieldError::new(
                "parent",
                parent,
                "unknown parent: no unit with this code in the file or the register",
                "上级单位不存在：文件和单位名录中都没有该代码",
            )));
            continue;
        }
        // follow the parents; coming back to this unit is a cycle
        let mut chain = vec![u.code.as_str()];
        let mut cur = Some(parent);
        while let Some(c) = cur {
            if c == u.code {
                chain.push(c);
                errors.push(at(FieldError::new(
                    "parent",
                    parent,
                    format!("the parents form a cycle: {}", chain.join(" → ")),
                    format!("上级关系形成循环：{}", chain.join(" → ")),
                )));
                break;
            }
            if chain.contains(&c) || chain.len() > parent_of.len() {
                break; // a cycle elsewhere, reported on its own rows
            }
            chain.push(c);
            cur = parent_of.get(c).copied().flatten();
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.row);
        return Err(SetupError::Invalid(errors));
    }
    // parents first: repeatedly take the rows whose parent is not waiting in the file
    let mut pending: Vec<UnitUpsert> = checked.into_iter().map(|(_, u)| u).collect();
    let mut ordered = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let waiting: BTreeSet<String> = pending.iter().map(|u| u.code.clone()).collect();
        let (ready, rest): (Vec<UnitUpsert>, Vec<UnitUpsert>) = pending
            .into_iter()
            .partition(|u| u.parent_code.as_ref().is_none_or(|p| !waiting.contains(p)));
        if ready.is_empty() {
            return Err(SetupError::conflict(
                "the parents of the file's units form a cycle",
                "文件中的上级关系形成循环",
            ));
        }
        ordered.extend(ready);
        pending = rest;
    }
    Ok(ordered)
}

fn summarise(units: &[UnitUpsert], existing: &[RegisterUnit]) -> ImportSummary {
    let mut s = ImportSummary {
        rows: units.len(),
        ..Default::default()
    };
    for u in units {
        match existing.iter().find(|e| e.code == u.code) {
            None => s.added += 1,
            Some(e)
                if e.name_zh == u.name_zh
                    && e.name_en == u.name_en
                    && e.kind == u.kind
                    && e.parent_code == u.parent_code =>
            {
                s.unchanged += 1
            }
            Some(_) => s.updated += 1,
        }
    }
    s
}

/// Rows of a register file as typed.
pub fn parse_register(bytes: &[u8]) -> SetupResult<Vec<(Option<u64>, UnitInput)>> {
    let table = read_table(bytes, MAX_UNITS)?;
    table.expect_columns(&REQUIRED_COLUMNS, &OPTIONAL_COLUMNS)?;
    let col = |n: &str| table.column(n);
    Ok(table
        .rows
        .iter()
        .map(|r| {
            (
                Some(r.row),
                UnitInput {
                    code: table.cell(r, col("code")).to_owned(),
                    name_zh: table.cell(r, col("name_zh")).to_owned(),
                    name_en: table.cell(r, col("name_en")).to_owned(),
                    kind: table.cell(r, col("kind")).to_owned(),
                    parent: table.cell(r, col("parent")).to_owned(),
                },
            )
        })
        .collect())
}

/// Imports (adds and updates) units from a CSV or XLSX file: all or nothing.
pub async fn import_register(
    store: &Store,
    bytes: &[u8],
    actor: &str,
) -> SetupResult<ImportSummary> {
    let inputs = parse_register(bytes)?;
    import_rows(store, &inputs, actor, "units.import").await
}

/// Imports (adds and updates) units given as rows (the demo, scripts): all or nothing.
pub async fn import_units(
    store: &Store,
    inputs: &[UnitInput],
    actor: &str,
) -> SetupResult<ImportSummary> {
    let rows: Vec<(Option<u64>, UnitInput)> = inputs
        .iter()
        .enumerate()
        .map(|(i, u)| (Some(i as u64 + 1), u.clone()))
        .collect();
    import_rows(store, &rows, actor, "units.import").await
}

async fn import_rows(
    store: &Store,
    inputs: &[(Option<u64>, UnitInput)],
    actor: &str,
    action: &str,
) -> SetupResult<ImportSummary> {
    let existing = store.unit_register().await?;
    let units = check_rows(inputs, &existing)?;
    let summary = summarise(&units, &existing);
    let codes: Vec<&str> = units.iter().map(|u| u.code.as_str()).take(50).collect();
    let audit = AuditRecord::new(actor, action, format!("units:{}", summary.rows)).detail(
        serde_json::json!({ "rows": summary.rows, "added": summary.added, "updated": summary.updated,
                            "unchanged": summary.unchanged, "codes": codes }),
    );
    store.apply_units(&units, &audit).await?;
    Ok(summary)
}

/// Adds one unit or changes one (found by its code).
pub async fn save_unit(store: &Store, input: &UnitInput, actor: &str) -> SetupResult<UnitUpsert> {
    let existing = store.unit_register().await?;
    let units = check_rows(&[(None, input.clone())], &existing)?;
    let audit = AuditRecord::new(actor, "units.edit", format!("unit:{}", input.code.trim()))
        .detail(serde_json::json!({ "unit": input }));
    store.apply_units(&units, &audit).await?;
    units
        .into_iter()
        .next()
        .ok_or_else(|| SetupError::NotFound(format!("unit {:?}", input.code)))
}

/// Retires a unit (kept with its history; it leaves new evaluations) or puts it back.
pub async fn set_retired(
    store: &Store,
    code: &str,
    retired: bool,
    reason: &str,
    actor: &str,
) -> SetupResult<RegisterUnit> {
    let unit = store.register_unit(code).await?;
    if retired == unit.retired_on.is_some() {
        return Err(SetupError::conflict(
            format!(
                "unit {code:?} is already {}",
                if retired { "retired" } else { "in use" }
            ),
            format!("单位“{code}”已经{}", if retired { "停用" } else { "在用" }),
        ));
    }
    let today = chrono::Utc::now().date_naive().to_string();
    let action = if retired {
        "units.retire"
    } else {
        "units.restore"
    };
    let audit = AuditRecord::new(actor, action, format!("unit:{code}")).reason(reason);
    store
        .set_unit_retired(code, retired.then_some(today.as_str()), &audit)
        .await?;
    Ok(store.register_unit(code).await?)
}

/// The register as a tree: (depth, unit), parents before their children, siblings by code.
pub fn tree(units: &[RegisterUnit]) -> Vec<(usize, &RegisterUnit)> {
    let codes: BTreeSet<&str> = units.iter().map(|u| u.code.as_str()).collect();
    let mut children: BTreeMap<Option<&str>, Vec<&RegisterUnit>> = BTreeMap::new();
    for u in units {
        // a parent missing from the list makes the unit a root here
        let parent = u.parent_code.as_deref().filter(|p| codes.contains(p));
        children.entry(parent).or_default().push(u);
    }
    let mut out = Vec::with_capacity(units.len());
    let mut stack: Vec<(usize, &RegisterUnit)> = children
        .get(&None)
        .map(|v| v.iter().rev().map(|u| (0, *u)).collect())
        .unwrap_or_default();
    while let Some((depth, u)) = stack.pop() {
        if out.len() > units.len() {
            break;
        }
        out.push((depth, u));
        if let Some(kids) = children.get(&Some(u.code.as_str())) {
            stack.extend(kids.iter().rev().map(|k| (depth + 1, *k)));
        }
    }
    out
}

/// The register as a CSV file in the import format (UTF-8 with BOM for Excel), parents
/// before their children, retired units included (an import leaves retirement as it is).
pub fn register_csv(units: &[RegisterUnit]) -> String {
    let mut out = String::from("\u{feff}code,name_zh,name_en,kind,parent\r\n");
    for (_, u) in tree(units) {
        let cells = [
            u.code.as_str(),
            &u.name_zh,
            &u.name_en,
            u.kind.as_str(),
            u.parent_code.as_deref().unwrap_or(""),
        ];
        crate::upload::report::push_csv_line(&mut out, &cells);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UnitId;

    fn input(code: &str, kind: &str, parent: &str) -> (Option<u64>, UnitInput) {
        (
            Some(0),
            UnitInput {
                code: code.into(),
                name_zh: format!("{code}局"),
                name_en: String::new(),
                kind: kind.into(),
                parent: parent.into(),
            },
        )
    }

    fn stored(code: &str, parent: Option<&str>) -> RegisterUnit {
        RegisterUnit {
            id: UnitId(1),
            code: code.into(),
            name_zh: code.into(),
            name_en: code.into(),
            kind: UnitKind::SubUnit,
            parent_code: parent.map(Into::into),
            retired_on: None,
        }
    }

    fn fields(e: SetupError) -> Vec<(String, String)> {
        e.field_errors()
            .iter()
            .map(|f| (f.field.clone(), f.value.clone()))
            .collect()
    }

    #[test]
    fn parents_come_first_and_kinds_read_in_chinese() {
        let rows = [
            input("child", "下属单位", "root"),
            input("root", "政府工作部门", ""),
        ];
        let out = check_rows(&rows, &[]).unwrap();
        assert_eq!(out[0].code, "root");
        assert_eq!(out[1].kind, UnitKind::SubUnit);
        assert_eq!(
            out[0].name_en, "root局",
            "English name defaults to the Chinese one"
        );
    }

    #[test]
    fn duplicates_unknown_parents_kinds_and_cycles_are_named() {
        let e = check_rows(
            &[input("a", "sub_unit", ""), input("a", "sub_unit", "")],
            &[],
        );
        assert_eq!(fields(e.unwrap_err()), [("code".into(), "a".into())]);
        let e = check_rows(&[input("a", "sub_unit", "nowhere")], &[]);
        assert_eq!(
            fields(e.unwrap_err()),
            [("parent".into(), "nowhere".into())]
        );
        let e = check_rows(&[input("a", "bureau", "")], &[]);
        assert_eq!(fields(e.unwrap_err()), [("kind".into(), "bureau".into())]);
        let e = check_rows(
            &[input("a", "sub_unit", "b"), input("b", "sub_unit", "a")],
            &[],
        );
        let f = e.unwrap_err();
        assert_eq!(f.field_errors().len(), 2);
        assert!(f.field_errors()[0].reason.contains("a → b → a"), "{f}");
        // a cycle through the stored register: b's stored parent is a
        let e = check_rows(
            &[input("a", "sub_unit", "b")],
            &[stored("b", Some("a")), stored("a", None)],
        );
        assert_eq!(fields(e.unwrap_err()), [("parent".into(), "b".into())]);
        let e = check_rows(&[input("a", "sub_unit", "a")], &[]);
        assert!(e.is_err());
    }

    #[test]
    fn tree_orders_depth_first() {
        let units = [
            stored("b", Some("a")),
            stored("a", None),
            stored("c", None),
            stored("d", Some("b")),
        ];
        let t: Vec<(usize, &str)> = tree(&units)
            .into_iter()
            .map(|(d, u)| (d, u.code.as_str()))
            .collect();
        assert_eq!(t, [(0, "a"), (1, "b"), (2, "d"), (0, "c")]);
    }
}
