//! Finished spans encoded straight into the protobuf bytes of an OTLP
//! `ExportTraceServiceRequest` (opentelemetry-proto's `collector/trace/v1`), without building the
//! intermediate message structs: every key, name and string value is copied once, from the
//! span into the output buffer. The bytes decode to what opentelemetry-proto's own conversion of
//! the same spans gives (`tests` below compare the two), field for field: spans grouped by
//! instrumentation scope under one resource, proto3 defaults left out, `Status`, `Resource`,
//! scopes and every attribute's value always present.
//!
//! Each message is written as its key, its length and its fields; the lengths are computed first
//! (a span's once, kept in [`Scratch`]), so nothing is encoded twice or moved after writing.

use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry::{Array, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};
use std::time::{SystemTime, UNIX_EPOCH};

/// OTLP `SpanFlags`: the W3C trace flags, and whether the parent's remoteness is known/remote.
const CONTEXT_HAS_IS_REMOTE: u32 = 0x100;
const CONTEXT_IS_REMOTE: u32 = 0x200;

/// Buffers reused from one export to the next.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// Per span of the batch: its message's length and its `tracestate` header.
    spans: Vec<(usize, String)>,
    /// Per scope: the scope (its first span's index) and its spans' indices.
    scopes: Vec<(usize, Vec<usize>)>,
}

/// Writes the `ExportTraceServiceRequest` of `spans` under `resource` into `out` (cleared first).
pub(super) fn encode_request(
    spans: &[SpanData],
    resource: &Resource,
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
) {
    out.clear();
    scratch.spans.clear();
    scratch.spans.extend(spans.iter().map(|s| {
        let state = s.span_context.trace_state().header();
        (span_len(s, &state), state)
    }));
    group_by_scope(spans, &mut scratch.scopes);
    let scope_lens: Vec<usize> = scratch
        .scopes
        .iter()
        .map(|(first, members)| {
            scope_spans_len(&spans[*first].instrumentation_scope, members, scratch)
        })
        .collect();
    let resource_len = resource_len(resource);
    let resource_spans_len = delimited_len(1, resource_len)
        + scope_lens
            .iter()
            .map(|l| delimited_len(2, *l))
            .sum::<usize>()
        + str_len(3, resource.schema_url().unwrap_or_default());
    out.reserve(delimited_len(1, resource_spans_len));

    put_delimited(1, resource_spans_len, out);
    put_delimited(1, resource_len, out);
    for (key, value) in resource.iter() {
        put_key_value(1, key.as_str(), value, out);
    }
    for ((first, members), len) in scratch.scopes.iter().zip(&scope_lens) {
        put_delimited(2, *len, out);
        let scope = &spans[*first].instrumentation_scope;
        put_delimited(1, scope_len(scope), out);
        put_str(1, scope.name(), out);
        put_str(2, scope.version().unwrap_or_default(), out);
        for kv in scope.attributes() {
            put_key_value(3, kv.key.as_str(), &kv.value, out);
        }
        for &i in members {
            let (len, state) = &scratch.spans[i];
            put_delimited(2, *len, out);
            put_span(&spans[i], state, out);
        }
        put_str(3, scope.schema_url().unwrap_or_default(), out);
    }
    put_str(3, resource.schema_url().unwrap_or_default(), out);
}

/// Groups span indices by instrumentation scope, in the order scopes first appear.
fn group_by_scope(spans: &[SpanData], scopes: &mut Vec<(usize, Vec<usize>)>) {
    scopes.clear();
    for (i, span) in spans.iter().enumerate() {
        let scope = &span.instrumentation_scope;
        match scopes
            .iter_mut()
            .find(|(first, _)| spans[*first].instrumentation_scope == *scope)
        {
            Some((_, members)) => members.push(i),
            None => scopes.push((i, vec![i])),
        }
    }
}

// ---- lengths ------------------------------------------------------------------------------------

/// A length-delimited field's size: its key, its length and its `len` bytes.
fn delimited_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

/// A proto3 `string`/`bytes` field's size (nothing when empty).
fn str_len(tag: u32, s: &str) -> usize {
    bytes_len(tag, s.as_bytes())
}

