//! The hand-written decoders of the poll-path response types (`model/object.rs`) against the
//! derived `#[serde(flatten)]` code they replaced, kept here as the reference: on any object
//! the two accept and refuse the same bodies and build equal values. Plus the rules the
//! reference cannot state: repeated keys, aliases, escaped keys, non-object bodies.

use pipevideo_core::Status;
use pipevideo_core::model::{
    LegacyGeneration, OutputItem, ResponseObject, ResponseUsage, Timestamp,
};
use proptest::prelude::*;
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::{Map, Value, json};

fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.and_then(|v| T::deserialize(v).ok()))
}

fn lenient_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.and_then(|v| Timestamp::deserialize(v).ok()))
}

fn null_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Deserialize)]
struct RefResponse {
    id: String,
    #[serde(default)]
    object: Option<String>,
    status: Status,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    engine: Option<String>,
    #[serde(default)]
    provider: Option<Value>,
    #[serde(default, deserialize_with = "lenient_time")]
    created_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient_time")]
    completed_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "null_default")]
    output: Vec<RefOutputItem>,
    #[serde(default, deserialize_with = "lenient")]
    usage: Option<RefUsage>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct RefOutputItem {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct RefUsage {
    #[serde(default, alias = "prompt_tokens", deserialize_with = "lenient")]
    input_tokens: Option<u64>,
    #[serde(default, alias = "completion_tokens", deserialize_with = "lenient")]
    output_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    total_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    cost_usd: Option<f64>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct RefLegacy {
    id: String,
    status: Status,
    #[serde(default, deserialize_with = "lenient")]
    output_url: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    cost_cents: Option<f64>,
    #[serde(default, deserialize_with = "lenient")]
    latency_ms: Option<f64>,
    #[serde(default, deserialize_with = "lenient")]
    error_message: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    created_at: Option<Timestamp>,
    #[serde(default, deserialize_with = "lenient_time")]
    completed_at: Option<Timestamp>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

fn same_item(a: &OutputItem, b: &RefOutputItem) -> bool {
    a.kind == b.kind && a.id == b.id && a.role == b.role && a.extra == b.extra
}

fn same_usage(a: &ResponseUsage, b: &RefUsage) -> bool {
    a.input_tokens == b.input_tokens
        && a.output_tokens == b.output_tokens
        && a.total_tokens == b.total_tokens
        && a.cost_usd.map(f64::to_bits) == b.cost_usd.map(f64::to_bits)
        && a.extra == b.extra
}

fn same_response(a: &ResponseObject, b: &RefResponse) -> bool {
    a.id == b.id
        && a.object == b.object
        && a.status == b.status
        && a.model == b.model
        && a.engine == b.engine
        && a.provider == b.provider
        && a.created_at == b.created_at
        && a.completed_at == b.completed_at
        && a.output.len() == b.output.len()
        && a.output.iter().zip(&b.output).all(|(x, y)| same_item(x, y))
        && match (&a.usage, &b.usage) {
            (Some(x), Some(y)) => same_usage(x, y),
            (None, None) => true,
            _ => false,
        }
        && a.error == b.error
        && a.extra == b.extra
}

fn same_legacy(a: &LegacyGeneration, b: &RefLegacy) -> bool {
    a.id == b.id
        && a.status == b.status
        && a.output_url == b.output_url
        && a.cost_cents.map(f64::to_bits) == b.cost_cents.map(f64::to_bits)
        && a.latency_ms.map(f64::to_bits) == b.latency_ms.map(f64::to_bits)
        && a.error_message == b.error_message
        && a.created_at == b.created_at
        && a.completed_at == b.completed_at
        && a.extra == b.extra
}

/// A value of any shape a field might arrive in.
fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<u32>().prop_map(Value::from),
        (-1e13f64..1e13).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z_]{0,8}".prop_map(Value::from),
        (0u64..2_000_000_000_000).prop_map(|n| Value::from(n.to_string())),
        prop_oneof![
            Just("completed"),
            Just("in_progress"),
            Just("failed"),
            Just("queued"),
            Just("pending"),
            Just("processing"),
        ]
        .prop_map(Value::from),
        Just(Value::from("https://cdn.example/v.mp4")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object over `keys` (each present or not, with any value) plus unknown keys.
fn object_over(
    keys: &'static [&'static str],
    nested: BoxedStrategy<Value>,
) -> BoxedStrategy<Value> {
    let known = keys
        .iter()
        .map(|k| {
            let value = if *k == "output" || *k == "usage" {
                prop_oneof![3 => nested.clone(), 1 => any_value()].boxed()
            } else {
                any_value().boxed()
            };
            (Just(*k), prop::option::weighted(0.7, value))
        })
        .collect::<Vec<_>>();
    let unknown = prop::collection::btree_map("x_[a-z]{1,6}", any_value(), 0..3);
    (known, unknown)
        .prop_map(|(known, unknown)| {
            let mut map: Map<String, Value> = unknown.into_iter().collect();
            for (k, v) in known {
                if let Some(v) = v {
                    map.insert(k.to_owned(), v);
                }
            }
            Value::Object(map)
        })
        .boxed()
}

fn usage_object() -> BoxedStrategy<Value> {
    // At most one name of each aliased pair: with both, the derived code's choice is not
    // the rule this SDK documents (see `an_alias_loses_to_its_documented_name`).
    let names = prop_oneof![
        Just(&["input_tokens", "output_tokens", "total_tokens", "cost_usd"][..]),
        Just(
            &[
                "prompt_tokens",
                "completion_tokens",
                "total_tokens",
                "cost_usd"
            ][..]
        ),
    ];
    names
        .prop_flat_map(|names| {
            let leaves = names
                .iter()
                .map(|k| (Just(*k), prop::option::weighted(0.7, any_value())))
                .collect::<Vec<_>>();
            leaves.prop_map(|pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .filter_map(|(k, v)| Some((k.to_owned(), v?)))
                        .collect(),
                )
            })
        })
        .boxed()
}

