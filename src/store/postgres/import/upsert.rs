//! A batch of rows written as one statement: each column sent as one array, the arrays `unnest`ed together
//! and upserted on the table's key, so that a batch costs one round trip whatever its size and a record
//! written twice (a batch repeated after an interruption) is harmless.

use tokio_postgres::types::ToSql;

use super::{
    rows::Value,
    tables::{Table, Type},
};
use crate::store::StoreError;

/// One column of a batch, as the array its `unnest` reads.
pub(super) enum Column {
    Text(Vec<String>),
    BigInt(Vec<i64>),
    Int(Vec<i32>),
    Bool(Vec<bool>),
    Bytes(Vec<Vec<u8>>),
}

impl Column {
    pub(super) fn new(of: Type, capacity: usize) -> Self {
        match of {
            Type::Text => Column::Text(Vec::with_capacity(capacity)),
            Type::BigInt => Column::BigInt(Vec::with_capacity(capacity)),
            Type::Int => Column::Int(Vec::with_capacity(capacity)),
            Type::Bool => Column::Bool(Vec::with_capacity(capacity)),
            Type::Bytes => Column::Bytes(Vec::with_capacity(capacity)),
        }
    }

    pub(super) fn push(&mut self, value: Value) -> Result<(), StoreError> {
        match (self, value) {
            (Column::Text(c), Value::Text(v)) => c.push(v),
            (Column::BigInt(c), Value::BigInt(v)) => c.push(v),
            (Column::Int(c), Value::Int(v)) => c.push(v),
            (Column::Bool(c), Value::Bool(v)) => c.push(v),
            (Column::Bytes(c), Value::Bytes(v)) => c.push(v),
            _ => {
                return Err(StoreError::Backend(
                    "a copied record's value does not fit its column's type".into(),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn param(&self) -> &(dyn ToSql + Sync) {
        match self {
            Column::Text(c) => c,
            Column::BigInt(c) => c,
            Column::Int(c) => c,
            Column::Bool(c) => c,
            Column::Bytes(c) => c,
        }
    }
}

/// The statement that writes a batch of `t`'s rows: every column an array, unnested together; a row
/// already there gets the new values (a table that is all key is left as it is).
pub(super) fn upsert_sql(t: &Table) -> String {
    let names: Vec<&str> = t.columns.iter().map(|(name, _)| *name).collect();
    let arrays: Vec<String> = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, (_, of))| format!("${}::{}[]", i + 1, of.sql()))
        .collect();
    let conflict = if t.key == names.len() {
        "DO NOTHING".to_owned()
    } else {
        let sets: Vec<String> = names[t.key..]
            .iter()
            .map(|name| format!("{name} = excluded.{name}"))
            .collect();
        format!("DO UPDATE SET {}", sets.join(", "))
    };
    format!(
        "INSERT INTO {} ({}){} SELECT * FROM unnest({}) ON CONFLICT ({}) {conflict}",
        t.name,
        names.join(", "),
        if t.identity {
            " OVERRIDING SYSTEM VALUE"
        } else {
            ""
        },
        arrays.join(", "),
        names[..t.key].join(", "),
    )
}