fn bytes_len(tag: u32, b: &[u8]) -> usize {
    if b.is_empty() {
        0
    } else {
        delimited_len(tag, b.len())
    }
}

/// A proto3 varint field's size (nothing when 0).
fn varint_len(tag: u32, v: u64) -> usize {
    if v == 0 {
        0
    } else {
        key_len(tag) + encoded_len_varint(v)
    }
}

/// A proto3 `fixed64` field's size (nothing when 0).
fn fixed64_len(tag: u32, v: u64) -> usize {
    if v == 0 {
        0
    } else {
        key_len(tag) + 8
    }
}

/// A proto3 `fixed32` field's size (nothing when 0).
fn fixed32_len(tag: u32, v: u32) -> usize {
    if v == 0 {
        0
    } else {
        key_len(tag) + 4
    }
}

/// One `AnyValue` scalar, borrowed from a [`Value`] or an array's element.
#[derive(Clone, Copy)]
enum Scalar<'a> {
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(&'a str),
}

/// The `AnyValue` message's length for a scalar (its one field, always written).
fn scalar_len(v: Scalar<'_>) -> usize {
    match v {
        Scalar::Bool(_) => key_len(2) + 1,
        Scalar::Int(i) => key_len(3) + encoded_len_varint(i as u64),
        Scalar::Double(_) => key_len(4) + 8,
        Scalar::Str(s) => delimited_len(1, s.len()),
    }
}

