//! Recognising what a firm uploaded (XLSX or text in some encoding) and turning text into a
//! stream of UTF-8 chunks without decoding the whole file at once.

use encoding_rs::{Decoder, DecoderResult, Encoding, GB18030, UTF_16BE, UTF_16LE};

/// Text encodings we accept. Excel on Chinese Windows writes GB18030 (GBK) for "CSV" and
/// UTF-16LE for "Unicode text"; everything else writes UTF-8, often with a BOM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
    Gb18030,
}

impl TextEncoding {
    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Utf8Bom => "UTF-8 (BOM)",
            TextEncoding::Utf16Le => "UTF-16LE",
            TextEncoding::Utf16Be => "UTF-16BE",
            TextEncoding::Gb18030 => "GB18030",
        }
    }

    /// Bytes of the byte-order mark that precede the text, if any.
    fn bom_len(self, bytes: &[u8]) -> usize {
        match self {
            TextEncoding::Utf8Bom => 3,
            TextEncoding::Utf16Le if bytes.starts_with(&[0xFF, 0xFE]) => 2,
            TextEncoding::Utf16Be if bytes.starts_with(&[0xFE, 0xFF]) => 2,
            _ => 0,
        }
    }
}

/// What the bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Text(TextEncoding),
    Xlsx,
}

/// Why the bytes cannot be read at all. Messages say what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileProblem {
    Empty,
    OldXls,
    ZipNotXlsx,
    Binary,
    /// Mostly UTF-8 but broken at this byte offset.
    BadUtf8 {
        offset: usize,
    },
    /// Neither UTF-8 nor GB18030 at this byte offset.
    BadGb18030 {
        offset: usize,
    },
}

impl FileProblem {
    pub fn kind(&self) -> &'static str {
        match self {
            FileProblem::Empty => "empty_file",
            FileProblem::OldXls => "old_xls",
            FileProblem::ZipNotXlsx => "not_xlsx",
            FileProblem::Binary => "binary_file",
            FileProblem::BadUtf8 { .. } | FileProblem::BadGb18030 { .. } => "bad_encoding",
        }
    }

    pub fn en(&self) -> String {
        match self {
            FileProblem::Empty => "The file is empty. Fill in the template: a header row, then one row per interview.".into(),
            FileProblem::OldXls => "This is an old Excel 97–2003 .xls file. Save it as .xlsx (Excel workbook) or as CSV and upload again.".into(),
            FileProblem::ZipNotXlsx => "This is a ZIP archive but not an Excel .xlsx workbook. Upload the .xlsx or .csv file itself.".into(),
            FileProblem::Binary => "This is not a spreadsheet: the file contains binary data. Upload a CSV (UTF-8 or GB18030), Unicode text (UTF-16) or .xlsx file.".into(),
            FileProblem::BadUtf8 { offset } => format!("The file is UTF-8 but has an invalid byte sequence at byte {offset}. Save it again as \"CSV UTF-8\" and upload again."),
            FileProblem::BadGb18030 { offset } => format!("The file is neither UTF-8 nor GB18030/GBK text (invalid byte sequence at byte {offset}). Save it as \"CSV UTF-8\" or .xlsx and upload again."),
        }
    }

    pub fn zh(&self) -> String {
        match self {
            FileProblem::Empty => "文件为空。请按模板填写：第一行为表头，其后每行一份问卷。".into(),
            FileProblem::OldXls => "这是旧版 Excel 97–2003（.xls）文件。请另存为 .xlsx（Excel 工作簿）或 CSV 后重新上传。".into(),
            FileProblem::ZipNotXlsx => "这是 ZIP 压缩包，不是 Excel .xlsx 工作簿。请直接上传 .xlsx 或 .csv 文件。".into(),
            FileProblem::Binary => "该文件不是表格文件（含二进制数据）。请上传 CSV（UTF-8 或 GB18030）、Unicode 文本（UTF-16）或 .xlsx 文件。".into(),
            FileProblem::BadUtf8 { offset } => format!("文件为 UTF-8 编码，但第 {offset} 字节处的编码无效。请重新另存为“CSV UTF-8”后上传。"),
            FileProblem::BadGb18030 { offset } => format!("文件既不是 UTF-8 也不是 GB18030/GBK 编码（第 {offset} 字节处无效）。请另存为“CSV UTF-8”或 .xlsx 后上传。"),
        }
    }
}

