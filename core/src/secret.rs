//! API keys: held in a `secrecy` box so they never reach a log or a `Debug` print.

use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// A provider credential. Its `Debug` prints `ApiKey(***)`; only the HTTP
/// layer calls [`ApiKey::expose`], to put it in a header.
///
/// ```
/// use rivulet_core::ApiKey;
/// let key = ApiKey::new("sk-secret");
/// assert_eq!(format!("{key:?}"), "ApiKey(***)");
/// assert_eq!(key.expose(), "sk-secret");
/// ```
#[derive(Clone)]
pub struct ApiKey(SecretString);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(SecretString::from(key.into()))
    }

    /// The key itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}
