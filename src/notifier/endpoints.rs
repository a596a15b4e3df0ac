//! Where a notifier's owner aims the gateway: the URLs it overrides and the CA it brings, held against the
//! operator's consent (`dispatch.allowed_endpoints`, `dispatch.allow_notifier_ca_certificates`).

use crate::{
    egress::{EgressPolicy, Refused},
    proto::v1::{Notifier, notifier::Credentials},
    validate::Violations,
};

/// What the operator lets notifiers be aimed at.
#[derive(Debug, Clone, Default)]
pub struct EndpointRules {
    /// Hosts beside the vendors' own that URLs may name.
    pub allowed: EgressPolicy,
    /// Whether a notifier may bring its own CA certificates.
    pub allow_ca_certificates: bool,
}

/// A URL that the notifier's owner chose for the gateway to reach.
struct Steered {
    /// The update-mask path that sets it.
    path: &'static str,
    /// The request field it is reported under.
    field: &'static str,
    /// What the owner wrote.
    url: String,
}

const CA_REFUSED: &str = "the operator does not accept CA certificates from notifiers \
    (dispatch.allow_notifier_ca_certificates); ask for the CA to be trusted server-wide";

impl EndpointRules {
    /// Records a violation for every steered URL, and the CA, that the rules refuse; only fields whose
    /// update-mask path `touched` accepts are looked at, so narrowing the rules does not lock an owner out
    /// of changing a notifier's other settings.
    pub fn check(
        &self,
        n: &Notifier,
        credentials: Option<&Credentials>,
        touched: impl Fn(&str) -> bool,
        v: &mut Violations,
    ) {
        for s in steered(n, credentials) {
            match self.allowed.check_url(&s.url) {
                _ if !touched(s.path) => {}
                // Not a URL at all: the field's own syntax check says so, once.
                Ok(()) | Err(Refused::NotUrl) => {}
                Err(refused) => v.add(s.field, refused.to_string()),
            }
        }
        if touched("extra_ca_certificates_pem")
            && !self.allow_ca_certificates
            && !n.extra_ca_certificates_pem.is_empty()
        {
            v.add("notifier.extra_ca_certificates_pem", CA_REFUSED);
        }
    }

    /// The first refusal for a stored notifier about to be used: the rules may have narrowed since it was
    /// saved, and address literals never pass the connect-time check.
    pub fn check_stored(&self, n: &Notifier, credentials: &Credentials) -> Result<(), String> {
        for s in steered(n, Some(credentials)) {
            self.allowed
                .check_url(&s.url)
                .map_err(|refused| format!("{}: {refused}", s.field))?;
        }
        if !self.allow_ca_certificates && !n.extra_ca_certificates_pem.is_empty() {
            return Err(format!("notifier.extra_ca_certificates_pem: {CA_REFUSED}"));
        }
        Ok(())
    }
}

/// The URLs of `n` that its owner chose: the overrides, and FCM's `token_uri` from the key file when no token
/// override replaces it.
fn steered(n: &Notifier, credentials: Option<&Credentials>) -> Vec<Steered> {
    let mut out = Vec::new();
    if !n.send_base_url.is_empty() {
        out.push(Steered {
            path: "send_base_url",
            field: "notifier.send_base_url",
            url: n.send_base_url.clone(),
        });
    }
    if !n.token_base_url.is_empty() {
        out.push(Steered {
            path: "token_base_url",
            field: "notifier.token_base_url",
            url: n.token_base_url.clone(),
        });
    } else if let Some(Credentials::Fcm(fcm)) = credentials
        && let Some(url) = token_uri(&fcm.service_account_json)
    {
        out.push(Steered {
            path: "fcm",
            field: "notifier.fcm.service_account_json",
            url,
        });
    }
    out
}

/// The `token_uri` of a service-account key file, when it has one (its absence is the credentials check's
/// business).
fn token_uri(key_json: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(key_json).ok()?;
    json.get("token_uri")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1::FcmCredentials;

    fn rules(entries: &[&str], ca: bool) -> EndpointRules {
        EndpointRules {
            allowed: EgressPolicy::new(entries.iter().map(|e| e.parse().unwrap())),
            allow_ca_certificates: ca,
        }
    }

    fn fcm(token_uri: &str) -> Credentials {
        Credentials::Fcm(FcmCredentials {
            service_account_json: serde_json::json!({ "token_uri": token_uri }).to_string(),
            ..Default::default()
        })
    }

    fn fields(r: &EndpointRules, n: &Notifier, c: &Credentials, touched: &[&str]) -> Vec<String> {
        let mut v = Violations::new();
        r.check(n, Some(c), |p| touched.contains(&p), &mut v);
        v.list().iter().map(|f| f.field.clone()).collect()
    }

    #[test]
    fn every_steered_url_and_the_ca_are_checked() {
        let n = Notifier {
            send_base_url: "http://127.0.0.1:9/internal".into(),
            extra_ca_certificates_pem: "pem".into(),
            ..Default::default()
        };
        let all = [
            "send_base_url",
            "token_base_url",
            "extra_ca_certificates_pem",
            "fcm",
        ];
        let c = fcm("http://10.0.0.1/token");
        assert_eq!(
            fields(&rules(&[], false), &n, &c, &all),
            [
                "notifier.send_base_url",
                "notifier.fcm.service_account_json",
                "notifier.extra_ca_certificates_pem"
            ]
        );
        // Only what the update sets is judged.
        assert!(fields(&rules(&[], false), &n, &c, &["description"]).is_empty());
        // The operator's consent lets it all through.
        assert!(fields(&rules(&["127.0.0.1", "10.0.0.0/8"], true), &n, &c, &all).is_empty());
        // A token override replaces the key file's token_uri.
        let overridden = Notifier {
            token_base_url: "https://oauth2.googleapis.com".into(),
            ..Default::default()
        };
        assert!(fields(&rules(&[], false), &overridden, &c, &all).is_empty());
        assert!(rules(&[], false).check_stored(&n, &c).is_err());
        assert_eq!(
            rules(&[], false).check_stored(
                &Notifier::default(),
                &fcm("https://oauth2.googleapis.com/token")
            ),
            Ok(())
        );
    }
}
