//! Property test over every request decoder: v1 predict (one item or a list), batch job items,
//! v2 infer (JSON header, input tensors) and feedback. Bodies are generated JSON built from the
//! fields these decoders know, nested and mistyped at random, then sometimes cut or spliced
//! with bytes: every decoder must answer `Ok` or an error, never panic, and a decoded list never
//! holds more items than its limit. A fixed number of cases (bounded time in CI; set
//! `PROPTEST_CASES` for a longer local run). Pure decoding: no server.

use axum::extract::FromRequest;
use inference_server::http::v2::codec;
use inference_server::http::v2::OipBody;
use inference_server::package::ModelKind;
use inference_server::predict::items;
use inference_server::quality::feedback::{self, Accepts};
use proptest::prelude::*;
use serde_json::{Map, Value};

const KEYS: &[&str] = &[
    "inputs",
    "text",
    "subject",
    "body",
    "user_id",
    "item_id",
    "values",
    "horizon",
    "season_length",
    "timestamps",
    "k",
    "feedback",
    "prediction_id",
    "label",
    "rating",
    "satisfaction",
    "thumbs",
    "name",
    "shape",
    "datatype",
    "data",
    "parameters",
    "outputs",
    "binary_data_size",
    "binary_data",
    "id",
    "zz",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "[a-zA-Z0-9 ]{0,12}".prop_map(Value::from),
        prop::sample::select(vec!["BYTES", "FP64", "INT64", "INT8", "positive", "up", "sentiment"])
            .prop_map(Value::from),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>())),
        ]
    })
}