/// How much of the start of a file is inspected for binary content.
const SNIFF_LEN: usize = 64 * 1024;

/// Decide what the uploaded bytes are. Reads the whole input once for the UTF-8 check (fast,
/// no allocation); decoding itself is streamed by [`Utf8Chunks`].
pub fn detect(bytes: &[u8]) -> Result<FileKind, FileProblem> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(FileProblem::Empty);
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return if zip_has_xl_entry(bytes) {
            Ok(FileKind::Xlsx)
        } else {
            Err(FileProblem::ZipNotXlsx)
        };
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Err(FileProblem::OldXls);
    }
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        let rest = &bytes[3..];
        if rest.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(FileProblem::Empty);
        }
        check_not_binary(rest)?;
        return match std::str::from_utf8(rest) {
            Ok(_) => Ok(FileKind::Text(TextEncoding::Utf8Bom)),
            Err(e) => Err(FileProblem::BadUtf8 {
                offset: 3 + e.valid_up_to(),
            }),
        };
    }
    if bytes.starts_with(&[0xFF, 0xFE]) {
        return utf16(bytes, TextEncoding::Utf16Le);
    }
    if bytes.starts_with(&[0xFE, 0xFF]) {
        return utf16(bytes, TextEncoding::Utf16Be);
    }
    if let Some(enc) = bomless_utf16(bytes) {
        return utf16(bytes, enc);
    }
    check_not_binary(bytes)?;
    match std::str::from_utf8(bytes) {
        Ok(_) => Ok(FileKind::Text(TextEncoding::Utf8)),
        Err(e) => {
            let valid = e.valid_up_to();
            // A file whose valid prefix already holds multi-byte UTF-8 is UTF-8 that got
            // damaged; decoding it as GB18030 would silently produce mojibake.
            if bytes[..valid].iter().any(|b| *b >= 0x80) {
                return Err(FileProblem::BadUtf8 { offset: valid });
            }
            // GB18030 decoding errors are reported by the streaming decoder with their line.
            Ok(FileKind::Text(TextEncoding::Gb18030))
        }
    }
}

fn utf16(bytes: &[u8], enc: TextEncoding) -> Result<FileKind, FileProblem> {
    let body = &bytes[enc.bom_len(bytes)..];
    if body.is_empty() {
        return Err(FileProblem::Empty);
    }
    // Check the decoded start for binary content like we do for 8-bit text.
    let encoding = if enc == TextEncoding::Utf16Le {
        UTF_16LE
    } else {
        UTF_16BE
    };
    let prefix = &body[..body.len().min(SNIFF_LEN)];
    let (text, _) = encoding.decode_without_bom_handling(prefix);
    if text.chars().all(char::is_whitespace) {
        return Err(FileProblem::Empty);
    }
    check_not_binary(text.as_bytes())?;
    Ok(FileKind::Text(enc))
}

/// UTF-16 saved without a BOM: ASCII text has a zero in every other byte.
fn bomless_utf16(bytes: &[u8]) -> Option<TextEncoding> {
    let n = bytes.len().min(256) & !1;
    if n < 8 {
        return None;
    }
    let pairs = bytes[..n].chunks_exact(2);
    let (mut le, mut be) = (0usize, 0usize);
    for p in pairs {
        if p[0] != 0 && p[1] == 0 {
            le += 1;
        } else if p[0] == 0 && p[1] != 0 {
            be += 1;
        }
    }
    let half = n / 2;
    if le * 10 >= half * 9 {
        Some(TextEncoding::Utf16Le)
    } else if be * 10 >= half * 9 {
        Some(TextEncoding::Utf16Be)
    } else {
        None
    }
}

/// Text never holds NUL bytes and holds few control characters; binary files hold many.
fn check_not_binary(bytes: &[u8]) -> Result<(), FileProblem> {
    let prefix = &bytes[..bytes.len().min(SNIFF_LEN)];
    let mut controls = 0usize;
    for &b in prefix {
        match b {
            0 => return Err(FileProblem::Binary),
            b'\t' | b'\n' | b'\r' | 0x0C => {}
            0x01..=0x1F | 0x7F => controls += 1,
            _ => {}
        }
    }
    if controls * 100 > prefix.len() {
        return Err(FileProblem::Binary);
    }
    Ok(())
}

