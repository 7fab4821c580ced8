//! The streamed responses pipeline: pages of rows in, the encoder of a format, chunks out.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::columns::{Columns, Decoded};
use super::csv::CsvEncoder;
use super::json::JsonEncoder;
use super::parquet::ParquetEncoder;
use super::xlsx::XlsxEncoder;
use super::ExportFormat;
use crate::store::AnalysisRow;

/// Bytes per body chunk.
const CHUNK_BYTES: usize = 256 * 1024;

/// One piece of an export's body, or the error that ends it.
pub type Chunk = Result<Vec<u8>, io::Error>;

/// `Write` that hands the body 256 KiB chunks (blocking; call off the runtime).
pub struct ChunkWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<Chunk>,
}

impl ChunkWriter {
    pub fn new(tx: mpsc::Sender<Chunk>) -> Self {
        ChunkWriter {
            buf: Vec::with_capacity(CHUNK_BYTES + 4096),
            tx,
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + 4096));
        self.tx
            .blocking_send(Ok(full))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Drop for ChunkWriter {
    /// Sends what is left (writers that cannot be taken back, like Parquet's, end this way).
    fn drop(&mut self) {
        let _ = self.send();
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// One encoder of the responses export: pages in, bytes out.
pub trait Encoder {
    fn page(&mut self, rows: &[AnalysisRow], decoded: &[Decoded]) -> anyhow::Result<()>;
    fn finish(self: Box<Self>) -> anyhow::Result<()>;
}

/// The encoder of `format` writing into `out`.
pub fn encoder<W: Write + Send + 'static>(
    format: ExportFormat,
    cols: &Arc<Columns>,
    out: W,
) -> anyhow::Result<Box<dyn Encoder>> {
    Ok(match format {
        ExportFormat::Json => Box::new(JsonEncoder::new(cols.clone(), out)),
        ExportFormat::Parquet => Box::new(ParquetEncoder::new(cols.clone(), out)?),
        ExportFormat::Xlsx => Box::new(XlsxEncoder::new(cols.clone(), out)?),
        ExportFormat::Csv => Box::new(CsvEncoder::new(cols.clone(), out)),
    })
}

/// Runs an encoder over pages from `pages` until the sender side closes; `failed` tells a
/// complete read from one that stopped on an error (then the export fails, never truncates).
/// The answers of the next page are decoded on a second thread while this one encodes.
pub fn run_encoder(
    mut enc: Box<dyn Encoder>,
    cols: &Columns,
    pages: &mut mpsc::Receiver<Vec<AnalysisRow>>,
    failed: &AtomicBool,
) -> anyhow::Result<()> {
    type Page = anyhow::Result<(Vec<AnalysisRow>, Vec<Decoded>)>;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Page>(2);
    std::thread::scope(|s| {
        s.spawn(move || {
            while let Some(page) = pages.blocking_recv() {
                let answers = page
                    .iter()
                    .map(|r| cols.decode(r))
                    .collect::<anyhow::Result<Vec<_>>>();
                let stop = answers.is_err();
                // the encoder has stopped (error or client gone) or a row did not decode
                if tx.send(answers.map(|a| (page, a))).is_err() || stop {
                    break;
                }
            }
        });
        for item in rx {
            let (page, answers) = item?;
            enc.page(&page, &answers)?;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    if failed.load(Ordering::SeqCst) {
        anyhow::bail!("reading the responses from the database failed");
    }
    enc.finish()
}