/// Calls `f` with each element of `array` as a scalar.
fn each_element(array: &Array, mut f: impl FnMut(Scalar<'_>)) {
    match array {
        Array::Bool(v) => v.iter().for_each(|b| f(Scalar::Bool(*b))),
        Array::I64(v) => v.iter().for_each(|i| f(Scalar::Int(*i))),
        Array::F64(v) => v.iter().for_each(|d| f(Scalar::Double(*d))),
        Array::String(v) => v.iter().for_each(|s| f(Scalar::Str(s.as_str()))),
        // Array kinds added later go as their text, each.
        other => f(Scalar::Str(&other.to_string())),
    }
}

/// The `ArrayValue` message's length.
fn array_len(array: &Array) -> usize {
    let mut len = 0;
    each_element(array, |s| len += delimited_len(1, scalar_len(s)));
    len
}

/// The `AnyValue` message's length of `value`, and its text for kinds added later.
fn any_len(value: &Value) -> usize {
    match value {
        Value::Bool(b) => scalar_len(Scalar::Bool(*b)),
        Value::I64(i) => scalar_len(Scalar::Int(*i)),
        Value::F64(d) => scalar_len(Scalar::Double(*d)),
        Value::String(s) => scalar_len(Scalar::Str(s.as_str())),
        Value::Array(a) => delimited_len(5, array_len(a)),
        other => scalar_len(Scalar::Str(&other.to_string())),
    }
}

/// The `KeyValue` message's length.
fn key_value_len(key: &str, value: &Value) -> usize {
    str_len(1, key) + delimited_len(2, any_len(value))
}

/// The size of `attributes` as repeated `KeyValue` field `tag`.
fn attributes_len(tag: u32, attributes: &[KeyValue]) -> usize {
    attributes
        .iter()
        .map(|kv| delimited_len(tag, key_value_len(kv.key.as_str(), &kv.value)))
        .sum()
}

fn resource_len(resource: &Resource) -> usize {
    resource
        .iter()
        .map(|(k, v)| delimited_len(1, key_value_len(k.as_str(), v)))
        .sum()
}

fn scope_len(scope: &InstrumentationScope) -> usize {
    str_len(1, scope.name())
        + str_len(2, scope.version().unwrap_or_default())
        + scope
            .attributes()
            .map(|kv| delimited_len(3, key_value_len(kv.key.as_str(), &kv.value)))
            .sum::<usize>()
}

fn scope_spans_len(scope: &InstrumentationScope, members: &[usize], scratch: &Scratch) -> usize {
    delimited_len(1, scope_len(scope))
        + members
            .iter()
            .map(|&i| delimited_len(2, scratch.spans[i].0))
            .sum::<usize>()
        + str_len(3, scope.schema_url().unwrap_or_default())
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn kind_code(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// `Status`: its code and message.
fn status_parts(status: &Status) -> (u64, &str) {
    match status {
        Status::Unset => (0, ""),
        Status::Ok => (1, ""),
        Status::Error { description } => (2, description.as_ref()),
    }
}

fn status_len(status: &Status) -> usize {
    let (code, message) = status_parts(status);
    str_len(2, message) + varint_len(3, code)
}

fn span_flags(trace_flags: u8, parent_is_remote: bool) -> u32 {
    let mut flags = u32::from(trace_flags) | CONTEXT_HAS_IS_REMOTE;
    if parent_is_remote {
        flags |= CONTEXT_IS_REMOTE;
    }
    flags
}

fn parent_id(span: &SpanData) -> Option<[u8; 8]> {
    (span.parent_span_id != SpanId::INVALID).then(|| span.parent_span_id.to_bytes())
}

/// The `Event` message's length.
fn event_len(e: &opentelemetry::trace::Event) -> usize {
    fixed64_len(1, nanos(e.timestamp))
        + str_len(2, &e.name)
        + attributes_len(3, &e.attributes)
        + varint_len(4, u64::from(e.dropped_attributes_count))
}

/// The `Link` message's length; `state` is its `tracestate` header, `flags` its span flags.
fn link_len(l: &opentelemetry::trace::Link, state: &str, flags: u32) -> usize {
    let lc = &l.span_context;
    bytes_len(1, &lc.trace_id().to_bytes())
        + bytes_len(2, &lc.span_id().to_bytes())
        + str_len(3, state)
        + attributes_len(4, &l.attributes)
        + varint_len(5, u64::from(l.dropped_attributes_count))
        + fixed32_len(6, flags)
}

/// A link's span flags.
fn link_flags(l: &opentelemetry::trace::Link) -> u32 {
    span_flags(
        l.span_context.trace_flags().to_u8(),
        l.span_context.is_remote(),
    )
}

/// The `Span` message's length; `state` is its `tracestate` header.
fn span_len(s: &SpanData, state: &str) -> usize {
    let cx = &s.span_context;
    let events: usize = s
        .events
        .iter()
        .map(|e| delimited_len(11, event_len(e)))
        .sum();
    let links: usize = s
        .links
        .iter()
        .map(|l| {
            let state = l.span_context.trace_state().header();
            delimited_len(13, link_len(l, &state, link_flags(l)))
        })
        .sum();
    bytes_len(1, &cx.trace_id().to_bytes())
        + bytes_len(2, &cx.span_id().to_bytes())
        + str_len(3, state)
        + parent_id(s).map_or(0, |p| bytes_len(4, &p))
        + str_len(5, &s.name)
        + varint_len(6, kind_code(&s.span_kind))
        + fixed64_len(7, nanos(s.start_time))
        + fixed64_len(8, nanos(s.end_time))
        + attributes_len(9, &s.attributes)
        + varint_len(10, u64::from(s.dropped_attributes_count))
        + events
        + varint_len(12, u64::from(s.events.dropped_count))
        + links
        + varint_len(14, u64::from(s.links.dropped_count))
        + delimited_len(15, status_len(&s.status))
        + fixed32_len(
            16,
            span_flags(cx.trace_flags().to_u8(), s.parent_span_is_remote),
        )
}

// ---- writing ------------------------------------------------------------------------------------

fn put_delimited(tag: u32, len: usize, out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
}

fn put_bytes(tag: u32, b: &[u8], out: &mut Vec<u8>) {
    if !b.is_empty() {
        put_delimited(tag, b.len(), out);
        out.extend_from_slice(b);
    }
}

fn put_str(tag: u32, s: &str, out: &mut Vec<u8>) {
    put_bytes(tag, s.as_bytes(), out);
}

fn put_varint(tag: u32, v: u64, out: &mut Vec<u8>) {
    if v != 0 {
        encode_key(tag, WireType::Varint, out);
        encode_varint(v, out);
    }
}

fn put_fixed64(tag: u32, v: u64, out: &mut Vec<u8>) {
    if v != 0 {
        encode_key(tag, WireType::SixtyFourBit, out);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn put_fixed32(tag: u32, v: u32, out: &mut Vec<u8>) {
    if v != 0 {
        encode_key(tag, WireType::ThirtyTwoBit, out);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// An `AnyValue`'s one field (oneof: written even when it holds its type's default).
fn put_scalar_field(v: Scalar<'_>, out: &mut Vec<u8>) {
    match v {
        Scalar::Bool(b) => {
            encode_key(2, WireType::Varint, out);
            encode_varint(u64::from(b), out);
        }
        Scalar::Int(i) => {
            encode_key(3, WireType::Varint, out);
            encode_varint(i as u64, out);
        }
        Scalar::Double(d) => {
            encode_key(4, WireType::SixtyFourBit, out);
            out.extend_from_slice(&d.to_le_bytes());
        }
        Scalar::Str(s) => {
            put_delimited(1, s.len(), out);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn put_any_fields(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Bool(b) => put_scalar_field(Scalar::Bool(*b), out),
        Value::I64(i) => put_scalar_field(Scalar::Int(*i), out),
        Value::F64(d) => put_scalar_field(Scalar::Double(*d), out),
        Value::String(s) => put_scalar_field(Scalar::Str(s.as_str()), out),
        Value::Array(a) => {
            put_delimited(5, array_len(a), out);
            each_element(a, |s| {
                put_delimited(1, scalar_len(s), out);
                put_scalar_field(s, out);
            });
        }
        other => put_scalar_field(Scalar::Str(&other.to_string()), out),
    }
}

fn put_key_value(tag: u32, key: &str, value: &Value, out: &mut Vec<u8>) {
    put_delimited(tag, key_value_len(key, value), out);
    put_str(1, key, out);
    put_delimited(2, any_len(value), out);
    put_any_fields(value, out);
}

fn put_attributes(tag: u32, attributes: &[KeyValue], out: &mut Vec<u8>) {
    for kv in attributes {
        put_key_value(tag, kv.key.as_str(), &kv.value, out);
    }
}

/// The `Span` message's fields, in field-number order.
fn put_span(s: &SpanData, state: &str, out: &mut Vec<u8>) {
    let cx = &s.span_context;
    put_bytes(1, &cx.trace_id().to_bytes(), out);
    put_bytes(2, &cx.span_id().to_bytes(), out);
    put_str(3, state, out);
    if let Some(parent) = parent_id(s) {
        put_bytes(4, &parent, out);
    }
    put_str(5, &s.name, out);
    put_varint(6, kind_code(&s.span_kind), out);
    put_fixed64(7, nanos(s.start_time), out);
    put_fixed64(8, nanos(s.end_time), out);
    put_attributes(9, &s.attributes, out);
    put_varint(10, u64::from(s.dropped_attributes_count), out);
    for e in s.events.iter() {
        put_delimited(11, event_len(e), out);
        put_fixed64(1, nanos(e.timestamp), out);
        put_str(2, &e.name, out);
        put_attributes(3, &e.attributes, out);
        put_varint(4, u64::from(e.dropped_attributes_count), out);
    }
    put_varint(12, u64::from(s.events.dropped_count), out);
    for l in s.links.iter() {
        let lc = &l.span_context;
        let state = lc.trace_state().header();
        let flags = link_flags(l);
        put_delimited(13, link_len(l, &state, flags), out);
        put_bytes(1, &lc.trace_id().to_bytes(), out);
        put_bytes(2, &lc.span_id().to_bytes(), out);
        put_str(3, &state, out);
        put_attributes(4, &l.attributes, out);
        put_varint(5, u64::from(l.dropped_attributes_count), out);
        put_fixed32(6, flags, out);
    }
    put_varint(14, u64::from(s.links.dropped_count), out);
    let (code, message) = status_parts(&s.status);
    put_delimited(15, status_len(&s.status), out);
    put_str(2, message, out);
    put_varint(3, code, out);
    put_fixed32(
        16,
        span_flags(cx.trace_flags().to_u8(), s.parent_span_is_remote),
        out,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;
    use std::time::Duration;

    use opentelemetry::trace::{Event, Link, SpanContext, TraceFlags, TraceId, TraceState};
    use opentelemetry::StringValue;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
    use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use proptest::prelude::*;
    use prost::Message as _;

    fn context(trace: u128, span: u64, flags: u8, remote: bool, state: &str) -> SpanContext {
        SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            TraceFlags::new(flags),
            remote,
            state.parse::<TraceState>().unwrap_or_default(),
        )
    }

    fn at(nanos: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(nanos)
    }

    fn span(
        name: &'static str,
        scope: &InstrumentationScope,
        attributes: Vec<KeyValue>,
    ) -> SpanData {
        SpanData {
            span_context: context(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736, 7, 1, false, ""),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Server,
            name: Cow::Borrowed(name),
            start_time: at(1_700_000_000_000_000_000),
            end_time: at(1_700_000_000_000_123_456),
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: scope.clone(),
        }
    }

    /// What opentelemetry-proto's conversion gives, decoded from our bytes and from its structs
    /// alike, in one order (its scopes come out of a hash map).
    fn normalise(mut request: ExportTraceServiceRequest) -> ExportTraceServiceRequest {
        for rs in &mut request.resource_spans {
            if let Some(r) = rs.resource.as_mut() {
                r.attributes.sort_by(|a, b| a.key.cmp(&b.key));
            }
            rs.scope_spans
                .sort_by_key(|s| s.scope.as_ref().map(|s| s.name.clone()));
        }
        request
    }

    /// Our bytes decode to exactly what opentelemetry-proto builds from the same spans.
    fn assert_same_as_opentelemetry_proto(spans: Vec<SpanData>, resource: &Resource) {
        let mut out = Vec::new();
        encode_request(&spans, resource, &mut Scratch::default(), &mut out);
        let ours = ExportTraceServiceRequest::decode(out.as_slice()).expect("our bytes decode");
        let theirs = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(
                spans,
                &ResourceAttributesWithSchema::from(resource),
            ),
        };
        assert_eq!(normalise(ours), normalise(theirs));
    }

    #[test]
    fn every_field_of_a_span_encodes_as_opentelemetry_proto_converts_it() {
        let gonka = InstrumentationScope::builder("gonka")
            .with_version("1.2.3")
            .with_schema_url("https://opentelemetry.io/schemas/1.27.0")
            .with_attributes([KeyValue::new("scope.attr", true)])
            .build();
        let bridge = InstrumentationScope::builder("tracing-opentelemetry").build();
        let resource = Resource::builder_empty()
            .with_attributes([
                KeyValue::new("service.name", "gonka-gateway"),
                KeyValue::new("host.cores", 2_i64),
            ])
            .build();
        let mut server = span(
            "POST /v1/chat/completions",
            &gonka,
            vec![
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("http.response.status_code", 200_i64),
                KeyValue::new("negative", -5_i64),
                KeyValue::new("ratio", 0.25_f64),
                KeyValue::new("zero", 0_i64),
                KeyValue::new("empty", ""),
                KeyValue::new("off", false),
                KeyValue::new("bools", Value::Array(Array::Bool(vec![true, false]))),
                KeyValue::new("ints", Value::Array(Array::I64(vec![0, -1, i64::MAX]))),
                KeyValue::new("floats", Value::Array(Array::F64(vec![1.5, 0.0]))),
                KeyValue::new(
                    "strings",
                    Value::Array(Array::String(vec![
                        StringValue::from("a"),
                        StringValue::from(""),
                    ])),
                ),
                KeyValue::new("long", "x".repeat(300)),
            ],
        );
        server.parent_span_id = SpanId::from(0x00f0_67aa_0ba9_02b7);
        server.parent_span_is_remote = true;
        server.span_context = context(1, 2, 1, false, "vendor=1,other=two");
        server.dropped_attributes_count = 3;
        server.status = Status::error("upstream refused");
        server.events.events.push(Event::new(
            "retry",
            at(1_700_000_000_000_001_000),
            vec![KeyValue::new("attempt", 2_i64)],
            1,
        ));
        server.events.dropped_count = 4;
        server.links.links.push(Link::new(
            context(9, 10, 0, true, "k=v"),
            vec![KeyValue::new("link.kind", "follows")],
            2,
        ));
        server.links.dropped_count = 5;
        let mut client = span(
            "POST",
            &gonka,
            vec![KeyValue::new("url.full", "http://n:1/x")],
        );
        client.span_kind = SpanKind::Client;
        client.status = Status::Ok;
        client.parent_span_id = SpanId::from(2);
        let mut internal = span("work", &bridge, vec![]);
        internal.span_kind = SpanKind::Internal;
        internal.span_context = context(3, 4, 0, false, "");
        let mut producer = span("send", &bridge, vec![]);
        producer.span_kind = SpanKind::Producer;
        let mut consumer = span("", &gonka, vec![]);
        consumer.span_kind = SpanKind::Consumer;
        consumer.start_time = UNIX_EPOCH;
        consumer.end_time = UNIX_EPOCH;
        assert_same_as_opentelemetry_proto(
            vec![server, client, internal, producer, consumer],
            &resource,
        );
    }

    #[test]
    fn a_resource_with_a_schema_url_and_an_empty_batch_encode_alike() {
        let resource = Resource::builder_empty()
            .with_schema_url(
                [KeyValue::new("service.name", "x")],
                "https://example.com/s",
            )
            .build();
        let scope = InstrumentationScope::builder("gonka").build();
        assert_same_as_opentelemetry_proto(vec![span("a", &scope, vec![])], &resource);
        let mut out = vec![1, 2, 3];
        encode_request(&[], &resource, &mut Scratch::default(), &mut out);
        let decoded = ExportTraceServiceRequest::decode(out.as_slice()).expect("decodes");
        assert_eq!(decoded.resource_spans.len(), 1);
        assert!(decoded.resource_spans[0].scope_spans.is_empty());
    }

    fn value() -> impl Strategy<Value = Value> {
        let finite = prop::num::f64::NORMAL | prop::num::f64::ZERO | prop::num::f64::SUBNORMAL;
        prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::I64),
            finite.prop_map(Value::F64),
            ".{0,40}".prop_map(|s| Value::String(s.into())),
            prop::collection::vec(any::<i64>(), 0..4).prop_map(|v| Value::Array(Array::I64(v))),
            prop::collection::vec(".{0,8}", 0..4).prop_map(|v| {
                Value::Array(Array::String(
                    v.into_iter().map(StringValue::from).collect(),
                ))
            }),
        ]
    }

    proptest! {
        #[test]
        fn any_attributes_names_and_ids_encode_as_opentelemetry_proto_converts_them(
            name in ".{0,60}",
            attributes in prop::collection::vec(("[a-z._]{1,20}", value()), 0..12),
            trace in 1..u128::MAX,
            id in 1..u64::MAX,
            parent in any::<u64>(),
            flags in any::<u8>(),
            remote in any::<bool>(),
            start in any::<u64>(),
            length in 0..1_000_000_000_u64,
            spans in 1..4_usize,
        ) {
            let scope = InstrumentationScope::builder("gonka").build();
            let attributes: Vec<KeyValue> = attributes
                .into_iter()
                .map(|(k, v)| KeyValue::new(k, v))
                .collect();
            let batch: Vec<SpanData> = (0..spans)
                .map(|i| {
                    let mut s = span("x", &scope, attributes.clone());
                    s.name = Cow::Owned(name.clone());
                    s.span_context = context(trace, id.wrapping_add(i as u64).max(1), flags, remote, "");
                    s.parent_span_id = SpanId::from(parent);
                    s.parent_span_is_remote = remote;
                    s.start_time = at(start / 2);
                    s.end_time = at(start / 2 + length);
                    s
                })
                .collect();
            let resource = Resource::builder_empty()
                .with_attributes([KeyValue::new("service.name", "gonka-gateway")])
                .build();
            assert_same_as_opentelemetry_proto(batch, &resource);
        }
    }
}
