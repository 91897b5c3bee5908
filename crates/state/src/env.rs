use crate::StateError;

/// Env names become object key segments and URL path segments, so they are
/// restricted to a safe ASCII set: no `/`, no `..`, no unicode look-alikes.
pub fn validate_env(env: &str) -> Result<(), StateError> {
    let fail = |reason| Err(StateError::InvalidEnv { env: env.to_owned(), reason });
    if env.is_empty() {
        return fail("it is empty");
    }
    if env.len() > 63 {
        return fail("it is longer than 63 characters");
    }
    if !env.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return fail("it contains a character other than a-z, 0-9, '-' or '_'");
    }
    let edge_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !edge_ok(env.as_bytes()[0]) || !edge_ok(env.as_bytes()[env.len() - 1]) {
        return fail("it must start and end with a letter or digit");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names_and_rejects_traversal_and_unicode() {
        for ok in ["staging", "production", "dev-1", "eu_west", "a"] {
            assert!(validate_env(ok).is_ok(), "{ok} should be valid");
        }
        for bad in [
            "",
            "..",
            "a/b",
            "../x",
            "Staging",
            "prod ",
            "ｐｒｏｄ",
            "prod\u{200b}",
            "-x",
            "x-",
            &"a".repeat(64),
        ] {
            assert!(validate_env(bad).is_err(), "{bad:?} should be invalid");
        }
    }
}
