//! The gRPC services: validate, authorize, translate. Business rules live in the domain modules.
//!
//! One file per service, named after the domain module it calls (`tenant.rs` serves `AppService` over
//! `tenant`, `callback.rs` the `EventService` over `callback`, …), so that the service of a domain is found
//! by its name; `auth.rs` is the `AuthService`, which issues `tenant`'s tokens. `auth_layer.rs` is the token
//! check every call passes before any service.

pub mod auth;
pub mod auth_layer;
pub mod callback;
pub mod channel;
pub mod devices;
pub mod labels;
pub mod notifier;
pub mod push;
pub mod relay;
pub mod settings;
pub mod status;
pub mod tasks;
pub mod tenant;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use tonic::Status;

use crate::validate::Violations;

/// An optional protobuf duration as a std duration; negative or out-of-range durations are violations.
pub fn duration(
    field: &str,
    d: Option<prost_types::Duration>,
) -> Result<Option<std::time::Duration>, Status> {
    match d {
        None => Ok(None),
        Some(d) => std::time::Duration::try_from(d).map(Some).map_err(|_| {
            status::invalid(&Violations::single(
                field,
                "must be a non-negative duration",
            ))
        }),
    }
}

/// Page size and the key to continue after, from a request's `page_size` and opaque `page_token`.
pub fn page(page_size: i32, page_token: &str) -> Result<(usize, Option<String>), Status> {
    let mut v = Violations::new();
    let size = match page_size {
        0 => 50,
        1..=100 => page_size as usize,
        _ => {
            v.add(
                "page_size",
                "must be between 1 and 100 (0 for the default of 50)",
            );
            50
        }
    };
    let after = if page_token.is_empty() {
        None
    } else {
        match URL_SAFE_NO_PAD
            .decode(page_token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        {
            Some(after) => Some(after),
            None => {
                v.add("page_token", "is not a token this server issued");
                None
            }
        }
    };
    v.into_result().map_err(|v| status::invalid(&v))?;
    Ok((size, after))
}

/// The opaque token that continues after `last`.
pub fn page_token(last: &str) -> String {
    URL_SAFE_NO_PAD.encode(last.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_rules() {
        assert_eq!(page(0, "").unwrap(), (50, None));
        assert_eq!(
            page(7, &page_token("a#b")).unwrap(),
            (7, Some("a#b".into()))
        );
        assert!(page(101, "").is_err());
        assert!(page(-1, "").is_err());
        assert!(page(1, "%%").is_err());
    }
}