/// Whether a ZIP archive has an `xl/` entry, read from its local file headers (an XLSX always
/// has `xl/workbook.xml`). The order of entries is not fixed, so look through the whole file.
fn zip_has_xl_entry(bytes: &[u8]) -> bool {
    const LOCAL: &[u8] = b"PK\x03\x04";
    let mut i = 0;
    while i + 30 <= bytes.len() {
        if &bytes[i..i + 4] == LOCAL {
            let name_len = u16::from_le_bytes([bytes[i + 26], bytes[i + 27]]) as usize;
            if let Some(name) = bytes.get(i + 30..i + 30 + name_len) {
                if name.starts_with(b"xl/") {
                    return true;
                }
            }
            i += 30;
        } else {
            i += 1;
        }
    }
    false
}

/// Input bytes decoded per step for non-UTF-8 encodings.
const DECODE_STEP: usize = 64 * 1024;
/// UTF-8 input is handed out in slices of this size (no copy).
const SLICE_STEP: usize = 1024 * 1024;

/// A decoding error in the middle of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    pub problem: FileProblem,
}

/// The text of an upload as a sequence of UTF-8 byte chunks. UTF-8 input is sliced without
/// copying; GB18030 and UTF-16 are decoded `DECODE_STEP` bytes at a time, so memory stays
/// bounded whatever the file size. Chunk boundaries may split a UTF-8 character; the CSV
/// parser works on bytes and only splits at ASCII delimiters, which never occur inside one.
pub struct Utf8Chunks<'a> {
    input: &'a [u8],
    pos: usize,
    decoder: Option<(Decoder, &'static Encoding)>,
    out: Vec<u8>,
    pending: Option<StreamError>,
    finished: bool,
}

impl<'a> Utf8Chunks<'a> {
    pub fn new(bytes: &'a [u8], enc: TextEncoding) -> Self {
        let bom = enc.bom_len(bytes);
        let decoder = match enc {
            TextEncoding::Utf8 | TextEncoding::Utf8Bom => None,
            TextEncoding::Utf16Le => Some(UTF_16LE),
            TextEncoding::Utf16Be => Some(UTF_16BE),
            TextEncoding::Gb18030 => Some(GB18030),
        }
        .map(|e| (e.new_decoder_without_bom_handling(), e));
        Utf8Chunks {
            input: bytes,
            pos: bom,
            decoder,
            out: Vec::new(),
            pending: None,
            finished: false,
        }
    }

    /// The next chunk of UTF-8 bytes, `Ok(None)` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>, StreamError> {
        if let Some(e) = self.pending.take() {
            self.finished = true;
            return Err(e);
        }
        if self.finished {
            return Ok(None);
        }
        let Some((decoder, encoding)) = self.decoder.as_mut() else {
            if self.pos >= self.input.len() {
                self.finished = true;
                return Ok(None);
            }
            let end = (self.pos + SLICE_STEP).min(self.input.len());
            let chunk = &self.input[self.pos..end];
            self.pos = end;
            return Ok(Some(chunk));
        };
        if self.pos >= self.input.len() {
            self.finished = true;
            return Ok(None);
        }
        let end = (self.pos + DECODE_STEP).min(self.input.len());
        let last = end == self.input.len();
        let src = &self.input[self.pos..end];
        let cap = decoder
            .max_utf8_buffer_length_without_replacement(src.len())
            .unwrap_or(src.len() * 3 + 16);
        self.out.clear();
        self.out.resize(cap, 0);
        let (result, read, written) =
            decoder.decode_to_utf8_without_replacement(src, &mut self.out, last);
        self.out.truncate(written);
        match result {
            DecoderResult::InputEmpty => self.pos = end,
            DecoderResult::OutputFull => self.pos += read,
            DecoderResult::Malformed(bad, extra) => {
                let offset = (self.pos + read).saturating_sub(bad as usize + extra as usize);
                let problem = if *encoding == GB18030 {
                    FileProblem::BadGb18030 { offset }
                } else {
                    FileProblem::Binary
                };
                self.pending = Some(StreamError { problem });
                self.pos = self.input.len();
            }
        }
        if self.out.is_empty() {
            // Nothing decoded this step (e.g. only a partial sequence); go on or report.
            return self.next_chunk();
        }
        Ok(Some(&self.out))
    }
}