fn response_object() -> BoxedStrategy<Value> {
    let item = object_over(&["type", "id", "role"], any_value().boxed());
    let output = prop::collection::vec(item, 0..3)
        .prop_map(Value::from)
        .boxed();
    // `output` and `usage` get their own shapes; the rest any value.
    let base = object_over(
        &[
            "id",
            "object",
            "status",
            "model",
            "engine",
            "provider",
            "created_at",
            "completed_at",
            "error",
        ],
        any_value().boxed(),
    );
    (
        base,
        prop::option::weighted(0.7, prop_oneof![4 => output, 1 => any_value()]),
        prop::option::weighted(0.7, prop_oneof![4 => usage_object(), 1 => any_value()]),
        "gen_[a-z0-9]{4,8}",
        any::<bool>(),
    )
        .prop_map(|(mut base, output, usage, id, valid)| {
            let map = base.as_object_mut().expect("object");
            if valid {
                // Most bodies carry a usable id and status, so the rest gets compared.
                map.insert("id".into(), Value::from(id));
                map.insert("status".into(), Value::from("completed"));
            }
            if let Some(output) = output {
                map.insert("output".into(), output);
            }
            if let Some(usage) = usage {
                map.insert("usage".into(), usage);
            }
            base
        })
        .boxed()
}

fn legacy_object() -> BoxedStrategy<Value> {
    (
        object_over(
            &[
                "id",
                "status",
                "output_url",
                "cost_cents",
                "latency_ms",
                "error_message",
                "created_at",
                "completed_at",
            ],
            any_value().boxed(),
        ),
        "gen_[a-z0-9]{4,8}",
        any::<bool>(),
    )
        .prop_map(|(mut base, id, valid)| {
            if valid {
                let map = base.as_object_mut().expect("object");
                map.insert("id".into(), Value::from(id));
                map.insert("status".into(), Value::from("processing"));
            }
            base
        })
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn responses_decode_as_the_derived_reference_does(body in response_object()) {
        let bytes = serde_json::to_vec(&body).expect("encode");
        let ours = serde_json::from_slice::<ResponseObject>(&bytes);
        let reference = serde_json::from_slice::<RefResponse>(&bytes);
        match (&ours, &reference) {
            (Ok(a), Ok(b)) => prop_assert!(same_response(a, b), "{a:?}\n!=\n{b:?}"),
            (Err(_), Err(_)) => {}
            _ => prop_assert!(false, "ours {ours:?}, reference {reference:?} for {body}"),
        }
    }

    #[test]
    fn legacy_decodes_as_the_derived_reference_does(body in legacy_object()) {
        let bytes = serde_json::to_vec(&body).expect("encode");
        let ours = serde_json::from_slice::<LegacyGeneration>(&bytes);
        let reference = serde_json::from_slice::<RefLegacy>(&bytes);
        match (&ours, &reference) {
            (Ok(a), Ok(b)) => prop_assert!(same_legacy(a, b), "{a:?}\n!=\n{b:?}"),
            (Err(_), Err(_)) => {}
            _ => prop_assert!(false, "ours {ours:?}, reference {reference:?} for {body}"),
        }
    }

    #[test]
    fn a_value_tree_decodes_as_the_bytes_do(body in response_object()) {
        // `usage` is read through a `Value` (lenient); the same code must work there too.
        // (The tree is parsed from the same bytes: serde_json's text-to-float reading is not
        // exact, so the generated tree itself could differ in a last digit.)
        let bytes = serde_json::to_vec(&body).expect("encode");
        let tree: Value = serde_json::from_slice(&bytes).expect("parse");
        let from_bytes = serde_json::from_slice::<ResponseObject>(&bytes).ok();
        let from_value = serde_json::from_value::<ResponseObject>(tree).ok();
        prop_assert_eq!(from_bytes, from_value);
    }
}

