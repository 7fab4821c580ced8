//! Checks an untrusted XLSX workbook before a spreadsheet reader opens it: the file size, the
//! number of parts, what each part really decompresses to (a zip bomb declares small sizes and
//! inflates to gigabytes, so the declared sizes are not trusted), and XML document type
//! declarations (the door to external entities and entity expansion; Excel, WPS and LibreOffice
//! never write one). Everything is streamed through a fixed buffer, so memory stays bounded
//! whatever the file claims. Shared by every place that reads a workbook someone uploaded.

use std::io::{Cursor, Read};

/// How large a workbook may be. The defaults suit a questionnaire workbook; firm uploads with
/// a million rows pass larger numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The file as uploaded.
    pub max_file_bytes: u64,
    /// Parts (files) inside the zip package.
    pub max_parts: usize,
    /// What one part may decompress to.
    pub max_part_bytes: u64,
    /// What all parts together may decompress to.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 5 * 1024 * 1024,
            max_parts: 200,
            max_part_bytes: 16 * 1024 * 1024,
            max_total_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Why a workbook was refused. Every message says what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkbookError {
    #[error("the file is an old Excel 97–2003 workbook (.xls); save it as an Excel workbook (.xlsx) and upload again")]
    OldExcel,
    #[error("the file is not an Excel workbook (.xlsx); save it from Excel, WPS or LibreOffice as .xlsx")]
    NotXlsx,
    #[error("the file is {size} bytes; a workbook may be at most {limit} bytes")]
    FileTooLarge { size: u64, limit: u64 },
    #[error("the workbook has {count} parts; at most {limit} are accepted")]
    TooManyParts { count: usize, limit: usize },
    /// The zip or XML reader's own text stays in the value (for the log), not in the message.
    #[error("the workbook is damaged or incomplete (for example cut off while copying, or another kind of file renamed to .xlsx); open it in Excel or WPS and save it again")]
    Damaged(String),
    #[error(
        "the workbook is password-protected or encrypted; remove the password and save it again"
    )]
    Encrypted,
    #[error("the workbook part {part} unpacks to more than {limit} bytes (a compressed \"zip bomb\"); it is refused")]
    PartTooLarge { part: String, limit: u64 },
    #[error("the workbook unpacks to more than {limit} bytes in total; it is refused")]
    TotalTooLarge { limit: u64 },
    #[error("the workbook part {part} contains an XML document type declaration (<!DOCTYPE or <!ENTITY), which can hide external entities; save the workbook again from Excel or WPS")]
    Doctype { part: String },
}

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// A spreadsheet reader's error (`Zip error: … EOCD`, an XML parser's position) as a sentence
/// a person who made the file understands; the reader's text goes to the log.
pub fn plain_reader_error(e: &dyn std::fmt::Display) -> String {
    let detail = e.to_string();
    tracing::info!(detail = %detail, "workbook reader error");
    let lower = detail.to_lowercase();
    if lower.contains("zip") || lower.contains("eocd") || lower.contains("archive") {
        "the file is not a complete Excel workbook (it may have been cut off while copying, or be another kind of file renamed to .xlsx)".to_owned()
    } else if lower.contains("xml") {
        "the workbook's contents are not well-formed".to_owned()
    } else if lower.contains("password") || lower.contains("encrypt") {
        "the workbook is password-protected".to_owned()
    } else {
        "the workbook's contents cannot be read".to_owned()
    }
}
const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Refuses a workbook that is not a plain, bounded XLSX package. Reads every part once through
/// a 64 KiB buffer and stops at the first limit crossed.
pub fn check(bytes: &[u8], limits: &Limits) -> Result<(), WorkbookError> {
    let size = bytes.len() as u64;
    if size > limits.max_file_bytes {
        return Err(WorkbookError::FileTooLarge {
            size,
            limit: limits.max_file_bytes,
        });
    }
    if bytes.starts_with(OLE_MAGIC) {
        // Encrypted .xlsx files are OLE containers too; both need saving again.
        return Err(WorkbookError::OldExcel);
    }
    if !bytes.starts_with(ZIP_MAGIC) {
        return Err(WorkbookError::NotXlsx);
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| WorkbookError::Damaged(e.to_string()))?;
    if zip.len() > limits.max_parts {
        return Err(WorkbookError::TooManyParts {
            count: zip.len(),
            limit: limits.max_parts,
        });
    }
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).map_err(|e| match e {
            zip::result::ZipError::UnsupportedArchive(m) if m.contains("assword") => {
                WorkbookError::Encrypted
            }
            other => WorkbookError::Damaged(other.to_string()),
        })?;
        if part.encrypted() {
            return Err(WorkbookError::Encrypted);
        }
        let name = String::from_utf8_lossy(part.name_raw()).into_owned();
        let too_large = || WorkbookError::PartTooLarge {
            part: name.clone(),
            limit: limits.max_part_bytes,
        };
        if part.size() > limits.max_part_bytes {
            return Err(too_large());
        }
        let is_xml = name.ends_with(".xml") || name.ends_with(".rels") || name.ends_with(".vml");
        let mut scanner = DoctypeScanner::default();
        let mut part_bytes: u64 = 0;
        loop {
            let n = part
                .read(&mut buf)
                .map_err(|e| WorkbookError::Damaged(format!("{name}: {e}")))?;
            if n == 0 {
                break;
            }
            part_bytes += n as u64;
            total += n as u64;
            if part_bytes > limits.max_part_bytes {
                return Err(too_large());
            }
            if total > limits.max_total_bytes {
                return Err(WorkbookError::TotalTooLarge {
                    limit: limits.max_total_bytes,
                });
            }
            if is_xml && scanner.feed(&buf[..n]) {
                return Err(WorkbookError::Doctype { part: name });
            }
        }
    }
    Ok(())
}

