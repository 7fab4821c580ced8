//! A strict, streaming CSV/TSV record parser (RFC 4180 quoting) that reports bad quoting
//! instead of guessing, and knows on which line each record starts.
//!
//! Row numbers: the file's first line is row 1 (the header); a record's row is the line where
//! it starts. Without line breaks inside quoted cells this is exactly Excel's row number; with
//! them, Excel shows the record on one row while we count the extra lines, so rows after a
//! multi-line cell are reported with the line number a text editor shows.

use super::decode::{FileProblem, TextEncoding, Utf8Chunks};

/// One record: cells stored back to back in one buffer to avoid an allocation per cell.
#[derive(Debug, Default, Clone)]
pub struct Record {
    /// Row number as the firm sees it (1 = header).
    pub row: u64,
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Record {
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Cell `i`, or "" past the end.
    pub fn cell(&self, i: usize) -> &str {
        let Some(&end) = self.ends.get(i) else {
            return "";
        };
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        // Cells split at ASCII delimiters of valid UTF-8, so this cannot fail.
        self.buf
            .get(start..end)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    pub fn cells(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.cell(i))
    }

    /// True when every cell is empty or whitespace (blank lines, Excel's `,,,,` rows).
    pub fn is_blank(&self) -> bool {
        self.cells().all(|c| c.trim().is_empty())
    }

    pub fn push_cell(&mut self, cell: &str) {
        self.buf.extend_from_slice(cell.as_bytes());
        self.ends.push(self.buf.len());
    }

    fn end_cell(&mut self) {
        self.ends.push(self.buf.len());
    }
}

/// What went wrong with one record.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordProblem {
    /// `"` inside a cell that does not start with `"`.
    QuoteInUnquoted { cell: usize },
    /// Text between a closing `"` and the next delimiter.
    TextAfterQuote { cell: usize },
    /// End of file inside a quoted cell.
    UnclosedQuote { cell: usize },
    /// A record longer than [`MAX_RECORD_BYTES`], almost always a missing closing quote.
    TooLong,
    /// The text could not be decoded.
    Decode(FileProblem),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordError {
    pub row: u64,
    pub problem: RecordProblem,
    /// The parser cannot go on after this error.
    pub fatal: bool,
}

/// Longest record we buffer; a real interview row is a few KiB at most.
pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
    /// After a quoting error: drop the rest of the physical line.
    Skip,
}

pub struct CsvParser<'a> {
    chunks: Utf8Chunks<'a>,
    cur: Vec<u8>,
    pos: usize,
    delimiter: u8,
    line: u64,
    /// The previous byte was `\r`: a following `\n` belongs to the same line break.
    skip_lf: bool,
    eof: bool,
}

impl<'a> CsvParser<'a> {
    pub fn new(bytes: &'a [u8], enc: TextEncoding, delimiter: u8) -> Self {
        CsvParser {
            chunks: Utf8Chunks::new(bytes, enc),
            cur: Vec::new(),
            pos: 0,
            delimiter,
            line: 1,
            skip_lf: false,
            eof: false,
        }
    }

    /// Make `self.cur[self.pos]` available; false at the end of input.
    fn fill(&mut self) -> Result<bool, RecordProblem> {
        while self.pos >= self.cur.len() {
            if self.eof {
                return Ok(false);
            }
            match self.chunks.next_chunk() {
                Ok(Some(c)) => {
                    self.cur.clear();
                    self.cur.extend_from_slice(c);
                    self.pos = 0;
                }
                Ok(None) => {
                    self.eof = true;
                    return Ok(false);
                }
                Err(e) => {
                    self.eof = true;
                    return Err(RecordProblem::Decode(e.problem));
                }
            }
        }
        Ok(true)
    }

