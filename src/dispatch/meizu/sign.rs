//! Meizu request signing: every form parameter sorted by name, written `name=value` with no separator over
//! the raw (not URL-encoded) values, the app secret appended, then lowercase hex MD5.
//!
//! Confirmed from Meizu's official Java server SDK (MEIZUPUSH/JavaSdk, `utils/HttpClient.java`
//! `getSignature`: a TreeMap of the decoded parameters, `key=value` appended per entry, the secret last,
//! MD5).

use md5::{Digest, Md5};

/// The `sign` of `params` with `app_secret`.
pub fn sign(params: &[(&str, &str)], app_secret: &str) -> String {
    let mut sorted: Vec<&(&str, &str)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut hash = Md5::new();
    for (name, value) in sorted {
        hash.update(name.as_bytes());
        hash.update(b"=");
        hash.update(value.as_bytes());
    }
    hash.update(app_secret.as_bytes());
    hex::encode(hash.finalize())
}

/// `params` with their `sign` appended: the form to post.
pub fn signed_form(params: &[(&str, &str)], app_secret: &str) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    form.push(("sign".into(), sign(params, app_secret)));
    form
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_sorted_concatenated_and_salted() {
        // md5("appId=100" + "messageJson={\"a\":1}" + "pushIds=p1,p2" + "secret"), computed with md5sum.
        let params = [
            ("pushIds", "p1,p2"),
            ("appId", "100"),
            ("messageJson", r#"{"a":1}"#),
        ];
        assert_eq!(sign(&params, "secret"), "c31747e818adaaedc0a9d028329e482f");
        // Order of the input does not matter.
        let reordered = [
            ("appId", "100"),
            ("messageJson", r#"{"a":1}"#),
            ("pushIds", "p1,p2"),
        ];
        assert_eq!(sign(&reordered, "secret"), sign(&params, "secret"));
    }

    #[test]
    fn the_form_ends_with_the_sign() {
        let form = signed_form(&[("appId", "100")], "s");
        assert_eq!(form[0], ("appId".to_string(), "100".to_string()));
        assert_eq!(form[1].0, "sign");
        assert_eq!(form[1].1, sign(&[("appId", "100")], "s"));
    }
}
