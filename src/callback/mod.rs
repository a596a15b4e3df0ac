//! Delivery callbacks: the rules that say where an app's outcomes go.

pub mod rules;
