//! Query strings as dockerd reads them: repeated keys kept, booleans as `1`/`true`,
//! `filters` as JSON (`{"label":["a=b"]}`, or the old `{"label":{"a=b":true}}`).

use crate::error::{ApiError, ApiResult};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::collections::BTreeMap;

/// A request's query parameters, in order.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> ApiResult<Self> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(query)
            .map(Params)
            .map_err(|err| ApiError::bad_request(format!("malformed query string: {err}")))
    }
}

impl Params {
    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean: `1`, `true`, `True` are true; absent is `default`.
    pub fn flag(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None | Some("") => default,
            Some(value) => !matches!(value, "0" | "false" | "False" | "no"),
        }
    }

    /// A number; a malformed one is a 400.
    pub fn number<T: std::str::FromStr>(&self, key: &str) -> ApiResult<Option<T>> {
        match self.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {text:?}"))),
        }
    }

    /// `filters` as the engine's `key=value` terms.
    pub fn filter_terms(&self) -> ApiResult<Vec<String>> {
        let Some(text) = self.get("filters").filter(|t| !t.is_empty()) else {
            return Ok(Vec::new());
        };
        let bad = |err: serde_json::Error| ApiError::bad_request(format!("invalid filter: {err}"));
        let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(text).map_err(bad)?;
        let mut terms = Vec::new();
        for (key, values) in map {
            match values {
                serde_json::Value::Array(list) => {
                    for value in list {
                        let value = value.as_str().map(str::to_string).unwrap_or_default();
                        terms.push(format!("{key}={value}"));
                    }
                }
                serde_json::Value::Object(set) => {
                    terms.extend(set.keys().map(|value| format!("{key}={value}")));
                }
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "invalid filter: {key} must be a list of strings"
                    )))
                }
            }
        }
        Ok(terms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> Params {
        Params(serde_urlencoded::from_str(query).unwrap())
    }

    #[test]
    fn booleans_numbers_and_repeated_keys_read_as_dockerd_reads_them() {
        let p = params("all=1&force=false&t=5&names=a&names=b");
        assert!(p.flag("all", false));
        assert!(!p.flag("force", true));
        assert!(p.flag("missing", true));
        assert_eq!(p.number::<u64>("t").unwrap(), Some(5));
        assert_eq!(p.all("names"), ["a", "b"]);
        assert!(params("t=soon").number::<u64>("t").is_err());
    }

    #[test]
    fn filters_come_in_both_json_forms() {
        let list = params("filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D");
        assert_eq!(list.filter_terms().unwrap(), ["label=a=b"]);
        let set = params("filters=%7B%22status%22%3A%7B%22exited%22%3Atrue%7D%7D");
        assert_eq!(set.filter_terms().unwrap(), ["status=exited"]);
        assert!(params("filters=nope").filter_terms().is_err());
    }
}
