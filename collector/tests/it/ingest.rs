//! `POST /c/{collection}/{private_id}` and `POST /v1/logs`: what is stored, what is refused.

use std::io::Write;

use logship_collector::{Collector, Options};

use crate::{body, client, post, public_id, ship, start, start_with, upload_url, PRIVATE_ID};

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn assert_nothing_stored(c: &Collector, collection: &str) {
    assert!(c.batches().is_empty(), "batches: {:?}", c.batches());
    assert!(c.entries(collection).is_empty());
}

#[tokio::test]
async fn healthz() {
    let c = start();
    let res = client()
        .get(format!("{}/healthz", c.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn plain_zstd_and_gzip_bodies_are_stored_verbatim() {
    let c = start();
    let entries = [
        r#"{"text":"plain one"}"#,
        r#"{"logtail":{"client_time":"2000-01-01T00:00:00Z"},"v":1,"text":"two"}"#,
        r#"{"a": [1, 2],  "b":{"c":null}}"#,
    ];
    let plain = body(&entries);
    let len = plain.len().to_string();
    let url = upload_url(&c, "app.example.com");
    let (status, text) = post(&url, &[], plain.clone()).await;
    assert_eq!(
        (status, text.as_str()),
        (200, r#"{"stored":3,"duplicate":false}"#)
    );
    let zstd_body = zstd(plain.as_bytes());
    let headers = [
        ("Content-Encoding", "zstd"),
        ("Orig-Content-Length", len.as_str()),
    ];
    assert_eq!(post(&url, &headers, zstd_body.clone()).await.0, 200);
    let gzip_body = gzip(plain.as_bytes());
    let headers = [
        ("Content-Encoding", "gzip"),
        ("Orig-Content-Length", len.as_str()),
    ];
    assert_eq!(post(&url, &headers, gzip_body.clone()).await.0, 200);

    let stored = c.entries("app.example.com");
    assert_eq!(stored.len(), 9);
    for (i, e) in stored.iter().enumerate() {
        assert_eq!(e.raw, entries[i % 3]);
        assert_eq!(
            e.entry,
            serde_json::from_str::<serde_json::Value>(entries[i % 3]).unwrap()
        );
        assert_eq!(e.public_id, public_id());
        assert_eq!(e.collection, "app.example.com");
        assert!(e.received_at_ms > 1_600_000_000_000);
    }
    assert!(stored.windows(2).all(|w| w[0].id < w[1].id));
    let batches = c.batches();
    let got: Vec<_> = batches
        .iter()
        .map(|b| {
            (
                b.content_encoding.as_deref(),
                b.wire_bytes,
                b.body_bytes,
                b.entries,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (None, plain.len(), plain.len(), 3),
            (Some("zstd"), zstd_body.len(), plain.len(), 3),
            (Some("gzip"), gzip_body.len(), plain.len(), 3),
        ]
    );
    assert!(batches
        .iter()
        .all(|b| b.batch_id.is_none() && b.collection == "app.example.com"));
}

#[tokio::test]
async fn the_private_id_is_never_stored_or_shown() {
    let c = start();
    ship(&c, "app", &[r#"{"text":"x"}"#]).await;
    let api = client()
        .get(format!("{}/api/entries", c.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(api.contains(&public_id()));
    assert!(!api.contains(PRIVATE_ID));
    assert!(!format!("{:?}", c.entries("app")).contains(PRIVATE_ID));
}

/// Each bad upload gets `status`, a short reason, and stores nothing.
#[tokio::test]
async fn bad_uploads_store_nothing() {
    let c = start_with(Options {
        max_body: 64 * 1024,
        ..Options::default()
    });
    let good = body(&[r#"{"text":"ok"}"#]);
    let zstd_good = zstd(good.as_bytes());
    let truncated_zstd = zstd_good[..zstd_good.len() - 3].to_vec();
    let gzip_good = gzip(good.as_bytes());
    let truncated_gzip = gzip_good[..gzip_good.len() - 10].to_vec();
    let bomb = vec![b' '; 50 << 20];
    let zstd_bomb = zstd(&bomb);
    let gzip_bomb = gzip(&bomb);
    let right_len = good.len().to_string();
    let wrong_len = (good.len() + 1).to_string();
    let short_len = (good.len() - 1).to_string();
    let base = c.url();
    let url = upload_url(&c, "app");
    type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, Vec<u8>, u16);
    let cases: Vec<Case> = vec![
        (
            "collection with a space",
            format!("{base}/c/a%20b/{PRIVATE_ID}"),
            vec![],
            good.clone().into(),
            400,
        ),
        (
            "collection with a slash",
            format!("{base}/c/a%2Fb/{PRIVATE_ID}"),
            vec![],
            good.clone().into(),
            400,
        ),
        (
            "collection too long",
            format!("{base}/c/{}/{PRIVATE_ID}", "a".repeat(129)),
            vec![],
            good.clone().into(),
            400,
        ),
        (
            "uppercase private id",
            format!("{base}/c/app/{}", PRIVATE_ID.to_uppercase()),
            vec![],
            good.clone().into(),
            400,
        ),
        (
            "short private id",
            format!("{base}/c/app/{}", &PRIVATE_ID[1..]),
            vec![],
            good.clone().into(),
            400,
        ),
        (
            "non-hex private id",
            format!("{base}/c/app/{}", "x".repeat(64)),
            vec![],
            good.clone().into(),
            400,
        ),
        ("empty body", url.clone(), vec![], vec![], 400),
        (
            "malformed JSON",
            url.clone(),
            vec![],
            br#"[{"text":"ok"}"#.to_vec(),
            400,
        ),
        (
            "an object, not an array",
            url.clone(),
            vec![],
            br#"{"text":"ok"}"#.to_vec(),
            400,
        ),
        (
            "an array of non-objects",
            url.clone(),
            vec![],
            br#"[{"text":"ok"},"x"]"#.to_vec(),
            400,
        ),
        (
            "trailing garbage",
            url.clone(),
            vec![],
            br#"[{"text":"ok"}] x"#.to_vec(),
            400,
        ),
        (
            "invalid UTF-8",
            url.clone(),
            vec![],
            b"[{\"text\":\"\xff\"}]".to_vec(),
            400,
        ),
        (
            "truncated zstd frame",
            url.clone(),
            vec![("Content-Encoding", "zstd")],
            truncated_zstd,
            400,
        ),
        (
            "zstd that is not zstd",
            url.clone(),
            vec![("Content-Encoding", "zstd")],
            good.clone().into(),
            400,
        ),
        (
            "truncated gzip",
            url.clone(),
            vec![("Content-Encoding", "gzip")],
            truncated_gzip,
            400,
        ),
        (
            "Orig-Content-Length too large",
            url.clone(),
            vec![
                ("Content-Encoding", "zstd"),
                ("Orig-Content-Length", &wrong_len),
            ],
            zstd_good.clone(),
            400,
        ),
        (
            "Orig-Content-Length too small",
            url.clone(),
            vec![
                ("Content-Encoding", "zstd"),
                ("Orig-Content-Length", &short_len),
            ],
            zstd_good.clone(),
            400,
        ),
        (
            "Orig-Content-Length wrong on a plain body",
            url.clone(),
            vec![("Orig-Content-Length", &wrong_len)],
            good.clone().into(),
            400,
        ),
        (
            "Orig-Content-Length not a number",
            url.clone(),
            vec![("Orig-Content-Length", "12x")],
            good.clone().into(),
            400,
        ),
        (
            "Orig-Content-Length over the limit",
            url.clone(),
            vec![
                ("Content-Encoding", "zstd"),
                ("Orig-Content-Length", "100000000"),
            ],
            zstd_good.clone(),
            413,
        ),
        (
            "zstd bomb",
            url.clone(),
            vec![("Content-Encoding", "zstd")],
            zstd_bomb,
            413,
        ),
        (
            "gzip bomb",
            url.clone(),
            vec![("Content-Encoding", "gzip")],
            gzip_bomb,
            413,
        ),
        (
            "plain body over the limit",
            url.clone(),
            vec![],
            body(&[&format!(r#"{{"text":"{}"}}"#, "a".repeat(70_000))]).into(),
            413,
        ),
        (
            "unknown Content-Encoding",
            url.clone(),
            vec![("Content-Encoding", "br")],
            good.clone().into(),
            415,
        ),
        (
            "bad Logship-Batch",
            url.clone(),
            vec![("Logship-Batch", "a b")],
            good.clone().into(),
            400,
        ),
    ];
    for (name, url, headers, body, want) in cases {
        let (status, reason) = post(&url, &headers, body).await;
        assert_eq!(status, want, "{name}: {reason}");
        assert!(
            !reason.trim().is_empty() && reason.len() < 200,
            "{name}: {reason:?}"
        );
        assert!(
            !reason.contains(PRIVATE_ID) && !reason.contains(&PRIVATE_ID.to_uppercase()),
            "{name}"
        );
        assert_nothing_stored(&c, "app");
    }
    // And the same collector still takes a good upload with the right length.
    let headers = [
        ("Content-Encoding", "zstd"),
        ("Orig-Content-Length", right_len.as_str()),
    ];
    assert_eq!(post(&url, &headers, zstd_good).await.0, 200);
    assert_eq!(c.entries("app").len(), 1);
}

#[tokio::test]
async fn token_is_required_when_set() {
    let c = start_with(Options {
        token: Some("s3cret".into()),
        ..Options::default()
    });
    let url = upload_url(&c, "app");
    let good = body(&[r#"{"text":"ok"}"#]);
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("s3cret"),
        Some("Basic s3cret"),
    ] {
        let headers: Vec<_> = auth.iter().map(|a| ("Authorization", *a)).collect();
        let (status, _) = post(&url, &headers, good.clone()).await;
        assert_eq!(status, 401, "{auth:?}");
    }
    let otlp = format!("{}/v1/logs", c.url());
    assert_eq!(post(&otlp, &[], r#"{"resourceLogs":[]}"#).await.0, 401);
    assert_nothing_stored(&c, "app");
    let (status, _) = post(&url, &[("Authorization", "Bearer s3cret")], good).await;
    assert_eq!(status, 200);
    assert_eq!(c.entries("app").len(), 1);
}

#[tokio::test]
async fn cors_preflight_and_responses_allow_any_origin() {
    let c = start_with(Options {
        token: Some("t".into()),
        ..Options::default()
    });
    let url = upload_url(&c, "web.example.com");
    let res = client()
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", "https://somewhere.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-encoding,content-type,logship-batch,orig-content-length",
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], "*");
    let methods = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_ascii_uppercase();
    for m in ["POST", "GET", "OPTIONS"] {
        assert!(methods.contains(m), "{methods}");
    }
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "authorization",
        "content-encoding",
        "content-type",
        "logship-batch",
        "orig-content-length",
    ] {
        assert!(allowed.contains(name), "{allowed}");
    }
    let res = client()
        .post(&url)
        .header("Origin", "https://somewhere.example")
        .header("Authorization", "Bearer t")
        .body(body(&[r#"{"text":"from a browser"}"#]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn a_batch_is_stored_once_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        db: Some(dir.path().join("logship.db")),
        ..Options::default()
    };
    let first = body(&[r#"{"text":"one"}"#, r#"{"text":"two"}"#]);
    let batch = [("Logship-Batch", "0123456789abcdef-1")];
    let c = start_with(opts.clone());
    let url = upload_url(&c, "app");
    assert_eq!(
        post(&url, &batch, first.clone()).await,
        (200, r#"{"stored":2,"duplicate":false}"#.into())
    );
    assert_eq!(
        post(&url, &batch, first.clone()).await,
        (200, r#"{"stored":0,"duplicate":true}"#.into())
    );
    // Same id, other collection: a different batch.
    assert_eq!(
        post(&upload_url(&c, "other"), &batch, first.clone())
            .await
            .0,
        200
    );
    // Concurrent retries of one batch: exactly one is stored.
    let retries = (0..8).map(|_| {
        let url = url.clone();
        let b = first.clone();
        tokio::spawn(async move { post(&url, &[("Logship-Batch", "0123456789abcdef-2")], b).await })
    });
    for r in retries {
        assert_eq!(r.await.unwrap().0, 200);
    }
    assert_eq!(c.entries("app").len(), 4);
    let stopping = std::time::Instant::now();
    c.stop();
    assert!(
        stopping.elapsed().as_secs() < 3,
        "stop took {:?}",
        stopping.elapsed()
    );

    let c = start_with(opts.clone());
    let url = upload_url(&c, "app");
    assert_eq!(
        post(&url, &batch, first.clone()).await,
        (200, r#"{"stored":0,"duplicate":true}"#.into())
    );
    let next = [("Logship-Batch", "0123456789abcdef-3")];
    assert_eq!(post(&url, &next, first).await.0, 200);
    let texts: Vec<_> = c.entries("app").into_iter().map(|e| e.raw).collect();
    assert_eq!(texts.len(), 6);
    assert_eq!(texts[0], r#"{"text":"one"}"#);
    let ids: Vec<_> = c
        .batches()
        .into_iter()
        .map(|b| b.batch_id.unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "0123456789abcdef-1",
            "0123456789abcdef-1",
            "0123456789abcdef-2",
            "0123456789abcdef-3"
        ]
    );
    let addr = c.addr();
    drop(c);
    // Dropping released the port and the database.
    std::net::TcpListener::bind(addr).expect("the port is free again");
    // SQLite removes the WAL file when its last connection closes.
    assert!(dir.path().join("logship.db").exists());
    assert!(!dir.path().join("logship.db-wal").exists());
}

#[tokio::test]
async fn otlp_json_records_are_entries_of_their_service() {
    let c = start();
    let url = format!("{}/v1/logs", c.url());
    let req = r#"{"resourceLogs":[{
        "resource":{"attributes":[{"key":"host.name","value":{"stringValue":"h"}},{"key":"service.name","value":{"stringValue":"otel.app"}}]},
        "scopeLogs":[{"scope":{"name":"logship"},"logRecords":[
            {"timeUnixNano":"1700000000000000000","severityNumber":9,"body":{"stringValue":"hello otlp"}},
            {"timeUnixNano":"1700000000000000001","severityNumber":17,"body":{"kvlistValue":{"values":[{"key":"k","value":{"intValue":"1"}}]}}}
        ]}]}]}"#;
    let (status, text) = post(&url, &[("Content-Type", "application/json")], req).await;
    assert_eq!((status, text.as_str()), (200, "{}"));
    let stored = c.entries("otel.app");
    assert_eq!(stored.len(), 2);
    assert_eq!(
        stored[0].raw,
        r#"{"timeUnixNano":"1700000000000000000","severityNumber":9,"body":{"stringValue":"hello otlp"}}"#
    );
    assert_eq!(stored[1].entry["severityNumber"], 17);
    assert_eq!(stored[0].public_id, "");
    // Compressed and deduplicated like logtail uploads.
    let gz = gzip(req.as_bytes());
    let headers = [
        ("Content-Encoding", "gzip"),
        ("Logship-Batch", "00000000000000ff-1"),
    ];
    assert_eq!(post(&url, &headers, gz.clone()).await.0, 200);
    assert_eq!(post(&url, &headers, gz).await.1, "{}");
    assert_eq!(c.entries("otel.app").len(), 4);

    let before = c.batches().len();
    for (bad, want) in [
        (
            r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":["x"]}]}]}"#,
            400,
        ),
        (r#"{"resourceLogs":{}}"#, 400),
        (
            r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"bad name"}}]},"scopeLogs":[]}]}"#,
            400,
        ),
        ("not json", 400),
    ] {
        assert_eq!(post(&url, &[], bad).await.0, want, "{bad}");
    }
    // Protobuf is taken too (tests/it/otlp.rs), but these bytes are not a request; other types are 415.
    let protobuf = [("Content-Type", "application/x-protobuf")];
    assert_eq!(post(&url, &protobuf, vec![0u8; 4]).await.0, 400);
    let text = [("Content-Type", "text/plain")];
    assert_eq!(post(&url, &text, "{}").await.0, 415);
    assert_eq!(c.batches().len(), before);
}
