//! The dashboard's files, embedded in the binary (`cargo build` needs no Node.js), and how they
//! are served: the right `Content-Type`, a strong `ETag` (answered with 304 on
//! `If-None-Match`), `Cache-Control: no-cache` (revalidate, so a new binary's files show at
//! once), and a strict [`CONTENT_SECURITY_POLICY`] (scripts, styles and data from this origin
//! only: no inline script or style).

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The `Content-Security-Policy` of the page and its assets: everything from this origin only,
/// no inline script or style, no plugins, no framing, forms post nowhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded file, served at `/dashboard/assets/{path}` (`index.html` also at `/dashboard`).
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Path under `assets/` (and under `/dashboard/assets/`).
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("assets/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every file of the dashboard (a unit test checks that this lists the whole `assets/` folder).
pub const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("dashboard.css", CSS),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/main.js", JS),
    asset!("js/api.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/fleet.js", JS),
    asset!("js/tabs/overview.js", JS),
    asset!("js/tabs/models.js", JS),
    asset!("js/tabs/traces.js", JS),
    asset!("js/tabs/trends.js", JS),
    asset!("js/tabs/usage.js", JS),
    asset!("js/tabs/poc.js", JS),
    asset!("js/tabs/nodes.js", JS),
    asset!("vendor/uplot/uPlot.iife.min.js", JS),
    asset!("vendor/uplot/uPlot.min.css", CSS),
    asset!("vendor/uplot/LICENSE", "text/plain; charset=utf-8"),
    asset!("vendor/uplot/README.md", "text/markdown; charset=utf-8"),
];

/// The asset at `path`, if embedded.
pub fn find(path: &str) -> Option<(usize, &'static Asset)> {
    ASSETS.iter().enumerate().find(|(_, a)| a.path == path)
}

/// The strong `ETag` of every asset (a SHA-256 prefix of its bytes), computed once.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body);
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

/// Headers every dashboard file carries, whatever its type.
pub fn security_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// Serves asset `index` (of [`ASSETS`]): 304 when `If-None-Match` names its `ETag`.
pub fn serve(index: usize, request: &HeaderMap) -> Response {
    let (Some(asset), Some(etag)) = (ASSETS.get(index), etags().get(index)) else {
        return not_found("");
    };
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    security_headers(headers);
    response
}

fn not_found(path: &str) -> Response {
    let body = serde_json::json!({ "error": format!("no dashboard asset {path:?}") });
    let mut response = (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    security_headers(response.headers_mut());
    response
}

/// `GET /dashboard` (and `/dashboard/`): the page.
pub async fn page(request: HeaderMap) -> Response {
    match find("index.html") {
        Some((i, _)) => serve(i, &request),
        None => not_found("index.html"),
    }
}

/// `GET /dashboard/assets/{*path}`: an embedded file, or 404 `{"error": ...}` naming the path.
pub async fn file(Path(path): Path<String>, request: HeaderMap) -> Response {
    match find(&path) {
        Some((i, _)) => serve(i, &request),
        None => not_found(&path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::{Path as FsPath, PathBuf};

    fn folder() -> PathBuf {
        FsPath::new(env!("CARGO_MANIFEST_DIR")).join("src/dashboard/assets")
    }

    fn files_under(dir: &FsPath, prefix: &str, out: &mut BTreeSet<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = format!("{prefix}{}", e.file_name().to_string_lossy());
            if e.file_type().unwrap().is_dir() {
                files_under(&e.path(), &format!("{name}/"), out);
            } else {
                out.insert(name);
            }
        }
    }

    #[test]
    fn every_file_of_the_assets_folder_is_embedded_once() {
        let mut on_disk = BTreeSet::new();
        files_under(&folder(), "", &mut on_disk);
        let embedded: BTreeSet<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        assert_eq!(embedded.len(), ASSETS.len(), "an asset is listed twice");
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn every_reference_between_assets_resolves() {
        let html = std::str::from_utf8(find("index.html").unwrap().1.body).unwrap();
        let mut refs: Vec<String> = html
            .split("/dashboard/assets/")
            .skip(1)
            .map(|s| s.split('"').next().unwrap().to_owned())
            .collect();
        for a in ASSETS.iter().filter(|a| a.path.starts_with("js/")) {
            let text = std::str::from_utf8(a.body).unwrap();
            let dir = FsPath::new(a.path).parent().unwrap();
            for import in text.split(" from '").skip(1) {
                let target = import.split('\'').next().unwrap();
                let mut path = dir.to_path_buf();
                for part in target.split('/') {
                    match part {
                        "." => {}
                        ".." => assert!(path.pop(), "{target} leaves assets/"),
                        p => path.push(p),
                    }
                }
                refs.push(path.to_string_lossy().into_owned());
            }
        }
        assert!(refs.len() > 10, "{refs:?}");
        for r in refs {
            assert!(find(&r).is_some(), "{r} is referenced but not embedded");
        }
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        let html = std::str::from_utf8(find("index.html").unwrap().1.body).unwrap();
        for (i, tag) in html.match_indices("<script") {
            let end = html[i..].find('>').unwrap();
            assert!(html[i..i + end].contains("src="), "inline script: {tag}");
        }
        assert!(!html.contains("<style"), "inline <style>");
        assert!(!html.contains(" style="), "inline style attribute");
        assert!(!html.contains(" onclick="), "inline event handler");
    }

    #[test]
    fn etags_differ_per_content_and_answer_304() {
        let tags = etags();
        let distinct: BTreeSet<&String> = tags.iter().collect();
        assert_eq!(distinct.len(), ASSETS.len());
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&tags[0]).unwrap(),
        );
        assert_eq!(serve(0, &headers).status(), StatusCode::NOT_MODIFIED);
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"x\""));
        assert_eq!(serve(0, &headers).status(), StatusCode::OK);
    }
}
