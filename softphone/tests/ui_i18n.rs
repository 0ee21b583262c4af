//! UI-6: all window text exists in Japanese, English and Chinese.
//!
//! The three fluent files must parse, define the same message IDs, and
//! every ID the window's code asks for must be defined. The Japanese file
//! must carry the guide's own labels.

use std::collections::BTreeSet;
use std::path::Path;

use softphone::ui::i18n::{Lang, Tr, message_ids, parse_errors};

#[test]
fn the_three_files_parse_and_define_the_same_ids() {
    let en = message_ids(Lang::En.source());
    assert!(en.len() > 100, "en.ftl defines only {} messages", en.len());
    for lang in Lang::ALL {
        let errors = parse_errors(lang.source());
        assert!(errors.is_empty(), "{}.ftl: {errors:?}", lang.code());
        let ids = message_ids(lang.source());
        let missing: Vec<_> = en.difference(&ids).collect();
        let extra: Vec<_> = ids.difference(&en).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}.ftl: missing {missing:?}, not in en.ftl {extra:?}",
            lang.code()
        );
    }
}

/// String literals in the window's code that look like message IDs.
fn ids_used_in_code() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui");
    let mut used = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("src/ui exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("source");
        // Only the code, not the unit tests at the bottom.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (i, part) in code.split('"').enumerate() {
            let looks_like_id = i % 2 == 1
                && part.contains('-')
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && part.starts_with(|c: char| c.is_ascii_lowercase())
                && !part.starts_with("bb-")
                && !part.starts_with("bbclient")
                && !part.starts_with("cjk-")
                && !part.starts_with("fonts-");
            if looks_like_id {
                used.insert(part.to_owned());
            }
        }
    }
    used
}

#[test]
fn every_id_the_window_uses_is_defined() {
    let used = ids_used_in_code();
    assert!(
        used.contains("status-ready") && used.contains("btn-call"),
        "{used:?}"
    );
    let defined = message_ids(Lang::En.source());
    let undefined: Vec<_> = used.difference(&defined).collect();
    assert!(undefined.is_empty(), "used but not defined: {undefined:?}");
}

#[test]
fn japanese_carries_the_guides_labels() {
    let tr = Tr::new(Lang::Ja);
    for (id, label) in [
        ("status-ready", "ダイヤルできます"),
        ("btn-call", "通話"),
        ("btn-hold", "保留"),
        ("btn-transfer", "転送"),
        ("btn-hangup", "切断"),
        ("btn-settings", "設定"),
        ("btn-history", "履歴"),
        ("op-login-id", "ログインID"),
        ("op-password", "パスワード"),
        ("op-login", "ログイン"),
        ("tab-account", "アカウント設定"),
        ("tab-web", "Web連携設定"),
        ("tab-command", "コマンド連携設定"),
        ("tab-other", "その他設定"),
        ("btn-save", "保存"),
        ("btn-cancel", "キャンセル"),
        ("web-popup", "ポップアップ情報設定"),
        ("web-detail", "詳細情報設定"),
        ("web-method", "送信メソッド"),
        ("web-url", "送信先URL"),
        ("web-open-on-ring", "着信時ブラウザ起動"),
        ("skip-internal", "内線通話の場合に動作しない"),
        ("cmd-on-ring", "着信時アクセス"),
        ("cmd-on-answer", "応答時アクセス"),
        ("cmd-on-hangup", "切断時アクセス"),
        ("cmd-params", "パラメータ選択"),
        ("ph-caller", "相手番号"),
        ("ph-exten", "内線番号"),
        ("ph-outline", "自社番号"),
        ("ph-callid", "コールID"),
        ("ph-opid", "ログインID"),
        ("ph-oppw", "ログインPW"),
        ("popup-details", "詳細情報"),
    ] {
        assert_eq!(tr.t(id), label, "{id}");
    }
}

#[test]
fn english_and_chinese_are_translations_not_copies() {
    let ids = message_ids(Lang::En.source());
    let (ja, en, zh) = (Tr::new(Lang::Ja), Tr::new(Lang::En), Tr::new(Lang::Zh));
    // Names that are the same everywhere (product, language names).
    let same_everywhere = [
        "app-title",
        "lang-ja",
        "lang-en",
        "lang-zh",
        "notice-reply-error",
    ];
    for id in &ids {
        if same_everywhere.contains(&id.as_str()) {
            continue;
        }
        assert_ne!(ja.t(id), en.t(id), "{id}: ja equals en");
        assert_ne!(zh.t(id), en.t(id), "{id}: zh equals en");
    }
    assert_eq!(en.t("status-ready"), "Ready to dial");
    assert_eq!(zh.t("status-ready"), "就绪");
}
