//! The field order of a struct whose serialized field names, and so their canonical order, are
//! known at compile time.
//!
//! fp1 encodes a struct as a MAP whose entries are sorted by the bytes of their encoded keys. A
//! key is `STR(name)`, i.e. the tag, `u64be(len)` and the UTF-8 bytes, so the order is by byte
//! length, then bytewise. When the derive can compute every name exactly as serde would, it
//! sorts them here, and `direct.rs` writes the struct's encoding in that order without serde.
//! The bytes, and so the fingerprints, are those of the serde path.
//!
//! Everything else (enums, tuple structs, serde's shape-changing attributes, two fields with
//! one name) goes through serde.

use super::ast::{Data, Field, Input, Style};

/// Which fields a struct's MAP holds, under which names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Names {
    /// The fingerprint's own: the counted fields, `#[fingerprint(rename)]` winning over serde's.
    Fingerprint,
    /// serde's alone: every serialized field under its serde name. A nested value hashes so.
    Serde,
}

/// The fields of `input` in its MAP (see [`Names`]) with their serialized names, in canonical
/// order; `None` when the order cannot be known at compile time and the derived view must do.
pub(crate) fn sorted_fields<'i, 'a>(
    input: &'i Input<'a>,
    names: Names,
) -> Option<Vec<(String, &'i Field<'a>)>> {
    let Data::Struct(Style::Named, fields) = &input.data else {
        return None;
    };
    let serde = &input.serde;
    let reshaped = serde.tag.is_some()
        || serde.content.is_some()
        || serde.untagged.is_some()
        || serde.transparent.is_some()
        || serde.rename_all_fields.is_some()
        || serde.into.is_some()
        || serde.remote.is_some();
    if reshaped {
        return None;
    }
    let rule = match &serde.rename_all {
        Some(rule) => Some(RenameRule::from_str(&rule.value())?),
        None => None,
    };

    let mut sorted = Vec::new();
    let included = |field: &&Field| names == Names::Serde || field.counted();
    for field in fields.iter().filter(included) {
        if field.serde.flatten.is_some() {
            return None;
        }
        if field.serde.skip_serializing.is_some() {
            continue;
        }
        let own_rename = match names {
            Names::Fingerprint => field.attrs.rename.as_ref().map(|rename| &rename.value),
            Names::Serde => None,
        };
        let explicit = own_rename.or(field.serde.rename.as_ref());
        let name = match explicit {
            Some(rename) => rename.value(),
            None => {
                let ident = field.original.ident.as_ref()?.to_string();
                let name = ident.strip_prefix("r#").unwrap_or(&ident);
                match rule {
                    Some(rule) => rule.apply_to_field(name)?,
                    None => name.to_owned(),
                }
            }
        };
        sorted.push((name, field));
    }
    sorted.sort_by(|(a, _), (b, _)| (a.len(), a.as_bytes()).cmp(&(b.len(), b.as_bytes())));
    // Two fields with one name: the derived view, whose encoding fails at run time as it always
    // has (a duplicate map key).
    if sorted.windows(2).any(|pair| pair[0].0 == pair[1].0) {
        return None;
    }
    Some(sorted)
}

/// serde's `rename_all` rules, serialize side, for struct fields: serde_derive's
/// `internals/case.rs`, `RenameRule::apply_to_field`, rule for rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

impl RenameRule {
    pub(crate) fn from_str(rule: &str) -> Option<Self> {
        Some(match rule {
            "lowercase" => Self::Lower,
            "UPPERCASE" => Self::Upper,
            "PascalCase" => Self::Pascal,
            "camelCase" => Self::Camel,
            "snake_case" => Self::Snake,
            "SCREAMING_SNAKE_CASE" => Self::ScreamingSnake,
            "kebab-case" => Self::Kebab,
            "SCREAMING-KEBAB-CASE" => Self::ScreamingKebab,
            _ => return None,
        })
    }

    /// The field's serialized name. `None` where serde's own derive would panic (camelCase of a
    /// name whose PascalCase is empty or starts with a non-ASCII character): the derived view
    /// then reports serde's error as before.
    pub(super) fn apply_to_field(self, field: &str) -> Option<String> {
        Some(match self {
            Self::Lower | Self::Snake => field.to_owned(),
            Self::Upper | Self::ScreamingSnake => field.to_ascii_uppercase(),
            Self::Pascal => {
                let mut pascal = String::new();
                let mut capitalize = true;
                for ch in field.chars() {
                    if ch == '_' {
                        capitalize = true;
                    } else if capitalize {
                        pascal.push(ch.to_ascii_uppercase());
                        capitalize = false;
                    } else {
                        pascal.push(ch);
                    }
                }
                pascal
            }
            Self::Camel => {
                let pascal = Self::Pascal.apply_to_field(field)?;
                pascal.get(..1)?.to_ascii_lowercase() + pascal.get(1..)?
            }
            Self::Kebab => field.replace('_', "-"),
            Self::ScreamingKebab => field.to_ascii_uppercase().replace('_', "-"),
        })
    }

