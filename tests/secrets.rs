//! No secret is ever shown: the private ids, header values and URL userinfo a configuration holds
//! (top-level and in `destinations[i]`) appear in no `Debug` output of a public type and in no
//! message logship returns, whatever the server answers or the configuration gets wrong.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::eventually;
use common::fault::{Fault, FaultServer};
use logship::{Config, Logger};

const PASSWORD: &str = "pw-secret-0";
const TOKEN: &str = "Bearer token-secret-0";
const DESTINATION_TOKEN: &str = "key-secret-1";
const DESTINATION_PASSWORD: &str = "pw-secret-2";

fn ids() -> [String; 3] {
    ["ab", "cd", "ef"].map(|byte| byte.repeat(32))
}

/// Every secret of the configuration below.
fn secrets() -> Vec<String> {
    let mut secrets = ids().to_vec();
    secrets.extend([PASSWORD, TOKEN, DESTINATION_TOKEN, DESTINATION_PASSWORD].map(String::from));
    secrets
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in secrets() {
        assert!(!text.contains(&secret), "{what} shows {secret:?}: {text}");
    }
}

/// Three destinations: two servers that reject every upload with a body echoing every secret
/// (as a misconfigured proxy might), and an address that refuses connections.
fn config_json(rejecting: [&FaultServer; 2], refused: &str) -> String {
    let [id0, id1, id2] = ids();
    let with_userinfo =
        |server: &FaultServer, password: &str| format!("http://user:{password}@{}", server.addr);
    format!(
        r#"{{"base_url":"{}","collection":"secrets.test","private_id":"{id0}",
            "headers":{{"Authorization":"{TOKEN}"}},"flush_delay_ms":0,"retry_initial_ms":20,
            "stderr_level":-1,
            "destinations":[
              {{}},
              {{"base_url":"{}","private_id":"{id1}","headers":{{"X-Key":"{DESTINATION_TOKEN}"}}}},
              {{"base_url":"http://user:{DESTINATION_PASSWORD}@{refused}","private_id":"{id2}"}}]}}"#,
        with_userinfo(rejecting[0], PASSWORD),
        with_userinfo(rejecting[1], DESTINATION_PASSWORD),
    )
}

#[test]
fn no_debug_output_or_message_shows_a_secret() {
    let echo: &'static str = secrets().join(" ").leak();
    let rejecting =
        [(); 2].map(|_| FaultServer::start(None, move |_| Fault::Status(401, vec![], echo)));
    let refused = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let config = Config::from_json(&config_json([&rejecting[0], &rejecting[1]], &refused)).unwrap();
    assert_no_secret("Config's Debug", &format!("{config:?}"));
    assert_no_secret("Destination's Debug", &format!("{:?}", config.destinations));

    let log = Logger::from_config(config).unwrap();
    log.write(b"a line").unwrap();
    let all_failed = eventually(Duration::from_secs(20), || {
        log.destination_stats()
            .iter()
            .all(|d| d.last_error.is_some())
    });
    assert!(
        all_failed,
        "every destination reports its failure: {:?}",
        log.destination_stats()
    );
    assert!(rejecting.iter().all(|server| !server.hits().is_empty()));

    let stats = log.destination_stats();
    for (i, destination) in stats.iter().enumerate() {
        let message = destination.last_error.as_deref().unwrap();
        assert_no_secret(&format!("destinations[{i}]'s last error"), message);
        assert_no_secret(&format!("destinations[{i}]'s name"), &destination.name);
    }
    assert!(
        stats[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("<redacted>"),
        "the server's answer is still quoted, without the secrets: {:?}",
        stats[0].last_error
    );
    assert_no_secret("destination stats' Debug", &format!("{stats:?}"));
    assert_no_secret("Logger's Debug", &format!("{log:?}"));
    assert_no_secret("stats' Debug", &format!("{:?}", log.stats()));
    assert_no_secret("last_error", &log.last_error().unwrap());
    let shutdown = log.shutdown(Duration::from_millis(200));
    assert_no_secret("shutdown's error", &format!("{shutdown:?}"));
}

#[test]
fn configuration_errors_show_no_secret() {
    let [id0, id1, _] = ids();
    let bad_top = format!(
        r#"{{"base_url":"ftp://user:{PASSWORD}@h","collection":"c","private_id":"{id0}"}}"#
    );
    let bad_destination = format!(
        r#"{{"base_url":"http://h","collection":"c","destinations":[
            {{"base_url":"ftp://user:{DESTINATION_PASSWORD}@h","private_id":"{id1}",
              "headers":{{"X-Key":"{DESTINATION_TOKEN}"}}}}]}}"#
    );
    for json in [bad_top, bad_destination] {
        let err = Config::from_json(&json)
            .and_then(|c| c.validate().map(|_| c))
            .map(Logger::from_config)
            .map(|_| ())
            .unwrap_err();
        assert!(
            err.to_string().contains("ftp://h"),
            "names the address: {err}"
        );
        assert_no_secret("a configuration error", &format!("{err} {err:?}"));
    }
    let from_builder = Logger::builder()
        .base_url(&format!("ftp://user:{PASSWORD}@h"))
        .collection("c")
        .header("Authorization", TOKEN)
        .build()
        .unwrap_err();
    assert_no_secret(
        "the builder's error",
        &format!("{from_builder} {from_builder:?}"),
    );
}
