//! The row-level machinery of the engine, in plain Rust over integer codes.
//!
//! * Every key column (grouping, strata, clusters, calibration cells) becomes `u32` codes
//!   numbered in the text order of its values, so code order is label order and domains,
//!   strata and PSUs come out sorted as text (as the earlier string keys did).
//! * Combinations of codes (domain = unit × respondent type, leaf = stratum × PSU, group =
//!   domain × leaf) become dense codes in lexicographic order: a direct table when the
//!   product of the cardinalities is small, two stable counting sorts otherwise.
//! * Rows are put in group order once by a stable counting sort; every value column is
//!   then gathered as one-byte codes and summed group by group from contiguous memory.

use std::collections::HashMap;

/// Group keys are hashed once per row: a fast hasher (seeded per process).
type Keyed<K> = HashMap<K, u32, foldhash::fast::RandomState>;

use polars::prelude::*;

use super::AnalysisError;

/// A key column as dense codes; `labels[code]` is the value as text, labels sorted.
pub(crate) struct Coded {
    pub codes: Vec<u32>,
    pub labels: Vec<String>,
}

impl Coded {
    /// Every row has the same key.
    pub fn constant(n: usize, label: &str) -> Self {
        Self {
            codes: vec![0; n],
            labels: if n > 0 {
                vec![label.to_string()]
            } else {
                Vec::new()
            },
        }
    }
    /// Each row is its own key (rows without clusters are their own PSU); labels empty.
    pub fn rows(n: usize) -> (Vec<u32>, usize) {
        ((0..n as u32).collect(), n)
    }
    pub fn card(&self) -> usize {
        self.labels.len()
    }
}

/// Renumber first-seen codes in label order: returns (rank of each first-seen code,
/// labels sorted).
fn rank_by_label(labels: Vec<String>) -> (Vec<u32>, Vec<String>) {
    let mut idx: Vec<usize> = (0..labels.len()).collect();
    idx.sort_by(|&a, &b| labels[a].cmp(&labels[b]));
    let mut rank = vec![0u32; labels.len()];
    for (r, &i) in idx.iter().enumerate() {
        rank[i] = r as u32;
    }
    let mut labels: Vec<Option<String>> = labels.into_iter().map(Some).collect();
    let sorted = idx
        .iter()
        .map(|&i| labels[i].take().unwrap_or_default())
        .collect();
    (rank, sorted)
}

/// Code a key column. Empty cells get the label "" (as the text keys did).
pub(crate) fn encode(c: &Column) -> Result<Coded, AnalysisError> {
    let s = c.as_materialized_series();
    Ok(match s.dtype() {
        DataType::Int8 => encode_ints(s.i8()?),
        DataType::Int16 => encode_ints(s.i16()?),
        DataType::Int32 => encode_ints(s.i32()?),
        DataType::Int64 => encode_ints(s.i64()?),
        DataType::UInt8 => encode_ints(s.u8()?),
        DataType::UInt16 => encode_ints(s.u16()?),
        DataType::UInt32 => encode_ints(s.u32()?),
        _ => {
            let st = s.cast(&DataType::String)?;
            encode_strs(st.str()?)
        }
    })
}

