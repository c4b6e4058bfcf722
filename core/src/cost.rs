//! What a response cost: a price table kept as data and the arithmetic
//! over normalized [`Usage`].
//!
//! The built-in table is `core/data/prices.json`: USD per million tokens
//! for input, output, cache reads, cache writes and (where it differs from
//! output) reasoning, by provider and model, each row with the page its
//! prices were read from and the date. A model without a row has no cost:
//! [`Response::cost`] is `None`, never 0.
//!
//! Usage is normalized the same way for every provider (see [`Usage`]):
//! input includes the tokens read from and written to the prompt cache,
//! output includes reasoning. So the cost is
//!
//! ```text
//!   (input − cache_read − cache_write) × input price
//! + cache_read × cache-read price + cache_write × cache-write price
//! + (output − reasoning) × output price + reasoning × reasoning price
//! ```
//!
//! with the reasoning price the output price unless the row sets one.
//!
//! Provider-reported costs (OpenRouter's `usage.cost`, xAI's
//! `cost_in_usd_ticks`) are not carried by [`Usage`] yet; once a decoder
//! reports one, it should win over the table here (see [`Response::cost`]).

use std::sync::{Arc, OnceLock, RwLock};

use serde::{Deserialize, Serialize};

use crate::{Response, Usage};

/// The built-in table's data, compiled in.
const BUILTIN: &str = include_str!("../data/prices.json");

/// Prices of one model, USD per million tokens.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Input tokens not read from or written to the cache.
    pub input: f64,
    /// Output tokens (reasoning included, unless `reasoning` is set).
    pub output: f64,
    /// Input tokens read from the prompt cache. Unknown: a response that
    /// read from the cache has no cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<f64>,
    /// Input tokens written to the prompt cache. Unknown: a response that
    /// wrote to the cache has no cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
    /// Reasoning tokens, when the provider bills them apart from output;
    /// unset, they cost the output price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<f64>,
    /// The prices hold up to this many input tokens; above it the provider
    /// charges more (long-context pricing) and the cost is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_input_tokens: Option<u64>,
}

/// One row of a [`PriceTable`]: the prices of a model at some providers,
/// and where they come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriceRow {
    /// Provider ids the row holds for (`"openai"`, `"openai-responses"`).
    pub providers: Vec<String>,
    /// The model as the provider names it in responses, without a date
    /// suffix unless the dated snapshot is priced differently.
    pub model: String,
    /// The prices.
    #[serde(flatten)]
    pub price: Price,
    /// Where the prices were read (a URL, or your own note).
    pub source: String,
    /// When they were read (`YYYY-MM-DD`).
    pub date: String,
}

/// Prices by provider and model: the built-in table
/// ([`PriceTable::builtin`]), your own, or the built-in one with your rows
/// on top.
///
/// ```
/// use rivulet_core::cost::{Price, PriceTable};
///
/// let mut table = PriceTable::builtin().clone();
/// table.set("openai", "my-finetune", Price { input: 1.0, output: 2.0, ..Default::default() }, "our contract");
/// assert_eq!(table.lookup("openai", "my-finetune").unwrap().price.output, 2.0);
/// // A dated snapshot is priced as its alias unless it has a row of its own.
/// assert!(table.lookup("anthropic", "claude-sonnet-4-20250514").is_some());
/// assert!(table.lookup("ollama", "qwen3:32b").is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    /// The rows; the first that matches wins.
    pub prices: Vec<PriceRow>,
}

