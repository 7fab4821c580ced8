//! The draw: stratified simple random sampling without replacement, or
//! systematic PPS, from a CSV frame; byte-identical output for the same frame,
//! options and seed on any machine.
//!
//! # Specification (algorithm `pingyi-sample/1`)
//!
//! **Frame.** UTF-8 CSV (a leading UTF-8 BOM is skipped), comma-separated,
//! `"`-quoted, first record is the header, every record has the header's field
//! count. All fields are text and kept verbatim. Rows are numbered from 1 =
//! the first record after the header. The id column must be non-empty and
//! unique; the strata column (if any) non-empty.
//!
//! **Strata.** Keyed by the strata column's text, ordered by byte-wise
//! (= Unicode code point) comparison; without `--strata`, one stratum with key
//! `""`. The members of a stratum are listed in frame order
//! `m_0, …, m_{N_h−1}`. Sizes `n_h` come from [`allocate`](super::allocate).
//!
//! **Random numbers.** See [`rng`](super::rng): stratum `h` uses its own
//! ChaCha20 stream keyed by `SHA-256(SHA-256(seed) ‖ key_h)`; `U(k)` is the
//! rejection-sampled integer in `0..k`, `V` the real in (0, 1].
//!
//! **SRS** (no `--pps-size`): partial Fisher–Yates on the member list: for
//! `i = 0 … n_h−1`: `j = i + U(N_h − i)`, swap `m_i` and `m_j`. The sample is
//! `{m_0, …, m_{n_h−1}}`. `π = n_h / N_h`, weight `N_h / n_h` (each computed
//! as one f64 division).
//!
//! **Systematic PPS** (`--pps-size COL`, values > 0): certainty units first:
//! repeat { `T` = sum of sizes of non-certainty members (frame order);
//! every member with `n' · x_i ≥ T` becomes certain (π = 1); `n'` −= their
//! number } until none is added, where `n'` starts at `n_h`. If `n' > 0`,
//! the others get `π_i = n' x_i / T`; cumulate them in frame order
//! `C_0 = 0, C_i = C_{i−1} + π_i`, and set the last `C` to exactly `n'`;
//! draw one `V`; member `i` is selected iff `g(C_i) > g(C_{i−1})` with
//! `g(c) = ⌊c − V + 1⌋` (points `V, V+1, …, V+n'−1` falling in `(C_{i−1}, C_i]`).
//! Weight `1 / π`. Frame order is the systematic order: sorting the frame by
//! a characteristic gives implicit stratification.
//!
//! **Output.** The header plus `stratum_population`, `stratum_sample`,
//! `inclusion_probability`, `design_weight`; then the selected rows **in frame
//! order**, fields re-written by the `csv` crate (quoted only when needed,
//! `\n` line ends). Integers and floats use Rust's `Display` (shortest text
//! that reads back to the same f64; never an exponent).
//!
//! **Record.** `frame_sha256` = SHA-256 of the frame bytes as given,
//! `options` = the canonical options text ([`DrawOptions::canonical`]),
//! the seed, `result_sha256` = SHA-256 of the output bytes.
//!
//! `analysis/tests/sampling_golden/rederive.py` re-derives an SRS draw from
//! this text alone (Python + a stock ChaCha20); a test checks it agrees.

use std::collections::BTreeMap;

use csv::{ByteRecord, ReaderBuilder, Terminator, WriterBuilder};
use sha2::{Digest, Sha256};

use super::allocate::{allocate, Allocation, SizeSpec, StratumInput};
use super::error::{Result, SamplingError};
use super::rng::{stratum_rng, uniform_below, uniform_open_closed};

/// Version tag of the algorithm above; part of the canonical options.
pub const ALGORITHM: &str = "pingyi-sample/1";

/// Columns the output adds.
pub const ADDED_COLUMNS: [&str; 4] = [
    "stratum_population",
    "stratum_sample",
    "inclusion_probability",
    "design_weight",
];

#[derive(Debug, Clone, PartialEq)]
pub struct DrawOptions {
    pub id_column: String,
    pub strata_column: Option<String>,
    /// `None` only with the thirty-percent preset.
    pub size: Option<SizeSpec>,
    pub allocation: Allocation,
    /// Column holding each stratum's standard deviation (Neyman); the value
    /// must be the same on every row of a stratum.
    pub sd_column: Option<String>,
    pub min_per_stratum: u64,
    pub pps_size_column: Option<String>,
}

