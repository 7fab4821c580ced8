//! Shared steps of the set-up tests: an office's unit register, API calls with a key, signed-in
//! page posts with the CSRF token, and the `pingyi` binary.

use crate::helpers::TestApp;

/// A small register: two departments, a sub-unit and an internal division (three levels).
pub const REGISTER: &str = "code,name_zh,name_en,kind,parent\n\
    gaj,市公安局,Public Security Bureau,government_department,\n\
    jyj,市教育局,Education Bureau,政府工作部门,\n\
    jyj-ksy,市教育考试院,Examinations Authority,sub_unit,jyj\n\
    jyj-ksy-bgs,考试院办公室,Office,internal_division,jyj-ksy\n";

/// An API key of a new evaluator (the helper's `robot`).
pub async fn key(app: &TestApp) -> String {
    crate::helpers::evaluator_key(app).await
}

pub async fn send(
    app: &TestApp,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut rb = app.client.request(method, app.url(path)).bearer_auth(key);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// POSTs or PUTs a file body (CSV/XLSX) with a key.
pub async fn send_file(
    app: &TestApp,
    key: &str,
    method: reqwest::Method,
    path: &str,
    bytes: Vec<u8>,
) -> (u16, serde_json::Value) {
    let r = app
        .client
        .request(method, app.url(path))
        .bearer_auth(key)
        .header("content-type", "text/csv")
        .body(bytes)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// (row, field, value) of every error in a 422 body.
pub fn problems(body: &serde_json::Value) -> Vec<(Option<u64>, String, String)> {
    body["error"]["details"]["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no error details in {body}"))
        .iter()
        .map(|e| {
            (
                e["row"].as_u64(),
                e["field"].as_str().unwrap_or_default().to_owned(),
                e["value"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The CSRF token of a signed-in page.
pub async fn csrf(c: &reqwest::Client, app: &TestApp, page: &str) -> String {
    let html = c
        .get(app.url(page))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("body");
    crate::survey::hidden(&html, "_csrf")
}

/// Posts a form of a signed-in page (its CSRF token added); returns status and body.
pub async fn post_form(
    c: &reqwest::Client,
    app: &TestApp,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let token = csrf(c, app, page).await;
    let mut body: Vec<(&str, &str)> = vec![("_csrf", token.as_str())];
    body.extend_from_slice(fields);
    let r = c
        .post(app.url(action))
        .form(&body)
        .send()
        .await
        .expect("post");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// Posts a multipart form with one file.
pub async fn post_file(
    c: &reqwest::Client,
    app: &TestApp,
    page: &str,
    action: &str,
    name: &str,
    bytes: Vec<u8>,
) -> (u16, String) {
    let token = csrf(c, app, page).await;
    let form = reqwest::multipart::Form::new().text("_csrf", token).part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
    );
    let r = c
        .post(app.url(action))
        .multipart(form)
        .send()
        .await
        .expect("post");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// An XLSX workbook with these rows on its first sheet.
pub fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            match cell.parse::<f64>() {
                Ok(n) if !cell.is_empty() && r > 0 => {
                    sheet.write_number(r as u32, c as u16, n).map(|_| ())
                }
                _ => sheet.write_string(r as u32, c as u16, *cell).map(|_| ()),
            }
            .expect("cell");
        }
    }
    book.save_to_buffer().expect("xlsx")
}

/// Runs the `pingyi` binary: (exit ok, stdout, stderr).
pub fn pingyi(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pingyi"))
        .args(args)
        .output()
        .expect("run pingyi");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
