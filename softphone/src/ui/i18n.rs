//! The window's three languages (UI-6): Japanese, English and Chinese, from
//! the fluent files `softphone/i18n/{ja,en,zh}.ftl`, compiled into the
//! binary.
//!
//! [`Tr`] holds one bundle per language and the current choice; switching
//! ([`Tr::set_lang`]) changes every string at once because the window asks
//! [`Tr::t`] for each label on every frame. A message missing from a file is
//! shown as its ID (and the `ui_i18n` test keeps the three files' IDs equal).
//!
//! Unicode isolation marks around placeholders are turned off: egui would
//! draw them as boxes.

use std::collections::BTreeSet;

use fluent_bundle::{FluentArgs, FluentBundle, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

/// A UI language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    /// 日本語
    Ja,
    /// English
    En,
    /// 中文 (simplified)
    Zh,
}

impl Lang {
    /// The three, in the order of the language switch.
    pub const ALL: [Lang; 3] = [Lang::Ja, Lang::En, Lang::Zh];

    /// `ja`, `en` or `zh`: the file name and the value in the preferences.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    /// The language for a code such as `ja`, `en-US` or `zh_CN.UTF-8`.
    pub fn from_code(code: &str) -> Option<Lang> {
        let base = code
            .split(['-', '_', '.', '@'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match base.as_str() {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            "zh" => Some(Lang::Zh),
            _ => None,
        }
    }

    /// The language of the environment (`LC_ALL`, `LC_MESSAGES`, `LANG`,
    /// read through `env`), or Japanese, the product's home language, when
    /// none of them names one of the three.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Lang {
        ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|k| env(k))
            .find(|v| !v.is_empty())
            .and_then(|v| Lang::from_code(&v))
            .unwrap_or(Lang::Ja)
    }

    /// The language's own name, as on the switch (`日本語`, `English`, `中文`).
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Ja => "日本語",
            Lang::En => "English",
            Lang::Zh => "中文",
        }
    }

    /// An ASCII name, for the switch when no CJK font is available.
    pub fn ascii_name(self) -> &'static str {
        match self {
            Lang::Ja => "Japanese",
            Lang::En => "English",
            Lang::Zh => "Chinese",
        }
    }

    /// True when the language needs a CJK font.
    pub fn needs_cjk(self) -> bool {
        self != Lang::En
    }

    /// The fluent source of this language.
    pub fn source(self) -> &'static str {
        match self {
            Lang::Ja => include_str!("../../i18n/ja.ftl"),
            Lang::En => include_str!("../../i18n/en.ftl"),
            Lang::Zh => include_str!("../../i18n/zh.ftl"),
        }
    }
}

/// The message IDs defined in a fluent source, e.g. for checking that the
/// three files agree. A source that does not parse yields the IDs of the
/// messages that did.
pub fn message_ids(source: &str) -> BTreeSet<String> {
    let resource = match FluentResource::try_new(source.to_owned()) {
        Ok(r) => r,
        Err((r, _)) => r,
    };
    ids_of(&resource).into_iter().collect()
}

fn ids_of(resource: &FluentResource) -> Vec<String> {
    use fluent_syntax::ast::Entry;
    resource
        .entries()
        .filter_map(|e| match e {
            Entry::Message(m) => Some(m.id.name.to_string()),
            _ => None,
        })
        .collect()
}

/// The parse errors of a fluent source, one line each (empty when it
/// parses).
pub fn parse_errors(source: &str) -> Vec<String> {
    match FluentResource::try_new(source.to_owned()) {
        Ok(_) => Vec::new(),
        Err((_, errors)) => errors.iter().map(|e| format!("{e:?}")).collect(),
    }
}

/// Translations: one fluent bundle per language and the current language.
pub struct Tr {
    bundles: Vec<(Lang, FluentBundle<FluentResource>)>,
    lang: Lang,
}

impl std::fmt::Debug for Tr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tr").field("lang", &self.lang).finish()
    }
}

impl Tr {
    /// All three languages, `lang` selected.
    pub fn new(lang: Lang) -> Tr {
        let bundles = Lang::ALL
            .iter()
            .map(|&l| (l, bundle(l)))
            .collect::<Vec<_>>();
        Tr { bundles, lang }
    }

    /// The current language.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// Switches every string to `lang`.
    pub fn set_lang(&mut self, lang: Lang) {
        self.lang = lang;
    }

    /// The message `id` in the current language; the ID itself when missing.
    pub fn t(&self, id: &str) -> String {
        self.format(id, None)
    }

    /// The message `id` with one argument.
    pub fn t1(&self, id: &str, name: &str, value: impl ToString) -> String {
        let mut args = FluentArgs::new();
        args.set(name, FluentValue::from(value.to_string()));
        self.format(id, Some(&args))
    }

    /// The message `id` with arguments.
    pub fn t_args(&self, id: &str, pairs: &[(&str, String)]) -> String {
        let mut args = FluentArgs::new();
        for (name, value) in pairs {
            args.set(*name, FluentValue::from(value.clone()));
        }
        self.format(id, Some(&args))
    }

    fn format(&self, id: &str, args: Option<&FluentArgs<'_>>) -> String {
        let Some((_, bundle)) = self.bundles.iter().find(|(l, _)| *l == self.lang) else {
            return id.to_owned();
        };
        let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
            return id.to_owned();
        };
        let mut errors = Vec::new();
        bundle
            .format_pattern(pattern, args, &mut errors)
            .into_owned()
    }
}

fn bundle(lang: Lang) -> FluentBundle<FluentResource> {
    let id: LanguageIdentifier = lang.code().parse().unwrap_or_default();
    let mut bundle = FluentBundle::new(vec![id]);
    bundle.set_use_isolating(false);
    let resource = match FluentResource::try_new(lang.source().to_owned()) {
        Ok(r) => r,
        Err((r, errors)) => {
            tracing::warn!(
                "ui: {}.ftl has {} syntax error(s); the messages that parsed are used",
                lang.code(),
                errors.len()
            );
            r
        }
    };
    if let Err(errors) = bundle.add_resource(resource) {
        tracing::warn!(
            "ui: {}.ftl defines {} message(s) twice; the first is used",
            lang.code(),
            errors.len()
        );
    }
    bundle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_changes_strings() {
        let mut tr = Tr::new(Lang::Ja);
        assert_eq!(tr.t("status-ready"), "ダイヤルできます");
        tr.set_lang(Lang::En);
        assert_eq!(tr.t("status-ready"), "Ready to dial");
        tr.set_lang(Lang::Zh);
        assert_eq!(tr.t("status-ready"), "就绪");
        assert_eq!(tr.t("no-such-message"), "no-such-message");
    }

    #[test]
    fn arguments_have_no_isolation_marks() {
        let tr = Tr::new(Lang::En);
        assert_eq!(tr.t1("extension", "ext", "1910"), "Ext. 1910");
    }

    #[test]
    fn language_codes() {
        assert_eq!(Lang::from_code("ja_JP.UTF-8"), Some(Lang::Ja));
        assert_eq!(Lang::from_code("zh-CN"), Some(Lang::Zh));
        assert_eq!(Lang::from_code("en"), Some(Lang::En));
        assert_eq!(Lang::from_code("C"), None);
        let env = |k: &str| (k == "LANG").then(|| "en_US.UTF-8".to_string());
        assert_eq!(Lang::from_env(&env), Lang::En);
        assert_eq!(Lang::from_env(&|_| None), Lang::Ja);
    }
}
