//! A small HTTP/1.1 server on loopback that answers with faults on script and forwards the rest to
//! a real collector: for retry, timeout and reset behaviour against real sockets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status, extra headers and body.
    Status(u16, Vec<(&'static str, String)>, &'static str),
    /// Read the request, never answer (until the server stops).
    Hang,
    /// Close the connection without an answer.
    Reset,
    /// Pass the request to the upstream collector.
    Forward,
    /// Read half the body, then close the connection.
    ResetMidBody,
    /// Wait this long, then forward (the client may have given up and retried by then).
    Stall(Duration),
    /// Forward (the collector stores the batch), then close without passing the answer on.
    ForwardThenReset,
    /// 413 when this is the first request with its `Logship-Batch` id, else 500. A server's
    /// size check is the same for every attempt of one body, so a 413 never follows an attempt
    /// that may have been stored; a 413 after one would make the halves duplicates (new ids).
    TooLargeIfNew,
}

/// Every `Logship-Batch` id any fault server has seen (ids are random per logger).
fn first_sighting(batch_id: Option<&str>) -> bool {
    static SEEN: std::sync::OnceLock<Mutex<std::collections::HashSet<String>>> =
        std::sync::OnceLock::new();
    let seen = SEEN.get_or_init(Mutex::default);
    batch_id.is_none_or(|id| seen.lock().unwrap().insert(id.to_owned()))
}

/// A seeded script for [`FaultServer::start`]: a `rate` share of requests (0.0–1.0) meet a fault
/// picked at random among resets mid-body, stalls of `stall`, 500, 429, 413 and a reset after
/// the collector stored the batch; the rest are forwarded.
pub fn random_faults(seed: u64, rate: f64, stall: Duration) -> impl Fn(usize) -> Fault {
    move |n| {
        let mut rng =
            fastrand::Rng::with_seed(seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        if rng.f64() >= rate {
            return Fault::Forward;
        }
        match rng.u8(..6) {
            0 => Fault::ResetMidBody,
            1 => Fault::Stall(stall),
            2 => Fault::Status(500, vec![], "injected"),
            3 => Fault::Status(429, vec![], "injected"),
            4 => Fault::TooLargeIfNew,
            _ => Fault::ForwardThenReset,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Hit {
    pub at: Instant,
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
    /// The request body as it came (compressed when the request was).
    pub body: Vec<u8>,
    /// The request line's path, e.g. `/v1/logs`.
    pub path: String,
    pub fault: Fault,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Script = dyn Fn(usize) -> Fault + Send + Sync;

pub struct FaultServer {
    pub addr: SocketAddr,
    pub hits: Arc<Mutex<Vec<Hit>>>,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl FaultServer {
    /// `script(n)` decides the fault for the n-th request (from 0).
    pub fn start(
        upstream: Option<SocketAddr>,
        script: impl Fn(usize) -> Fault + Send + Sync + 'static,
    ) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let count = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let (hits2, stop2, connections2) = (hits.clone(), stop.clone(), connections.clone());
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        connections2.fetch_add(1, Ordering::SeqCst);
                        let (hits, stop, script, count) =
                            (hits2.clone(), stop2.clone(), script.clone(), count.clone());
                        thread::spawn(move || {
                            serve(stream, upstream, &hits, &stop, &*script, &count)
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FaultServer {
            addr,
            hits,
            connections,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    stream: TcpStream,
    upstream: Option<SocketAddr>,
    hits: &Mutex<Vec<Hit>>,
    stop: &AtomicBool,
    script: &Script,
    count: &AtomicUsize,
) {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut head = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => head.push(line.trim_end().to_owned()),
                Err(_) if stop.load(Ordering::Relaxed) => return,
                Err(_) if head.is_empty() => continue,
                Err(_) => return,
            }
        }
        let headers: Vec<(String, String)> = head[1..]
            .iter()
            .filter_map(|h| {
                h.split_once(':')
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            })
            .collect();
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0; len];
        reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok();
        let batch_id = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("logship-batch"))
            .map(|(_, v)| v.as_str());
        let first = first_sighting(batch_id);
        let fault = match script(count.fetch_add(1, Ordering::SeqCst)) {
            Fault::TooLargeIfNew if first => Fault::Status(413, vec![], "injected"),
            Fault::TooLargeIfNew => Fault::Status(500, vec![], "injected"),
            fault => fault,
        };
        if let Fault::ResetMidBody = fault {
            let _ = reader.read_exact(&mut body[..len / 2]);
            return;
        }
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(200)))
            .ok();
        hits.lock().unwrap().push(Hit {
            at: Instant::now(),
            headers: headers.clone(),
            body_len: len,
            body: body.clone(),
            path: head[0].split(' ').nth(1).unwrap_or_default().to_owned(),
            fault: fault.clone(),
        });
        match fault {
            Fault::Status(status, extra, text) => {
                let mut response = format!(
                    "HTTP/1.1 {status} Fault\r\nContent-Length: {}\r\n",
                    text.len()
                );
                for (k, v) in extra {
                    response.push_str(&format!("{k}: {v}\r\n"));
                }
                response.push_str("\r\n");
                response.push_str(text);
                if out.write_all(response.as_bytes()).is_err() {
                    return;
                }
            }
            Fault::Hang => {
                while !stop.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_millis(20));
                }
                return;
            }
            Fault::Reset | Fault::ResetMidBody | Fault::TooLargeIfNew => return,
            Fault::Stall(_) | Fault::Forward | Fault::ForwardThenReset => {
                if let Fault::Stall(delay) = fault {
                    thread::sleep(delay);
                }
                let mut up =
                    TcpStream::connect(upstream.expect("an upstream to forward to")).unwrap();
                let mut request = format!("{}\r\n", head[0]);
                for (k, v) in headers
                    .iter()
                    .filter(|(k, _)| !k.eq_ignore_ascii_case("connection"))
                {
                    request.push_str(&format!("{k}: {v}\r\n"));
                }
                request.push_str("Connection: close\r\n\r\n");
                up.write_all(request.as_bytes()).unwrap();
                up.write_all(&body).unwrap();
                let mut response = Vec::new();
                up.read_to_end(&mut response).unwrap();
                if let Fault::ForwardThenReset = fault {
                    return;
                }
                if out.write_all(&response).is_err() {
                    return;
                }
                return; // the upstream said Connection: close
            }
        }
    }
}
