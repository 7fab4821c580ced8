//! Recorded sample draws: drawing from an uploaded frame of people (or units) and recording
//! the draw, so anyone can re-run it from the published seed and frame.
//!
//! The sampler (`pingyi_analysis::sampling::draw`) reads UTF-8, comma-separated CSV and its
//! record hashes those bytes. Frames arrive as firms' files do (CSV in UTF-8, GB18030 or
//! UTF-16, any delimiter, or XLSX; read with `crate::upload`). A UTF-8 comma CSV is drawn
//! from as it is, so `frame_sha256` is the hash of the uploaded file; anything else is first
//! converted to a UTF-8 CSV by [`frame_csv`] (what `pingyi invite frame-csv` prints), and
//! `frame_sha256` is the hash of that conversion (the upload's own hash is kept too).

use std::ops::ControlFlow;

use pingyi_analysis::sampling::{draw, Draw, DrawOptions};

use crate::store::{DrawStratum, DrawnRow, NewDraw, Store};
use crate::upload::decode::{detect, FileKind, TextEncoding};
use crate::upload::text::{sniff_delimiter, CsvParser, Record};

/// The frame as the sampler reads it.
#[derive(Debug, Clone)]
pub struct Frame {
    /// UTF-8, comma-separated CSV.
    pub csv: Vec<u8>,
    /// SHA-256 of the file as uploaded.
    pub upload_sha256: String,
    /// How the upload was read, e.g. "CSV UTF-8", "CSV GB18030 (;)", "XLSX".
    pub upload_format: String,
}

impl Frame {
    /// True when the sampler reads the uploaded bytes unchanged.
    pub fn is_verbatim(&self) -> bool {
        self.upload_format == VERBATIM
    }
}

const VERBATIM: &str = "CSV UTF-8";

/// Reads an uploaded frame (see the module docs). Errors say what to fix.
pub fn frame_csv(bytes: &[u8]) -> anyhow::Result<Frame> {
    use sha2::{Digest, Sha256};
    let upload_sha256 = hex::encode(Sha256::digest(bytes));
    let kind = detect(bytes).map_err(|p| anyhow::anyhow!("{} / {}", p.zh(), p.en()))?;
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let mut write_err: Option<anyhow::Error> = None;
    let mut width: Option<usize> = None;
    let mut on_record = |rec: &Record| -> ControlFlow<()> {
        if rec.is_blank() {
            return ControlFlow::Continue(());
        }
        let w = *width.get_or_insert(rec.len());
        // Excel leaves trailing empty cells out; pad or trim to the header's width.
        let mut cells: Vec<&str> = rec.cells().collect();
        if cells.len() > w && cells[w..].iter().all(|c| c.is_empty()) {
            cells.truncate(w);
        }
        while cells.len() < w {
            cells.push("");
        }
        if cells.len() != w {
            write_err = Some(anyhow::anyhow!(
                "第 {} 行有 {} 列，表头有 {w} 列 / row {} has {} cells but the header has {w}",
                rec.row,
                cells.len(),
                rec.row,
                cells.len()
            ));
            return ControlFlow::Break(());
        }
        if let Err(e) = out.write_record(&cells) {
            write_err = Some(e.into());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    };
    let format = match kind {
        FileKind::Xlsx => {
            crate::upload::xlsx::for_each_row(bytes, &mut on_record).map_err(|m| {
                anyhow::anyhow!("无法读取 Excel 工作簿 / cannot read the workbook: {m}")
            })?;
            "XLSX".to_owned()
        }
        FileKind::Text(enc) => {
            let prefix = crate::upload::decode::text_prefix(bytes, enc, 64 * 1024);
            let delim = sniff_delimiter(&prefix);
            if delim == b',' && matches!(enc, TextEncoding::Utf8 | TextEncoding::Utf8Bom) {
                return Ok(Frame {
                    csv: bytes.to_vec(),
                    upload_sha256,
                    upload_format: VERBATIM.to_owned(),
                });
            }
            let mut parser = CsvParser::new(bytes, enc, delim);
            let mut rec = Record::default();
            loop {
                match parser.next_record(&mut rec) {
                    Ok(false) => break,
                    Ok(true) => {
                        if on_record(&rec).is_break() {
                            break;
                        }
                    }
                    Err(e) => {
                        anyhow::bail!(
                            "第 {} 行无法读取 / row {} cannot be read: {:?}",
                            e.row,
                            e.row,
                            e.problem
                        )
                    }
                }
            }
            let d = if delim == b',' {
                String::new()
            } else {
                format!(" ({})", delim as char)
            };
            format!("CSV {}{d}", enc.name())
        }
    };
    if let Some(e) = write_err {
        return Err(e);
    }
    let csv = out
        .into_inner()
        .map_err(|e| anyhow::anyhow!("cannot write the converted frame: {e}"))?;
    Ok(Frame {
        csv,
        upload_sha256,
        upload_format: format,
    })
}

/// The drawn rows, read back from the sampler's output CSV.
pub fn drawn_rows(d: &Draw, options: &DrawOptions) -> anyhow::Result<Vec<DrawnRow>> {
    let mut rdr = csv::ReaderBuilder::new().from_reader(d.output.as_slice());
    let headers = rdr.headers()?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let find = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
    };
    let id = col(&options.id_column)
        .ok_or_else(|| anyhow::anyhow!("the id column {:?} is missing", options.id_column))?;
    let strata = options.strata_column.as_deref().and_then(col);
    let pi = col("inclusion_probability")
        .ok_or_else(|| anyhow::anyhow!("sampler output lacks inclusion_probability"))?;
    let w = col("design_weight")
        .ok_or_else(|| anyhow::anyhow!("sampler output lacks design_weight"))?;
    let email = find(&["email", "e-mail", "邮箱", "电子邮箱"]);
    let unit = find(&["unit", "单位代码"]);
    let mut rows = Vec::with_capacity(d.sample_size as usize);
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec?;
        let get = |c: usize| rec.get(c).unwrap_or("").to_owned();
        let opt = |c: Option<usize>| c.map(get).filter(|s| !s.trim().is_empty());
        rows.push(DrawnRow {
            ord: i as i64 + 1,
            person_id: get(id),
            stratum: strata.map(get).unwrap_or_default(),
            inclusion_probability: get(pi).parse()?,
            design_weight: get(w).parse()?,
            email: opt(email),
            unit_code: opt(unit),
        });
    }
    Ok(rows)
}