fn encode_ints<T>(ca: &ChunkedArray<T>) -> Coded
where
    T: PolarsNumericType,
    T::Native: Into<i64>,
{
    let n = ca.len();
    let mut min = i64::MAX;
    let mut max = i64::MIN;
    for arr in ca.downcast_iter() {
        for &v in arr.values().iter() {
            let v: i64 = v.into();
            min = min.min(v);
            max = max.max(v);
        }
    }
    let mut codes: Vec<u32> = Vec::with_capacity(n);
    let mut seen: Vec<i64> = Vec::new();
    let mut null_code: Option<u32> = None;
    let range = if n == 0 {
        0
    } else {
        (max as i128 - min as i128 + 1) as u128
    };
    if n > 0 && range <= (n.max(1 << 16) * 2) as u128 {
        let mut first = vec![u32::MAX; range as usize];
        for arr in ca.downcast_iter() {
            let vals = arr.values();
            match arr.validity().filter(|b| b.unset_bits() > 0) {
                None => {
                    for &v in vals.iter() {
                        let v: i64 = v.into();
                        let slot = &mut first[(v - min) as usize];
                        if *slot == u32::MAX {
                            *slot = seen.len() as u32;
                            seen.push(v);
                        }
                        codes.push(*slot);
                    }
                }
                Some(bm) => {
                    for (&v, ok) in vals.iter().zip(bm.iter()) {
                        if !ok {
                            codes.push(u32::MAX - 1);
                            null_code = Some(u32::MAX - 1);
                            continue;
                        }
                        let v: i64 = v.into();
                        let slot = &mut first[(v - min) as usize];
                        if *slot == u32::MAX {
                            *slot = seen.len() as u32;
                            seen.push(v);
                        }
                        codes.push(*slot);
                    }
                }
            }
        }
    } else {
        let mut map: Keyed<i64> = Keyed::default();
        for arr in ca.downcast_iter() {
            let valid = arr.validity();
            for (i, &v) in arr.values().iter().enumerate() {
                if valid.is_some_and(|b| !b.get_bit(i)) {
                    codes.push(u32::MAX - 1);
                    null_code = Some(u32::MAX - 1);
                    continue;
                }
                let v: i64 = v.into();
                let next = seen.len() as u32;
                let c = *map.entry(v).or_insert_with(|| {
                    seen.push(v);
                    next
                });
                codes.push(c);
            }
        }
    }
    let n_seen = seen.len() as u32;
    let mut labels: Vec<String> = seen.iter().map(|v| v.to_string()).collect();
    if null_code.is_some() {
        labels.push(String::new());
    }
    let (rank, labels) = rank_by_label(labels);
    for c in codes.iter_mut() {
        *c = if *c == u32::MAX - 1 {
            rank[n_seen as usize]
        } else {
            rank[*c as usize]
        };
    }
    Coded { codes, labels }
}

fn encode_strs(ca: &StringChunked) -> Coded {
    let mut map: Keyed<&str> = Keyed::default();
    let mut seen: Vec<String> = Vec::new();
    let mut codes: Vec<u32> = Vec::with_capacity(ca.len());
    for v in ca.iter() {
        let v = v.unwrap_or("");
        let next = seen.len() as u32;
        let c = *map.entry(v).or_insert_with(|| {
            seen.push(v.to_string());
            next
        });
        codes.push(c);
    }
    let (rank, labels) = rank_by_label(seen);
    for c in codes.iter_mut() {
        *c = rank[*c as usize];
    }
    Coded { codes, labels }
}

/// Stable counting sort of rows (all rows, or the rows of `seq` in that order) by `keys`
/// (< `card`): the row order and the offsets of each key's run (`card + 1` values).
pub(crate) fn counting_sort(
    keys: &[u32],
    card: usize,
    seq: Option<&[u32]>,
) -> (Vec<u32>, Vec<usize>) {
    let mut offsets = vec![0usize; card + 1];
    for &k in keys {
        offsets[k as usize + 1] += 1;
    }
    for i in 0..card {
        offsets[i + 1] += offsets[i];
    }
    let mut next: Vec<usize> = offsets[..card].to_vec();
    let mut order = vec![0u32; keys.len()];
    match seq {
        None => {
            for (i, &k) in keys.iter().enumerate() {
                let slot = &mut next[k as usize];
                order[*slot] = i as u32;
                *slot += 1;
            }
        }
        Some(seq) => {
            for &i in seq {
                let slot = &mut next[keys[i as usize] as usize];
                order[*slot] = i;
                *slot += 1;
            }
        }
    }
    (order, offsets)
}

