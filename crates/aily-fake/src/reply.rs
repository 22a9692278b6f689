//! Building responses: JSON replies, the platform's error envelope (with its
//! `error` block and field violations) and the `X-Tt-Logid` header.

use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::body::FakeBody;

pub(crate) const JSON: &str = "application/json; charset=utf-8";
pub(crate) const LOG_ID: HeaderName = HeaderName::from_static("x-tt-logid");

/// Code and message of "a parameter is wrong".
pub(crate) const PARAM_INVALID: (i64, &str) = (2700001, "param is invalid");

/// Which parameter was refused, and why: one item of `error.field_violations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParamError {
    pub(crate) field: &'static str,
    pub(crate) value: Option<String>,
    pub(crate) description: &'static str,
}

impl ParamError {
    /// A violation that shows the refused value.
    pub(crate) fn new(field: &'static str, value: &str, description: &'static str) -> Self {
        Self {
            field,
            value: Some(value.to_owned()),
            description,
        }
    }

    /// A violation that does not show the value (e.g. it is not printable).
    pub(crate) fn hidden(field: &'static str, description: &'static str) -> Self {
        Self {
            field,
            value: None,
            description,
        }
    }
}

/// Why an app route (skills, data assets) refused a call: a parameter (2700001
/// with its violation), or one of the endpoint's own codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// HTTP 400, 2700001, naming the field.
    Param(ParamError),
    /// This status, code and message.
    Code {
        status: u16,
        code: i64,
        msg: &'static str,
    },
}

impl Refusal {
    /// HTTP 400 with `code`.
    pub(crate) fn code(code: i64, msg: &'static str) -> Self {
        Refusal::Code {
            status: 400,
            code,
            msg,
        }
    }

    /// The error reply.
    pub(crate) fn response(self, log_id: &str) -> Response<FakeBody> {
        match self {
            Refusal::Param(violation) => param_error(violation, log_id),
            Refusal::Code { status, code, msg } => error_response(status, code, msg, log_id, None),
        }
    }
}

impl From<ParamError> for Refusal {
    fn from(violation: ParamError) -> Self {
        Refusal::Param(violation)
    }
}

/// HTTP 400, code 2700001, with one field violation.
pub(crate) fn param_error(violation: ParamError, log_id: &str) -> Response<FakeBody> {
    let mut item = serde_json::Map::new();
    item.insert("field".into(), violation.field.into());
    if let Some(value) = violation.value {
        item.insert("value".into(), value.into());
    }
    item.insert("description".into(), violation.description.into());
    error_response(
        400,
        PARAM_INVALID.0,
        PARAM_INVALID.1,
        log_id,
        Some(Value::Array(vec![Value::Object(item)])),
    )
}

/// HTTP 200 `{"code":0,"msg":"success","data":data}`.
pub(crate) fn success(data: Value, log_id: &str) -> Response<FakeBody> {
    json_response(
        StatusCode::OK,
        &json!({"code": 0, "msg": "success", "data": data}),
        log_id,
    )
}

/// A final status the server can send: 200..=599, anything else becomes 500.
pub(crate) fn valid_status(status: u16) -> StatusCode {
    match StatusCode::from_u16(status) {
        Ok(s) if (200..=599).contains(&s.as_u16()) => s,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A JSON reply.
pub(crate) fn json_response(status: StatusCode, value: &Value, log_id: &str) -> Response<FakeBody> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    raw_response(status, JSON, FakeBody::full(body), log_id)
}

/// An error envelope with the platform's `error` block.
pub(crate) fn error_response(
    status: u16,
    code: i64,
    msg: &str,
    log_id: &str,
    field_violations: Option<Value>,
) -> Response<FakeBody> {
    let mut error = serde_json::Map::new();
    error.insert("log_id".into(), log_id.into());
    if let Some(violations) = field_violations {
        error.insert("field_violations".into(), violations);
    }
    error.insert(
        "troubleshooter".into(),
        format!("https://open.feishu.cn/search?from=openapi&log_id={log_id}&code={code}").into(),
    );
    json_response(
        valid_status(status),
        &json!({"code": code, "msg": msg, "error": error}),
        log_id,
    )
}

/// Any reply: status, content type, `X-Tt-Logid`, body.
pub(crate) fn raw_response(
    status: StatusCode,
    content_type: &'static str,
    body: FakeBody,
    log_id: &str,
) -> Response<FakeBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(log_id) {
        headers.insert(LOG_ID, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_clamped() {
        assert_eq!(valid_status(429), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(valid_status(101), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(valid_status(0), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(valid_status(1000), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
