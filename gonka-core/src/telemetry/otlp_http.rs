//! The OTLP/HTTP protobuf span exporter: batches from the SDK's batch span processor are encoded
//! by [`super::otlp_encode`] into one reused buffer and POSTed to the collector with a blocking
//! HTTP client, on the batch processor's own thread.
//!
//! Configured as OpenTelemetry's exporter specification says for OTLP/HTTP:
//! - the endpoint: the binary's flag (a base URL) if given, else
//!   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is, else `OTEL_EXPORTER_OTLP_ENDPOINT` with
//!   `/v1/traces` appended, else `http://localhost:4318/v1/traces`;
//! - headers: `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`
//!   (`k=v,k2=v2`, values percent-decoded);
//! - timeout: `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT`
//!   (milliseconds, default 10 000);
//! - compression: none (`OTEL_EXPORTER_OTLP_(TRACES_)COMPRESSION` other than `none` is refused).
//!
//! A failed export loses that batch (the processor goes on with the next); the first failure of
//! a run of failures is logged, and the recovery.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};

use super::otlp_encode::{encode_request, Scratch};
use super::TelemetryError;

/// The default endpoint's base URL.
const DEFAULT_BASE: &str = "http://localhost:4318";
/// The default export timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how spans are sent.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ExportSettings {
    /// The full traces URL.
    pub(super) endpoint: String,
    /// Extra request headers.
    pub(super) headers: Vec<(String, String)>,
    /// Timeout of one export request.
    pub(super) timeout: Duration,
}

impl ExportSettings {
    /// The settings of the environment `var`, with `base` (a base URL, the binary's flag)
    /// overriding the endpoint variables.
    ///
    /// # Errors
    /// [`TelemetryError`] naming the variable when a compression is asked for or a timeout is
    /// not a number.
    pub(super) fn resolve(
        base: Option<&str>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, TelemetryError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let endpoint = match base.filter(|b| !b.is_empty()) {
            Some(base) => traces_url(base),
            None => match set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
                Some(url) => url.trim().to_owned(),
                None => traces_url(
                    set("OTEL_EXPORTER_OTLP_ENDPOINT")
                        .as_deref()
                        .unwrap_or(DEFAULT_BASE),
                ),
            },
        };
        let headers = set("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
            .or_else(|| set("OTEL_EXPORTER_OTLP_HEADERS"))
            .map(|h| parse_headers(&h))
            .unwrap_or_default();
        let timeout = match [
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ]
        .into_iter()
        .find_map(|name| set(name).map(|v| (name, v)))
        {
            Some((name, v)) => {
                v.trim()
                    .parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| {
                        TelemetryError(format!("{name}={v:?} is not a number of milliseconds"))
                    })?
            }
            None => DEFAULT_TIMEOUT,
        };
        for name in [
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
            "OTEL_EXPORTER_OTLP_COMPRESSION",
        ] {
            if let Some(v) = set(name).filter(|v| !v.trim().eq_ignore_ascii_case("none")) {
                return Err(TelemetryError(format!(
                    "{name}={v:?}: compressed export is not supported (use none)"
                )));
            }
        }
        Ok(Self {
            endpoint,
            headers,
            timeout,
        })
    }
}

/// `base` with `/v1/traces` appended.
fn traces_url(base: &str) -> String {
    format!("{}/v1/traces", base.trim().trim_end_matches('/'))
}

/// `k=v,k2=v2` pairs: keys and values trimmed, values percent-decoded (kept as written when not
/// valid UTF-8 once decoded), pairs with an empty key or value left out.
fn parse_headers(list: &str) -> Vec<(String, String)> {
    list.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let (k, v) = (k.trim(), v.trim());
            let value = percent_encoding::percent_decode_str(v)
                .decode_utf8()
                .map_or_else(|_| v.to_owned(), |d| d.into_owned());
            (!k.is_empty() && !value.is_empty()).then(|| (k.to_owned(), value))
        })
        .collect()
}

/// The exporter the batch span processor calls.
#[derive(Debug)]
pub(super) struct OtlpHttpExporter {
    /// `None` once shut down.
    client: Option<reqwest::blocking::Client>,
    endpoint: String,
    headers: HeaderMap,
    resource: Resource,
    /// The encoded request and the encoder's scratch, reused from one export to the next.
    buffers: Mutex<(Vec<u8>, Scratch)>,
    /// Whether the last export failed (so only the first of a run of failures is logged).
    failing: AtomicBool,
}

