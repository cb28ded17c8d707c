//! [`redact_url`]: a database URL fit for logs and error messages, whatever its shape.
//!
//! A password can sit in the userinfo (`postgres://user:PASS@host/db`, also when it contains
//! `@`, `?` or `/`, or when the scheme is misspelt) or in the query (`?password=PASS`,
//! `?sslpassword=`, any parameter whose name mentions a password, secret, token or key). Every
//! such part is replaced with `***`; so is any other occurrence of the secret text, so a URL the
//! parsers would split differently from us still shows no secret.

/// Query parameter names (lower-cased substrings) whose values are secret.
const SECRET_PARAMS: [&str; 5] = ["pass", "pwd", "secret", "token", "key"];

/// Secrets shorter than this are only redacted where the URL's structure puts them (a global
/// replacement of one or two letters would garble the whole line).
const MIN_SCRUBBED_LEN: usize = 3;

/// `url` with every password and secret query value replaced by `***`:
/// `postgres://u:***@h/db`, `postgres://h/db?password=***`. URLs without secrets are unchanged.
pub fn redact_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let start = head.find("://").map_or(0, |i| i + 3);
    let mut out = String::with_capacity(url.len());
    match head[start..].rfind('@') {
        Some(at) => {
            let userinfo = &head[start..start + at];
            out.push_str(&head[..start]);
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&head[start + at..]);
        }
        None => out.push_str(head),
    }
    if let Some(query) = query {
        out.push('?');
        out.push_str(&redact_query(query));
    }
    scrub_secrets(&out, &secrets_of(url))
}

/// `text` (an error message about `url`) with `url` written redacted and every secret of `url`
/// replaced by `***`.
pub(crate) fn scrub(url: &str, text: &str) -> String {
    let text = if url.is_empty() {
        text.to_owned()
    } else {
        text.replace(url, &redact_url(url))
    };
    scrub_secrets(&text, &secrets_of(url))
}

fn scrub_secrets(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        if secret.len() >= MIN_SCRUBBED_LEN && secret != "***" {
            text = text.replace(secret.as_str(), "***");
        }
    }
    text
}

fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_param(name) => format!("{name}=***"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_secret_param(name: &str) -> bool {
    let name = percent_decode(name).to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|s| name.contains(s))
}

/// Every text of `url` that may be a secret, as written and percent-decoded, longest first:
/// the password by the last `@` of the whole URL and by the last `@` before the query, and the
/// values of secret-named query parameters.
fn secrets_of(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    let start = url.find("://").map_or(0, |i| i + 3);
    let head_end = url.find('?').unwrap_or(url.len()).max(start);
    for end in [url.len(), head_end] {
        if let Some(at) = url[start..end].rfind('@') {
            if let Some((_, password)) = url[start..start + at].split_once(':') {
                found.push(password.to_owned());
            }
        }
    }
    if let Some((_, query)) = url.split_once('?') {
        for pair in query.split('&') {
            if let Some((name, value)) = pair.split_once('=') {
                if is_secret_param(name) {
                    found.push(value.to_owned());
                }
            }
        }
    }
    let decoded: Vec<String> = found.iter().map(|s| percent_decode(s)).collect();
    found.extend(decoded);
    found.retain(|s| !s.is_empty());
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    found.dedup();
    found
}

/// `%XX` escapes (and `+`, as in query strings) decoded; invalid escapes kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_wherever_they_sit() {
        for (url, redacted) in [
            ("postgres://u:pw@h/db", "postgres://u:***@h/db"),
            ("sqlite://gonka.db", "sqlite://gonka.db"),
            ("memory:", "memory:"),
            ("postgress://u:secret@h/db", "postgress://u:***@h/db"),
            ("postgres://u:p@ss@h/db", "postgres://u:***@h/db"),
            (
                "postgres://h/db?password=secret",
                "postgres://h/db?password=***",
            ),
            (
                "postgres://h/db?sslmode=require&PassWord=secret",
                "postgres://h/db?sslmode=require&PassWord=***",
            ),
            (
                "postgresql://u:secret@[bad/db",
                "postgresql://u:***@[bad/db",
            ),
            ("postgres://u:sec?ret@h/db", "postgres://u:***@h/db"),
            ("postgres:u:secret@h/db", "postgres:***@h/db"),
            ("postgres://u:p%40ssword@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
        ] {
            assert_eq!(redact_url(url), redacted, "{url}");
        }
    }

    #[test]
    fn messages_lose_the_url_secrets_also_decoded() {
        let url = "postgres://u:p%40ssword@h/db";
        let msg = format!("bad {url}: password p@ssword rejected");
        let s = scrub(url, &msg);
        assert!(!s.contains("p@ssword") && !s.contains("p%40ssword"), "{s}");
        assert!(s.contains("postgres://u:***@h/db"), "{s}");
    }
}
