//! Templates hold no secrets, only references to them: a `*_file` path (a mounted secret) or a
//! `${NAME}` environment reference, which the renderer leaves unexpanded. A literal secret is
//! refused with the file and key, never the value; since nothing else is ever read from the
//! environment, a rendered file cannot contain a secret's value.

use std::path::Path;

use anyhow::bail;
use toml::{Table, Value};

/// Words in a key name that mark its value as a secret.
const SECRET_WORDS: [&str; 7] = [
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "api_key",
    "private_key",
];

/// Fails on the first literal secret in `table`, read from `file`.
pub fn check(file: &Path, table: &Table) -> anyhow::Result<()> {
    walk(file, "", table)
}

fn walk(file: &Path, prefix: &str, table: &Table) -> anyhow::Result<()> {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Table(table) => walk(file, &path, table)?,
            value => check_value(file, &path, key, value)?,
        }
    }
    Ok(())
}

fn check_value(file: &Path, path: &str, key: &str, value: &Value) -> anyhow::Result<()> {
    let file = file.display();
    let in_bridge = path.starts_with("bridge.")
        || (path.starts_with("services.") && path.split('.').nth(2) == Some("bridge"));
    let mut strings = Vec::new();
    strings_in(value, &mut strings);
    for text in strings {
        if has_url_password(text) {
            bail!(
                "{file}: {path}: a password is written inside a URL; templates hold no secrets. \
                 Leave it out (amqp://user@host/vhost) and give it as a file (amqp_password_file \
                 for the broker) or as a `${{NAME}}` reference the deployment fills in"
            );
        }
        if in_bridge && text.contains("${") {
            bail!(
                "{file}: {path}: the bridge reads its file as written and never expands \
                 `${{...}}`; give secrets to the bridge as files (amqp_password_file)"
            );
        }
    }
    let lower = key.to_ascii_lowercase();
    let secret_key = SECRET_WORDS.iter().any(|word| lower.contains(word));
    if secret_key && !lower.ends_with("_file") && !is_reference(value) {
        bail!(
            "{file}: {path}: looks like a secret but holds a literal value; templates hold no \
             secrets. Name a file instead (a `*_file` key) or write a `${{NAME}}` reference the \
             deployment fills in"
        );
    }
    Ok(())
}

fn strings_in<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => out.push(text),
        Value::Array(items) => items.iter().for_each(|item| strings_in(item, out)),
        Value::Table(table) => table.values().for_each(|item| strings_in(item, out)),
        _ => {}
    }
}

/// A value that is exactly one `${NAME}` reference.
fn is_reference(value: &Value) -> bool {
    value.as_str().is_some_and(is_reference_str)
}

fn is_reference_str(text: &str) -> bool {
    text.strip_prefix("${")
        .and_then(|rest| rest.strip_suffix('}'))
        .is_some_and(|name| {
            name.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Whether any URL in `text` carries a password (`scheme://user:password@host`) that is not a
/// `${NAME}` reference.
fn has_url_password(text: &str) -> bool {
    text.match_indices("://").any(|(at, _)| {
        let after = &text[at + 3..];
        let end = after
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(after.len());
        // The userinfo ends at the last '@', as in the bridge's own URL handling: a password
        // may contain a raw '@'.
        after[..end]
            .rsplit_once('@')
            .and_then(|(userinfo, _)| userinfo.split_once(':'))
            .is_some_and(|(_, password)| !password.is_empty() && !is_reference_str(password))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_text(text: &str) -> anyhow::Result<()> {
        check(Path::new("prod.toml"), &text.parse().unwrap())
    }

    #[test]
    fn references_pass() {
        check_text(
            "[bridge]\namqp_url = \"amqps://{service}@rabbitmq:5671/instadash\"\n\
             amqp_password_file = \"/run/secrets/{service}\"\n\
             [services.monitor.env]\nRABBITMQ_MANAGEMENT_URL = \"http://monitor:${MGMT_PASSWORD}@rabbitmq:15672\"\n\
             API_TOKEN = \"${API_TOKEN}\"\nDB_PASSWORD_FILE = \"/run/secrets/db\"\n\
             LISTEN = \"0.0.0.0:8080\"\n",
        )
        .unwrap();
    }

    #[test]
    fn literal_secrets_are_refused_naming_file_and_key_but_not_the_value() {
        for (text, key) in [
            (
                "[bridge]\namqp_url = \"amqp://tracker:hunter2@rabbitmq/x\"\n",
                "bridge.amqp_url",
            ),
            (
                "[services.monitor.env]\nRABBITMQ_MANAGEMENT_URL = \"http://u:hunter2@h:15672\"\n",
                "services.monitor.env.RABBITMQ_MANAGEMENT_URL",
            ),
            ("[env]\nAPI_TOKEN = \"hunter2\"\n", "env.API_TOKEN"),
            (
                "[bridge]\namqp_password = \"hunter2\"\n",
                "bridge.amqp_password",
            ),
            ("[env]\nSECRET_NUMBER = 1234\n", "env.SECRET_NUMBER"),
        ] {
            let error = check_text(text).unwrap_err().to_string();
            assert!(
                error.contains("prod.toml") && error.contains(key),
                "{error}"
            );
            assert!(
                !error.contains("hunter2") && !error.contains("1234"),
                "{error}"
            );
        }
    }

    #[test]
    fn the_bridge_gets_no_environment_references() {
        let error = check_text("[services.tracker.bridge]\namqp_url = \"amqp://u:${P}@h/v\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("services.tracker.bridge.amqp_url"),
            "{error}"
        );
        assert!(error.contains("never expands"), "{error}");
    }

    #[test]
    fn urls_without_passwords_are_not_secrets() {
        assert!(!has_url_password("amqp://guest@localhost:5672/%2f"));
        assert!(!has_url_password("http://127.0.0.1:15672/api?x=a:b@c"));
        assert!(has_url_password("amqp://u:p@ss@host/v"));
        assert!(has_url_password("see amqp://u:p@host"));
        assert!(!has_url_password("amqp://u:${P}@host"));
    }
}