    /// A unit variant's serialized name: serde_derive's `RenameRule::apply_to_variant`. `None`
    /// where serde's own derive would panic (camelCase of a name starting with a non-ASCII
    /// character).
    pub(crate) fn apply_to_variant(self, variant: &str) -> Option<String> {
        Some(match self {
            Self::Pascal => variant.to_owned(),
            Self::Lower => variant.to_ascii_lowercase(),
            Self::Upper => variant.to_ascii_uppercase(),
            Self::Camel => variant.get(..1)?.to_ascii_lowercase() + variant.get(1..)?,
            Self::Snake => {
                let mut snake = String::new();
                for (i, ch) in variant.char_indices() {
                    if i > 0 && ch.is_uppercase() {
                        snake.push('_');
                    }
                    snake.push(ch.to_ascii_lowercase());
                }
                snake
            }
            Self::ScreamingSnake => Self::Snake.apply_to_variant(variant)?.to_ascii_uppercase(),
            Self::Kebab => Self::Snake.apply_to_variant(variant)?.replace('_', "-"),
            Self::ScreamingKebab => Self::ScreamingSnake
                .apply_to_variant(variant)?
                .replace('_', "-"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::RenameRule;

    /// serde_derive's own table (`internals/case.rs`, `rename_fields`).
    #[test]
    fn rules_match_serde() {
        for &(original, upper, pascal, camel, screaming, kebab, screaming_kebab) in &[
            (
                "outcome", "OUTCOME", "Outcome", "outcome", "OUTCOME", "outcome", "OUTCOME",
            ),
            (
                "very_tasty",
                "VERY_TASTY",
                "VeryTasty",
                "veryTasty",
                "VERY_TASTY",
                "very-tasty",
                "VERY-TASTY",
            ),
            ("a", "A", "A", "a", "A", "a", "A"),
            ("z42", "Z42", "Z42", "z42", "Z42", "z42", "Z42"),
        ] {
            let apply = |rule: &str| {
                RenameRule::from_str(rule)
                    .and_then(|rule| rule.apply_to_field(original))
                    .unwrap_or_default()
            };
            assert_eq!(apply("lowercase"), original);
            assert_eq!(apply("snake_case"), original);
            assert_eq!(apply("UPPERCASE"), upper);
            assert_eq!(apply("PascalCase"), pascal);
            assert_eq!(apply("camelCase"), camel);
            assert_eq!(apply("SCREAMING_SNAKE_CASE"), screaming);
            assert_eq!(apply("kebab-case"), kebab);
            assert_eq!(apply("SCREAMING-KEBAB-CASE"), screaming_kebab);
        }
    }

    /// serde_derive's own table (`internals/case.rs`, `rename_variants`).
    #[test]
    fn variant_rules_match_serde() {
        for &(original, lower, upper, camel, snake, screaming, kebab, screaming_kebab) in &[
            (
                "Outcome", "outcome", "OUTCOME", "outcome", "outcome", "OUTCOME", "outcome",
                "OUTCOME",
            ),
            (
                "VeryTasty",
                "verytasty",
                "VERYTASTY",
                "veryTasty",
                "very_tasty",
                "VERY_TASTY",
                "very-tasty",
                "VERY-TASTY",
            ),
            ("A", "a", "A", "a", "a", "A", "a", "A"),
            ("Z42", "z42", "Z42", "z42", "z42", "Z42", "z42", "Z42"),
        ] {
            let apply = |rule: &str| {
                RenameRule::from_str(rule)
                    .and_then(|rule| rule.apply_to_variant(original))
                    .unwrap_or_default()
            };
            assert_eq!(apply("PascalCase"), original);
            assert_eq!(apply("lowercase"), lower);
            assert_eq!(apply("UPPERCASE"), upper);
            assert_eq!(apply("camelCase"), camel);
            assert_eq!(apply("snake_case"), snake);
            assert_eq!(apply("SCREAMING_SNAKE_CASE"), screaming);
            assert_eq!(apply("kebab-case"), kebab);
            assert_eq!(apply("SCREAMING-KEBAB-CASE"), screaming_kebab);
        }
    }

    #[test]
    fn names_serde_would_panic_on_are_left_to_serde() {
        let camel = RenameRule::from_str("camelCase");
        assert_eq!(camel.and_then(|rule| rule.apply_to_field("__")), None);
        assert_eq!(camel.and_then(|rule| rule.apply_to_field("é_x")), None);
    }
}