impl PriceTable {
    /// The table shipped with rivulet (`core/data/prices.json`).
    pub fn builtin() -> &'static PriceTable {
        static TABLE: OnceLock<PriceTable> = OnceLock::new();
        // The data is compiled in and checked by a test; should it ever not
        // parse, no price is better than a panic in a long-running process.
        TABLE.get_or_init(|| PriceTable::from_json(BUILTIN).unwrap_or_default())
    }

    /// A table from JSON in the built-in table's format:
    /// `{"prices": [{"providers": [...], "model", "input", "output",
    /// "cache_read"?, "cache_write"?, "reasoning"?, "max_input_tokens"?,
    /// "source", "date"}]}`.
    pub fn from_json(json: &str) -> Result<PriceTable, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// Prices `model` at `provider`, ahead of every row already there.
    pub fn set(
        &mut self,
        provider: &str,
        model: &str,
        price: Price,
        source: impl Into<String>,
    ) -> &mut Self {
        self.prices.insert(
            0,
            PriceRow {
                providers: vec![provider.to_string()],
                model: model.to_string(),
                price,
                source: source.into(),
                date: String::new(),
            },
        );
        self
    }

    /// Puts `other`'s rows ahead of this table's: they win where both
    /// price a model.
    pub fn extend_over(&mut self, other: PriceTable) -> &mut Self {
        let mut rows = other.prices;
        rows.append(&mut self.prices);
        self.prices = rows;
        self
    }

    /// The row for `model` at `provider`: one naming the model exactly,
    /// else one naming it without its date suffix (`-2025-08-07`,
    /// `-20250514`), so a dated snapshot is priced as its alias unless it
    /// has a row of its own.
    pub fn lookup(&self, provider: &str, model: &str) -> Option<&PriceRow> {
        let find = |m: &str| {
            self.prices
                .iter()
                .find(|r| r.model == m && r.providers.iter().any(|p| p == provider))
        };
        find(model).or_else(|| find(without_date(model)?))
    }

    /// The table [`Response::cost`] uses: the built-in one unless
    /// [`PriceTable::set_global`] replaced it.
    pub fn global() -> Arc<PriceTable> {
        let lock = global_cell().read().unwrap_or_else(|e| e.into_inner());
        lock.clone()
    }

    /// Replaces the table [`Response::cost`] uses, for the whole process
    /// (snapshots taken afterwards included). To add rows to the built-in
    /// table, clone it, [`set`](PriceTable::set) or
    /// [`extend_over`](PriceTable::extend_over), and pass the result.
    pub fn set_global(table: PriceTable) {
        let mut lock = global_cell().write().unwrap_or_else(|e| e.into_inner());
        *lock = Arc::new(table);
    }
}

fn global_cell() -> &'static RwLock<Arc<PriceTable>> {
    static GLOBAL: OnceLock<RwLock<Arc<PriceTable>>> = OnceLock::new();
    GLOBAL.get_or_init(|| RwLock::new(Arc::new(PriceTable::builtin().clone())))
}

/// `model` without a trailing `-YYYY-MM-DD` or `-YYYYMMDD`.
fn without_date(model: &str) -> Option<&str> {
    let b = model.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let n = b.len();
    // Every position checked is ASCII, so the cut is a char boundary.
    if n > 11
        && b[n - 11] == b'-'
        && digits(&b[n - 10..n - 6])
        && b[n - 6] == b'-'
        && digits(&b[n - 5..n - 3])
        && b[n - 3] == b'-'
        && digits(&b[n - 2..])
    {
        return Some(&model[..n - 11]);
    }
    if n > 9 && b[n - 9] == b'-' && digits(&b[n - 8..]) {
        return Some(&model[..n - 9]);
    }
    None
}

/// What a response cost, USD, and where the figure came from: computed
/// from a price row (with the parts by kind of token), or reported by the
/// provider on the wire (OpenRouter's `usage.cost`, xAI's ticks), which
/// wins over the table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cost {
    /// The whole cost.
    pub total: f64,
    /// By kind of token, when computed from a price row; `None` when the
    /// provider reported the total (the wire gives no breakdown).
    pub parts: Option<CostParts>,
    /// The price row's source page, or `"reported by PROVIDER"`.
    pub source: String,
    /// The date the row's prices were read; `None` for a reported cost.
    pub date: Option<String>,
}

/// A computed [`Cost`] by kind of token, USD.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostParts {
    /// Input tokens not read from or written to the cache.
    pub input: f64,
    /// Input tokens read from the cache.
    pub cache_read: f64,
    /// Input tokens written to the cache.
    pub cache_write: f64,
    /// Output tokens other than reasoning.
    pub output: f64,
    /// Reasoning tokens.
    pub reasoning: f64,
}