/// What an evaluator asks for.
#[derive(Debug, Clone)]
pub struct DrawRequest {
    pub evaluation_id: i64,
    pub unit_id: Option<i64>,
    pub respondent_type: Option<String>,
    pub title: String,
    pub options: DrawOptions,
    pub seed: String,
    pub actor: String,
}

/// Reads the frame, draws (on the blocking pool) and records the draw. Returns its id.
pub async fn draw_and_record(
    store: &Store,
    req: &DrawRequest,
    upload: Vec<u8>,
) -> anyhow::Result<i64> {
    store.get_evaluation(req.evaluation_id).await?;
    if let Some(u) = req.unit_id {
        store.get_unit(u).await?;
    }
    let options = req.options.clone();
    let seed = req.seed.clone();
    let (frame, d, rows) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let frame = frame_csv(&upload)?;
        let d = draw(&frame.csv, &options, &seed)?;
        let rows = drawn_rows(&d, &options)?;
        Ok((frame, d, rows))
    })
    .await??;
    let new = NewDraw {
        evaluation_id: req.evaluation_id,
        unit_id: req.unit_id,
        respondent_type: req.respondent_type.clone(),
        title: req.title.clone(),
        upload_sha256: frame.upload_sha256,
        upload_format: frame.upload_format,
        frame_sha256: d.frame_sha256.clone(),
        options: d.options.clone(),
        seed: d.seed.clone(),
        result_sha256: d.result_sha256.clone(),
        population: d.population as i64,
        n_drawn: d.sample_size as i64,
        equal_probability: req.options.pps_size_column.is_none(),
        strata: d
            .strata
            .iter()
            .map(|s| DrawStratum {
                stratum: s.key.clone(),
                population: s.population as i64,
                sample: s.sample as i64,
                certainty: s.certainty as i64,
            })
            .collect(),
        rows,
        actor: req.actor.clone(),
    };
    Ok(store.record_draw(&new).await?)
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The `pingyi sample …` command that re-runs a recorded draw from its canonical options
/// (see `DrawOptions::canonical`) and seed, reading the frame from `frame_file`.
pub fn sample_command(options: &str, seed: &str, frame_file: &str) -> String {
    let mut kv: Vec<(&str, String)> = Vec::new();
    for line in options.lines() {
        if let Some((k, v)) = line.split_once('=') {
            let v = v
                .replace("\\n", "\n")
                .replace("\\r", "\r")
                .replace("\\\\", "\\");
            kv.push((k, v));
        }
    }
    let get = |k: &str| {
        kv.iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let mut cmd = format!("pingyi sample --frame {}", shell_quote(frame_file));
    let mut flag = |name: &str, key: &str| {
        if let Some(v) = get(key) {
            cmd.push_str(&format!(" --{name} {}", shell_quote(v)));
        }
    };
    flag("id", "id");
    flag("strata", "strata");
    flag("size", "size");
    flag("fraction", "fraction");
    flag("allocation", "allocation");
    flag("sd", "sd");
    if get("min_per_stratum").is_some_and(|v| v != "0") {
        flag("min-per-stratum", "min_per_stratum");
    }
    flag("pps-size", "pps_size");
    cmd.push_str(&format!(" --seed {}", shell_quote(seed)));
    cmd.push_str(" --output sample.csv");
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingyi_analysis::sampling::{Allocation, SizeSpec};

    fn opts() -> DrawOptions {
        DrawOptions {
            id_column: "id".into(),
            strata_column: Some("unit".into()),
            size: Some(SizeSpec::Total(3)),
            allocation: Allocation::Proportional,
            sd_column: None,
            min_per_stratum: 1,
            pps_size_column: None,
        }
    }

    const FRAME: &str =
        "id,unit,email\np1,U1,a@x.cn\np2,U1,\np3,U1,c@x.cn\np4,U2,d@x.cn\np5,U2,\np6,U2,\n";

    #[test]
    fn utf8_comma_csv_is_drawn_verbatim() {
        let f = frame_csv(FRAME.as_bytes()).unwrap();
        assert!(f.is_verbatim());
        assert_eq!(f.csv, FRAME.as_bytes());
    }

    #[test]
    fn gb18030_semicolon_frame_converts_to_the_same_draw() {
        let text = "编号;单位;email\n甲1;U1;a@x.cn\n甲2;U1;\n";
        let (gb, _, _) = encoding_rs::GB18030.encode(text);
        let f = frame_csv(&gb).unwrap();
        assert!(!f.is_verbatim());
        assert_eq!(
            String::from_utf8(f.csv).unwrap(),
            "编号,单位,email\n甲1,U1,a@x.cn\n甲2,U1,\n"
        );
        assert!(f.upload_format.contains("GB18030"), "{}", f.upload_format);
    }

    #[test]
    fn drawn_rows_carry_email_unit_and_weights() {
        let o = opts();
        let d = draw(FRAME.as_bytes(), &o, "2026").unwrap();
        let rows = drawn_rows(&d, &o).unwrap();
        assert_eq!(rows.len() as u64, d.sample_size);
        // Design weights of the sample add up to the population (6 rows).
        let w_sum: f64 = rows.iter().map(|r| r.design_weight).sum();
        assert!((w_sum - 6.0).abs() < 1e-9, "{w_sum}");
        for r in &rows {
            assert_eq!(r.unit_code.as_deref(), Some(r.stratum.as_str()));
            assert!((r.design_weight * r.inclusion_probability - 1.0).abs() < 1e-12);
        }
        let with_mail = FRAME
            .lines()
            .filter(|l| {
                rows.iter()
                    .any(|r| l.starts_with(&format!("{},", r.person_id)))
            })
            .filter(|l| l.contains('@'))
            .count();
        assert_eq!(rows.iter().filter(|r| r.email.is_some()).count(), with_mail);
    }

    #[test]
    fn command_rebuilds_the_options() {
        let o = opts();
        let c = sample_command(&o.canonical(), "seed with space", "frame.csv");
        assert_eq!(
            c,
            "pingyi sample --frame frame.csv --id id --strata unit --size 3 --allocation proportional \
             --min-per-stratum 1 --seed 'seed with space' --output sample.csv"
        );
    }
}