impl DrawOptions {
    /// One `key=value` per line in this fixed order, `\n`-separated, no
    /// trailing newline; in values `\` → `\\`, newline → `\n`, CR → `\r`;
    /// absent options are empty. Publishing this text with the seed and frame
    /// hash is enough to re-run the draw.
    pub fn canonical(&self) -> String {
        let opt = |v: &Option<String>| v.as_deref().map(escape).unwrap_or_default();
        let (size, fraction) = match self.size {
            Some(SizeSpec::Total(n)) => (n.to_string(), String::new()),
            Some(SizeSpec::Fraction(f)) => (String::new(), f.to_string()),
            None => (String::new(), String::new()),
        };
        [
            format!("algorithm={ALGORITHM}"),
            format!("id={}", escape(&self.id_column)),
            format!("strata={}", opt(&self.strata_column)),
            format!("size={size}"),
            format!("fraction={fraction}"),
            format!("allocation={}", self.allocation.name()),
            format!("sd={}", opt(&self.sd_column)),
            format!("min_per_stratum={}", self.min_per_stratum),
            format!("pps_size={}", opt(&self.pps_size_column)),
        ]
        .join("\n")
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

#[derive(Debug, Clone, PartialEq)]
pub struct StratumSummary {
    pub key: String,
    pub population: u64,
    pub sample: u64,
    /// Units taken with certainty (PPS only).
    pub certainty: u64,
}

/// A finished draw and the record that lets anyone re-run it.
#[derive(Debug, Clone, PartialEq)]
pub struct Draw {
    /// The output CSV.
    pub output: Vec<u8>,
    /// In key order.
    pub strata: Vec<StratumSummary>,
    pub population: u64,
    pub sample_size: u64,
    pub frame_sha256: String,
    pub options: String,
    pub seed: String,
    pub result_sha256: String,
}

/// Column positions in the header.
struct Columns {
    id: usize,
    strata: Option<usize>,
    sd: Option<usize>,
    pps: Option<usize>,
}

/// What the first pass keeps: small per-row arrays, not the rows.
struct Parsed {
    headers: ByteRecord,
    rows: usize,
    /// Stratum index (into `keys`, key order) per row.
    stratum_of_row: Vec<u32>,
    keys: Vec<String>,
    sd: Vec<Option<f64>>,
    pps: Option<Vec<f64>>,
}

/// Draws a sample from `frame` (the CSV bytes). See the module docs.
pub fn draw(frame: &[u8], options: &DrawOptions, seed: &str) -> Result<Draw> {
    validate_options(options)?;
    let frame_sha256 = hex::encode(Sha256::digest(frame));
    let body = frame.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(frame);
    if let Err(e) = std::str::from_utf8(body) {
        let line = body[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        return Err(SamplingError::Frame(format!(
            "not valid UTF-8 at line {line} (byte {}); convert the file to UTF-8 first",
            e.valid_up_to()
        )));
    }
    let parsed = parse(body, options)?;

    let inputs: Vec<StratumInput> = parsed
        .keys
        .iter()
        .enumerate()
        .map(|(h, key)| StratumInput {
            key: key.clone(),
            population: 0,
            sd: parsed.sd[h],
        })
        .collect();
    let mut inputs = inputs;
    for &s in &parsed.stratum_of_row {
        inputs[s as usize].population += 1;
    }
    let alloc = allocate(
        &inputs,
        options.size,
        options.allocation,
        options.min_per_stratum,
    )?;

    // Members of each stratum in frame order (counting sort).
    let h_count = parsed.keys.len();
    let mut start = vec![0usize; h_count + 1];
    for &s in &parsed.stratum_of_row {
        start[s as usize + 1] += 1;
    }
    for h in 0..h_count {
        start[h + 1] += start[h];
    }
    let mut fill = start.clone();
    let mut members = vec![0u32; parsed.rows];
    for (row, &s) in parsed.stratum_of_row.iter().enumerate() {
        members[fill[s as usize]] = row as u32;
        fill[s as usize] += 1;
    }
    drop(fill);

    // (row, π) for every selected row.
    let mut selected: Vec<(u32, f64)> = Vec::new();
    let mut strata = Vec::with_capacity(h_count);
    for h in 0..h_count {
        let key = &parsed.keys[h];
        let mem = &mut members[start[h]..start[h + 1]];
        let n_h = alloc[h];
        let mut rng = stratum_rng(seed, key);
        let mut certainty = 0;
        match &parsed.pps {
            None => {
                let big_n = mem.len() as u64;
                for i in 0..n_h as usize {
                    let j = i + uniform_below(&mut rng, big_n - i as u64) as usize;
                    mem.swap(i, j);
                }
                let pi = n_h as f64 / big_n as f64;
                selected.extend(mem[..n_h as usize].iter().map(|&r| (r, pi)));
            }
            Some(sizes) => {
                let xs: Vec<f64> = mem.iter().map(|&r| sizes[r as usize]).collect();
                let pis = pps_probabilities(&xs, n_h);
                certainty = pis.iter().filter(|&&p| p >= 1.0).count() as u64;
                for i in systematic_pps(&pis, &mut rng) {
                    selected.push((mem[i], pis[i]));
                }
            }
        }
        strata.push(StratumSummary {
            key: key.clone(),
            population: (start[h + 1] - start[h]) as u64,
            sample: n_h,
            certainty,
        });
    }
    drop(members);
    selected.sort_unstable_by_key(|&(r, _)| r);

    let output = write_output(body, &parsed, &selected, &strata)?;
    let result_sha256 = hex::encode(Sha256::digest(&output));
    Ok(Draw {
        output,
        population: parsed.rows as u64,
        sample_size: strata.iter().map(|s| s.sample).sum(),
        strata,
        frame_sha256,
        options: options.canonical(),
        seed: seed.to_owned(),
        result_sha256,
    })
}

fn validate_options(o: &DrawOptions) -> Result<()> {
    if o.allocation == Allocation::Neyman && o.sd_column.is_none() {
        return Err(SamplingError::Option {
            option: "--allocation neyman",
            reason: "needs --sd COL, the column with each stratum's standard deviation".into(),
        });
    }
    if o.allocation != Allocation::Neyman && o.sd_column.is_some() {
        return Err(SamplingError::Option {
            option: "--sd",
            reason: "is used only by --allocation neyman".into(),
        });
    }
    Ok(())
}

fn column(headers: &ByteRecord, name: &str) -> Result<usize> {
    let mut found = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| *h == name.as_bytes());
    match (found.next(), found.next()) {
        (Some((i, _)), None) => Ok(i),
        (Some(_), Some(_)) => Err(SamplingError::AmbiguousColumn {
            column: name.to_owned(),
        }),
        (None, _) => Err(SamplingError::MissingColumn {
            column: name.to_owned(),
            available: headers
                .iter()
                .map(|h| format!("'{}'", String::from_utf8_lossy(h)))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn reader(body: &[u8]) -> csv::Reader<&[u8]> {
    ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(body)
}

fn csv_error(e: csv::Error) -> SamplingError {
    let at = e
        .position()
        .map(|p| format!(" (line {})", p.line()))
        .unwrap_or_default();
    SamplingError::Frame(format!("unreadable CSV{at}: {e}"))
}

fn number(field: &[u8], column: &str, row: u64) -> Result<f64> {
    let text = std::str::from_utf8(field).unwrap_or("").trim();
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(SamplingError::BadValue {
            column: column.to_owned(),
            row,
            reason: format!("'{text}' is not a number"),
        }),
    }
}

fn parse(body: &[u8], o: &DrawOptions) -> Result<Parsed> {
    let mut rdr = reader(body);
    let headers = rdr.byte_headers().map_err(csv_error)?.clone();
    for added in ADDED_COLUMNS {
        if headers.iter().any(|h| h == added.as_bytes()) {
            return Err(SamplingError::ReservedColumn {
                column: added.to_owned(),
            });
        }
    }
    let cols = Columns {
        id: column(&headers, &o.id_column)?,
        strata: o
            .strata_column
            .as_deref()
            .map(|c| column(&headers, c))
            .transpose()?,
        sd: o
            .sd_column
            .as_deref()
            .map(|c| column(&headers, c))
            .transpose()?,
        pps: o
            .pps_size_column
            .as_deref()
            .map(|c| column(&headers, c))
            .transpose()?,
    };

    // Ids in one arena; duplicates are found by sorting afterwards.
    let mut id_bytes: Vec<u8> = Vec::new();
    let mut id_end: Vec<usize> = Vec::new();
    // Strata numbered in first-seen order, renumbered into key order at the end.
    let mut seen: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    let mut first_seen_sd: Vec<Option<(f64, u64)>> = Vec::new();
    let mut stratum_of_row: Vec<u32> = Vec::new();
    let mut pps: Option<Vec<f64>> = cols.pps.map(|_| Vec::new());
    let mut record = ByteRecord::new();
    let mut row: u64 = 0;
    while rdr.read_byte_record(&mut record).map_err(csv_error)? {
        row += 1;
        let id = &record[cols.id];
        if id.is_empty() {
            return Err(SamplingError::BadValue {
                column: o.id_column.clone(),
                row,
                reason: "the id is empty; every row needs an id".into(),
            });
        }
        id_bytes.extend_from_slice(id);
        id_end.push(id_bytes.len());

        let s = match cols.strata {
            None => 0,
            Some(c) => {
                let key = &record[c];
                if key.is_empty() {
                    return Err(SamplingError::BadValue {
                        column: o.strata_column.clone().unwrap_or_default(),
                        row,
                        reason: "the stratum is empty; fill it or drop the row".into(),
                    });
                }
                match seen.get(key) {
                    Some(&s) => s,
                    None => {
                        let s = seen.len() as u32;
                        seen.insert(key.to_vec(), s);
                        first_seen_sd.push(None);
                        s
                    }
                }
            }
        };
        if cols.strata.is_none() && seen.is_empty() {
            seen.insert(Vec::new(), 0);
            first_seen_sd.push(None);
        }
        stratum_of_row.push(s);

        if let (Some(c), Some(name)) = (cols.sd, o.sd_column.as_deref()) {
            let v = number(&record[c], name, row)?;
            if v < 0.0 {
                return Err(SamplingError::BadValue {
                    column: name.to_owned(),
                    row,
                    reason: format!("standard deviation {v} is negative"),
                });
            }
            match first_seen_sd[s as usize] {
                None => first_seen_sd[s as usize] = Some((v, row)),
                Some((first, first_row)) if first != v => {
                    return Err(SamplingError::BadValue {
                        column: name.to_owned(),
                        row,
                        reason: format!(
                            "standard deviation {v} differs from {first} on row {first_row} of \
                             the same stratum; the column must hold the stratum's SD on every row"
                        ),
                    })
                }
                Some(_) => {}
            }
        }
        if let (Some(c), Some(sizes), Some(name)) =
            (cols.pps, pps.as_mut(), o.pps_size_column.as_deref())
        {
            let v = number(&record[c], name, row)?;
            if v <= 0.0 {
                return Err(SamplingError::BadValue {
                    column: name.to_owned(),
                    row,
                    reason: format!(
                        "PPS size {v} must be positive (a unit of size 0 could never be drawn)"
                    ),
                });
            }
            sizes.push(v);
        }
    }
    let rows = stratum_of_row.len();
    if rows == 0 {
        return Err(SamplingError::Frame(
            "the frame has a header but no rows".into(),
        ));
    }
    if rows > u32::MAX as usize {
        return Err(SamplingError::Frame(format!(
            "{rows} rows is more than the {} this version supports",
            u32::MAX
        )));
    }
    check_unique_ids(&id_bytes, &id_end, &o.id_column)?;
    drop(id_bytes);
    drop(id_end);

    // Renumber strata into key order (BTreeMap iterates keys sorted).
    let mut renumber = vec![0u32; seen.len()];
    let mut keys = Vec::with_capacity(seen.len());
    let mut sd = Vec::with_capacity(seen.len());
    for (new, (key, &old)) in seen.iter().enumerate() {
        renumber[old as usize] = new as u32;
        keys.push(String::from_utf8_lossy(key).into_owned());
        sd.push(first_seen_sd[old as usize].map(|(v, _)| v));
    }
    for s in stratum_of_row.iter_mut() {
        *s = renumber[*s as usize];
    }
    Ok(Parsed {
        headers,
        rows,
        stratum_of_row,
        keys,
        sd,
        pps,
    })
}

fn check_unique_ids(bytes: &[u8], ends: &[usize], column: &str) -> Result<()> {
    let id = |i: u32| {
        let i = i as usize;
        let begin = if i == 0 { 0 } else { ends[i - 1] };
        &bytes[begin..ends[i]]
    };
    let mut order: Vec<u32> = (0..ends.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| id(a).cmp(id(b)).then(a.cmp(&b)));
    for pair in order.windows(2) {
        if id(pair[0]) == id(pair[1]) {
            return Err(SamplingError::DuplicateId {
                column: column.to_owned(),
                id: String::from_utf8_lossy(id(pair[0])).into_owned(),
                first_row: pair[0] as u64 + 1,
                second_row: pair[1] as u64 + 1,
            });
        }
    }
    Ok(())
}

/// PPS inclusion probabilities for drawing `n` of units with sizes `sizes`
/// (all > 0, `n ≤ len`), with certainty units at π = 1 (see module docs).
pub fn pps_probabilities(sizes: &[f64], n: u64) -> Vec<f64> {
    let mut certain = vec![false; sizes.len()];
    let mut n_rem = n.min(sizes.len() as u64);
    loop {
        if n_rem == 0 {
            break;
        }
        let total: f64 = sizes
            .iter()
            .zip(&certain)
            .filter(|(_, &c)| !c)
            .map(|(x, _)| x)
            .sum();
        let nf = n_rem as f64;
        let mut added = 0u64;
        for (x, c) in sizes.iter().zip(certain.iter_mut()) {
            if !*c && nf * x >= total {
                *c = true;
                added += 1;
            }
        }
        if added == 0 {
            break;
        }
        n_rem = n_rem.saturating_sub(added);
    }
    let total: f64 = sizes
        .iter()
        .zip(&certain)
        .filter(|(_, &c)| !c)
        .map(|(x, _)| x)
        .sum();
    let nf = n_rem as f64;
    sizes
        .iter()
        .zip(&certain)
        .map(|(x, &c)| {
            if c {
                1.0
            } else if n_rem == 0 {
                0.0
            } else {
                nf * x / total
            }
        })
        .collect()
}

/// Systematic selection with inclusion probabilities `pis` (π = 1 for
/// certainty units, taken without a draw). Returns selected positions in order.
pub fn systematic_pps(pis: &[f64], rng: &mut impl rand::RngCore) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    let rest: Vec<usize> = (0..pis.len()).filter(|&i| pis[i] < 1.0).collect();
    let mut cum = Vec::with_capacity(rest.len());
    let mut c = 0.0;
    for &i in &rest {
        c += pis[i];
        cum.push(c);
    }
    let n_rem = c.round();
    if let Some(last) = cum.last_mut() {
        *last = n_rem;
    }
    let mut chosen = vec![false; pis.len()];
    for (i, p) in pis.iter().enumerate() {
        if *p >= 1.0 {
            chosen[i] = true;
        }
    }
    if n_rem > 0.0 {
        let v = uniform_open_closed(rng);
        let g = |c: f64| (c - v + 1.0).floor();
        let mut prev = g(0.0);
        for (k, &i) in rest.iter().enumerate() {
            let now = g(cum[k]);
            if now > prev {
                chosen[i] = true;
            }
            prev = now;
        }
    }
    out.extend((0..pis.len()).filter(|&i| chosen[i]));
    out
}

fn write_output(
    body: &[u8],
    parsed: &Parsed,
    selected: &[(u32, f64)],
    strata: &[StratumSummary],
) -> Result<Vec<u8>> {
    let mut w = WriterBuilder::new()
        .terminator(Terminator::Any(b'\n'))
        .from_writer(Vec::with_capacity(selected.len() * 64 + 256));
    let write_err = |e: csv::Error| SamplingError::Frame(format!("writing the output: {e}"));
    let mut header = parsed.headers.clone();
    for c in ADDED_COLUMNS {
        header.push_field(c.as_bytes());
    }
    w.write_byte_record(&header).map_err(write_err)?;

    let mut rdr = reader(body);
    let mut record = ByteRecord::new();
    let mut row: u32 = 0;
    let mut next = selected.iter().peekable();
    let pps = parsed.pps.is_some();
    while next.peek().is_some() && rdr.read_byte_record(&mut record).map_err(csv_error)? {
        if let Some(&&(r, pi)) = next.peek() {
            if r == row {
                next.next();
                let h = parsed.stratum_of_row[r as usize] as usize;
                let s = &strata[h];
                let weight = if pps {
                    1.0 / pi
                } else {
                    s.population as f64 / s.sample as f64
                };
                record.push_field(s.population.to_string().as_bytes());
                record.push_field(s.sample.to_string().as_bytes());
                record.push_field(pi.to_string().as_bytes());
                record.push_field(weight.to_string().as_bytes());
                w.write_byte_record(&record).map_err(write_err)?;
            }
        }
        row += 1;
    }
    w.into_inner()
        .map_err(|e| SamplingError::Frame(format!("writing the output: {e}")))
}