impl Cost {
    /// The cost of `usage` at `row`'s prices; `None` when it cannot be
    /// known: input or output unknown, more input than the prices hold
    /// for, or cache tokens without a cache price.
    pub fn of(usage: &Usage, row: &PriceRow) -> Option<Cost> {
        let p = &row.price;
        let input = usage.input_tokens?;
        let output = usage.output_tokens?;
        if p.max_input_tokens.is_some_and(|max| input > max) {
            return None;
        }
        let read = usage.cache_read_tokens.unwrap_or(0);
        let write = usage.cache_write_tokens.unwrap_or(0);
        let reasoning = usage.reasoning_tokens.unwrap_or(0);
        let priced = |tokens: u64, price: Option<f64>| -> Option<f64> {
            match (tokens, price) {
                (0, _) => Some(0.0),
                (n, Some(p)) => Some(n as f64 * p / 1e6),
                (_, None) => None,
            }
        };
        let uncached = input.saturating_sub(read.saturating_add(write));
        let visible = output.saturating_sub(reasoning);
        let input_usd = priced(uncached, Some(p.input))?;
        let read_usd = priced(read, p.cache_read)?;
        let write_usd = priced(write, p.cache_write)?;
        let output_usd = priced(visible, Some(p.output))?;
        let reasoning_usd = priced(reasoning, Some(p.reasoning.unwrap_or(p.output)))?;
        Some(Cost {
            total: input_usd + read_usd + write_usd + output_usd + reasoning_usd,
            parts: Some(CostParts {
                input: input_usd,
                cache_read: read_usd,
                cache_write: write_usd,
                output: output_usd,
                reasoning: reasoning_usd,
            }),
            source: row.source.clone(),
            date: Some(row.date.clone()),
        })
    }
}

impl Response {
    /// What this response cost so far, from its usage and the process's
    /// price table ([`PriceTable::global`]: the built-in one unless
    /// replaced). On a snapshot it is the cost of the usage known so far,
    /// so a cancelled stream has the cost of what it used (when the
    /// provider had reported usage before the cancel).
    ///
    /// `None` when the cost is unknown: a model the table does not price
    /// (a local model, say), input or output tokens not reported (yet),
    /// cache tokens without a cache price, or more input than the price
    /// holds for. Never a made-up 0.
    ///
    /// A cost the provider reports itself ([`Usage::cost_nano_usd`]:
    /// OpenRouter, xAI) wins over the table: it is what the provider
    /// bills, whatever the table says.
    ///
    /// ```
    /// use rivulet_core::{Response, Usage};
    ///
    /// let mut r = Response::new("anthropic", "claude-sonnet-4-20250514", vec![]);
    /// assert_eq!(r.cost(), None, "no usage yet");
    /// r.usage = Usage { input_tokens: Some(1000), output_tokens: Some(100), ..Default::default() };
    /// // 1000 × $3/M + 100 × $15/M
    /// assert!((r.cost().unwrap().total - 0.0045).abs() < 1e-12);
    /// ```
    pub fn cost(&self) -> Option<Cost> {
        self.cost_with(&PriceTable::global())
    }

