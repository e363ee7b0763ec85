//! Every fault, scripted from the builder, the handle and the control endpoint; random faults.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::*;
use pipevideo_emulator::{
    Emulator, Fault, FaultConfig, FaultRule, FaultTiming, RandomFaults, RetryAfterHeader,
};
use serde_json::{Value, json};

#[tokio::test]
async fn server_error_before_processing_creates_nothing() {
    let emu = fast()
        .fault(
            FaultRule::new(Fault::ServerError)
                .path("/v1/responses")
                .times(2),
        )
        .start()
        .await
        .unwrap();
    for _ in 0..2 {
        let r = post(&emu, "/responses", Some(emu.demo_key()), &create_body("x")).await;
        assert_eq!(r.status, 500);
        assert_eq!(r.json()["message"], "Internal server error");
    }
    assert!(emu.generations().is_empty());
    let third = post(&emu, "/responses", Some(emu.demo_key()), &create_body("x")).await;
    assert_eq!(third.status, 200, "a burst of exactly two");
    let log = emu.requests();
    for e in &log[..2] {
        let f = e.fault.as_ref().unwrap();
        assert_eq!(
            (f.kind.as_str(), f.timing),
            ("server_error", FaultTiming::Before)
        );
        assert_eq!(e.generation_created, None);
        assert_eq!(e.status, 500);
    }
    assert_eq!(log[2].fault, None);
    assert!(log[2].generation_created.is_some());
}

#[tokio::test]
async fn server_error_after_processing_loses_the_response_of_a_created_generation() {
    let emu = fast().start().await.unwrap();
    emu.push_fault(FaultRule::new(Fault::ServerError).method("POST").after());
    // A GET does not match the POST-only rule.
    assert_eq!(get(&emu, "/usage", Some(emu.demo_key())).await.status, 200);
    let r = post(
        &emu,
        "/video/generations",
        Some(emu.demo_key()),
        &legacy_body("x"),
    )
    .await;
    assert_eq!(r.status, 500);
    let gens = emu.generations();
    assert_eq!(
        gens.len(),
        1,
        "the generation exists although the client saw a 500"
    );
    let e = emu.requests().pop().unwrap();
    assert_eq!(e.fault.unwrap().timing, FaultTiming::After);
    assert_eq!(e.generation_created.as_deref(), Some(gens[0].id.as_str()));
    assert!(emu.faults().rules.is_empty(), "used up");
}

#[tokio::test]
async fn rate_limit_storms_with_and_without_data_and_headers() {
    let emu = fast().start().await.unwrap();
    emu.set_faults(
        FaultConfig::new()
            .rule(FaultRule::new(Fault::rate_limited(42.0)))
            .rule(FaultRule::new(Fault::RateLimited {
                retry_after: 42.0,
                with_data: false,
                header: RetryAfterHeader::Seconds,
            }))
            .rule(FaultRule::new(Fault::RateLimited {
                retry_after: 250.0,
                with_data: true,
                header: RetryAfterHeader::HttpDate,
            })),
    );
    let key = emu.demo_key().to_owned();
    let a = get(&emu, "/usage", Some(&key)).await;
    assert_eq!(a.status, 429);
    assert_eq!(
        a.json(),
        json!({ "message": "Rate limit exceeded. Please try again later.", "data": { "retry_after": 0.42 } })
    );
    assert_eq!(a.header("retry-after"), None);

    let b = get(&emu, "/usage", Some(&key)).await;
    assert_eq!(b.status, 429);
    assert_eq!(
        b.json(),
        json!({ "message": "Rate limit exceeded. Please try again later." })
    );
    assert_eq!(
        b.header("retry-after"),
        Some("1"),
        "0.42 s rounded up to whole seconds"
    );

    let c = get(&emu, "/usage", Some(&key)).await;
    assert_eq!(c.json()["data"]["retry_after"], 2.5);
    let date = httpdate::parse_http_date(c.header("retry-after").unwrap()).unwrap();
    let ahead = date.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(
        ahead >= Duration::from_millis(1500) && ahead <= Duration::from_secs(4),
        "{ahead:?}"
    );

    assert_eq!(get(&emu, "/usage", Some(&key)).await.status, 200);
}

