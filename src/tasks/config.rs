//! The `[tasks]` section: Easemob's task limits and the fan-out's bounds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Settings of TaskService.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TasksConfig {
    /// Label and list tasks running at once per app; a create beyond it (starting now) is RESOURCE_EXHAUSTED,
    /// and a scheduled one that comes due waits for a slot.
    pub max_running: usize,
    /// Broadcast tasks created per app within `window`.
    pub max_created_per_window: usize,
    /// The window of `max_created_per_window`.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Users per fan-out page: one checkpoint per page, so at most this many users can get a push twice
    /// after a crash; larger pages batch better.
    pub page_users: usize,
    /// How long ended tasks are kept.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Most users of one list task.
    pub max_list_users: usize,
    /// Latest allowed start time, from now.
    #[serde(with = "humantime_serde")]
    pub max_schedule_ahead: Duration,
    /// How often a replica on a shared store (PostgreSQL) reads the open tasks: it joins a task another
    /// replica created or started within this, and stops its part of one cancelled elsewhere.
    #[serde(with = "humantime_serde")]
    pub poll: Duration,
}

impl Default for TasksConfig {
    fn default() -> Self {
        Self {
            max_running: 3,
            max_created_per_window: 3,
            window: Duration::from_secs(300),
            page_users: 1000,
            retention: Duration::from_secs(30 * 24 * 3600),
            max_list_users: 10_000,
            max_schedule_ahead: Duration::from_secs(30 * 24 * 3600),
            poll: Duration::from_secs(1),
        }
    }
}

impl TasksConfig {
    /// Why the settings cannot be used, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.max_running == 0 || self.max_created_per_window == 0 || self.page_users == 0 {
            return Err(
                "tasks.max_running, tasks.max_created_per_window and tasks.page_users must be at least 1"
                    .into(),
            );
        }
        if self.poll.is_zero() {
            return Err("tasks.poll must be more than 0s".into());
        }
        Ok(())
    }
}