/// Finds `<!DOCTYPE` or `<!ENTITY` in a stream fed in chunks (a marker may straddle two).
#[derive(Default)]
struct DoctypeScanner {
    tail: Vec<u8>,
}

impl DoctypeScanner {
    const MARKERS: [&'static [u8]; 2] = [b"<!DOCTYPE", b"<!ENTITY"];
    const KEEP: usize = 8;

    fn feed(&mut self, chunk: &[u8]) -> bool {
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(&chunk[..chunk.len().min(Self::KEEP + 1)]);
        let found = |hay: &[u8]| {
            hay.iter().enumerate().any(|(i, &b)| {
                b == b'<'
                    && Self::MARKERS.iter().any(|m| {
                        hay.get(i..i + m.len())
                            .is_some_and(|w| w.eq_ignore_ascii_case(m))
                    })
            })
        };
        if found(&window) || found(chunk) {
            return true;
        }
        let start = chunk.len().saturating_sub(Self::KEEP);
        self.tail = chunk[start..].to_vec();
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut out);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            for (name, body) in parts {
                z.start_file(*name, opts).unwrap();
                z.write_all(body).unwrap();
            }
            z.finish().unwrap();
        }
        out.into_inner()
    }

    #[test]
    fn plain_package_passes() {
        let z = zip_of(&[("xl/workbook.xml", b"<workbook/>")]);
        assert_eq!(check(&z, &Limits::default()), Ok(()));
    }

    #[test]
    fn bomb_is_refused_by_what_it_inflates_to() {
        let zeros = vec![b' '; 20 * 1024 * 1024];
        let z = zip_of(&[("xl/sharedStrings.xml", &zeros)]);
        assert!(z.len() < 100_000, "a bomb is small on disk: {}", z.len());
        let err = check(&z, &Limits::default()).unwrap_err();
        assert!(matches!(err, WorkbookError::PartTooLarge { .. }), "{err}");
        assert!(err.to_string().contains("xl/sharedStrings.xml"));
    }

    #[test]
    fn doctype_is_found_across_chunk_boundaries() {
        let mut body = vec![b' '; 64 * 1024 - 4];
        body.extend_from_slice(b"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>");
        let z = zip_of(&[("xl/worksheets/sheet1.xml", &body)]);
        let err = check(&z, &Limits::default()).unwrap_err();
        assert!(matches!(err, WorkbookError::Doctype { .. }), "{err}");
    }

    #[test]
    fn not_a_workbook() {
        assert_eq!(
            check(b"type,name\n", &Limits::default()),
            Err(WorkbookError::NotXlsx)
        );
        assert_eq!(
            check(OLE_MAGIC, &Limits::default()),
            Err(WorkbookError::OldExcel)
        );
    }
}
