//! Token usage. Unknown is not zero: every count is an `Option`.
//!
//! A response's [`Usage`] is built from [`UsageDelta`]s, one per
//! `usage_delta_chunk`. A delta is signed: providers that report cumulative
//! snapshots (Anthropic, Gemini) may report less than before (Anthropic's
//! final `message_delta` after server-side compaction, Gemini's counts
//! restarting mid-stream), and the last snapshot is the truth. Decoders
//! send the difference to what they sent so far ([`Usage::delta_since`]),
//! so the deltas always add up to the provider's latest numbers.

use serde::{Deserialize, Serialize};

/// Declares [`Usage`] and [`UsageDelta`] with the same fields, and the
/// field-by-field arithmetic between them, from one list: a field added
/// here is summed, applied and diffed like every other.
macro_rules! usage {
    ($( $(#[$doc:meta])* $field:ident, )*) => {
        /// Token counts of one response, and what else the provider
        /// reports about its cost. `None` means the provider did not say.
        ///
        /// `output_tokens` is what the provider bills as output, reasoning
        /// included; `reasoning_tokens` is the part of it spent on
        /// thoughts. `cache_read_tokens` and `cache_write_tokens` are the
        /// parts of the input served from or written to the prompt cache,
        /// as the provider reports them. The rest are the details some
        /// providers add: cache writes by lifetime, tokens by modality,
        /// server-tool requests and the provider's own price.
        ///
        /// ```
        /// use rivulet_core::{Usage, UsageDelta};
        ///
        /// let mut total = Usage::default();
        /// assert_eq!(total.input_tokens, None);
        /// total.apply(&UsageDelta { input_tokens: Some(12), ..Default::default() });
        /// total.apply(&UsageDelta { output_tokens: Some(3), ..Default::default() });
        /// // A correction: the provider's later snapshot said 10 input tokens.
        /// total.apply(&UsageDelta { input_tokens: Some(-2), ..Default::default() });
        /// assert_eq!((total.input_tokens, total.output_tokens), (Some(10), Some(3)));
        /// ```
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct Usage {
            $(
                $(#[$doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<u64>,
            )*
        }

        /// A signed change to a [`Usage`]: what a `usage_delta_chunk` carries.
        ///
        /// `None` leaves a field as it is; `Some(d)` adds `d`, which is negative
        /// when the provider's latest snapshot is below what was reported before.
        /// Adding every delta of a stream gives the provider's final numbers.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct UsageDelta {
            $(
                $(#[$doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<i64>,
            )*
        }

        impl Usage {
            /// Adds another response's counts (totals, not deltas): a field either
            /// side knows turns an unknown total into a known one.
            pub fn add(&mut self, more: &Usage) {
                $( add_field(&mut self.$field, more.$field); )*
            }

            /// Applies a signed delta (a `usage_delta_chunk`): a field the delta
            /// knows turns an unknown total into a known one.
            pub fn apply(&mut self, delta: &UsageDelta) {
                $( apply_field(&mut self.$field, delta.$field); )*
            }

            /// The delta that takes `before` to `self`, field by field: a field
            /// `self` does not know is left as it is; one it knows becomes exactly
            /// its value, up or down. Decoders of providers that report cumulative
            /// snapshots use it, so the deltas add up to the last snapshot.
            pub fn delta_since(&self, before: &Usage) -> UsageDelta {
                UsageDelta {
                    $( $field: sub_field(self.$field, before.$field), )*
                }
            }
        }
    };
}

usage! {
    /// Tokens of the prompt, cached ones included.
    input_tokens,
    /// Tokens generated and billed as output, reasoning included.
    output_tokens,
    /// The part of the input read from the prompt cache.
    cache_read_tokens,
    /// The part of the input written to the prompt cache.
    cache_write_tokens,
    /// The part of the output spent on thoughts.
    reasoning_tokens,
    /// The part of `cache_write_tokens` cached for 5 minutes (Anthropic
    /// `cache_creation.ephemeral_5m_input_tokens`).
    cache_write_5m_tokens,
    /// The part of `cache_write_tokens` cached for an hour (Anthropic
    /// `cache_creation.ephemeral_1h_input_tokens`).
    cache_write_1h_tokens,
    /// Input tokens of text (input tokens by modality: OpenAI
    /// `prompt_tokens_details`, Gemini `promptTokensDetails`).
    input_text_tokens,
    /// Input tokens of audio.
    input_audio_tokens,
    /// Input tokens of images.
    input_image_tokens,
    /// Input tokens of video.
    input_video_tokens,
    /// Output tokens of text (output tokens by modality: OpenAI
    /// `completion_tokens_details`, Gemini `candidatesTokensDetails`).
    output_text_tokens,
    /// Output tokens of audio.
    output_audio_tokens,
    /// Output tokens of images.
    output_image_tokens,
    /// Searches a server tool ran (Anthropic
    /// `server_tool_use.web_search_requests`).
    web_search_requests,
    /// Pages a server tool fetched (Anthropic
    /// `server_tool_use.web_fetch_requests`).
    web_fetch_requests,
    /// The provider's own price for the response, in billionths of a US
    /// dollar (OpenRouter `usage.cost`, xAI `usage.cost_in_usd_ticks`):
    /// an integer, so that deltas add up exactly. [`Usage::cost_usd`]
    /// gives dollars.
    cost_nano_usd,
}

impl UsageDelta {
    /// True when it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == UsageDelta::default()
    }
}

fn add_field(total: &mut Option<u64>, more: Option<u64>) {
    if let Some(m) = more {
        *total = Some(total.unwrap_or(0).saturating_add(m));
    }
}

fn apply_field(total: &mut Option<u64>, delta: Option<i64>) {
    if let Some(d) = delta {
        // Deltas made by `delta_since` never take a total below zero; a
        // hand-made one that would stops at zero.
        *total = Some(total.unwrap_or(0).saturating_add_signed(d));
    }
}

/// The signed change from `before` to `now`; `None` when `now` is unknown
/// (nothing reported: nothing changes) or equal to a known `before`. A
/// known zero over an unknown `before` is `Some(0)`: it makes the field known.
fn sub_field(now: Option<u64>, before: Option<u64>) -> Option<i64> {
    let now = i128::from(now?);
    let d = match before {
        Some(b) if i128::from(b) == now => return None,
        Some(b) => now - i128::from(b),
        None => now,
    };
    // Token counts beyond i64 are not real; clamp rather than wrap.
    Some(i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX }))
}

