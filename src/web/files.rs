//! File responses that stream from storage instead of holding the file in memory, with byte
//! ranges (`Range`, `If-Range`, 206 and 416) so that a broken download resumes where it stopped.
//!
//! A response reads its file in pieces as the client takes them: a hundred slow readers of a
//! 10 MB file cost a hundred pieces, not a gigabyte. The connection's write-stall timeout
//! (`server::WRITE_STALL_TIMEOUT`) ends a download whose reader has gone quiet. Where the bytes
//! come from (the database's stored files) is the caller's: it hands a function that streams
//! a part of the file.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What a file response says about the file besides its bytes.
pub struct FileHeaders<'a> {
    pub content_type: &'a str,
    pub disposition: Option<String>,
    pub cache_control: &'a str,
}

/// What is known about a file before reading it.
pub struct FileMeta {
    pub len: u64,
    /// A strong validator (quoted), for `ETag` and `If-Range`.
    pub etag: String,
    /// An HTTP date.
    pub last_modified: Option<String>,
}

/// Answers a request with `request` headers for a file described by `meta`: 200 with the whole
/// file, 206 with one byte range, or 416 for a range the file cannot satisfy. `body(start, len)`
/// streams the bytes `start .. start + len`.
pub fn respond(
    request: &HeaderMap,
    meta: &FileMeta,
    headers: FileHeaders<'_>,
    body: impl FnOnce(u64, u64) -> Body,
) -> Response {
    let len = meta.len;
    let mut res = Response::builder()
        .header(header::CONTENT_TYPE, headers.content_type)
        .header(header::CACHE_CONTROL, headers.cache_control)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, &meta.etag);
    if let Some(lm) = &meta.last_modified {
        res = res.header(header::LAST_MODIFIED, lm);
    }
    if let Some(disposition) = headers.disposition {
        res = res.header(header::CONTENT_DISPOSITION, disposition);
    }

    let range = request
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| if_range_holds(request, &meta.etag, meta.last_modified.as_deref()));
    let whole = |res: axum::http::response::Builder, body: Body| {
        res.status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, len)
            .body(body)
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    };
    let Some(range) = range else {
        return whole(res, body(0, len));
    };
    let ranges = match http_range_header::parse_range_header(range).and_then(|r| r.validate(len)) {
        Ok(ranges) => ranges,
        Err(_) => {
            let mut refused = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                refused.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return refused;
        }
    };
    match ranges.as_slice() {
        [one] => {
            let (start, end) = (*one.start(), *one.end());
            let part = end - start + 1;
            res.status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"))
                .header(header::CONTENT_LENGTH, part)
                .body(body(start, part))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        // Several ranges (or none, of an empty file): the whole file, which RFC 9110 allows.
        _ => whole(res, body(0, len)),
    }
}

/// `If-Range`: the range applies only if the file is still the one the client has part of (same
/// strong ETag, or the exact Last-Modified date); otherwise the whole new file is sent.
fn if_range_holds(request: &HeaderMap, etag: &str, last_modified: Option<&str>) -> bool {
    match request.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(v) if v.starts_with('"') => v == etag,
        Some(v) => last_modified == Some(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn if_range_compares_strong_etags_and_exact_dates() {
        let lm = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert!(if_range_holds(&headers(&[]), "\"a\"", Some(lm)));
        assert!(if_range_holds(&headers(&[("if-range", "\"a\"")]), "\"a\"", Some(lm)));
        assert!(!if_range_holds(&headers(&[("if-range", "\"b\"")]), "\"a\"", Some(lm)));
        assert!(!if_range_holds(&headers(&[("if-range", "W/\"a\"")]), "\"a\"", Some(lm)));
        assert!(if_range_holds(&headers(&[("if-range", lm)]), "\"a\"", Some(lm)));
        assert!(!if_range_holds(
            &headers(&[("if-range", "Thu, 22 Oct 2015 07:28:00 GMT")]),
            "\"a\"",
            Some(lm)
        ));
    }
}
