//! Upload parsing + validation throughput: a generated 1,000,000-row, 30-column CSV
//! (8 fixed columns + 22 questions) read and validated by `pingyi::upload`, rows handed to a
//! sink in chunks of 5,000 that only counts them (the database insert is measured by the lead).
//!
//!   cargo bench --bench upload_parse                       # UTF-8 and GB18030, 1,000,000 rows
//!   cargo bench --bench upload_parse -- --rows 100000
//!   cargo bench --bench upload_parse -- --write /tmp/u.csv # only write the file
//!   cargo bench --bench upload_parse -- --file /tmp/u.csv  # only read it (for /usr/bin/time -v)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pingyi::upload::{validate_upload, UploadContext, UploadOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

const LIKERT: usize = 20;

fn questionnaire_toml() -> String {
    let mut s = String::from(
        "id = \"bench\"\nversion = 1\nrespondent_type = \"resident\"\nmin_duration_seconds = 90\n\
         title = { zh = \"基准\", en = \"Bench\" }\nintro = { zh = \"基准\", en = \"Bench\" }\n\
         [likert]\ndont_know = true\n\
         [[dimensions]]\ncode = \"attitude\"\nzh = \"服务态度\"\nen = \"Attitude\"\n",
    );
    for i in 1..=LIKERT {
        s.push_str(&format!(
            "[[questions]]\ncode = \"q{i}\"\nkind = \"likert5\"\ndimension = \"attitude\"\ntext = {{ zh = \"题{i}\", en = \"Item {i}\" }}\n"
        ));
    }
    s.push_str(
        "[[questions]]\ncode = \"visited\"\nkind = \"single\"\ntext = { zh = \"到过\", en = \"Visited\" }\n\
         choices = [{ code = \"1\", zh = \"是\", en = \"Yes\" }, { code = \"2\", zh = \"否\", en = \"No\" }]\n\
         [[questions]]\ncode = \"hall\"\nkind = \"likert5\"\ndimension = \"attitude\"\nshow_if = { question = \"visited\", in = [\"1\"] }\n\
         text = { zh = \"大厅\", en = \"Hall\" }\n",
    );
    s
}

const FIXED: [&str; 8] = [
    "unit",
    "respondent_type",
    "interview_date",
    "district",
    "gender",
    "age_group",
    "duration_seconds",
    "weight",
];
const DISTRICTS: [&str; 6] = ["东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区"];
const AGES: [&str; 5] = ["18-29", "30-39", "40-49", "50-59", "60+"];
const LABELS: [&str; 5] = ["很不满意", "不满意", "基本满意", "满意", "很满意"];

fn generate(rows: usize) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(20261128);
    let mut header: Vec<String> = FIXED.iter().map(|s| s.to_string()).collect();
    header.extend((1..=LIKERT).map(|i| format!("q{i}")));
    header.push("visited".into());
    header.push("hall".into());
    assert_eq!(header.len(), 30);
    let mut out = header.join(",");
    out.push_str("\r\n");
    for _ in 0..rows {
        let unit = rng.gen_range(1..=50);
        let day = rng.gen_range(1..=28);
        out.push_str(&format!(
            "U{unit:03},resident,2024-03-{day:02},{},{},{},{},{:.3}",
            DISTRICTS[rng.gen_range(0..DISTRICTS.len())],
            if rng.gen_bool(0.5) { "男" } else { "女" },
            AGES[rng.gen_range(0..AGES.len())],
            rng.gen_range(60..1800),
            rng.gen_range(0.5..2.0),
        ));
        for _ in 0..LIKERT {
            out.push(',');
            let r: f64 = rng.gen();
            let code = rng.gen_range(1..=5usize);
            if r < 0.05 {
                out.push_str("不了解");
            } else if r < 0.15 {
                out.push_str(LABELS[code - 1]);
            } else {
                out.push(char::from(b'0' + code as u8));
            }
        }
        if rng.gen_bool(0.6) {
            out.push_str(&format!(",1,{}\r\n", rng.gen_range(1..=5)));
        } else {
            out.push_str(",2,\r\n");
        }
    }
    out
}

fn run(name: &str, bytes: &[u8]) {
    let text = questionnaire_toml();
    let q = pingyi::questionnaire::parse("bench.toml", &text).expect("bench questionnaire");
    let ctx = UploadContext {
        units: (1..=50).map(|i| (format!("U{i:03}"), i as i64)).collect(),
        wave: None,
    };
    let opts = UploadOptions::default();
    let t = Instant::now();
    let mut delivered = 0usize;
    let report = validate_upload(bytes, &q, &ctx, &opts, |chunk| {
        delivered += chunk.len();
        Ok::<_, ()>(())
    })
    .expect("counting sink");
    let secs = t.elapsed().as_secs_f64();
    assert!(
        report.is_valid(),
        "{:?}",
        &report.errors[..report.errors.len().min(5)]
    );
    assert_eq!(delivered as u64, report.rows);
    println!(
        "{name}: {} rows, {:.1} MB in {secs:.2} s = {:.0} rows/s, {:.1} MB/s (flags: {:?})",
        report.rows,
        bytes.len() as f64 / 1e6,
        report.rows as f64 / secs,
        bytes.len() as f64 / 1e6 / secs,
        report.flags
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let rows: usize = arg("--rows")
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000_000);
    if let Some(path) = arg("--file") {
        let bytes = std::fs::read(&path).expect("read --file");
        run(&path, &bytes);
        return;
    }
    let t = Instant::now();
    let text = generate(rows);
    eprintln!(
        "generated {rows} rows in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    if let Some(path) = arg("--write") {
        std::fs::write(&path, &text).expect("write --write");
        return;
    }
    run("UTF-8 CSV", text.as_bytes());
    let (gb, _, _) = encoding_rs::GB18030.encode(&text);
    let gb = gb.into_owned();
    drop(text);
    run("GB18030 CSV", &gb);
}