/// Dense codes of the pairs (a, b) present, numbered in lexicographic order of (a, b),
/// and each dense code's pair.
pub(crate) fn combine(a: &[u32], na: usize, b: &[u32], nb: usize) -> (Vec<u32>, Vec<(u32, u32)>) {
    let n = a.len();
    let space = na as u128 * nb as u128;
    if space <= (n.max(1 << 16) * 2) as u128 {
        let nb = nb.max(1);
        let mut table = vec![0u32; space as usize];
        for (&x, &y) in a.iter().zip(b) {
            table[x as usize * nb + y as usize] = 1;
        }
        let mut pairs = Vec::new();
        for (k, t) in table.iter_mut().enumerate() {
            if *t != 0 {
                *t = pairs.len() as u32;
                pairs.push(((k / nb) as u32, (k % nb) as u32));
            }
        }
        let codes = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| table[x as usize * nb + y as usize])
            .collect();
        (codes, pairs)
    } else {
        // least significant key first: by b, then stably by a
        let (by_b, _) = counting_sort(b, nb, None);
        let (order, _) = counting_sort(a, na, Some(&by_b));
        drop(by_b);
        let mut codes = vec![0u32; n];
        let mut pairs: Vec<(u32, u32)> = Vec::new();
        for &i in &order {
            let p = (a[i as usize], b[i as usize]);
            if pairs.last() != Some(&p) {
                pairs.push(p);
            }
            codes[i as usize] = pairs.len() as u32 - 1;
        }
        (codes, pairs)
    }
}

/// Dense codes of the combinations of several coded columns, in lexicographic order of
/// their labels, and each dense code's tuple of column codes. No columns: one code for
/// every row (none when there are no rows).
pub(crate) fn combine_many(cols: &[&Coded], n: usize) -> (Vec<u32>, Vec<Vec<u32>>) {
    let Some((first, rest)) = cols.split_first() else {
        let tuples = if n > 0 { vec![Vec::new()] } else { Vec::new() };
        return (vec![0; n], tuples);
    };
    let mut tuples: Vec<Vec<u32>> = (0..first.card() as u32).map(|c| vec![c]).collect();
    let Some((second, rest)) = rest.split_first() else {
        return (first.codes.clone(), tuples);
    };
    let (mut codes, pairs) = combine(&first.codes, first.card(), &second.codes, second.card());
    tuples = pairs.iter().map(|&(t, k)| vec![t, k]).collect();
    for c in rest {
        let (next, pairs) = combine(&codes, tuples.len(), &c.codes, c.card());
        tuples = pairs
            .iter()
            .map(|&(t, k)| {
                let mut v = tuples[t as usize].clone();
                v.push(k);
                v
            })
            .collect();
        codes = next;
    }
    (codes, tuples)
}

/// A value column: one byte per row for the usual small integer answers (0..=254, 255 for
/// empty), raw values (NaN for empty) otherwise.
pub(crate) enum ColVals {
    Codes(Vec<u8>),
    Raw(Vec<f64>),
}

const EMPTY: u8 = 255;

fn code_of(x: f64) -> Option<u8> {
    if x.is_nan() {
        Some(EMPTY)
    } else if (0.0..255.0).contains(&x) && x.fract() == 0.0 {
        Some(x as u8)
    } else {
        None
    }
}

fn int_codes<T>(ca: &ChunkedArray<T>) -> Option<Vec<u8>>
where
    T: PolarsNumericType,
    T::Native: Into<i64>,
{
    let mut out: Vec<u8> = Vec::with_capacity(ca.len());
    for arr in ca.downcast_iter() {
        let vals = arr.values();
        let start = out.len();
        // branch-free over the values (vectorises); empty slots are fixed up after
        let mut bad = false;
        out.extend(vals.iter().map(|&v| {
            let v: i64 = v.into();
            bad |= !(0..255).contains(&v);
            v as u8
        }));
        match arr.validity().filter(|b| b.unset_bits() > 0) {
            None => {
                if bad {
                    return None;
                }
            }
            Some(bm) => {
                let mut bad = false;
                for ((o, &v), valid) in out[start..].iter_mut().zip(vals.iter()).zip(bm.iter()) {
                    if !valid {
                        *o = EMPTY;
                    } else {
                        let v: i64 = v.into();
                        bad |= !(0..255).contains(&v);
                    }
                }
                if bad {
                    return None;
                }
            }
        }
    }
    Some(out)
}

