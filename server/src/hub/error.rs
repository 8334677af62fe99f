//! The hub's error answers: `{"error": {"code", "message"}}` with an HTTP
//! status. A message says what happened and what to do; it never carries a
//! hash, a code, a token, another user's data or an internal error (those
//! go to the hub's log, and the client gets "internal error").

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::accounts::AccountError;
use crate::store::StoreError;

/// The one message of an error the client cannot act on.
pub const INTERNAL: &str = "internal error on the hub; the hub's log has the details";

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds to wait, for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", INTERNAL)
    }

    pub fn unavailable() -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the hub cannot reach its database right now; try again in a minute",
        );
        e.retry_after = Some(30);
        e
    }

    pub fn not_logged_in() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "not_logged_in", AccountError::NotLoggedIn.to_string())
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; try again in {retry_after} s"),
        );
        e.retry_after = Some(retry_after);
        e
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        use StatusCode as S;
        let message = e.to_string();
        match e {
            AccountError::InvalidLogin => Self::new(S::UNAUTHORIZED, "invalid_login", message),
            AccountError::NotLoggedIn => Self::not_logged_in(),
            AccountError::InvalidCode => Self::new(S::BAD_REQUEST, "invalid_code", message),
            AccountError::WrongPassword => Self::new(S::FORBIDDEN, "wrong_password", message),
            AccountError::AlreadyRegistered(_) => Self::new(S::CONFLICT, "already_registered", message),
            AccountError::Policy(_) | AccountError::Identity(_) => Self::new(S::BAD_REQUEST, "invalid_input", message),
            AccountError::Store(e) => e.into(),
            AccountError::Mail(_) | AccountError::Hash(_) | AccountError::SaveLogin { .. } | AccountError::Hub(_) => {
                tracing::error!("account operation failed: {message}");
                Self::internal()
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::new(StatusCode::NOT_FOUND, "not_found", "no such history entry"),
            StoreError::AlreadyRegistered { .. } => AccountError::from(e).into(),
            StoreError::Invalid(message) => Self::bad_request(message),
            StoreError::Unavailable(reason) => {
                tracing::warn!("the store is unavailable: {reason}");
                Self::unavailable()
            }
            StoreError::Other(reason) => {
                tracing::error!("store error: {reason}");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}
