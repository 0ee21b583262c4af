//! CJK glyphs for the window: egui's built-in fonts have no Japanese or
//! Chinese, so a system CJK font is loaded when one is installed.
//!
//! The first file of [`CANDIDATES`] that exists is read (or the file named
//! by `BBCLIENT_CJK_FONT`); on Debian and Ubuntu that is `fonts-noto-cjk`'s
//! `NotoSansCJK-Regular.ttc`. It is added after egui's own fonts, so Latin
//! text keeps its look. From a Noto CJK collection both the Japanese and the
//! simplified Chinese faces are used, the one of the UI language first, so
//! kanji and hanzi take the shapes their readers expect.
//!
//! Without any CJK font the window still works: a warning goes to the log,
//! the window starts in English, and the language switch shows ASCII names
//! ([`super::i18n::Lang::ascii_name`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eframe::egui;

use super::i18n::Lang;

/// A CJK font file and the faces in it: `(path, Japanese face, Chinese face)`.
pub const CANDIDATES: &[(&str, u32, u32)] = &[
    // Debian, Ubuntu: fonts-noto-cjk.
    (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        0,
        2,
    ),
    // Arch: noto-fonts-cjk.
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 0, 2),
    // Fedora: google-noto-sans-cjk-fonts.
    (
        "/usr/share/fonts/google-noto-sans-cjk-fonts/NotoSansCJK-Regular.ttc",
        0,
        2,
    ),
    (
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        0,
        2,
    ),
    // Debian: fonts-ipafont-gothic, fonts-wqy-microhei, fonts-droid-fallback.
    ("/usr/share/fonts/opentype/ipafont-gothic/ipagp.ttf", 0, 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0, 0),
    (
        "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
        0,
        0,
    ),
    // macOS.
    ("/System/Library/Fonts/Hiragino Sans GB.ttc", 0, 0),
    // Windows: Meiryo, Yu Gothic, MS Gothic.
    ("C:\\Windows\\Fonts\\meiryo.ttc", 0, 0),
    ("C:\\Windows\\Fonts\\YuGothM.ttc", 0, 0),
    ("C:\\Windows\\Fonts\\msgothic.ttc", 0, 0),
    ("C:\\Windows\\Fonts\\msyh.ttc", 0, 0),
];

/// A loaded CJK font.
#[derive(Clone)]
pub struct CjkFont {
    /// Where it was read from.
    pub path: PathBuf,
    data: Arc<Vec<u8>>,
    ja_face: u32,
    zh_face: u32,
}

impl std::fmt::Debug for CjkFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CjkFont").field("path", &self.path).finish()
    }
}

/// The CJK font file to use: `BBCLIENT_CJK_FONT` (read through `env`),
/// else the first of [`CANDIDATES`] for which `exists` is true.
pub fn find(
    env: &dyn Fn(&str) -> Option<String>,
    exists: &dyn Fn(&Path) -> bool,
) -> Option<(PathBuf, u32, u32)> {
    if let Some(p) = env("BBCLIENT_CJK_FONT").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if exists(&p) {
            return Some((p, 0, 0));
        }
        tracing::warn!(
            "ui: BBCLIENT_CJK_FONT names '{}', which does not exist; looking for a system font",
            p.display()
        );
    }
    CANDIDATES
        .iter()
        .map(|(p, ja, zh)| (PathBuf::from(p), *ja, *zh))
        .find(|(p, _, _)| exists(p))
}

/// Loads the system's CJK font; `None`, with a warning in the log, when
/// there is none or it cannot be read.
pub fn load() -> Option<CjkFont> {
    let env = |k: &str| std::env::var(k).ok();
    let Some((path, ja_face, zh_face)) = find(&env, &|p: &Path| p.is_file()) else {
        tracing::warn!(
            "ui: no CJK font found (install fonts-noto-cjk, or set BBCLIENT_CJK_FONT to a .ttf/.ttc/.otf); \
             Japanese and Chinese text cannot be shown, the window starts in English"
        );
        return None;
    };
    match std::fs::read(&path) {
        Ok(bytes) => Some(CjkFont {
            path,
            data: Arc::new(bytes),
            ja_face,
            zh_face,
        }),
        Err(e) => {
            tracing::warn!(
                "ui: cannot read the CJK font '{}': {e}; the window starts in English",
                path.display()
            );
            None
        }
    }
}

/// The font definitions for `lang`: egui's defaults, then the CJK faces
/// (the language's own first) as fallbacks of both families.
pub fn definitions(font: Option<&CjkFont>, lang: Lang) -> egui::FontDefinitions {
    let mut defs = egui::FontDefinitions::default();
    let Some(font) = font else {
        return defs;
    };
    let blob: egui::epaint::text::Blob = font.data.clone();
    let mut faces = vec![("cjk-ja", font.ja_face), ("cjk-zh", font.zh_face)];
    if lang == Lang::Zh {
        faces.reverse();
    }
    if font.ja_face == font.zh_face {
        faces.truncate(1);
    }
    for (name, face) in &faces {
        defs.font_data.insert(
            (*name).to_owned(),
            Arc::new(egui::FontData::from_blob(blob.clone(), *face)),
        );
    }
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        let list = defs.families.entry(family).or_default();
        for (name, _) in &faces {
            list.push((*name).to_owned());
        }
    }
    defs
}

/// Installs the fonts for `lang` in `ctx`.
pub fn install(ctx: &egui::Context, font: Option<&CjkFont>, lang: Lang) {
    ctx.set_fonts(definitions(font, lang));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_override_then_candidates() {
        let none = |_: &str| None;
        let debian = |p: &Path| p == Path::new(CANDIDATES[0].0);
        assert_eq!(
            find(&none, &debian),
            Some((PathBuf::from(CANDIDATES[0].0), 0, 2))
        );
        assert_eq!(find(&none, &|_: &Path| false), None);
        let env = |k: &str| (k == "BBCLIENT_CJK_FONT").then(|| "/x/font.ttf".to_string());
        assert_eq!(
            find(&env, &|_: &Path| true),
            Some((PathBuf::from("/x/font.ttf"), 0, 0))
        );
        // A missing override falls back to the system font.
        assert_eq!(
            find(&env, &debian),
            Some((PathBuf::from(CANDIDATES[0].0), 0, 2))
        );
    }

    #[test]
    fn language_face_comes_first() {
        let font = CjkFont {
            path: PathBuf::from("x"),
            data: Arc::new(Vec::new()),
            ja_face: 0,
            zh_face: 2,
        };
        let fam =
            |lang| definitions(Some(&font), lang).families[&egui::FontFamily::Proportional].clone();
        let ja = fam(Lang::Ja);
        let zh = fam(Lang::Zh);
        assert_eq!(&ja[ja.len() - 2..], ["cjk-ja", "cjk-zh"]);
        assert_eq!(&zh[zh.len() - 2..], ["cjk-zh", "cjk-ja"]);
        let plain = definitions(None, Lang::Ja);
        assert!(!plain.font_data.contains_key("cjk-ja"));
    }
}