#[tokio::test]
async fn proxy_html_pages() {
    let emu = fast().start().await.unwrap();
    for (fault, status) in [
        (Fault::BadGatewayHtml, 502),
        (Fault::ServiceUnavailableHtml, 503),
        (Fault::GatewayTimeoutHtml, 504),
    ] {
        emu.push_fault(FaultRule::new(fault));
        let r = get(&emu, "/usage", Some(emu.demo_key())).await;
        assert_eq!(r.status, status);
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        assert!(serde_json::from_slice::<Value>(&r.body).is_err());
        assert!(String::from_utf8_lossy(&r.body).contains(&status.to_string()));
    }
}

#[tokio::test]
async fn reset_mid_body_cuts_the_connection_after_part_of_the_body() {
    let emu = fast().start().await.unwrap();
    emu.push_fault(
        FaultRule::new(Fault::ResetMidBody)
            .path("/v1/responses")
            .method("POST"),
    );
    let url = format!("{}/responses", emu.base_url());
    let err = try_send(
        "POST",
        &url,
        Some(emu.demo_key()),
        &[],
        Some(&create_body("x")),
    )
    .await
    .unwrap_err();
    assert!(
        err.starts_with("body:"),
        "headers arrived, the body did not: {err}"
    );
    // Resets need a real response: processed, generation made, recorded as `after`.
    let e = emu.requests().pop().unwrap();
    assert_eq!(e.fault.unwrap().timing, FaultTiming::After);
    assert!(e.generation_created.is_some());
    assert_eq!(emu.generations().len(), 1);
    // The server is fine afterwards.
    assert_eq!(get(&emu, "/usage", Some(emu.demo_key())).await.status, 200);
}

#[tokio::test]
async fn reset_mid_body_as_seen_on_a_raw_socket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let emu = fast().start().await.unwrap();
    emu.push_fault(FaultRule::new(Fault::ResetMidBody));
    let mut sock = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    sock.write_all(b"GET /v1/engines HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), sock.read_to_end(&mut raw))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"));
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        !body.is_empty() && body.len() < len,
        "{} of {len} bytes",
        body.len()
    );
}

