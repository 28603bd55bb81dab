//! The HTTP load loop: `conns` concurrent request loops on one awc client (so at most
//! `conns` connections, kept alive), bounded by a request count and a time limit, and the
//! figures of a run (rate, latency percentiles).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Longest a single request may take before it counts as failed: far above any latency
/// seen here, short enough that a stuck server cannot hang the benchmark.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An awc client for up to `conns` connections.
pub fn client(conns: usize) -> awc::Client {
    awc::Client::builder()
        .connector(awc::Connector::new().limit(conns.max(1)))
        .timeout(REQUEST_TIMEOUT)
        .finish()
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Requests that got the expected answer.
    pub ok: usize,
    /// Requests that did not.
    pub failed: usize,
    /// From the first request sent to the last answer.
    pub elapsed: Duration,
    /// Latency of each successful request, microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// The longest any request took, failed ones included, microseconds.
    pub max_us: u64,
}

impl Run {
    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `p`-th percentile latency (nearest rank), milliseconds.
    pub fn pct_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies_us, p) as f64 / 1000.0
    }
}

/// The `p`-th percentile (nearest rank) of sorted `values`; 0 when there are none.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Runs `conns` loops; each takes the next request number and awaits `send(i)` (true when
/// the answer is the expected one), until `max` requests were sent or `limit` has passed.
pub async fn drive<F, Fut>(conns: usize, max: usize, limit: Duration, send: F) -> Run
where
    F: Fn(usize) -> Fut + 'static,
    Fut: Future<Output = bool> + 'static,
{
    let send = Rc::new(send);
    let next = Rc::new(Cell::new(0usize));
    let run = Rc::new(RefCell::new(Run::default()));
    let start = Instant::now();
    let loops: Vec<_> = (0..conns)
        .map(|_| {
            let (send, next, run) = (send.clone(), next.clone(), run.clone());
            actix_web::rt::spawn(async move {
                loop {
                    let i = next.get();
                    if i >= max || start.elapsed() >= limit {
                        break;
                    }
                    next.set(i + 1);
                    let sent = Instant::now();
                    let ok = send(i).await;
                    let took = sent.elapsed().as_micros() as u64;
                    let mut r = run.borrow_mut();
                    r.max_us = r.max_us.max(took);
                    if ok {
                        r.ok += 1;
                        r.latencies_us.push(took);
                    } else {
                        r.failed += 1;
                    }
                }
            })
        })
        .collect();
    for l in loops {
        l.await.expect("load loop");
    }
    let mut run = run.take();
    run.elapsed = start.elapsed();
    run.latencies_us.sort_unstable();
    run
}

/// POSTs `body` and says whether the answer was 200 with exactly `expect` as its body.
pub async fn post_expect(
    client: &awc::Client,
    url: &str,
    content_type: &str,
    body: actix_web::web::Bytes,
    expect: &[u8],
) -> bool {
    match client
        .post(url)
        .insert_header(("Content-Type", content_type))
        .send_body(body)
        .await
    {
        Ok(mut res) => {
            res.status().as_u16() == 200 && res.body().await.is_ok_and(|b| b.as_ref() == expect)
        }
        Err(_) => false,
    }
}

/// GETs `url` and says whether it answered 200 with a whole body.
pub async fn get_ok(client: &awc::Client, url: &str) -> bool {
    match client.get(url).send().await {
        Ok(mut res) => res.status().as_u16() == 200 && res.body().limit(1 << 20).await.is_ok(),
        Err(_) => false,
    }
}

/// Sends JSON and returns the status and the answer parsed as JSON (Null if it is not).
pub async fn json(
    client: &awc::Client,
    method: awc::http::Method,
    url: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let req = client.request(method, url);
    let sent = match body {
        Some(b) => req.send_json(b).await,
        None => req.send().await,
    };
    match sent {
        Ok(mut res) => {
            let bytes = res.body().limit(16 << 20).await.unwrap_or_default();
            (
                res.status().as_u16(),
                serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
            )
        }
        Err(_) => (0, serde_json::Value::Null),
    }
}
