//! The rectification register (整改台账) as files: CSV (one row per finding, UTF-8 with BOM
//! so spreadsheet programs read the Chinese) and XLSX (the findings and, on a second sheet,
//! every step of their history).

use super::model::{Severity, Source};
use super::view::FindingView;
use crate::i18n::Lang;

/// Columns: machine key and Chinese heading.
pub const COLUMNS: [(&str, &str); 24] = [
    ("id", "编号"),
    ("unit", "被评估单位代码"),
    ("unit_name", "被评估单位"),
    ("responsible_unit", "责任单位"),
    ("source", "来源"),
    ("title", "整改事项"),
    ("description", "问题描述"),
    ("evidence", "依据"),
    ("severity", "严重程度"),
    ("state", "状态"),
    ("state_name", "状态名称"),
    ("deadline_days", "整改时限（工作日）"),
    ("calendar", "工作日日历"),
    ("assigned_on", "交办日期"),
    ("due_on", "整改期限"),
    ("due_provisional", "期限按暂定日历"),
    ("overdue", "是否逾期"),
    ("plan_measures", "整改措施"),
    ("plan_person", "责任人"),
    ("plan_end", "计划完成日期"),
    ("completion_on", "整改报告提交日期"),
    ("verified_on", "销号日期"),
    ("on_time", "按期完成"),
    ("files", "佐证材料数"),
];

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// One finding's cells, in [`COLUMNS`] order.
pub fn cells(v: &FindingView) -> Vec<String> {
    let r = &v.row;
    let state = v.state();
    vec![
        r.id.to_string(),
        r.unit_code.clone(),
        r.unit_name_zh.clone(),
        r.responsible_name_zh.clone(),
        r.source
            .parse::<Source>()
            .map(|s| s.label(Lang::Zh).to_owned())
            .unwrap_or_else(|_| r.source.clone()),
        r.title.clone(),
        r.description.clone(),
        r.evidence.clone(),
        r.severity
            .parse::<Severity>()
            .map(|s| s.label(Lang::Zh).to_owned())
            .unwrap_or_else(|_| r.severity.clone()),
        state.as_str().to_owned(),
        state.label(Lang::Zh).to_owned(),
        r.deadline_days.to_string(),
        r.calendar.clone().unwrap_or_default(),
        r.assigned_on.clone().unwrap_or_default(),
        r.due_on.clone().unwrap_or_default(),
        yes_no(r.due_provisional != 0).into(),
        yes_no(v.overdue).into(),
        r.plan_measures.clone(),
        r.plan_person.clone(),
        r.plan_end.clone().unwrap_or_default(),
        r.completion_on.clone().unwrap_or_default(),
        r.verified_on.clone().unwrap_or_default(),
        match v.on_time {
            Some(b) => yes_no(b).into(),
            None => String::new(),
        },
        v.files.len().to_string(),
    ]
}

/// Findings in the register: assigned and after (proposals and dropped ones are not).
fn in_register(views: &[FindingView]) -> impl Iterator<Item = &FindingView> {
    views.iter().filter(|v| v.state().in_register())
}

/// The register as CSV text (BOM, header of machine keys).
pub fn csv(views: &[FindingView]) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS.iter().map(|(k, _)| *k))?;
    for v in in_register(views) {
        w.write_record(cells(v))?;
    }
    let mut out = b"\xEF\xBB\xBF".to_vec();
    out.extend(w.into_inner()?);
    Ok(out)
}

/// The register as an XLSX workbook: sheet 整改台账 (Chinese headings, the keys in a second
/// header row) and sheet 处理记录 (every step: who, when, what, comment).
pub fn xlsx(views: &[FindingView], title: &str) -> anyhow::Result<Vec<u8>> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let ws = wb.add_worksheet();
    ws.set_name("整改台账")?;
    ws.write_string_with_format(0, 0, title, &bold)?;
    for (c, (key, zh)) in COLUMNS.iter().enumerate() {
        ws.write_string_with_format(1, c as u16, *zh, &bold)?;
        ws.write_string(2, c as u16, *key)?;
    }
    for (i, v) in in_register(views).enumerate() {
        let row = i as u32 + 3;
        for (c, cell) in cells(v).into_iter().enumerate() {
            let numeric = matches!(COLUMNS[c].0, "id" | "deadline_days" | "files");
            match cell.parse::<f64>() {
                Ok(x) if numeric => ws.write_number(row, c as u16, x)?,
                _ => ws.write_string(row, c as u16, &cell)?,
            };
        }
    }
    ws.set_freeze_panes(3, 0)?;
    let hs = wb.add_worksheet();
    hs.set_name("处理记录")?;
    let heads = [
        ("finding", "编号"),
        ("at", "时间"),
        ("actor", "操作人"),
        ("role", "角色"),
        ("action", "操作"),
        ("from_state", "原状态"),
        ("to_state", "新状态"),
        ("comment", "意见"),
    ];
    for (c, (key, zh)) in heads.iter().enumerate() {
        hs.write_string_with_format(0, c as u16, *zh, &bold)?;
        hs.write_string(1, c as u16, *key)?;
    }
    let mut row = 2u32;
    for v in in_register(views) {
        for e in &v.history {
            hs.write_number(row, 0, e.finding_id.get() as f64)?;
            hs.write_string(row, 1, &e.at)?;
            hs.write_string(row, 2, &e.actor)?;
            hs.write_string(row, 3, &e.actor_role)?;
            hs.write_string(row, 4, &e.action)?;
            hs.write_string(row, 5, e.from_state.as_deref().unwrap_or(""))?;
            hs.write_string(row, 6, &e.to_state)?;
            hs.write_string(row, 7, &e.comment)?;
            row += 1;
        }
    }
    Ok(wb.save_to_buffer()?)
}