impl Usage {
    /// True when no field is known.
    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }

    /// Input plus output, when both are known (saturating: the counts are
    /// the provider's, whatever they are).
    pub fn total_tokens(&self) -> Option<u64> {
        Some(self.input_tokens?.saturating_add(self.output_tokens?))
    }

    /// The provider's price in US dollars, when it reported one.
    ///
    /// ```
    /// let u = rivulet_core::Usage { cost_nano_usd: Some(222_000), ..Default::default() };
    /// assert_eq!(u.cost_usd(), Some(0.000222));
    /// ```
    pub fn cost_usd(&self) -> Option<f64> {
        self.cost_nano_usd.map(|n| n as f64 / 1e9)
    }
}

impl From<Usage> for UsageDelta {
    /// The delta that takes an empty usage to `usage` (a provider's one
    /// report of its totals).
    fn from(usage: Usage) -> Self {
        usage.delta_since(&Usage::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64, cache_read: u64) -> Usage {
        Usage {
            input_tokens: Some(input),
            output_tokens: Some(output),
            cache_read_tokens: Some(cache_read),
            ..Default::default()
        }
    }

    #[test]
    fn cumulative_snapshots_become_deltas() {
        // A known zero is known: the cache read stays `Some(0)`.
        let first = usage(10, 1, 0);
        let last = usage(10, 25, 0);
        let mut total = Usage::default();
        total.apply(&first.delta_since(&Usage::default()));
        total.apply(&last.delta_since(&first));
        assert_eq!(total, last);
        assert!(last.delta_since(&last).is_empty());
    }

    /// Anthropic after server-side compaction: `message_start` says
    /// 100 + 55,096 cache read, the final `message_delta` 181 and 0. The
    /// last snapshot is the answer.
    #[test]
    fn snapshots_that_go_down_give_negative_deltas() {
        let start = usage(55_196, 7, 55_096);
        let end = usage(181, 8, 0);
        let delta = end.delta_since(&start);
        assert_eq!(delta.input_tokens, Some(-55_015));
        assert_eq!(delta.cache_read_tokens, Some(-55_096));
        assert_eq!(delta.output_tokens, Some(1));
        let mut total = Usage::default();
        total.apply(&UsageDelta::from(start));
        total.apply(&delta);
        assert_eq!(total, end);
        // Serialized, the correction is a plain negative number.
        assert_eq!(
            serde_json::to_string(&delta).unwrap(),
            r#"{"input_tokens":-55015,"output_tokens":1,"cache_read_tokens":-55096}"#
        );
    }

    #[test]
    fn unknown_fields_stay_as_they_are() {
        let before = usage(10, 5, 3);
        let now = Usage {
            output_tokens: Some(2),
            ..Default::default()
        };
        let delta = now.delta_since(&before);
        assert_eq!(
            delta,
            UsageDelta {
                output_tokens: Some(-3),
                ..Default::default()
            }
        );
        let mut total = before;
        total.apply(&delta);
        assert_eq!(total, usage(10, 2, 3));
    }

    #[test]
    fn absurd_values_saturate_instead_of_wrapping() {
        let huge = Usage {
            input_tokens: Some(u64::MAX),
            ..Default::default()
        };
        assert_eq!(UsageDelta::from(huge).input_tokens, Some(i64::MAX));
        assert_eq!(
            Usage::default().delta_since(&huge).input_tokens,
            None,
            "an unknown field changes nothing"
        );
        let mut total = Usage {
            input_tokens: Some(5),
            ..Default::default()
        };
        total.apply(&UsageDelta {
            input_tokens: Some(-9),
            ..Default::default()
        });
        assert_eq!(total.input_tokens, Some(0));
    }

    #[test]
    fn totals_add() {
        let mut total = usage(1, 2, 0);
        total.add(&Usage {
            input_tokens: Some(4),
            reasoning_tokens: Some(1),
            ..Default::default()
        });
        assert_eq!(total.input_tokens, Some(5));
        assert_eq!(total.output_tokens, Some(2));
        assert_eq!(total.reasoning_tokens, Some(1));
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
