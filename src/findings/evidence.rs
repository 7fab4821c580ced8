//! Evidence files of a unit's rectification: PDF, images (PNG, JPEG, WebP) and Office
//! documents, checked by their content (magic bytes; for Office files the entries of the
//! archive) and by their name, size-limited, and kept with a SHA-256. Nothing here is ever
//! served as HTML: the media type comes from the content check, and downloads are attachments.

use serde::Serialize;

/// Largest evidence file.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Most files in one submission.
pub const MAX_FILES: usize = 10;

/// What a file's content was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Pdf,
    Png,
    Jpeg,
    Webp,
    Docx,
    Xlsx,
    Pptx,
    /// Office 97–2003 compound file (.doc, .xls, .ppt)
    LegacyOffice,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Pdf => "a PDF document",
            Kind::Png => "a PNG image",
            Kind::Jpeg => "a JPEG image",
            Kind::Webp => "a WebP image",
            Kind::Docx => "a Word document (.docx)",
            Kind::Xlsx => "an Excel workbook (.xlsx)",
            Kind::Pptx => "a PowerPoint presentation (.pptx)",
            Kind::LegacyOffice => "an Office 97–2003 document (.doc, .xls or .ppt)",
        }
    }

    /// File name extensions that fit the kind.
    fn extensions(self) -> &'static [&'static str] {
        match self {
            Kind::Pdf => &["pdf"],
            Kind::Png => &["png"],
            Kind::Jpeg => &["jpg", "jpeg"],
            Kind::Webp => &["webp"],
            Kind::Docx => &["docx"],
            Kind::Xlsx => &["xlsx"],
            Kind::Pptx => &["pptx"],
            Kind::LegacyOffice => &["doc", "xls", "ppt"],
        }
    }
}

/// The media type a file of this kind and extension is served with.
fn media_type(kind: Kind, ext: &str) -> &'static str {
    match (kind, ext) {
        (Kind::Pdf, _) => "application/pdf",
        (Kind::Png, _) => "image/png",
        (Kind::Jpeg, _) => "image/jpeg",
        (Kind::Webp, _) => "image/webp",
        (Kind::Docx, _) => {
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        }
        (Kind::Xlsx, _) => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        (Kind::Pptx, _) => {
            "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        }
        (Kind::LegacyOffice, "xls") => "application/vnd.ms-excel",
        (Kind::LegacyOffice, "ppt") => "application/vnd.ms-powerpoint",
        (Kind::LegacyOffice, _) => "application/msword",
    }
}

/// What the accepted types are, for messages.
pub const ACCEPTED: &str =
    "PDF, images (PNG, JPEG, WebP) or Office documents (DOCX, XLSX, PPTX, DOC, XLS, PPT)";

/// Recognises the content, or None.
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    if bytes.starts_with(b"%PDF-") {
        return Some(Kind::Pdf);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(Kind::Png);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Kind::Jpeg);
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some(Kind::Webp);
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Some(Kind::LegacyOffice);
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return ooxml(bytes);
    }
    None
}

/// An Office Open XML package: a ZIP with `[Content_Types].xml` and the main part of a
/// document, workbook or presentation.
fn ooxml(bytes: &[u8]) -> Option<Kind> {
    let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let names: Vec<String> = archive
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .collect();
    if !names.iter().any(|n| n == "[Content_Types].xml") {
        return None;
    }
    if names.iter().any(|n| n == "word/document.xml") {
        Some(Kind::Docx)
    } else if names.iter().any(|n| n == "xl/workbook.xml") {
        Some(Kind::Xlsx)
    } else if names.iter().any(|n| n == "ppt/presentation.xml") {
        Some(Kind::Pptx)
    } else {
        None
    }
}

/// An evidence file that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedFile {
    pub file_name: String,
    pub media_type: &'static str,
    pub sha256: String,
    pub bytes: Vec<u8>,
}

/// A file name safe to keep and to offer for download: the last path component, without
/// control characters and quotes, at most 120 characters.
pub fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\'' | ';'))
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .to_owned();
    let mut chars: Vec<char> = cleaned.chars().collect();
    if chars.len() > 120 {
        // keep the extension
        let ext: Vec<char> = match cleaned.rsplit_once('.') {
            Some((_, e)) if e.chars().count() <= 8 => format!(".{e}").chars().collect(),
            _ => Vec::new(),
        };
        chars.truncate(120 - ext.len());
        chars.extend(ext);
    }
    chars.into_iter().collect()
}

