//! Benchmark: the evaluators' pages while answers arrive. An evaluation with ROWS responses;
//! a load generator submits one answer per second through the public form while a reader
//! requests the results page, the overview and a unit report in turn; prints p50/p95/max per
//! page, the slowest view after each new answer, the cold first page, and the server's RSS.
//!
//! ```text
//! cargo run --release --example live_bench -- [ROWS] [SECONDS] [DB_URL]
//! ```
//! Without DB_URL a temporary SQLite database is filled first (a PostgreSQL URL is filled
//! when it holds no bench evaluation, and reused when it does). `PINGYI_LOG=info` logs each
//! frame load (full or delta) with its time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

/// mimalloc, as the service binary uses, counting the bytes held and their peak (what the
/// process asked for, beside the RSS the allocator keeps from the system).
struct Counting;

static HELD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        let p = unsafe { mimalloc::MiMalloc.alloc(l) };
        if !p.is_null() {
            let now = HELD.fetch_add(l.size(), std::sync::atomic::Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: std::alloc::Layout) -> *mut u8 {
        let p = unsafe { mimalloc::MiMalloc.alloc_zeroed(l) };
        if !p.is_null() {
            let now = HELD.fetch_add(l.size(), std::sync::atomic::Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        unsafe { mimalloc::MiMalloc.dealloc(p, l) };
        HELD.fetch_sub(l.size(), std::sync::atomic::Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, new: usize) -> *mut u8 {
        let q = unsafe { mimalloc::MiMalloc.realloc(p, l, new) };
        if !q.is_null() {
            HELD.fetch_sub(l.size(), std::sync::atomic::Ordering::Relaxed);
            let now = HELD.fetch_add(new, std::sync::atomic::Ordering::Relaxed) + new;
            PEAK.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
        }
        q
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// glibc's allocator statistics (`mallinfo2`): SQLite's page caches are allocated there,
/// not through the Rust allocator.
#[repr(C)]
#[derive(Default)]
struct MallInfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

unsafe extern "C" {
    fn mallinfo2() -> MallInfo2;
}

/// "RSS r MB, heap h MB (peak p MB), C heap c MB in use (f MB free)", the heap peak reset
/// after reading.
fn memory() -> String {
    let mb = |b: usize| b as f64 / (1024.0 * 1024.0);
    let held = HELD.load(std::sync::atomic::Ordering::Relaxed);
    let peak = PEAK.swap(held, std::sync::atomic::Ordering::Relaxed);
    let c = unsafe { mallinfo2() };
    format!(
        "RSS {:.0} MB, heap {:.0} MB (peak since last {:.0} MB), C heap {:.0} MB in use ({:.0} MB free in it)",
        rss_mb(),
        mb(held),
        mb(peak),
        mb(c.uordblks + c.hblkhd),
        mb(c.fordblks)
    )
}

use std::time::{Duration, Instant};

use pingyi::config::Settings;
use pingyi::startup::Application;
use pingyi::store::{Store, StoreOptions};

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map_or(0.0, |k| k / 1024.0)
}

fn hidden(html: &str, name: &str) -> String {
    let pat = format!("name=\"{name}\" value=\"");
    html.find(&pat)
        .map(|i| {
            let rest = &html[i + pat.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_owned()
        })
        .unwrap_or_default()
}

/// Every question answered validly, likert items at random.
fn answers(q: &pingyi::questionnaire::Questionnaire) -> Vec<(String, String)> {
    use pingyi::questionnaire::QuestionKind;
    let mut rng = rand::thread_rng();
    q.questions
        .iter()
        .map(|question| {
            let v = match &question.kind {
                QuestionKind::Likert5(_) => rand::Rng::gen_range(&mut rng, 1..=5).to_string(),
                QuestionKind::Single { choices } | QuestionKind::Multiple { choices, .. } => {
                    choices[0].code.clone()
                }
                QuestionKind::Rating { .. } => "9".to_owned(),
                QuestionKind::Number { min, .. } => format!("{}", min.ceil()),
                QuestionKind::Text { .. } => "窗口服务很好".to_owned(),
            };
            (format!("a_{}", question.code), v)
        })
        .collect()
}

fn summary(name: &str, v: &mut [f64]) {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        println!("{name}: no requests");
        return;
    }
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name}: n={} p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        v.len(),
        at(0.5),
        at(0.95),
        v[v.len() - 1]
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // as the service binary does
    pingyi::allocator::return_freed_pages_at_once();
    let mut args = std::env::args().skip(1);
    let rows: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(300);
    if std::env::var_os("PINGYI_LOG").is_some() {
        pingyi::telemetry::init();
    }
    let dir = tempfile::tempdir()?;
    let url = args
        .next()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("live.db").display()));
    let mut settings = Settings::new("127.0.0.1:0".into(), url.clone());
    settings.store = StoreOptions::default();
    settings.submit_rate_per_minute = 0;
    // snapshots of the frame, written after 5 s without new answers (the restart below reads it)
    let frames = tempfile::tempdir()?;
    settings.frames_dir = Some(frames.path().to_path_buf());
    settings.frames_quiet = Duration::from_secs(5);
    let store = Store::open(&url, &settings.store).await?;
    let qs =
        pingyi::library::register_questionnaires(&store, std::path::Path::new("surveys")).await?;
    let ev_id = match store
        .list_evaluations()
        .await?
        .into_iter()
        .find(|e| e.series == "bench")
    {
        Some(e) => e.id,
        None => {
            let t0 = Instant::now();
            let id = common::fill(&store, &qs, rows).await?;
            println!(
                "inserted {rows} responses in {:.1} s",
                t0.elapsed().as_secs_f64()
            );
            id
        }
    };
    let q = qs
        .iter()
        .find(|q| q.id == "service_user")
        .ok_or_else(|| anyhow::anyhow!("no service_user questionnaire"))?
        .clone();
    let unit = store
        .list_units()
        .await?
        .into_iter()
        .find(|u| u.code == "u00")
        .ok_or_else(|| anyhow::anyhow!("no unit u00"))?;
    let code = pingyi::collect::new_link_code();
    store
        .create_link(&code, ev_id, unit.id, &q.id, i64::from(q.version))
        .await?;
    let link = store
        .list_links(Some(ev_id))
        .await?
        .into_iter()
        .find(|l| l.unit_id == unit.id && l.questionnaire_id == q.id)
        .ok_or_else(|| anyhow::anyhow!("no link"))?
        .code;
    let key = common::bench_key(&store).await?;
    println!("before the service starts: {}", memory());
    let rss_before = rss_mb();
    let app = Application::build_with_store(settings.clone(), store.clone(), qs.clone()).await?;
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let pages = [
        (
            "results",
            format!("{base}/admin/evaluations/{ev_id}/results"),
        ),
        ("overview", format!("{base}/admin/evaluations/{ev_id}")),
        (
            "unit report",
            format!("{base}/admin/evaluations/{ev_id}/units/u00/report"),
        ),
    ];
    let get = |url: String| {
        let (client, key) = (client.clone(), key.clone());
        async move {
            let t = Instant::now();
            let r = client.get(url).bearer_auth(key).send().await?;
            let status = r.status();
            r.bytes().await?;
            anyhow::ensure!(status.is_success(), "page answered {status}");
            Ok::<_, anyhow::Error>(t.elapsed().as_secs_f64() * 1000.0)
        }
    };
    let cold = get(pages[0].1.clone()).await?;
    println!(
        "cold first results page ({rows} responses): {cold:.0} ms; {} (RSS before the load {:.0} MB)",
        memory(),
        rss_before
    );
    for (_, u) in &pages[1..] {
        get(u.clone()).await?;
    }
    println!("after the overview and the unit report: {}", memory());

    // one answer per second through the public form
    let submitted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let (client, base, link, q) = (client.clone(), base.clone(), link.clone(), q.clone());
        let submitted = submitted.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let form = client
                    .get(format!("{base}/s/{link}"))
                    .send()
                    .await?
                    .text()
                    .await?;
                let mut body = vec![
                    ("_nonce".to_owned(), hidden(&form, "_nonce")),
                    ("_sig".to_owned(), hidden(&form, "_sig")),
                    ("lang".to_owned(), "zh".to_owned()),
                ];
                body.extend(answers(&q));
                let r = client
                    .post(format!("{base}/s/{link}"))
                    .form(&body)
                    .send()
                    .await?;
                anyhow::ensure!(r.status().as_u16() == 303, "submit answered {}", r.status());
                submitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            #[allow(unreachable_code)]
            Ok::<(), anyhow::Error>(())
        })
    };

    let mut times: Vec<Vec<f64>> = vec![Vec::new(); pages.len()];
    let mut after_new: Vec<f64> = Vec::new();
    let mut seen = 0;
    let mut max_rss = rss_mb();
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut i = 0;
    while Instant::now() < end {
        if writer.is_finished() {
            break;
        }
        let now = submitted.load(std::sync::atomic::Ordering::Relaxed);
        let k = i % pages.len();
        let ms = get(pages[k].1.clone()).await?;
        times[k].push(ms);
        if now != seen {
            after_new.push(ms);
            seen = now;
        }
        max_rss = max_rss.max(rss_mb());
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if writer.is_finished() {
        if let Ok(Err(e)) = writer.await {
            println!("load generator stopped: {e}");
        }
    } else {
        writer.abort();
    }
    println!(
        "{seconds} s, {} answers through the public form",
        submitted.load(std::sync::atomic::Ordering::Relaxed)
    );
    for ((name, _), v) in pages.iter().zip(times.iter_mut()) {
        summary(name, v);
    }
    summary("first view after a new answer", &mut after_new);
    println!("at the end: {}; RSS peak seen {max_rss:.0} MB", memory());
    // a restart: once the snapshot of the last version is written, a second instance on the
    // same database and frames directory serves its first results page
    // an answer may have been stored as the load stopped: the frame of the last version is
    // loaded (and its snapshot scheduled) by one more view
    get(pages[0].1.clone()).await?;
    let version = store.get_evaluation(ev_id).await?.data_version;
    let meta = frames.path().join(format!("evaluation-{ev_id}.json"));
    let waited = Instant::now();
    loop {
        let written = std::fs::read(&meta)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["version"].as_i64());
        if written == Some(version) || waited.elapsed() > Duration::from_secs(600) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "snapshot of version {version} on disk {:.1} s after the load stopped",
        waited.elapsed().as_secs_f64()
    );
    let second = Application::build_with_store(settings, store.clone(), qs.clone()).await?;
    let base2 = format!("http://127.0.0.1:{}", second.port());
    tokio::spawn(second.run_until_stopped());
    let cold2 = get(format!("{base2}/admin/evaluations/{ev_id}/results")).await?;
    let cold3 = get(format!("{base2}/admin/evaluations/{ev_id}")).await?;
    let cold4 = get(format!(
        "{base2}/admin/evaluations/{ev_id}/units/u00/report"
    ))
    .await?;
    println!(
        "after a restart (frame from the snapshot): first results page {cold2:.0} ms, then the \
         overview {cold3:.0} ms and the unit report {cold4:.0} ms; {} (two instances)",
        memory()
    );
    Ok(())
}