impl OtlpHttpExporter {
    /// An exporter sending to `settings.endpoint`.
    ///
    /// # Errors
    /// [`TelemetryError`] when the endpoint is not an http(s) URL, a header is not a valid HTTP
    /// header, or the HTTP client cannot be built.
    pub(super) fn new(settings: ExportSettings) -> Result<Self, TelemetryError> {
        let url = reqwest::Url::parse(&settings.endpoint)
            .map_err(|e| TelemetryError(format!("OTLP endpoint {:?}: {e}", settings.endpoint)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TelemetryError(format!(
                "OTLP endpoint {:?}: the scheme is not http or https",
                settings.endpoint
            )));
        }
        let mut headers = HeaderMap::new();
        for (k, v) in &settings.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| TelemetryError(format!("OTLP header name {k:?}: {e}")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|e| TelemetryError(format!("OTLP header {k:?} value: {e}")))?;
            headers.append(name, value);
        }
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        // The blocking client runs its own runtime thread; building it inside an async context
        // (a binary's runtime) is refused, so it is built on a thread of its own.
        let timeout = settings.timeout;
        let client = std::thread::spawn(move || {
            reqwest::blocking::Client::builder()
                .timeout(timeout)
                .build()
        })
        .join()
        .map_err(|_| TelemetryError("the HTTP client's set-up panicked".into()))?
        .map_err(|e| TelemetryError(format!("HTTP client: {e}")))?;
        Ok(Self {
            client: Some(client),
            endpoint: settings.endpoint,
            headers,
            resource: Resource::builder_empty().build(),
            buffers: Mutex::new((Vec::new(), Scratch::default())),
            failing: AtomicBool::new(false),
        })
    }

    /// Sends one batch; the error names what failed.
    fn send(&self, batch: &[SpanData]) -> Result<(), String> {
        let client = self.client.as_ref().ok_or("the exporter is shut down")?;
        let body = {
            let mut buffers = self
                .buffers
                .lock()
                .map_err(|_| "the encoder's lock is poisoned")?;
            let (out, scratch) = &mut *buffers;
            encode_request(batch, &self.resource, scratch, out);
            // The body is handed to the client (which owns it until sent); the buffer keeps its
            // capacity for the next batch (`encode_request` clears it first).
            out.clone()
        };
        let response = client
            .post(&self.endpoint)
            .headers(self.headers.clone())
            .body(body)
            .send()
            .map_err(|e| format!("POST {}: {e}", self.endpoint))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            let text = response.text().unwrap_or_default();
            let text = text.get(..text.len().min(200)).unwrap_or_default();
            Err(format!("POST {}: {status} {text}", self.endpoint))
        }
    }
}

impl SpanExporter for OtlpHttpExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        match self.send(&batch) {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(endpoint = %self.endpoint, "exporting spans again");
                }
                Ok(())
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        error = %e,
                        spans = batch.len(),
                        "spans not exported (further failures are not logged until one succeeds)"
                    );
                }
                Err(OTelSdkError::InternalFailure(e))
            }
        }
    }

    fn shutdown_with_timeout(&mut self, _timeout: Duration) -> OTelSdkResult {
        // Dropped here, on the processor's thread: the blocking client must not be dropped
        // inside an async context.
        self.client = None;
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(
        base: Option<&str>,
        vars: &[(&str, &str)],
    ) -> Result<ExportSettings, TelemetryError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ExportSettings::resolve(base, |name| vars.get(name).cloned())
    }

    #[test]
    fn the_endpoint_comes_from_the_flag_then_the_traces_variable_then_the_base_variable() {
        let all = [
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:1/custom"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://b:2/"),
        ];
        assert_eq!(
            resolve(Some("http://flag:3/"), &all).unwrap().endpoint,
            "http://flag:3/v1/traces"
        );
        assert_eq!(resolve(None, &all).unwrap().endpoint, "http://t:1/custom");
        assert_eq!(
            resolve(None, &all[1..]).unwrap().endpoint,
            "http://b:2/v1/traces"
        );
        let default = resolve(None, &[]).unwrap();
        assert_eq!(default.endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(default.timeout, DEFAULT_TIMEOUT);
        assert!(default.headers.is_empty());
    }

    #[test]
    fn headers_and_timeout_prefer_the_traces_variables() {
        let s = resolve(
            None,
            &[
                ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                    " api-key = s%20ecret , =x, y=, b=2",
                ),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),
                ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "250"),
            ],
        )
        .unwrap();
        assert_eq!(
            s.headers,
            vec![
                ("api-key".to_owned(), "s ecret".to_owned()),
                ("b".to_owned(), "2".to_owned())
            ]
        );
        assert_eq!(s.timeout, Duration::from_millis(250));
    }

    #[test]
    fn bad_timeouts_and_compression_are_refused_by_name() {
        let e = resolve(None, &[("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")]).unwrap_err();
        assert!(e.to_string().contains("OTEL_EXPORTER_OTLP_TIMEOUT"), "{e}");
        let e = resolve(None, &[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")]).unwrap_err();
        assert!(
            e.to_string().contains("OTEL_EXPORTER_OTLP_COMPRESSION"),
            "{e}"
        );
        assert!(resolve(None, &[("OTEL_EXPORTER_OTLP_COMPRESSION", "none")]).is_ok());
    }

    #[test]
    fn endpoints_must_be_http_urls_and_headers_valid() {
        let settings = |endpoint: &str, headers: Vec<(String, String)>| ExportSettings {
            endpoint: endpoint.to_owned(),
            headers,
            timeout: DEFAULT_TIMEOUT,
        };
        assert!(OtlpHttpExporter::new(settings("not a url", vec![])).is_err());
        assert!(OtlpHttpExporter::new(settings("ftp://x/v1/traces", vec![])).is_err());
        let bad = vec![("bad header".to_owned(), "v".to_owned())];
        assert!(OtlpHttpExporter::new(settings("http://127.0.0.1:9/v1/traces", bad)).is_err());
        assert!(OtlpHttpExporter::new(settings("http://127.0.0.1:9/v1/traces", vec![])).is_ok());
    }
}