#[tokio::test]
async fn slow_headers_delay_the_response_in_real_time() {
    let emu = fast().start().await.unwrap();
    emu.push_fault(FaultRule::new(Fault::SlowHeaders { delay_ms: 300 }));
    emu.push_fault(FaultRule::new(Fault::SlowHeaders { delay_ms: 300 }).after());
    for _ in 0..2 {
        let t = Instant::now();
        let r = get(&emu, "/engines", None).await;
        assert!(t.elapsed() >= Duration::from_millis(300));
        assert_eq!(r.status, 200);
        assert!(r.json()["engines"].is_array());
    }
    let t = Instant::now();
    get(&emu, "/engines", None).await;
    assert!(t.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn truncated_json_keeps_http_intact() {
    let emu = fast().start().await.unwrap();
    emu.push_fault(FaultRule::new(Fault::TruncatedJson));
    let r = get(&emu, "/engines", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        r.body.len()
    );
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    let whole = get(&emu, "/engines", None).await;
    assert_eq!(r.body.len(), whole.body.len() / 2);
    assert!(whole.body.starts_with(&r.body));
}

#[tokio::test]
async fn orpc_shaped_error_bodies() {
    let emu = fast().start().await.unwrap();
    emu.push_fault(FaultRule::new(Fault::OrpcError { status: 500 }));
    emu.push_fault(FaultRule::new(Fault::OrpcError { status: 429 }));
    let a = get(&emu, "/usage", Some(emu.demo_key())).await;
    assert_eq!(a.status, 500);
    assert_eq!(
        a.json(),
        json!({ "defined": false, "code": "INTERNAL_SERVER_ERROR", "status": 500, "message": "Internal server error" })
    );
    let b = get(&emu, "/usage", Some(emu.demo_key())).await;
    assert_eq!(b.status, 429);
    assert_eq!(b.json()["code"], "TOO_MANY_REQUESTS");
    assert_eq!(b.json()["data"]["retry_after"], 0.02);
}

#[tokio::test]
async fn unknown_status_strings() {
    let emu = fast().start().await.unwrap();
    let c = post(&emu, "/responses", Some(emu.demo_key()), &create_body("x"))
        .await
        .json();
    let path = format!("/responses/{}", c["id"].as_str().unwrap());
    emu.push_fault(
        FaultRule::new(Fault::UnknownStatus {
            status: "rendering".into(),
        })
        .path("/v1/responses/"),
    );
    let r = get(&emu, &path, Some(emu.demo_key())).await.json();
    assert_eq!(r["status"], "rendering");
    assert_eq!(r["id"], c["id"]);
    assert_ne!(
        get(&emu, &path, Some(emu.demo_key())).await.json()["status"],
        "rendering"
    );
}

#[tokio::test]
async fn huge_bodies_stay_valid_json() {
    let emu = fast().start().await.unwrap();
    emu.push_fault(FaultRule::new(Fault::HugeBody { bytes: 3_000_000 }));
    let r = get(&emu, "/usage", Some(emu.demo_key())).await;
    assert!(r.body.len() > 3_000_000);
    assert_eq!(
        r.header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        r.body.len()
    );
    let v = r.json();
    assert_eq!(v["padding"].as_str().unwrap().len(), 3_000_000);
    assert_eq!(v["credit_balance"], 10_000);
}

#[tokio::test]
async fn control_endpoint_sets_shows_and_clears_faults() {
    let emu = fast().start().await.unwrap();
    let rule = json!({ "path_prefix": "/v1/responses", "method": "POST", "count": 2, "fault": { "kind": "bad_gateway_html" }, "timing": "after" });
    let r = control(&emu, "POST", "/_emulator/faults", Some(&rule)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["rules"][0]["count"], 2);
    let many = json!([{ "fault": { "kind": "server_error" } }, { "fault": { "kind": "rate_limited", "retry_after": 5 } }]);
    assert_eq!(
        control(&emu, "POST", "/_emulator/faults", Some(&many))
            .await
            .json()["rules"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        control(
            &emu,
            "POST",
            "/_emulator/faults",
            Some(&json!({ "fault": { "kind": "nope" } }))
        )
        .await
        .status,
        400
    );

    assert_eq!(
        post(&emu, "/responses", Some(emu.demo_key()), &create_body("x"))
            .await
            .status,
        502
    );
    assert_eq!(emu.generations().len(), 1, "timing after: created");
    assert_eq!(
        control(&emu, "GET", "/_emulator/faults", None).await.json()["rules"][0]["count"],
        1
    );
    // The next GET takes the first rule that matches a GET: the server error.
    assert_eq!(get(&emu, "/usage", Some(emu.demo_key())).await.status, 500);

    assert_eq!(
        control(&emu, "DELETE", "/_emulator/faults", None)
            .await
            .status,
        200
    );
    assert_eq!(emu.faults(), FaultConfig::default());
    assert_eq!(get(&emu, "/usage", Some(emu.demo_key())).await.status, 200);

    // Random faults over HTTP, and the log over HTTP.
    let random = json!({ "seed": 1, "faults": [[{ "kind": "server_error" }, 1.0]], "after_probability": 0.0 });
    assert_eq!(
        control(&emu, "PUT", "/_emulator/faults/random", Some(&random))
            .await
            .status,
        200
    );
    assert_eq!(get(&emu, "/usage", Some(emu.demo_key())).await.status, 500);
    assert_eq!(
        control(&emu, "PUT", "/_emulator/faults/random", Some(&Value::Null))
            .await
            .status,
        200
    );
    assert_eq!(get(&emu, "/usage", Some(emu.demo_key())).await.status, 200);

    let log = control(&emu, "GET", "/_emulator/log?since=3", None)
        .await
        .json();
    let log = log.as_array().unwrap();
    assert_eq!(log[0]["seq"], 3);
    assert_eq!(log[0]["fault"]["kind"], "server_error");
    assert!(
        log.iter()
            .all(|e| !e["path"].as_str().unwrap().starts_with("/_emulator"))
    );
    let health = control(&emu, "GET", "/_emulator/health", None).await.json();
    assert_eq!(health["base_url"], emu.base_url());
}

#[tokio::test]
async fn random_faults_are_seeded_and_never_touch_control_routes() {
    async fn run(seed: u64) -> Vec<(u16, Option<String>)> {
        let emu = fast()
            .no_rate_limit()
            .random_faults(RandomFaults::chaos(seed, 0.5))
            .start()
            .await
            .unwrap();
        let mut out = Vec::new();
        for _ in 0..40 {
            let url = format!("{}/engines", emu.base_url());
            let status = match try_send("GET", &url, None, &[], None).await {
                Ok(r) => r.status,
                Err(_) => 0,
            };
            out.push(status);
        }
        assert_eq!(
            control(&emu, "GET", "/_emulator/health", None).await.status,
            200
        );
        emu.requests()
            .into_iter()
            .zip(out)
            .map(|(e, s)| (s, e.fault.map(|f| f.kind)))
            .collect()
    }
    let a = run(3).await;
    assert_eq!(
        a.iter().map(|x| &x.1).collect::<Vec<_>>(),
        run(3).await.iter().map(|x| &x.1).collect::<Vec<_>>()
    );
    let hit = a.iter().filter(|x| x.1.is_some()).count();
    assert!((8..=32).contains(&hit), "about half: {hit}");
    assert!(a.iter().any(|x| x.0 == 0), "some resets");
    assert!(a.iter().any(|x| x.0 == 429));
    assert!(a.iter().any(|x| x.0 == 200 && x.1.is_none()));
}

#[tokio::test]
async fn faults_can_be_loaded_from_json_config() {
    let cfg: FaultConfig = serde_json::from_value(json!({
        "rules": [{ "fault": { "kind": "slow_headers", "delay_ms": 1 } }, { "fault": { "kind": "huge_body" } }],
        "random": { "faults": [[{ "kind": "unknown_status" }, 0.1]] }
    }))
    .unwrap();
    assert_eq!(cfg.rules[0].path_prefix, "/v1");
    assert_eq!(cfg.rules[0].timing, FaultTiming::Before);
    assert_eq!(
        cfg.rules[1].fault,
        Fault::HugeBody {
            bytes: 8 * 1024 * 1024
        }
    );
    assert_eq!(
        cfg.random.as_ref().unwrap().faults[0].0,
        Fault::UnknownStatus {
            status: "rendering".into()
        }
    );
    assert_eq!(cfg.random.unwrap().after_probability, 0.5);
    assert!(
        pipevideo_emulator::Emulator::builder()
            .random_faults(RandomFaults::new(0).fault(Fault::ServerError, 1.5))
            .start()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_lost_create_retried_with_its_idempotency_key_yields_one_generation() {
    let emu = fast().start().await.unwrap();
    emu.push_fault(FaultRule::new(Fault::ResetMidBody).method("POST"));
    emu.push_fault(FaultRule::new(Fault::BadGatewayHtml).method("POST").after());
    let url = format!("{}/responses", emu.base_url());
    let h = [("idempotency-key", "soak-1")];
    let body = create_body("once");
    assert!(
        try_send("POST", &url, Some(emu.demo_key()), &h, Some(&body))
            .await
            .is_err()
    );
    assert_eq!(
        try_send("POST", &url, Some(emu.demo_key()), &h, Some(&body))
            .await
            .unwrap()
            .status,
        502
    );
    let ok = try_send("POST", &url, Some(emu.demo_key()), &h, Some(&body))
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    let gens = emu.generations();
    assert_eq!(gens.len(), 1);
    assert_eq!(ok.json()["id"], gens[0].id.as_str());
    let log = emu.requests();
    assert_eq!(
        log[0].generation_created.as_deref(),
        Some(gens[0].id.as_str())
    );
    assert_eq!(
        log[1].idempotent_replay_of.as_deref(),
        Some(gens[0].id.as_str())
    );
    assert_eq!(
        log[2].idempotent_replay_of.as_deref(),
        Some(gens[0].id.as_str())
    );
}

#[tokio::test]
async fn an_enormous_retry_after_fault_answers_429_instead_of_panicking() {
    // 1e19 emulated seconds: scaled by 1000 it overflows a `Duration`, and as a date it is
    // far past anything `SystemTime` holds.
    let emu = Emulator::builder()
        .time_scale(1000.0)
        .seed(1)
        .start()
        .await
        .unwrap();
    for header in [
        RetryAfterHeader::None,
        RetryAfterHeader::Seconds,
        RetryAfterHeader::HttpDate,
    ] {
        for retry_after in [1e19, f64::MAX, f64::INFINITY, f64::NAN, -1.0] {
            emu.push_fault(FaultRule::new(Fault::RateLimited {
                retry_after,
                with_data: true,
                header,
            }));
            let r = try_send(
                "GET",
                &format!("{}/usage", emu.base_url()),
                Some(emu.demo_key()),
                &[],
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("retry_after {retry_after} with {header:?}: {e}"));
            assert_eq!(r.status, 429, "retry_after {retry_after} with {header:?}");
            let asked = &r.json()["data"]["retry_after"];
            assert!(
                asked.as_f64().is_some_and(|s| s.is_finite() && s >= 0.0),
                "{asked}"
            );
        }
    }
}
