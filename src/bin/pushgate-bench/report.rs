//! Appending a run's figures to BENCHMARKS.md with the command and the machine.

use std::{fs::OpenOptions, io::Write, path::Path};

/// One run: a title, the command that produced it, and a Markdown table.
pub struct Run {
    /// What was measured.
    pub title: String,
    /// The command line, as typed.
    pub command: String,
    /// The machine, one line.
    pub machine: String,
    /// Table header cells.
    pub columns: Vec<String>,
    /// Table rows.
    pub rows: Vec<Vec<String>>,
    /// Notes under the table.
    pub notes: Vec<String>,
}

impl Run {
    /// The run as a Markdown section.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "\n### {} ({})\n\n- Command: `{}`\n- Machine: {}\n\n| {} |\n|{}|\n",
            self.title,
            jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
            self.command,
            self.machine,
            self.columns.join(" | "),
            self.columns
                .iter()
                .map(|_| "---")
                .collect::<Vec<_>>()
                .join("|"),
        );
        for row in &self.rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        for note in &self.notes {
            out.push_str(&format!("\n{note}\n"));
        }
        out
    }

    /// Appends the run to `path`.
    pub fn append_to(&self, path: &Path) -> std::io::Result<()> {
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        file.write_all(self.markdown().as_bytes())
    }
}

/// A target's cell: met, or MISSED in capitals so that a miss stands out in the table.
pub fn target(met: bool) -> String {
    if met { "met" } else { "MISSED" }.into()
}