/// Checks one file: size, content and the name's extension. The error says which file and
/// what to do.
pub fn check(name: &str, bytes: Vec<u8>) -> Result<CheckedFile, String> {
    let file_name = clean_name(name);
    let shown = if file_name.is_empty() {
        "(no name)".to_owned()
    } else {
        file_name.clone()
    };
    if bytes.is_empty() {
        return Err(format!("file {shown:?} is empty"));
    }
    if bytes.len() > MAX_FILE_BYTES {
        return Err(format!(
            "file {shown:?} is {:.1} MB; evidence files may be at most {} MB: compress or \
             split it",
            bytes.len() as f64 / 1_048_576.0,
            MAX_FILE_BYTES / 1_048_576
        ));
    }
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let Some(kind) = sniff(&bytes) else {
        return Err(format!(
            "file {shown:?} is not {ACCEPTED} by its content; upload one of those (a file \
             renamed to .pdf is still refused)"
        ));
    };
    if !kind.extensions().contains(&ext.as_str()) {
        return Err(format!(
            "file {shown:?} is {} by its content but its name ends in {:?}; name it .{}",
            kind.describe(),
            if ext.is_empty() {
                String::new()
            } else {
                format!(".{ext}")
            },
            kind.extensions()[0]
        ));
    }
    Ok(CheckedFile {
        sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
        media_type: media_type(kind, &ext),
        file_name,
        bytes,
    })
}

/// Why a submission's files were refused: every problem, and whether one was a size limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesRefused {
    pub problems: Vec<String>,
    pub too_large: bool,
}

/// Checks a submission's files: at most [`MAX_FILES`], each as [`check`]. All problems are
/// reported together; nothing passes unless every file does.
pub fn check_all(files: Vec<(String, Vec<u8>)>) -> Result<Vec<CheckedFile>, FilesRefused> {
    if files.len() > MAX_FILES {
        return Err(FilesRefused {
            problems: vec![format!(
                "{} files: at most {MAX_FILES} per submission",
                files.len()
            )],
            too_large: true,
        });
    }
    let mut ok = Vec::new();
    let mut errs = FilesRefused {
        problems: Vec::new(),
        too_large: false,
    };
    for (name, bytes) in files {
        let big = bytes.len() > MAX_FILE_BYTES;
        match check(&name, bytes) {
            Ok(f) => ok.push(f),
            Err(e) => {
                errs.too_large |= big;
                errs.problems.push(e);
            }
        }
    }
    if errs.problems.is_empty() {
        Ok(ok)
    } else {
        Err(errs)
    }
}

/// The message of a part too large to read to the end (the upload was cut off).
pub fn too_large_message(name: &str) -> String {
    format!(
        "file {:?} is larger than {} MB, the limit for evidence files: compress or split it",
        clean_name(name),
        MAX_FILE_BYTES / 1_048_576
    )
}

/// `Content-Disposition` for a download: always an attachment, with an ASCII fallback name
/// and the UTF-8 name (RFC 6266 / 5987).
pub fn content_disposition(file_name: &str) -> String {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = file_name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docx() -> Vec<u8> {
        use std::io::Write;
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            let o = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            z.start_file("[Content_Types].xml", o).unwrap();
            z.write_all(b"<Types/>").unwrap();
            z.start_file("word/document.xml", o).unwrap();
            z.write_all(b"<w:document/>").unwrap();
            z.finish().unwrap();
        }
        buf.into_inner()
    }

    #[test]
    fn recognises_the_accepted_types_by_content() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some(Kind::Pdf));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(Kind::Png));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(Kind::Jpeg));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Kind::Webp));
        assert_eq!(sniff(&docx()), Some(Kind::Docx));
        assert_eq!(sniff(b"<html><script>alert(1)</script>"), None);
        assert_eq!(sniff(b"PK\x03\x04 not really a zip"), None);
        let f = check("整改报告.docx", docx()).unwrap();
        assert!(f.media_type.contains("wordprocessingml"));
        assert_eq!(f.sha256.len(), 64);
    }

    #[test]
    fn refuses_wrong_content_wrong_names_and_size() {
        let e = check("report.pdf", b"<html>hi</html>".to_vec()).unwrap_err();
        assert!(e.contains("report.pdf") && e.contains("PDF"), "{e}");
        let e = check("photo.pdf", b"\x89PNG\r\n\x1a\nxxxx".to_vec()).unwrap_err();
        assert!(e.contains("PNG image") && e.contains(".png"), "{e}");
        let e = check("big.pdf", {
            let mut v = b"%PDF-".to_vec();
            v.resize(MAX_FILE_BYTES + 1, b' ');
            v
        })
        .unwrap_err();
        assert!(e.contains("at most 10 MB"), "{e}");
        assert!(check("empty.pdf", Vec::new()).is_err());
        let errs = check_all(vec![
            ("a.pdf".into(), b"%PDF-1.4".to_vec()),
            ("b.exe".into(), b"MZ\x90\0".to_vec()),
        ])
        .unwrap_err();
        assert_eq!(errs.problems.len(), 1);
        assert!(!errs.too_large);
    }

    #[test]
    fn names_are_cleaned_and_downloads_are_attachments() {
        assert_eq!(clean_name("C:\\x\\..\\报告\".pdf"), "报告.pdf");
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        let long = format!("{}.pdf", "长".repeat(300));
        let c = clean_name(&long);
        assert_eq!(c.chars().count(), 120);
        assert!(c.ends_with(".pdf"));
        let cd = content_disposition("整改 报告.pdf");
        assert!(
            cd.starts_with("attachment; filename=\"") && cd.contains("UTF-8''%E6"),
            "{cd}"
        );
    }
}