#[test]
fn a_repeated_key_is_read_again_and_the_last_wins() {
    let body = br#"{"id":"gen_a","status":"queued","model":"m1","x":1,"status":"completed","model":"m2","x":2}"#;
    let r: ResponseObject = serde_json::from_slice(body).expect("decode");
    assert_eq!(r.status, Status::Completed);
    assert_eq!(r.model.as_deref(), Some("m2"));
    assert_eq!(r.extra.get("x"), Some(&json!(2)));
    let body = br#"{"id":"gen_a","status":"processing","output_url":"a","output_url":"b"}"#;
    let l: LegacyGeneration = serde_json::from_slice(body).expect("decode");
    assert_eq!(l.output_url.as_deref(), Some("b"));
}

#[test]
fn an_alias_loses_to_its_documented_name() {
    for body in [
        r#"{"input_tokens":5,"prompt_tokens":7,"completion_tokens":3}"#,
        r#"{"prompt_tokens":7,"input_tokens":5,"completion_tokens":3}"#,
    ] {
        let u: ResponseUsage = serde_json::from_str(body).expect("decode");
        assert_eq!(u.input_tokens, Some(5), "{body}");
        assert_eq!(u.output_tokens, Some(3), "{body}");
        assert!(u.extra.is_empty(), "aliases are consumed, not kept: {body}");
    }
}

#[test]
fn an_escaped_key_still_names_its_field() {
    // `\u0069d` is `id`: the key arrives unborrowed (it had an escape) and must still match.
    let body = br#"{"\u0069d":"gen_a","st\u0061tus":"failed","\u0078":true}"#;
    let r: ResponseObject = serde_json::from_slice(body).expect("decode");
    assert_eq!(r.id, "gen_a");
    assert_eq!(r.status, Status::Failed);
    assert_eq!(r.extra.get("x"), Some(&json!(true)));
}

#[test]
fn bodies_that_are_not_objects_name_what_was_expected() {
    let e = serde_json::from_str::<ResponseObject>("[1,2]").unwrap_err();
    assert!(e.to_string().contains("expected a response object"), "{e}");
    let e = serde_json::from_str::<LegacyGeneration>("\"gen_a\"").unwrap_err();
    assert!(
        e.to_string().contains("expected a generation object"),
        "{e}"
    );
    let e = serde_json::from_str::<ResponseObject>(r#"{"status":"queued"}"#).unwrap_err();
    assert!(e.to_string().contains("missing field `id`"), "{e}");
    let e = serde_json::from_str::<LegacyGeneration>(r#"{"id":"gen_a"}"#).unwrap_err();
    assert!(e.to_string().contains("missing field `status`"), "{e}");
}

#[test]
fn a_strict_field_of_the_wrong_type_fails_with_its_path() {
    // `model` is a plain optional string: a number there is refused (not silently dropped),
    // and the codec's error names the path.
    let response = http::Response::new(br#"{"id":"gen_a","status":"queued","model":5}"#.to_vec());
    let e = pipevideo_core::codec::decode_generation(pipevideo_core::Flavor::Responses, &response)
        .unwrap_err();
    assert!(e.to_string().contains("model"), "{e}");
}