    /// Read the next record into `rec`. `Ok(false)` at the end of input. After a non-fatal
    /// error the parser has skipped to the next line and can be called again.
    pub fn next_record(&mut self, rec: &mut Record) -> Result<bool, RecordError> {
        rec.clear();
        // Every line break advances `line` as it is consumed, so the record starts here.
        rec.row = self.line;
        let mut state = State::FieldStart;
        let mut problem: Option<RecordProblem> = None;
        let d = self.delimiter;
        loop {
            match self.fill() {
                Ok(true) => {}
                Ok(false) => {
                    if let Some(p) = problem {
                        return Err(self.err(rec.row, p, false));
                    }
                    return match state {
                        State::Quoted => Err(self.err(
                            rec.row,
                            RecordProblem::UnclosedQuote {
                                cell: rec.len() + 1,
                            },
                            true,
                        )),
                        State::FieldStart if rec.is_empty() => Ok(false),
                        _ => {
                            rec.end_cell();
                            Ok(true)
                        }
                    };
                }
                Err(p) => return Err(self.err(self.line, p, true)),
            }
            let b = self.cur[self.pos];
            self.pos += 1;
            if self.skip_lf {
                self.skip_lf = false;
                if b == b'\n' {
                    continue;
                }
            }
            if rec.buf.len() > MAX_RECORD_BYTES {
                return Err(self.err(rec.row, RecordProblem::TooLong, true));
            }
            let newline = b == b'\n' || b == b'\r';
            if newline {
                self.line += 1;
                self.skip_lf = b == b'\r';
            }
            match state {
                State::FieldStart | State::Unquoted => {
                    if b == d {
                        rec.end_cell();
                        state = State::FieldStart;
                    } else if newline {
                        if let Some(p) = problem {
                            return Err(self.err(rec.row, p, false));
                        }
                        rec.end_cell();
                        return Ok(true);
                    } else if b == b'"' {
                        if state == State::FieldStart {
                            state = State::Quoted;
                        } else {
                            problem = Some(RecordProblem::QuoteInUnquoted {
                                cell: rec.len() + 1,
                            });
                            state = State::Skip;
                        }
                    } else {
                        rec.buf.push(b);
                        state = State::Unquoted;
                    }
                }
                State::Quoted => {
                    if b == b'"' {
                        state = State::QuoteInQuoted;
                    } else if b == b'\r' {
                        // Keep line breaks inside cells as "\n".
                        rec.buf.push(b'\n');
                    } else {
                        rec.buf.push(b);
                    }
                }
                State::QuoteInQuoted => {
                    if b == b'"' {
                        rec.buf.push(b'"');
                        state = State::Quoted;
                    } else if b == d {
                        rec.end_cell();
                        state = State::FieldStart;
                    } else if newline {
                        rec.end_cell();
                        return Ok(true);
                    } else {
                        problem = Some(RecordProblem::TextAfterQuote {
                            cell: rec.len() + 1,
                        });
                        state = State::Skip;
                    }
                }
                State::Skip => {
                    if newline {
                        if let Some(p) = problem {
                            return Err(self.err(rec.row, p, false));
                        }
                        return Ok(true);
                    }
                }
            }
        }
    }

    fn err(&mut self, row: u64, problem: RecordProblem, fatal: bool) -> RecordError {
        if fatal {
            self.eof = true;
            self.pos = self.cur.len();
        }
        RecordError {
            row,
            problem,
            fatal,
        }
    }
}

/// Pick the delimiter from the header line: the most frequent of tab, comma and semicolon
/// outside quotes; comma when none occurs (a one-column file).
pub fn sniff_delimiter(prefix: &str) -> u8 {
    let mut counts = [0usize; 3];
    let cands = [b'\t', b',', b';'];
    let mut in_quotes = false;
    for &b in prefix.as_bytes() {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' | b'\r' if !in_quotes => break,
            _ if !in_quotes => {
                if let Some(i) = cands.iter().position(|c| *c == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let mut best = 1;
    for i in [0, 2] {
        if counts[i] > counts[best] {
            best = i;
        }
    }
    cands[best]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Result<(u64, Vec<String>), RecordError>> {
        let mut p = CsvParser::new(text.as_bytes(), TextEncoding::Utf8, b',');
        let mut rec = Record::default();
        let mut out = Vec::new();
        loop {
            match p.next_record(&mut rec) {
                Ok(true) => out.push(Ok((rec.row, rec.cells().map(str::to_string).collect()))),
                Ok(false) => break,
                Err(e) => {
                    let fatal = e.fatal;
                    out.push(Err(e));
                    if fatal {
                        break;
                    }
                }
            }
        }
        out
    }

    fn ok(row: u64, cells: &[&str]) -> Result<(u64, Vec<String>), RecordError> {
        Ok((row, cells.iter().map(|c| c.to_string()).collect()))
    }

    #[test]
    fn parses_quotes_line_breaks_and_rows() {
        let got = parse("a,b,c\r\n1,\"x, \"\"y\"\"\",3\r\n\"multi\r\nline\",,\n\nlast,\"\",z");
        assert_eq!(
            got,
            vec![
                ok(1, &["a", "b", "c"]),
                ok(2, &["1", "x, \"y\"", "3"]),
                ok(3, &["multi\nline", "", ""]),
                ok(5, &[""]),
                ok(6, &["last", "", "z"]),
            ]
        );
    }

    #[test]
    fn reports_bad_quoting_and_resyncs() {
        let got = parse("a,b\n1,2\"x\n3,\"4\"5\n6,7\n8,\"open\n9,10\n");
        assert_eq!(got[0], ok(1, &["a", "b"]));
        assert_eq!(
            got[1],
            Err(RecordError {
                row: 2,
                problem: RecordProblem::QuoteInUnquoted { cell: 2 },
                fatal: false
            })
        );
        assert_eq!(
            got[2],
            Err(RecordError {
                row: 3,
                problem: RecordProblem::TextAfterQuote { cell: 2 },
                fatal: false
            })
        );
        assert_eq!(got[3], ok(4, &["6", "7"]));
        assert_eq!(
            got[4],
            Err(RecordError {
                row: 5,
                problem: RecordProblem::UnclosedQuote { cell: 2 },
                fatal: true
            })
        );
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn bare_cr_line_endings_count_as_lines() {
        assert_eq!(parse("a\rb\r"), vec![ok(1, &["a"]), ok(2, &["b"])]);
    }

    #[test]
    fn sniffs_delimiters_outside_quotes() {
        assert_eq!(sniff_delimiter("a,b,c\n1;2;3;4;5"), b',');
        assert_eq!(sniff_delimiter("a;b;\"c,d,e,f\"\n"), b';');
        assert_eq!(sniff_delimiter("a\tb\tc,d\n"), b'\t');
        assert_eq!(sniff_delimiter("single"), b',');
    }
}
