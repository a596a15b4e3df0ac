//! `application/x-www-form-urlencoded` request bodies, decoded once for every fake that takes them (the
//! OAuth token endpoints of Google, Huawei and Honor, MiPush, OPPO, Meizu).
//!
//! Decoding is lenient, as the vendors' servers are: `+` is a space, a `%` not followed by two hex digits
//! stays as it is, and bytes that are not UTF-8 become U+FFFD.

use std::collections::HashMap;

/// Decodes a body into its fields in order, duplicates kept (for signatures over every field sent).
pub fn parse_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

/// Decodes a body into its fields by name (the last of duplicates wins).
pub fn parse_map(body: &[u8]) -> HashMap<String, String> {
    parse_pairs(body).into_iter().collect()
}

/// The last value of `name` in fields decoded by [`parse_pairs`].
pub fn get<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Fields by name from literal pairs, as [`parse_map`] would decode them (for unit tests).
#[cfg(test)]
pub fn map_of(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn decode_component(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi * 16 + lo);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode() {
        let form = parse_map(
            b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b.c&x=1+2%",
        );
        assert_eq!(form["grant_type"], crate::sandbox::fcm::JWT_BEARER);
        assert_eq!(form["assertion"], "a.b.c");
        assert_eq!(form["x"], "1 2%");
        let form = parse_pairs(b"a=1+2&b=%E4%BD%A0&c=%zz&a=3");
        assert_eq!(get(&form, "a"), Some("3"));
        assert_eq!(get(&form, "b"), Some("你"));
        assert_eq!(get(&form, "c"), Some("%zz"));
    }
}
