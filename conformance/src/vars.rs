//! `${NAME}` in a team's settings file, tenant file or step text: the
//! environment variable `NAME`, so that a pipeline can pass its CRM's address
//! or a secret without writing it into the repository.

/// Replaces each `${NAME}` by the environment variable `NAME`; a variable
/// that is not set is an error that names it and `origin`.
pub fn expand_env(text: &str, origin: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("{origin}: '${{' without its closing '}}'"))?;
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "{origin}: '${{{name}}}' is not an environment variable name (letters, digits, _)"
            ));
        }
        let value = std::env::var(name).map_err(|_| {
            format!(
                "{origin} uses ${{{name}}}, but the environment variable {name} is not set; \
                 set it before the run (e.g. {name}=… cargo xtask test --features DIR)"
            )
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::expand_env;

    #[test]
    fn environment_variables_are_expanded_and_missing_ones_named() {
        // PATH is set in every test environment.
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(
            expand_env("a ${PATH} b", "f").as_deref(),
            Ok(format!("a {path} b").as_str())
        );
        let e = expand_env("${BB_SURELY_UNSET_VAR_42}", "my.toml").unwrap_err();
        assert!(
            e.contains("my.toml") && e.contains("BB_SURELY_UNSET_VAR_42"),
            "{e}"
        );
        assert!(expand_env("${bad name}", "f").is_err());
        assert_eq!(expand_env("no vars", "f").as_deref(), Ok("no vars"));
    }
}
