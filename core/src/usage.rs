//! Token usage. Unknown is not zero: every count is an `Option`.

use serde::{Deserialize, Serialize};

/// Token counts of one response. `None` means the provider did not say.
///
/// `output_tokens` is what the provider bills as output, reasoning included;
/// `reasoning_tokens` is the part of it spent on thoughts. `cache_read_tokens`
/// and `cache_write_tokens` are the parts of the input served from or written
/// to the prompt cache, as the provider reports them.
///
/// ```
/// use rivulet_core::Usage;
///
/// let mut total = Usage::default();
/// assert_eq!(total.input_tokens, None);
/// total.add(&Usage { input_tokens: Some(12), ..Default::default() });
/// total.add(&Usage { output_tokens: Some(3), ..Default::default() });
/// assert_eq!((total.input_tokens, total.output_tokens), (Some(12), Some(3)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
}

fn add_field(total: &mut Option<u64>, delta: Option<u64>) {
    if let Some(d) = delta {
        *total = Some(total.unwrap_or(0).saturating_add(d));
    }
}

fn sub_field(now: Option<u64>, before: Option<u64>) -> Option<u64> {
    match (now, before) {
        (Some(n), Some(b)) if n >= b => Some(n - b).filter(|d| *d > 0),
        // A snapshot that went down is the provider restating, not a delta.
        (Some(_), Some(_)) => None,
        (Some(n), None) => Some(n),
        (None, _) => None,
    }
}

impl Usage {
    /// Adds a delta; a field the delta knows turns an unknown total into a known one.
    pub fn add(&mut self, delta: &Usage) {
        add_field(&mut self.input_tokens, delta.input_tokens);
        add_field(&mut self.output_tokens, delta.output_tokens);
        add_field(&mut self.cache_read_tokens, delta.cache_read_tokens);
        add_field(&mut self.cache_write_tokens, delta.cache_write_tokens);
        add_field(&mut self.reasoning_tokens, delta.reasoning_tokens);
    }

    /// The delta that takes cumulative snapshot `before` to snapshot `self`.
    /// Decoders of providers that send cumulative usage (Anthropic, Gemini)
    /// use it so that consumers only ever add.
    pub fn delta_since(&self, before: &Usage) -> Usage {
        Usage {
            input_tokens: sub_field(self.input_tokens, before.input_tokens),
            output_tokens: sub_field(self.output_tokens, before.output_tokens),
            cache_read_tokens: sub_field(self.cache_read_tokens, before.cache_read_tokens),
            cache_write_tokens: sub_field(self.cache_write_tokens, before.cache_write_tokens),
            reasoning_tokens: sub_field(self.reasoning_tokens, before.reasoning_tokens),
        }
    }

    /// True when no field is known.
    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }

    /// Input plus output, when both are known.
    pub fn total_tokens(&self) -> Option<u64> {
        Some(self.input_tokens? + self.output_tokens?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_snapshots_become_deltas() {
        let first = Usage {
            input_tokens: Some(10),
            output_tokens: Some(1),
            ..Default::default()
        };
        let last = Usage {
            input_tokens: Some(10),
            output_tokens: Some(25),
            ..Default::default()
        };
        let mut total = Usage::default();
        total.add(&first.delta_since(&Usage::default()));
        total.add(&last.delta_since(&first));
        assert_eq!(total, last);
        assert!(last.delta_since(&last).is_empty());
    }

    #[test]
    fn unknown_is_not_zero() {
        let u = Usage {
            output_tokens: Some(0),
            ..Default::default()
        };
        assert_eq!(u.output_tokens, Some(0));
        assert_eq!(u.input_tokens, None);
        assert_eq!(u.total_tokens(), None);
    }
}