/// Decode up to `limit` bytes of the start of the text, for delimiter sniffing.
pub fn text_prefix(bytes: &[u8], enc: TextEncoding, limit: usize) -> String {
    let body = &bytes[enc.bom_len(bytes)..];
    let body = &body[..body.len().min(limit)];
    let encoding = match enc {
        TextEncoding::Utf8 | TextEncoding::Utf8Bom => encoding_rs::UTF_8,
        TextEncoding::Utf16Le => UTF_16LE,
        TextEncoding::Utf16Be => UTF_16BE,
        TextEncoding::Gb18030 => GB18030,
    };
    encoding.decode_without_bom_handling(body).0.into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(bytes: &[u8], enc: TextEncoding) -> Result<String, StreamError> {
        let mut s = Utf8Chunks::new(bytes, enc);
        let mut out = Vec::new();
        while let Some(c) = s.next_chunk()? {
            out.extend_from_slice(c);
        }
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn detects_encodings() {
        assert_eq!(
            detect(b"a,b\n1,2\n"),
            Ok(FileKind::Text(TextEncoding::Utf8))
        );
        assert_eq!(
            detect(b"\xEF\xBB\xBFa,b\n"),
            Ok(FileKind::Text(TextEncoding::Utf8Bom))
        );
        let (gb, _, _) = GB18030.encode("单位,区\n朝阳区,男\n");
        assert_eq!(detect(&gb), Ok(FileKind::Text(TextEncoding::Gb18030)));
        let mut le = vec![0xFF, 0xFE];
        for u in "a\tb\n很满意\t2\n".encode_utf16() {
            le.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(detect(&le), Ok(FileKind::Text(TextEncoding::Utf16Le)));
        assert_eq!(
            collect(&le, TextEncoding::Utf16Le).unwrap(),
            "a\tb\n很满意\t2\n"
        );
        let be: Vec<u8> = "unit\tq1\n"
            .encode_utf16()
            .flat_map(|u| u.to_be_bytes())
            .collect();
        assert_eq!(detect(&be), Ok(FileKind::Text(TextEncoding::Utf16Be)));
    }

    #[test]
    fn refuses_empty_binary_and_damaged() {
        assert_eq!(detect(b""), Err(FileProblem::Empty));
        assert_eq!(detect(b" \r\n\n"), Err(FileProblem::Empty));
        assert_eq!(detect(b"\xEF\xBB\xBF"), Err(FileProblem::Empty));
        assert_eq!(
            detect(b"\x7FELF\x02\x01\x01\x00\x00"),
            Err(FileProblem::Binary)
        );
        assert_eq!(
            detect(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1rest"),
            Err(FileProblem::OldXls)
        );
        assert_eq!(
            detect(b"PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00a.txt"),
            Err(FileProblem::ZipNotXlsx)
        );
        // Valid multi-byte UTF-8 followed by a stray byte: damaged UTF-8, not GB18030.
        let mut bad = "单位,区\n".as_bytes().to_vec();
        bad.push(0xFF);
        assert_eq!(detect(&bad), Err(FileProblem::BadUtf8 { offset: 11 }));
    }

    #[test]
    fn gb18030_streams_in_chunks_and_reports_bad_bytes() {
        let text = "单位,满意度\n".repeat(20_000);
        let (gb, _, _) = GB18030.encode(&text);
        assert!(gb.len() > DECODE_STEP * 2);
        assert_eq!(collect(&gb, TextEncoding::Gb18030).unwrap(), text);
        // 0xFF is not a valid GB18030 lead byte.
        let mut bad = GB18030.encode("单位\n").0.into_owned();
        bad.extend_from_slice(b"\xFF\xFF");
        let err = collect(&bad, TextEncoding::Gb18030).unwrap_err();
        assert_eq!(err.problem, FileProblem::BadGb18030 { offset: 5 });
    }
}