/// Read a value column as codes when every value fits, raw values otherwise.
pub(crate) fn column_values(c: &Column) -> Result<ColVals, AnalysisError> {
    let s = c.as_materialized_series();
    let codes = match s.dtype() {
        DataType::Int8 => int_codes(s.i8()?),
        DataType::Int16 => int_codes(s.i16()?),
        DataType::Int32 => int_codes(s.i32()?),
        DataType::Int64 => int_codes(s.i64()?),
        DataType::UInt8 => int_codes(s.u8()?),
        DataType::UInt16 => int_codes(s.u16()?),
        DataType::UInt32 => int_codes(s.u32()?),
        _ => None,
    };
    if let Some(c) = codes {
        return Ok(ColVals::Codes(c));
    }
    let f = s.cast(&DataType::Float64)?;
    let raw: Vec<f64> = f.f64()?.iter().map(|o| o.unwrap_or(f64::NAN)).collect();
    let codes: Option<Vec<u8>> = raw.iter().map(|&x| code_of(x)).collect();
    Ok(match codes {
        Some(c) => ColVals::Codes(c),
        None => ColVals::Raw(raw),
    })
}

/// A column's values as f64 without copying when it is already f64 with no empty cell
/// (empty cells become 0 otherwise; callers check for them first).
pub(crate) fn f64_cow(c: &Column) -> Result<std::borrow::Cow<'_, [f64]>, AnalysisError> {
    if let Ok(ca) = c.f64() {
        if ca.null_count() == 0 {
            if let Ok(s) = ca.cont_slice() {
                return Ok(std::borrow::Cow::Borrowed(s));
            }
        }
    }
    Ok(std::borrow::Cow::Owned(f64_values(c, 0.0)?))
}

/// A numeric column as f64 (empty cells as `empty`).
pub(crate) fn f64_values(c: &Column, empty: f64) -> Result<Vec<f64>, AnalysisError> {
    let f = c.as_materialized_series().cast(&DataType::Float64)?;
    let ca = f.f64()?;
    if ca.null_count() == 0 {
        let mut out = Vec::with_capacity(ca.len());
        for arr in ca.downcast_iter() {
            out.extend_from_slice(arr.values());
        }
        return Ok(out);
    }
    Ok(ca.iter().map(|o| o.unwrap_or(empty)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_are_coded_in_text_order() {
        let c = Column::new("x".into(), [Some(10i32), Some(2), None, Some(10), Some(-1)]);
        let k = encode(&c).unwrap();
        assert_eq!(k.labels, vec!["", "-1", "10", "2"]);
        assert_eq!(k.codes, vec![2, 3, 0, 2, 1]);
    }

    #[test]
    fn strings_are_coded_in_text_order() {
        let c = Column::new("x".into(), [Some("b"), None, Some("a"), Some("b")]);
        let k = encode(&c).unwrap();
        assert_eq!(k.labels, vec!["", "a", "b"]);
        assert_eq!(k.codes, vec![2, 0, 1, 2]);
    }

    #[test]
    fn wide_ints_use_the_hash_path() {
        let c = Column::new("x".into(), [5_000_000_000i64, 7, 5_000_000_000]);
        let k = encode(&c).unwrap();
        assert_eq!(k.labels, vec!["5000000000", "7"]);
        assert_eq!(k.codes, vec![0, 1, 0]);
    }

    #[test]
    fn combine_both_paths_agree() {
        let a = vec![1u32, 0, 1, 2, 0];
        let b = vec![3u32, 1, 3, 0, 1];
        let (c1, p1) = combine(&a, 3, &b, 4);
        assert_eq!(p1, vec![(0, 1), (1, 3), (2, 0)]);
        assert_eq!(c1, vec![1, 0, 1, 2, 0]);
        // the sorting path (key space above the direct-table limit)
        let (c2, p2) = combine(&a, 400, &b, 400);
        assert_eq!(c2, c1);
        assert_eq!(p2, p1);
    }

    #[test]
    fn counting_sort_is_stable() {
        let (order, offsets) = counting_sort(&[2, 0, 2, 1, 0], 3, None);
        assert_eq!(order, vec![1, 4, 3, 0, 2]);
        assert_eq!(offsets, vec![0, 2, 3, 5]);
    }
}