/// Bodies of the shapes the decoders take, with generated values in their fields.
fn shaped() -> impl Strategy<Value = Value> {
    use serde_json::json;
    let text = prop_oneof!["[a-z ]{0,20}".prop_map(Value::from), leaf()];
    let number = prop_oneof![(-1e6f64..1e6).prop_map(Value::from), (0i64..200).prop_map(Value::from), leaf()];
    let text_item = text.clone().prop_map(|t| json!({"text": t}));
    let series = (prop::collection::vec(number.clone(), 0..40), number.clone())
        .prop_map(|(values, horizon)| json!({"values": values, "horizon": horizon}));
    let rating = (text.clone(), number.clone()).prop_map(|(u, i)| json!({"user_id": u, "item_id": i}));
    let id = prop_oneof![4 => "[a-f0-9]{1,24}".prop_map(Value::from), 1 => leaf()];
    let score = prop_oneof![4 => (1i64..6).prop_map(Value::from), 1 => number.clone()];
    let feedback_item = (id, prop::sample::select(vec!["positive", "neutral", "positive", "happy"]), score)
        .prop_map(|(id, label, s)| json!({"prediction_id": id, "label": label, "satisfaction": s}));
    let tensor = (
        prop::sample::select(vec!["text", "body", "subject", "user_id", "item_id", "values", "horizon"]),
        prop::collection::vec(-2i64..6, 0..3),
        prop::sample::select(vec!["BYTES", "FP64", "INT64", "FP32"]),
        prop_oneof![
            prop::collection::vec(text.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(number.clone(), 0..6).prop_map(Value::Array),
            json()
        ],
    )
        .prop_map(
            |(name, shape, datatype, data)| json!({"name": name, "shape": shape, "datatype": datatype, "data": data}),
        );
    prop_oneof![
        text_item.clone(),
        prop::collection::vec(prop_oneof![text_item, json()], 0..7).prop_map(|v| json!({"inputs": v})),
        series.clone(),
        prop::collection::vec(series, 0..4).prop_map(|v| json!({"inputs": v})),
        rating,
        feedback_item.clone(),
        prop::collection::vec(feedback_item, 0..6).prop_map(|v| json!({"feedback": v})),
        prop::collection::vec(tensor, 0..3).prop_map(|v| json!({"inputs": v, "parameters": {"horizon": 3}})),
    ]
}

/// A generated body as text: as written, cut short, or with a byte spliced in.
fn body() -> impl Strategy<Value = String> {
    (prop_oneof![json(), shaped()], 0u8..6, any::<prop::sample::Index>(), any::<u8>()).prop_map(|(v, how, at, byte)| {
        let text = v.to_string();
        match how {
            0 if !text.is_empty() => {
                let mut cut = at.index(text.len());
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text[..cut].to_string()
            }
            1 => {
                let mut bytes = text.into_bytes();
                let i = at.index(bytes.len() + 1);
                bytes.insert(i, byte);
                String::from_utf8_lossy(&bytes).into_owned()
            }
            _ => text,
        }
    })
}

const MAX_ITEMS: usize = 4;

fn oip(body: String) -> Result<OipBody, String> {
    let req =
        axum::http::Request::builder().method("POST").uri("/v2/models/m/infer").body(axum::body::Body::from(body));
    let req = req.map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(|e| e.to_string())?;
    runtime.block_on(OipBody::from_request(req, &())).map_err(|e| e.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn v1_and_job_decoders_answer_every_body_without_panicking(body in body()) {
        for kind in ModelKind::ALL {
            if let Ok(request) = items::decode_body(kind, &body, MAX_ITEMS) {
                prop_assert!(request.items.len() <= MAX_ITEMS);
            }
            if let Ok(list) = items::decode_job_items(kind, &body, MAX_ITEMS) {
                prop_assert!(list.len() <= MAX_ITEMS);
            }
            let _ = items::decode_recommend(&body);
        }
    }

    #[test]
    fn v2_decoder_answers_every_body_without_panicking(body in body()) {
        if let Ok(decoded) = oip(body) {
            if let Ok(tensors) = codec::inputs(&decoded.request.inputs, &decoded.binary, 16) {
                prop_assert!(tensors.iter().map(|t| t.data.len()).sum::<usize>() <= 16);
            }
        }
    }

    #[test]
    fn feedback_decoder_answers_every_body_without_panicking(body in body()) {
        let labels = vec!["negative".to_string(), "neutral".to_string(), "positive".to_string()];
        for (kind, labels, range) in [
            (ModelKind::Sentiment, labels.as_slice(), None),
            (ModelKind::Recsys, &[][..], Some((1.0, 5.0))),
            (ModelKind::Trend, &[][..], None),
        ] {
            if let Ok((items, _)) = feedback::decode(&body, Accepts { kind, labels, rating_range: range }, MAX_ITEMS) {
                prop_assert!(!items.is_empty() && items.len() <= MAX_ITEMS);
            }
        }
    }
}

/// The generator reaches the decoders' success paths too, not only their first error: a share
/// of the generated bodies decodes in each family.
#[test]
fn generated_bodies_also_reach_the_success_paths() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let strategy = body();
    let labels = vec!["negative".to_string(), "neutral".to_string(), "positive".to_string()];
    let accepts = Accepts { kind: ModelKind::Sentiment, labels: &labels, rating_range: None };
    let (mut v1, mut trend, mut v2, mut fb, total) = (0, 0, 0, 0, 3_000);
    for _ in 0..total {
        let body = strategy.new_tree(&mut runner).expect("a body").current();
        v1 += usize::from(items::decode_body(ModelKind::Sentiment, &body, MAX_ITEMS).is_ok());
        trend += usize::from(items::decode_body(ModelKind::Trend, &body, MAX_ITEMS).is_ok());
        v2 += usize::from(oip(body.clone()).is_ok_and(|d| codec::inputs(&d.request.inputs, &d.binary, 16).is_ok()));
        fb += usize::from(feedback::decode(&body, accepts, MAX_ITEMS).is_ok());
    }
    eprintln!("of {total} bodies: v1 {v1}, trend {trend}, v2 {v2}, feedback {fb} decode");
    for (family, n) in [("v1", v1), ("trend", trend), ("v2", v2), ("feedback", fb)] {
        assert!(n * 100 >= total, "{family}: only {n} of {total} generated bodies decode");
    }
}
