//! Secrets out of texts that leave the process: answers, health reports and log lines. A URL's
//! user information (`https://user:password@host`) becomes `***@`, and its query string (where
//! presigned S3 URLs and some registries carry signatures and tokens) becomes `?***`. Pure.

use std::borrow::Cow;

/// Characters that end a URL inside free text.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | ')' | ']' | '}' | ',')
}

/// `text` with the user information and query of every URL in it replaced.
pub fn secrets(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after.find(ends_url).unwrap_or(after.len());
        let (url, tail) = after.split_at(end);
        let authority_end = url.find(['/', '?', '#']).unwrap_or(url.len());
        let (authority, path) = url.split_at(authority_end);
        match authority.rfind('@') {
            Some(i) => {
                out.push_str("***@");
                out.push_str(&authority[i + 1..]);
            }
            None => out.push_str(authority),
        }
        match path.find('?') {
            Some(q) => {
                out.push_str(&path[..q]);
                out.push_str("?***");
            }
            None => out.push_str(path),
        }
        rest = tail;
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Every string in a JSON value, through [`secrets`].
pub fn json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            if let Cow::Owned(clean) = secrets(s) {
                *s = clean;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(json),
        serde_json::Value::Object(map) => map.values_mut().for_each(json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_queries_of_urls_are_replaced_and_the_rest_is_kept() {
        assert_eq!(secrets("http://mlflow:5000"), "http://mlflow:5000");
        assert_eq!(secrets("https://alice:s3cret@mlflow.example:5000/api"), "https://***@mlflow.example:5000/api");
        assert_eq!(
            secrets("error sending request for url (http://u:p@host/health?token=abc): refused"),
            "error sending request for url (http://***@host/health?***): refused"
        );
        assert_eq!(
            secrets("GET https://b.s3/x?X-Amz-Signature=1&X-Amz-Credential=2 and s3://bucket/key"),
            "GET https://b.s3/x?*** and s3://bucket/key"
        );
        assert_eq!(secrets("no url here: user@host"), "no url here: user@host");
        assert!(matches!(secrets("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn every_string_of_a_report_is_cleaned() {
        let mut v =
            serde_json::json!({"tracking_uri": "http://a:b@h", "nested": [{"error": "x http://c:d@e?q=1"}], "n": 1});
        json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"tracking_uri": "http://***@h", "nested": [{"error": "x http://***@e?***"}], "n": 1})
        );
    }
}
