//! `{service}` and `{env}` in template strings, so one line serves every service:
//! `amqp_password_file = "/run/secrets/amqp-{service}"`.
//!
//! `${NAME}` is an environment variable reference for whoever reads the rendered file and is left
//! exactly as written. Any other `{word}` is an error: a misspelt placeholder would otherwise reach
//! a running service as a literal.

use toml::Value;

/// What placeholders stand for.
pub struct Vars<'a> {
    pub service: &'a str,
    pub environment: &'a str,
}

/// `value` with the placeholders in its strings (also inside arrays and tables) replaced.
pub fn substitute(value: &Value, vars: &Vars<'_>) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => Value::String(substitute_str(text, vars)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| substitute(item, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Table(table) => Value::Table(
            table
                .iter()
                .map(|(key, item)| Ok((key.clone(), substitute(item, vars)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn substitute_str(text: &str, vars: &Vars<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let reference = rest[..open].ends_with('$');
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            rest = &rest[open..];
            break;
        };
        let word = &after[..close];
        let is_word =
            !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match word {
            _ if reference || !is_word => {
                // `${NAME}` and braces around something that is not a word stay as written.
                out.push('{');
                out.push_str(word);
                out.push('}');
            }
            "service" => out.push_str(vars.service),
            "env" => out.push_str(vars.environment),
            _ => {
                return Err(format!(
                    "unknown placeholder `{{{word}}}` (the placeholders are {{service}} and \
                     {{env}}; `${{NAME}}` is left for the environment)"
                ));
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VARS: Vars<'static> = Vars {
        service: "tracker",
        environment: "qa",
    };

    fn sub(text: &str) -> Result<String, String> {
        substitute_str(text, &VARS)
    }

    #[test]
    fn service_and_env_are_substituted_everywhere_in_a_string() {
        assert_eq!(
            sub("amqps://{service}@rabbitmq:5671/instadash-{env}").unwrap(),
            "amqps://tracker@rabbitmq:5671/instadash-qa"
        );
        assert_eq!(
            sub("/run/secrets/{service}").unwrap(),
            "/run/secrets/tracker"
        );
        let array = Value::Array(vec![Value::String("{service}".into()), Value::Integer(1)]);
        assert_eq!(
            substitute(&array, &VARS).unwrap(),
            Value::Array(vec![Value::String("tracker".into()), Value::Integer(1)])
        );
    }

    #[test]
    fn references_and_other_braces_stay_and_unknown_words_are_refused() {
        assert_eq!(sub("${AMQP_PASSWORD}").unwrap(), "${AMQP_PASSWORD}");
        assert_eq!(sub("{\"a\": 1} {").unwrap(), "{\"a\": 1} {");
        assert_eq!(sub("no placeholders").unwrap(), "no placeholders");
        let error = sub("/run/secrets/{servcie}").unwrap_err();
        assert!(error.contains("{servcie}"), "{error}");
    }
}
