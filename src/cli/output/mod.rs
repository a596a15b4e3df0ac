//! How the CLI prints API values: aligned text tables and plain lines for people, JSON for scripts.
//!
//! Every response prints as protobuf JSON (through `protojson.rs`) or as text made here: tables
//! (`table.rs`), `key: value` lines, and the names people read for the API's enums (`enum_names.rs`). The
//! task commands' views, the largest, are in `tasks.rs`.

mod enum_names;
mod table;
mod tasks;

use std::time::Duration;

use super::protojson;
use anyhow::Result;
use clap::ValueEnum;
use prost::{Message, Name};

pub use enum_names::{channel_name, reason_name, state_name, status_name, vendor_name};
pub use table::{Align, Table};
pub use tasks::{stats_text, summary_table, task_text, tasks_table};

/// Output format of the client commands.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Output {
    /// Text and tables for people.
    #[default]
    Human,
    /// JSON: one document per response (one line per stream item) for scripts.
    Json,
}

/// Prints a response: its protobuf JSON on one line, or the text `human` makes of it.
pub fn print<M: Message + Name>(
    out: Output,
    message: &M,
    human: impl FnOnce(&M) -> String,
) -> Result<()> {
    match out {
        Output::Human => print!("{}", human(message)),
        Output::Json => println!("{}", protojson::to_json(message)?),
    }
    Ok(())
}

/// A table cell for a value that may be empty: `-` keeps the columns readable.
pub fn or_dash(text: &str) -> String {
    match text {
        "" => "-".to_owned(),
        text => text.to_owned(),
    }
}

/// A table cell for an enum value that may be unset: `-` for 0 (every API enum's UNSPECIFIED), else its
/// name.
pub fn enum_or_dash(value: i32, name: fn(i32) -> String) -> String {
    match value {
        0 => "-".to_owned(),
        value => name(value),
    }
}

/// The name `name` gives an enum value the server sent, or its number when this build does not know it (a
/// newer server).
pub fn name_of<E: TryFrom<i32>>(value: i32, name: impl FnOnce(E) -> &'static str) -> String {
    match E::try_from(value) {
        Ok(v) => name(v).to_owned(),
        Err(_) => format!("unknown({value})"),
    }
}

/// `key: value` lines with the values lined up.
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    pairs
        .iter()
        // Trimmed, so that an empty value leaves no trailing space.
        .map(|(k, v)| {
            format!("{:<width$} {v}", format!("{k}:"))
                .trim_end()
                .to_owned()
                + "\n"
        })
        .collect()
}

/// A protobuf timestamp as RFC 3339 (UTC), or `None` when unset or out of range.
pub fn timestamp(t: Option<&prost_types::Timestamp>) -> Option<String> {
    let t = t?;
    jiff::Timestamp::new(t.seconds, t.nanos)
        .ok()
        .map(|t| t.to_string())
}

/// A duration for people: `850ms`, `12.3s`, `4m05s`, `2h03m`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", d.as_secs_f64()),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, (ms / 1_000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(human_duration(Duration::from_millis(1_250)), "1.2s");
        assert_eq!(human_duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(human_duration(Duration::from_secs(7_380)), "2h03m");
    }
}
