//! [`RequestError`]: a request body refused before sending.

/// Why a request body was refused before sending.
///
/// Messages name the field but never echo its value (a value may be a multi-megabyte data URI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// A required field is absent.
    #[error("`{field}` is required")]
    Missing {
        /// The wire name of the field.
        field: &'static str,
    },
    /// A field that must carry text is empty or only whitespace.
    #[error("`{field}` must not be empty")]
    Empty {
        /// The wire name of the field.
        field: &'static str,
    },
    /// A multimodal input has no `input_text` part anywhere (the API requires at least one).
    #[error("`input` needs at least one `input_text` part with text")]
    NoInputText,
    /// A URL field is neither an `https://` URL nor a `data:` URI (or, for `HTTP-Referer`-like
    /// fields, not an http(s) URL).
    #[error("`{field}` {reason}")]
    InvalidUrl {
        /// The wire name of the field.
        field: &'static str,
        /// What is wrong, e.g. "must be an https:// URL or a data: URI".
        reason: &'static str,
    },
    /// A field's value is out of the accepted range or format.
    #[error("`{field}` {reason}")]
    InvalidValue {
        /// The wire name of the field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two fields that exclude each other are both set (e.g. legacy `model` and `models`).
    #[error("`{first}` and `{second}` cannot both be set")]
    Conflict {
        /// One field.
        first: &'static str,
        /// The other field.
        second: &'static str,
    },
}
