//! Hostile clients on raw TCP (loopback): a chunked body past the limit, many multipart parts,
//! a body sent a byte at a time, and one address opening many connections. Each case is
//! bounded in bytes and seconds; `/health` keeps answering throughout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use pingyi::store::Backend;

use crate::helpers::{spawn_app_with, TestApp};

const LIMIT: usize = 1024 * 1024;

async fn app_with_small_limits(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |s| {
        s.max_upload_bytes = LIMIT;
        s.edge.body_grace = Duration::from_secs(1);
        s.edge.body_min_bytes_per_sec = 1024;
        s.edge.max_connections_per_client = 16;
    })
    .await
}

/// The status code of the first response line in `buf`.
fn status_of(buf: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(buf);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Sends `head`, then chunks of `chunk` bytes (chunked encoding) until the server answers,
/// closes, or `cap` bytes went out. Returns (status, bytes sent).
fn chunked_flood(addr: SocketAddr, head: String, cap: usize) -> (Option<u16>, usize) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = s.try_clone().unwrap();
    let got = std::thread::spawn(move || {
        reader
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = reader.read(&mut buf).unwrap_or(0);
        buf.truncate(n);
        buf
    });
    s.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0usize;
    while sent < cap && !got.is_finished() {
        let frame = format!("{:x}\r\n", chunk.len());
        if s.write_all(frame.as_bytes()).is_err()
            || s.write_all(&chunk).is_err()
            || s.write_all(b"\r\n").is_err()
        {
            break;
        }
        sent += chunk.len();
    }
    let buf = got.join().unwrap();
    (status_of(&buf), sent)
}

/// `/health` answers 200 (the client's timeout only bounds a hang); the time it took, for
/// the printed figures.
async fn health_ms(app: &TestApp) -> u128 {
    let t = Instant::now();
    let r = app
        .client
        .get(app.url("/health"))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("/health answers");
    assert_eq!(r.status(), 200);
    t.elapsed().as_millis()
}

async fn body_limits(backend: Backend) {
    let Some(app) = app_with_small_limits(backend).await else {
        return;
    };
    pingyi::demo::load(&app.store).await.unwrap();
    let eid = app
        .store
        .list_evaluations()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.status == pingyi::store::EvaluationStatus::Open)
        .unwrap()
        .id;
    let (_, key) =
        pingyi::commands::accounts::create_firm_with_key(&app.store, "示范调查公司", &[eid], "")
            .await
            .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", app.port).parse().unwrap();

    // a chunked upload is stopped at the limit, not after it has grown far past it
    let head = format!(
        "POST /api/v1/evaluations/{eid}/uploads?questionnaire=resident&method=phone HTTP/1.1\r\n\
         Host: localhost\r\nAuthorization: Bearer {key}\r\nContent-Type: text/csv\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    let cap = 64 * LIMIT;
    let (status, sent) = tokio::task::spawn_blocking(move || chunked_flood(addr, head, cap))
        .await
        .unwrap();
    println!("chunked upload: answered {status:?} after {sent} bytes sent (limit {LIMIT})");
    assert_eq!(status, Some(413));
    assert!(sent < cap, "the server read all {sent} bytes");

    // a chunked multipart body: the limit is for all parts together
    let boundary = "xXxXbOuNdArY";
    let head = format!(
        "POST /api/v1/evaluations/{eid}/uploads HTTP/1.1\r\nHost: localhost\r\n\
         Authorization: Bearer {key}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    let (status, sent) = tokio::task::spawn_blocking(move || chunked_flood(addr, head, cap))
        .await
        .unwrap();
    println!("chunked multipart: answered {status:?} after {sent} bytes");
    assert!(matches!(status, Some(413) | Some(400)), "{status:?}");
    assert!(sent < cap);

    // many parts, each under the limit, together over it (announced with Content-Length)
    let mut body = Vec::new();
    for i in 0..5 {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"extra{i}\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend(std::iter::repeat_n(b'y', LIMIT / 3));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.csv\"\r\n\r\n{}\r\n--{boundary}--\r\n",
            crate::uploads::resident_csv(3, None)
        )
        .as_bytes(),
    );
    let head = format!(
        "POST /api/v1/evaluations/{eid}/uploads?questionnaire=resident&method=phone HTTP/1.1\r\n\
         Host: localhost\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (status, reply) = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        // the answer may come before the body is sent: stop writing when the server closes
        for piece in body.chunks(64 * 1024) {
            if s.write_all(piece).is_err() {
                break;
            }
        }
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        (status_of(&buf), String::from_utf8_lossy(&buf).into_owned())
    })
    .await
    .unwrap();
    assert_eq!(status, Some(413), "{reply}");
    assert!(reply.contains("payload_too_large"), "{reply}");
    assert!(!app
        .store
        .list_batches(eid)
        .await
        .unwrap()
        .iter()
        .any(|b| b.file_name == "f.csv"));
    // the service still answers (how fast is a figure, printed, not a claim)
    println!("/health after the refusals: {} ms", health_ms(&app).await);
}
crate::both_backends!(edge_body_limits, body_limits);

/// A body that trickles in is cut off with 408 soon after the grace; `/health` answers
/// meanwhile.
async fn slow_bodies_and_many_connections(backend: Backend) {
    let Some(app) = app_with_small_limits(backend).await else {
        return;
    };
    let (_, link) = crate::survey::demo_link(&app).await;
    let addr: SocketAddr = format!("127.0.0.1:{}", app.port).parse().unwrap();
    let path = format!("/s/{}", link.code);
    let slow = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000\r\n\r\n"
        );
        s.write_all(head.as_bytes()).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let started = Instant::now();
        let mut buf = vec![0u8; 4096];
        while started.elapsed() < Duration::from_secs(15) {
            if s.write_all(b"a").is_err() {
                break;
            }
            match s.read(&mut buf) {
                Ok(n) if n > 0 => return (status_of(&buf[..n]), started.elapsed()),
                Ok(_) => return (None, started.elapsed()),
                Err(_) => {}
            }
        }
        (None, started.elapsed())
    });
    let mut health = Vec::new();
    while !slow.is_finished() {
        health.push(health_ms(&app).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, took) = slow.await.unwrap();
    println!(
        "a body at 5 bytes/s: {status:?} after {took:?}; /health max {:?} ms",
        health.iter().max()
    );
    // refused while the body was still trickling in (how soon is the figure printed above)
    assert_eq!(status, Some(408));

    // one address opens 60 connections and sends nothing: it keeps its 16, the rest are
    // closed at once, and another address is served
    let flood = tokio::task::spawn_blocking(move || {
        let mut held = Vec::new();
        for _ in 0..60 {
            let sock =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            let from: SocketAddr = "127.0.0.2:0".parse().unwrap();
            sock.bind(&from.into()).unwrap();
            if sock.connect(&addr.into()).is_ok() {
                held.push(TcpStream::from(sock));
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let (mut open, mut closed) = (0, 0);
        for s in &mut held {
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let mut b = [0u8; 64];
            match s.read(&mut b) {
                Ok(0) => closed += 1,
                Ok(_) => open += 1,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    open += 1
                }
                Err(_) => closed += 1,
            }
        }
        (open, closed, held)
    });
    let (open, closed, held) = flood.await.unwrap();
    let ms = health_ms(&app).await;
    println!("60 connections from one address: {open} kept, {closed} closed; /health {ms} ms");
    assert!(open <= 16, "{open} kept");
    assert!(closed >= 44, "{closed} closed");
    drop(held);
}
crate::both_backends!(edge_slow_clients, slow_bodies_and_many_connections);
