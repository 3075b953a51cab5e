//! `GET /api/entries` and `GET /api/collections`.

use serde_json::Value;

use crate::{client, get_json, public_id, ship, start};

fn texts(v: &Value) -> Vec<String> {
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let entry = &e["entry"];
            entry["text"]
                .as_str()
                .or(entry["event"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn entries_filter_by_collection_level_search_and_page() {
    let c = start();
    ship(
        &c,
        "web",
        &[
            r#"{"text":"GET /index.html 200"}"#,
            r#"{"v":1,"text":"cache miss for blk_38865049064139660"}"#,
            r#"{"v":2,"text":"connection refused by upstream"}"#,
        ],
    )
    .await;
    ship(
        &c,
        "db",
        &[
            r#"{"text":"checkpoint complete"}"#,
            r#"{"v":1,"event":"slow query","ms":1200}"#,
        ],
    )
    .await;
    let api = |q: &str| format!("{}/api/entries?{q}", c.url());

    let all = get_json(&api("")).await;
    assert_eq!(texts(&all).len(), 5);
    let first = &all["entries"][0];
    assert_eq!(first["collection"], "web");
    assert_eq!(first["public_id"], public_id());
    assert!(first["id"].as_i64().unwrap() > 0);
    assert!(first["received_at"].as_i64().unwrap() > 1_600_000_000_000);
    assert_eq!(
        first["entry"],
        serde_json::json!({"text":"GET /index.html 200"})
    );
    let keys: Vec<_> = first.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 5, "{keys:?}");

    assert_eq!(
        texts(&get_json(&api("collection=db")).await),
        ["checkpoint complete", "slow query"]
    );
    assert_eq!(texts(&get_json(&api("level=1")).await).len(), 2);
    assert_eq!(
        texts(&get_json(&api("level=0&collection=web")).await),
        ["GET /index.html 200"]
    );
    assert_eq!(
        texts(&get_json(&api("level=&collection=&q=")).await).len(),
        5
    );

    // Newest last; a limit keeps the newest; since pages forward from an id.
    let newest = texts(&get_json(&api("limit=2")).await);
    assert_eq!(newest, ["checkpoint complete", "slow query"]);
    let id0 = all["entries"][0]["id"].as_i64().unwrap();
    let page = texts(&get_json(&api(&format!("since={id0}&limit=2"))).await);
    assert_eq!(
        page,
        [
            "cache miss for blk_38865049064139660",
            "connection refused by upstream"
        ]
    );

    // Search: words, case-insensitive, prefix on the last token; also JSON entries' members.
    for (q, want) in [
        ("q=REFUSED", vec!["connection refused by upstream"]),
        ("q=blk_3886", vec!["cache miss for blk_38865049064139660"]),
        ("q=conn%20upstream", vec!["connection refused by upstream"]),
        ("q=slow&collection=db", vec!["slow query"]),
        ("q=slow&collection=web", vec![]),
        ("q=nothing-like-this", vec![]),
        ("q=%22OR%20(", vec![]),
    ] {
        // Whether or not the index has caught up yet, the answer is the same.
        assert_eq!(texts(&get_json(&api(q)).await), want, "{q}");
    }

    for bad in ["level=x", "since=1.5", "limit=-"] {
        let res = client().get(api(bad)).send().await.unwrap();
        assert_eq!(res.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn collections_are_counted() {
    let c = start();
    ship(&c, "b.app", &[r#"{"text":"1"}"#, r#"{"text":"2"}"#]).await;
    ship(&c, "a.app", &[r#"{"text":"3"}"#]).await;
    ship(&c, "b.app", &[r#"{"text":"4"}"#]).await;
    let v = get_json(&format!("{}/api/collections", c.url())).await;
    let got: Vec<_> = v["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["collection"].as_str().unwrap().to_owned(),
                c["entries"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("a.app".to_owned(), 1), ("b.app".to_owned(), 3)]);
}

#[tokio::test]
async fn the_live_view_is_served() {
    let c = start();
    for (path, needle) in [
        ("/", "logship"),
        ("/app.js", "/api/tail"),
        ("/style.css", "--bg"),
    ] {
        let res = client()
            .get(format!("{}{path}", c.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(res.text().await.unwrap().contains(needle), "{path}");
    }
}