    /// [`Response::cost`] with the prices of `table`.
    pub fn cost_with(&self, table: &PriceTable) -> Option<Cost> {
        if let Some(total) = self.usage.cost_usd() {
            return Some(Cost {
                total,
                parts: None,
                source: format!("reported by {}", self.provider),
                date: None,
            });
        }
        let row = table.lookup(&self.provider, &self.model)?;
        Cost::of(&self.usage, row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_parses_and_every_row_is_sourced() {
        let table = PriceTable::from_json(BUILTIN).expect("prices.json parses");
        assert!(table.prices.len() >= 10);
        for row in &table.prices {
            assert!(!row.providers.is_empty(), "{}", row.model);
            assert!(row.source.starts_with("https://"), "{}", row.model);
            assert_eq!(row.date.len(), 10, "{}", row.model);
            assert!(row.price.input > 0.0 && row.price.output > 0.0);
        }
    }

    #[test]
    fn date_suffixes() {
        assert_eq!(without_date("gpt-5-mini-2025-08-07"), Some("gpt-5-mini"));
        assert_eq!(
            without_date("claude-sonnet-4-20250514"),
            Some("claude-sonnet-4")
        );
        assert_eq!(without_date("claude-sonnet-4-6"), None);
        assert_eq!(without_date("gpt-4o"), None);
        assert_eq!(without_date("-20250514"), None);
        assert_eq!(without_date("x-2025-8-07"), None);
        assert_eq!(without_date("é-2025-08-07"), Some("é"));
    }

    #[test]
    fn an_exact_row_wins_over_the_alias() {
        let t = PriceTable::builtin();
        assert_eq!(
            t.lookup("openai", "gpt-4o-2024-05-13").unwrap().price.input,
            5.0
        );
        assert_eq!(
            t.lookup("openai", "gpt-4o-2024-08-06").unwrap().price.input,
            2.5
        );
        assert!(t.lookup("azure", "gpt-4o").is_none());
    }

    fn row(price: Price) -> PriceRow {
        PriceRow {
            providers: vec!["p".into()],
            model: "m".into(),
            price,
            source: "test".into(),
            date: "2026-12-06".into(),
        }
    }

    #[test]
    fn unknown_counts_and_missing_cache_prices_give_no_cost() {
        let r = row(Price {
            input: 1.0,
            output: 2.0,
            ..Default::default()
        });
        let known = Usage {
            input_tokens: Some(10),
            output_tokens: Some(5),
            ..Default::default()
        };
        assert!(Cost::of(&known, &r).is_some());
        let no_output = Usage {
            output_tokens: None,
            ..known
        };
        assert_eq!(Cost::of(&no_output, &r), None);
        let cached = Usage {
            cache_read_tokens: Some(4),
            ..known
        };
        assert_eq!(Cost::of(&cached, &r), None, "no cache-read price");
        let cached_zero = Usage {
            cache_read_tokens: Some(0),
            ..known
        };
        assert!(Cost::of(&cached_zero, &r).is_some());
    }

    #[test]
    fn long_prompts_beyond_the_price_have_no_cost() {
        let r = row(Price {
            input: 1.0,
            output: 2.0,
            max_input_tokens: Some(100),
            ..Default::default()
        });
        let u = |input| Usage {
            input_tokens: Some(input),
            output_tokens: Some(1),
            ..Default::default()
        };
        assert!(Cost::of(&u(100), &r).is_some());
        assert_eq!(Cost::of(&u(101), &r), None);
    }

    #[test]
    fn a_reasoning_price_of_its_own() {
        let r = row(Price {
            input: 1.0,
            output: 2.0,
            reasoning: Some(4.0),
            ..Default::default()
        });
        let u = Usage {
            input_tokens: Some(1_000_000),
            output_tokens: Some(3_000_000),
            reasoning_tokens: Some(1_000_000),
            ..Default::default()
        };
        let c = Cost::of(&u, &r).unwrap();
        let p = c.parts.unwrap();
        assert_eq!((p.input, p.output, p.reasoning), (1.0, 4.0, 4.0));
        assert_eq!(c.total, 9.0);
    }

    #[test]
    fn the_global_table_can_be_replaced() {
        // Only this test touches the global table in this binary.
        let mut r = Response::new("acme", "model-x", vec![]);
        r.usage = Usage {
            input_tokens: Some(2_000_000),
            output_tokens: Some(1_000_000),
            ..Default::default()
        };
        assert_eq!(r.cost(), None);
        let mut table = PriceTable::builtin().clone();
        table.set(
            "acme",
            "model-x",
            Price {
                input: 0.5,
                output: 1.5,
                ..Default::default()
            },
            "contract",
        );
        PriceTable::set_global(table);
        let c = r.cost().unwrap();
        assert_eq!(c.total, 2.5);
        assert_eq!(c.source, "contract");
        PriceTable::set_global(PriceTable::builtin().clone());
        assert_eq!(r.cost(), None);
    }
}
